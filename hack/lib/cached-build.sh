# Sourced by the build scripts of hack/ that make binaries from Go modules:
# each build is kept in a cache folder of its own, <cache>/<name>/<key>, the
# key a hash of its inputs (the script, go.mod and go.sum, the Go version…),
# so an unchanged build is found instead of made and a changed one gets a
# fresh folder. A build is made in a temporary folder beside its entry and
# moved into place whole: an interrupted one leaves nothing that looks built.
#
#   source "$here/../lib/cached-build.sh"
#   need_go "Prometheus" 1.26
#   cached prometheus "$( (cat "$here/build.sh"; go version) | build_key)" prometheus promtool
#   begin_build "Prometheus 3.16.0"
#   go build … -o "$tmp/prometheus" …
#   end_build
#
# The cache is $CONDUCTOR_CACHE_DIR, else $XDG_CACHE_HOME/mcp-conductor, else ~/.cache/mcp-conductor.
# shellcheck shell=bash

build_cache_root="${CONDUCTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-conductor}"

# The key of the inputs on stdin: the first 16 hex digits of their SHA-256.
build_key() { sha256sum | cut -c1-16; }

# need_go WHAT VERSION: stops the script unless a Go toolchain is on the PATH.
need_go() {
  command -v go >/dev/null || {
    echo "Go $2 or newer is needed to build $1 (https://go.dev/dl)" >&2
    exit 1
  }
}

# cached NAME KEY FILE...: sets $out to the entry NAME/KEY; when it holds every
# FILE as an executable, prints it and ends the script: nothing to build.
cached() {
  local name=$1 key=$2 f
  shift 2
  out="$build_cache_root/$name/$key"
  for f in "$@"; do [[ -x "$out/$f" ]] || return 0; done
  echo "$out"
  exit 0
}

# begin_build WHAT: a fresh temporary folder, $tmp, for the entry $out; removed
# (made writable first: Go's module copies are read-only) if the script fails.
begin_build() {
  build_what=$1
  build_start=$(date +%s)
  tmp="$out.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
  echo "Building $build_what -> $out" >&2
}

# end_build: the temporary folder becomes the entry; prints the entry's path.
end_build() {
  rm -rf "$out"
  mv "$tmp" "$out"
  trap - EXIT
  echo "Built $build_what in $(($(date +%s) - build_start)) s" >&2
  echo "$out"
}

# go_module_dir MODULE@VERSION: downloads a module into Go's module cache
# (read-only there) and prints its folder.
go_module_dir() {
  local dir
  dir="$(go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" ]] || {
    echo "could not download $1" >&2
    exit 1
  }
  echo "$dir"
}
