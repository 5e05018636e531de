#!/usr/bin/env bash
# Builds the pinned tools of this module (grpcurl, kustomize) into a cache folder keyed
# by go.mod and go.sum, and prints that folder. Nothing is built when the
# cache is current.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v go >/dev/null || { echo "Go 1.24 or newer is needed to build the test tools" >&2; exit 1; }
key="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)"
out="${CONDUCTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-conductor}/tools/$key"
if [[ ! -x "$out/grpcurl" || ! -x "$out/kustomize" ]]; then
  mkdir -p "$out.tmp.$$"
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp.$$/grpcurl" github.com/fullstorydev/grpcurl/cmd/grpcurl) >&2
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp.$$/kustomize" sigs.k8s.io/kustomize/kustomize/v5) >&2
  rm -rf "$out" && mv "$out.tmp.$$" "$out"
fi
echo "$out"
