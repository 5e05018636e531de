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
# shellcheck source=../lib/cached-build.sh
source "$here/../lib/cached-build.sh"
need_go "the node's NetworkPolicy engine" 1.25
cached network-policies "$( (cd "$here" && cat build-network-policies.sh ../lib/cached-build.sh &&
  find network-policies -type f | LC_ALL=C sort | xargs sha256sum; go version) | build_key)" kube-network-policies

begin_build "kube-network-policies $version (NFQUEUE through nft_compat)"
dir="$(go_module_dir "sigs.k8s.io/kube-network-policies@$version")"
cp -r "$dir" "$tmp/src"
chmod -R u+w "$tmp/src"
(cd "$here/network-policies" && go run . "$tmp/src") >&2
# -mod=mod: the --kubeconfig flag's clientcmd package needs modules the release's go.sum does not list.
(cd "$tmp/src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
  -o "$tmp/kube-network-policies" ./cmd) >&2
rm -rf "$tmp/src"
end_build
