#!/usr/bin/env bash
# Makes sure a Docker daemon answers on the default socket, starting one (as
# root) when none does, and returns once `docker info` works. Installs Debian's
# docker.io when dockerd is missing.
#
# The daemon it starts has its own containerd (dockerd would otherwise attach
# to any containerd on the default socket, such as a Kubernetes node's), no
# default bridge and no iptables rules: builds use `--network host` and test
# containers `--network none`. It keeps running after this script; its log is
# <cache>/images/dockerd.log. `dockerd.sh stop` stops what it started.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

run_dir=/run/mcp-conductor-docker
data_root="${CONDUCTOR_DOCKER_DATA_ROOT:-/var/lib/docker}"

# Whether pid file $1 names a live process running command $2 (not a reused pid).
running() {
  [[ -f "$1" ]] && [[ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" == "$2" ]]
}

# Stops the process of pid file $1 if it still runs command $2.
stop_pid() {
  local f="$1" pid
  if running "$f" "$2"; then
    pid="$(cat "$f")"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$f"
}

if [[ "${1:-}" == stop ]]; then
  stop_pid "$run_dir/dockerd.pid" dockerd
  stop_pid "$run_dir/containerd.pid" containerd
  exit 0
fi

docker_up() { docker info >/dev/null 2>&1; }
need docker:docker.io dockerd:docker.io containerd:containerd
docker_up && exit 0
[[ $(id -u) -eq 0 ]] || die "no Docker daemon answers, and starting one needs root"

mkdir -p "$run_dir" "$images_cache"
# One starter at a time; the daemons must not inherit this lock (fd 8) nor
# build.sh's (fd 9), or they would hold them for as long as they run.
exec 8>"$run_dir/start.lock"
flock 8
docker_up && exit 0
daemon_log="$images_cache/dockerd.log"
sock="$run_dir/containerd.sock"

if ! running "$run_dir/containerd.pid" containerd; then
  cat >"$run_dir/containerd.toml" <<TOML
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
TOML
  rm -f "$sock"
  setsid containerd --config "$run_dir/containerd.toml" --root "$data_root/containerd/daemon" \
    --state "$run_dir/containerd" --address "$sock" </dev/null >>"$daemon_log" 2>&1 8>&- 9>&- &
  echo $! >"$run_dir/containerd.pid"
  for _ in $(seq 1 100); do [[ -S "$sock" ]] && break; sleep 0.1; done
  [[ -S "$sock" ]] || die "containerd for dockerd did not start; see $daemon_log"
fi

stop_pid "$run_dir/dockerd.pid" dockerd
log "Starting dockerd (data root $data_root, log $daemon_log)"
setsid dockerd --containerd "$sock" --data-root "$data_root" --pidfile "$run_dir/dockerd.pid" \
  --bridge none --iptables=false --ip-masq=false </dev/null >>"$daemon_log" 2>&1 8>&- 9>&- &
for _ in $(seq 1 300); do
  docker_up && exit 0
  sleep 0.2
done
die "dockerd did not answer within 60 s; see $daemon_log"
