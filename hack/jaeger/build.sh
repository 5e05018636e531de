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
command -v go >/dev/null || { echo "Go 1.26 or newer is needed to build Jaeger" >&2; exit 1; }
key="$( (cat "$here/build.sh"; go version) | sha256sum | cut -c1-16)"
out="${CONDUCTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-conductor}/jaeger/$key"
if [[ -x "$out/jaeger" ]]; then
  echo "$out"
  exit 0
fi

start=$(date +%s)
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "Building Jaeger $version -> $out" >&2
dir="$(go mod download -json "github.com/jaegertracing/jaeger@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
[[ -n "$dir" ]] || { echo "could not download github.com/jaegertracing/jaeger@$version" >&2; exit 1; }
# The module cache is read-only and go build writes only to -o and its build cache.
(cd "$dir" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/jaeger" ./cmd/jaeger) >&2
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "Built Jaeger in $(($(date +%s) - start)) s" >&2
echo "$out"
