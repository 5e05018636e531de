# Sourced by the scripts in hack/images: the cache folder and small helpers.
# shellcheck shell=bash

# shellcheck disable=SC2034 # used by the scripts that source this file
images_cache="${CONDUCTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-conductor}/images"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { echo "$*" >&2; }
die() { echo "$*" >&2; exit 1; }

# The first 16 hex digits of the SHA-256 of stdin.
short_hash() { sha256sum | cut -c1-16; }

# The Bun executable that `npm ci` installed from the pinned `bun` devDependency:
# the glibc build for x64 (the images are Debian), which npm picks on a Debian
# host. Its postinstall moves the binary of the platform package
# (@oven/bun-linux-x64[-baseline]/bin/bun) to bun/bin/bun.exe, so either may hold it.
bun_binary() {
  local c oven="$repo_root/node_modules/@oven"
  for c in "$oven/bun-linux-x64/bin/bun" "$oven/bun-linux-x64-baseline/bin/bun" "$repo_root/node_modules/bun/bin/bun.exe"; do
    if [[ -f "$c" && -x "$c" ]]; then
      echo "$c"
      return 0
    fi
  done
  die "no Bun executable in node_modules: run npm ci first"
}

# Installs the Debian packages that provide missing commands, as root: need cmd:package ...
need() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    die "missing ${missing[*]}: install them (Debian packages) and run again"
  fi
  log "Installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The cache key of the Bun base image (build-base.sh): that script and the Bun executable.
base_key() {
  cat "$(dirname "${BASH_SOURCE[0]}")/build-base.sh" "$(bun_binary)" | short_hash
}

# The Bun version that package.json pins as a devDependency.
pinned_bun_version() {
  sed -n 's/^ *"bun": "\([^"]*\)".*/\1/p' "$repo_root/package.json"
}

# Keeps the newest $2 entries of folder $1 (cache entries named by their key).
prune_cache() {
  local dir="$1" keep="$2"
  [[ -d "$dir" ]] || return 0
  find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name '*.tmp.*' -printf '%T@ %p\n' | sort -rn |
    tail -n +"$((keep + 1))" | cut -d' ' -f2- | while read -r old; do rm -rf "$old"; done
}
