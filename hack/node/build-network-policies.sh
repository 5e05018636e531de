#!/usr/bin/env bash
# Builds the node's NetworkPolicy engine, kube-network-policies (the
# Kubernetes SIG Network project: it sends each new connection of a pod that a
# NetworkPolicy selects to userspace through NFQUEUE and accepts or drops it
# there), from its pinned Go module, patched by network-policies/patch.go to
# queue with the xtables NFQUEUE target instead of the nftables queue
# expression, which kernels without CONFIG_NFT_QUEUE refuse. See
# docs/development.md, "The node's NetworkPolicy engine".
# Prints the cache folder holding kube-network-policies; nothing is built when
# it is current.
set -euo pipefail
version=v0.8.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v go >/dev/null || { echo "Go 1.25 or newer is needed to build the node's NetworkPolicy engine" >&2; exit 1; }
key="$( (cd "$here" && cat build-network-policies.sh && find network-policies -type f | LC_ALL=C sort | xargs sha256sum; go version) |
  sha256sum | cut -c1-16)"
out="${CONDUCTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-conductor}/network-policies/$key"
if [[ -x "$out/kube-network-policies" ]]; then
  echo "$out"
  exit 0
fi

start=$(date +%s)
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "Building kube-network-policies $version (NFQUEUE through nft_compat) -> $out" >&2
dir="$(go mod download -json "sigs.k8s.io/kube-network-policies@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
[[ -n "$dir" ]] || { echo "could not download sigs.k8s.io/kube-network-policies@$version" >&2; exit 1; }
cp -r "$dir" "$tmp/src"
chmod -R u+w "$tmp/src"
(cd "$here/network-policies" && go run . "$tmp/src") >&2
# -mod=mod: the --kubeconfig flag's clientcmd package needs modules the release's go.sum does not list.
(cd "$tmp/src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
  -o "$tmp/kube-network-policies" ./cmd) >&2
rm -rf "$tmp/src" "$out"
mv "$tmp" "$out"
trap - EXIT
echo "Built kube-network-policies in $(($(date +%s) - start)) s" >&2
echo "$out"
