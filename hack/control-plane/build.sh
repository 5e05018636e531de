#!/usr/bin/env bash
# Builds the pinned control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kubectl) and the node's (kubelet, kube-proxy,
# kube-scheduler) into a cache folder keyed by this module's
# go.mod and go.sum, and prints that folder. A second run with the same pins
# builds nothing. When KUBEBUILDER_ASSETS names a folder holding the binaries,
# that folder is used instead and nothing is built.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bins=(etcd kube-apiserver kube-controller-manager kubectl kubelet kube-proxy kube-scheduler)

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for b in etcd kube-apiserver; do
    [[ -x "$KUBEBUILDER_ASSETS/$b" ]] || { echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $b" >&2; exit 1; }
  done
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

command -v go >/dev/null || { echo "Go 1.24 or newer is needed to build the local control plane (https://go.dev/dl)" >&2; exit 1; }

key="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)"
cache_root="${CONDUCTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-conductor}/control-plane"
out="$cache_root/$key"

complete=1
for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || complete=0; done
if [[ $complete == 1 ]]; then
  echo "$out"
  exit 0
fi

k8s_version="$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
etcd_version="$(cd "$here" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
tmp="$out.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

stamp="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$k8s_version" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
start=$(date +%s)
echo "Building control plane: kubernetes $k8s_version, etcd $etcd_version -> $out" >&2
cd "$here"
export CGO_ENABLED=0
go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 >&2
for cmd in kube-apiserver kube-controller-manager kubectl kubelet kube-proxy kube-scheduler; do
  go build -trimpath -ldflags "-s -w $stamp" -o "$tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd" >&2
done
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "Built control plane in $(( $(date +%s) - start )) s" >&2
echo "$out"
