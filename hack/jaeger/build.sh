#!/usr/bin/env bash
# Builds Jaeger (v2, the all-in-one `jaeger` binary: an OpenTelemetry
# Collector with Jaeger's storage and query service, in-memory storage by
# default) from its pinned Go module, for the tests that follow one call's
# trace through the gateway, the controller, the scheduler and the agent:
# test/integration/tracing.test.ts. They send it OTLP over HTTP (4318) and
# read the trace back through its query API (16686).
# Prints the cache folder holding jaeger; nothing is built when it is current.
#
# Built from the module's own go.mod and go.sum (the versions upstream
# tested), with CGO off. The UI's assets are left out (no -tags ui): the
# query API the tests use is complete without them.
set -euo pipefail
version=v1.75.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/cached-build.sh
source "$here/../lib/cached-build.sh"
need_go Jaeger 1.26
cached jaeger "$( (cat "$here/build.sh" "$here/../lib/cached-build.sh"; go version) | build_key)" jaeger

begin_build "Jaeger $version"
dir="$(go_module_dir "github.com/jaegertracing/jaeger@$version")"
(cd "$dir" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/jaeger" ./cmd/jaeger) >&2
end_build
