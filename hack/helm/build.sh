#!/usr/bin/env bash
# Builds Helm (helm.sh/helm/v4, pinned in go.mod) into a cache folder keyed by
# go.mod, go.sum, this script and the Go version, and prints that folder.
# Nothing is built when the cache is current. The chart tests
# (test/integration/helm*.test.ts) and hack/render-chart.ts run it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/cached-build.sh
source "$here/../lib/cached-build.sh"
need_go Helm 1.26
cached helm "$( (cat "$here/go.mod" "$here/go.sum" "$here/build.sh" "$here/../lib/cached-build.sh"; go version) | build_key)" helm

# `helm version` says the module's version, as a release build's does (its Makefile sets it the same way)
version="$(sed -nE 's/^(require[[:space:]]+)?[[:space:]]*helm\.sh\/helm\/v4[[:space:]]+(v[^[:space:]]+).*/\2/p' "$here/go.mod")"
[[ -n "$version" ]] || { echo "hack/helm/go.mod names no helm.sh/helm/v4 version" >&2; exit 1; }
begin_build "Helm $version"
(cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" \
  -o "$tmp/helm" helm.sh/helm/v4/cmd/helm) >&2
end_build
