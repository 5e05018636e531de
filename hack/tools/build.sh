#!/usr/bin/env bash
# Builds the pinned tools of this module (grpcurl, kustomize) into a cache folder keyed
# by go.mod and go.sum, and prints that folder. Nothing is built when the
# cache is current.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/cached-build.sh
source "$here/../lib/cached-build.sh"
need_go "the test tools" 1.24
cached tools "$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" "$here/../lib/cached-build.sh" | build_key)" grpcurl kustomize

begin_build "grpcurl and kustomize"
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/grpcurl" github.com/fullstorydev/grpcurl/cmd/grpcurl) >&2
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/kustomize" sigs.k8s.io/kustomize/kustomize/v5) >&2
end_build
