#!/usr/bin/env bash
# Builds Prometheus and promtool from their pinned Go module, for the tests that
# prove the shipped monitoring (deploy/monitoring) against a real Prometheus:
# test/integration/monitoring.test.ts. Debian's prometheus package (2.42 in
# Debian 12) lags far behind the 3.x that the Prometheus Operator runs today,
# so the module is built instead.
# Prints the cache folder holding prometheus and promtool; nothing is built
# when it is current.
#
# Built from the module's own go.mod and go.sum (the versions upstream tested),
# with CGO off and -tags remove_all_sd: the tests scrape static targets, so
# every service-discovery plugin but file and http (always in) is left out,
# which spares most of the dependencies. Without -tags builtinassets the web
# UI's assets are not embedded; the HTTP API, all the tests use, is complete.
set -euo pipefail
# The module versions Prometheus 3.x as v0.3xx.y: v0.316.0 is 3.16.0.
version=v0.316.0
release=3.16.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/cached-build.sh
source "$here/../lib/cached-build.sh"
need_go Prometheus 1.26
cached prometheus "$( (cat "$here/build.sh" "$here/../lib/cached-build.sh"; go version) | build_key)" prometheus promtool

begin_build "Prometheus $release ($version)"
dir="$(go_module_dir "github.com/prometheus/prometheus@$version")"
# go build writes only to -o and its build cache; GOWORK=off because the
# release's go.work names folders the module zip leaves out.
ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"
for cmd in prometheus promtool; do
  (cd "$dir" && GOWORK=off CGO_ENABLED=0 go build -trimpath -tags remove_all_sd -ldflags "$ldflags" \
    -o "$tmp/$cmd" "./cmd/$cmd") >&2
done
end_build
