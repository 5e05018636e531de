#!/usr/bin/env bash
# Regenerates deploy/seccomp/code-runner.json from the pinned containerd's
# default profile (see main.go). Needs Go; run it when containerd's version in
# hack/node/build-runtime.sh changes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's/^containerd_version=//p' "$here/../node/build-runtime.sh")"
tmp="$(mktemp -d)"
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
dir="$(go mod download -json "github.com/containerd/containerd/v2@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
cp -r "$dir" "$tmp/containerd"
chmod -R u+w "$tmp/containerd"
mkdir -p "$tmp/containerd/cmd/code-runner-seccomp"
cp "$here/main.go" "$tmp/containerd/cmd/code-runner-seccomp/main.go"
(cd "$tmp/containerd" && GOFLAGS=-mod=mod go run ./cmd/code-runner-seccomp) >"$here/../../deploy/seccomp/code-runner.json"
# In the repository's JSON style (biome), so that the check passes on it as written.
(cd "$here/../.." && npx biome format --write deploy/seccomp/code-runner.json >&2)
echo "wrote deploy/seccomp/code-runner.json (containerd $version)" >&2
