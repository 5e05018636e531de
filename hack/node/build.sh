#!/usr/bin/env bash
# Builds the pinned node add-ons of this module (CoreDNS, with the plugins
# coredns/main.go names) into a cache folder keyed by go.mod, go.sum, the
# sources and this script, and prints that folder. Nothing is built when the
# cache is current.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v go >/dev/null || { echo "Go 1.25 or newer is needed to build the node add-ons" >&2; exit 1; }
key="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" "$here"/coredns/*.go | sha256sum | cut -c1-16)"
out="${CONDUCTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-conductor}/node/$key"
if [[ ! -x "$out/coredns" ]]; then
  start=$(date +%s)
  tmp="$out.tmp.$$"
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  version="$(cd "$here" && go list -m -f '{{.Version}}' github.com/coredns/coredns)"
  (cd "$here" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$version" \
    -o "$tmp/coredns" ./coredns) >&2
  rm -rf "$out" && mv "$tmp" "$out"
  trap - EXIT
  echo "Built CoreDNS $version in $(( $(date +%s) - start )) s" >&2
fi
echo "$out"
