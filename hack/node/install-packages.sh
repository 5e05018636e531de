#!/usr/bin/env bash
# Installs the Debian packages a local node and the image builds need, when
# any is missing (root only): the CNI plugins, iptables and conntrack
# (kube-proxy), nftables (to remove the NetworkPolicy engine's table after a
# crash), libseccomp-dev and pkg-config (runc, built by build-runtime.sh),
# Docker's engine and debootstrap (the images, built from the Dockerfile here),
# bubblewrap (the code-runner's sandbox, which its tests run on this host as
# the image runs it in the pod).
set -euo pipefail
need=()
check() { command -v "$1" >/dev/null 2>&1 || [[ -e "$1" ]] || need+=("$2"); }
check /usr/lib/cni/bridge containernetworking-plugins
check iptables iptables
check conntrack conntrack
check nft nftables
check dockerd docker.io
check debootstrap debootstrap
check pkg-config pkg-config
check /usr/include/seccomp.h libseccomp-dev
check bwrap bubblewrap
((${#need[@]} == 0)) && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "missing Debian packages for the local node: ${need[*]} (install them as root)" >&2
  exit 1
fi
echo "Installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
