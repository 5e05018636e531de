#!/usr/bin/env bash
# Builds the node's container runtime from the pinned Go modules below:
# containerd 2.x (containerd, containerd-shim-runc-v2, ctr) and runc (with
# seccomp, through Debian's libseccomp-dev). containerd 2.x runs
# user-namespaced pods (hostUsers: false), which Debian's containerd 1.6 refuses.
# `go install pkg@version` does not work for either (their go.mod files carry
# exclude lines), so each module's source is downloaded and built in a copy.
# Prints the cache folder holding the binaries; nothing is built when it is current.
set -euo pipefail
containerd_version=v2.1.9
runc_version=v1.3.7

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v go >/dev/null || { echo "Go 1.24 or newer is needed to build the node's runtime" >&2; exit 1; }
key="$( (cat "$here/build-runtime.sh"; go version) | sha256sum | cut -c1-16)"
out="${CONDUCTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-conductor}/runtime/$key"
bins=(containerd containerd-shim-runc-v2 ctr runc)
complete=1
for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || complete=0; done
if [[ $complete == 1 ]]; then
  echo "$out"
  exit 0
fi
if ! pkg-config --exists libseccomp 2>/dev/null; then
  [[ $(id -u) -eq 0 ]] || { echo "runc needs Debian's libseccomp-dev and pkg-config: install them" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libseccomp-dev pkg-config >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libseccomp-dev pkg-config >&2; }
fi

start=$(date +%s)
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/src"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
source_of() { # module@version -> a writable copy of its source
  local dir
  dir="$(go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  cp -r "$dir" "$tmp/src/$2"
  chmod -R u+w "$tmp/src/$2"
  echo "$tmp/src/$2"
}

echo "Building containerd $containerd_version and runc $runc_version -> $out" >&2
src="$(source_of "github.com/containerd/containerd/v2@$containerd_version" containerd)"
for cmd in containerd containerd-shim-runc-v2 ctr; do
  (cd "$src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version" \
    -o "$tmp/$cmd" "./cmd/$cmd") >&2
done
src="$(source_of "github.com/opencontainers/runc@$runc_version" runc)"
(cd "$src" && GOFLAGS=-mod=mod CGO_ENABLED=1 go build -trimpath -tags seccomp \
  -ldflags "-s -w -X main.version=${runc_version#v}" -o "$tmp/runc" .) >&2
rm -rf "$tmp/src" "$out"
mv "$tmp" "$out"
trap - EXIT
echo "Built the node's runtime in $(($(date +%s) - start)) s" >&2
echo "$out"
