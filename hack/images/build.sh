#!/usr/bin/env bash
# Builds the images a local Kubernetes node needs, as image archives in the
# cache folder, and prints one `REF=ARCHIVE` line per image as its last lines:
#
#   mcp-conductor/pause:local=<cache>/images/pause/<key>/pause.tar
#   mcp-conductor:dev=<cache>/images/conductor/<key>/mcp-conductor.tar
#
# (<cache> is $CONDUCTOR_CACHE_DIR, else $XDG_CACHE_HOME/mcp-conductor, else
# ~/.cache/mcp-conductor.) `build.sh conductor` or `build.sh pause` builds one;
# `build.sh everything` builds the end-to-end suite's MCP reference server image.
#
# - mcp-conductor:dev: the Dockerfile's image, built by the Docker daemon
#   (dockerd.sh starts one if none answers) on the local Bun base image
#   (build-base.sh) instead of oven/bun, and written with `docker save`. The
#   key is a hash of the build context (the Dockerfile and what its COPY lines
#   name, less what .dockerignore leaves out), the base image's key and this
#   script: an unchanged tree rebuilds nothing and needs no daemon.
# - mcp-conductor/pause:local: the pod sandbox image (pause/main.go, static),
#   written by wrap-binary.ts without any daemon.
#
# Both archives are in the format of `docker save`; `docker load -i` and
# `ctr -n k8s.io images import` take them. containerd names them
# docker.io/library/mcp-conductor:dev and docker.io/mcp-conductor/pause:local.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"

conductor_ref=mcp-conductor:dev
pause_ref=mcp-conductor/pause:local
everything_ref=mcp-conductor/everything:local
mkdir -p "$images_cache"
results=()

# Waits for the cache lock, so that two builds never write the same entry.
lock() {
  exec 9>"$images_cache/build.lock"
  flock 9
}

build_pause() {
  local go
  go="$(command -v go || echo /usr/local/go/bin/go)"
  [[ -x "$go" ]] || die "Go is needed to build the pause image (https://go.dev/dl)"
  local key out
  key="$(cat "$here/pause/main.go" "$here/pause/go.mod" "$here/wrap-binary.ts" <("$go" version) | short_hash)"
  out="$images_cache/pause/$key"
  if [[ ! -f "$out/pause.tar" ]]; then
    lock
    if [[ ! -f "$out/pause.tar" ]]; then
      log "Building $pause_ref -> $out"
      local tmp="$out.tmp.$$"
      rm -rf "$tmp"
      mkdir -p "$tmp"
      (cd "$here/pause" && CGO_ENABLED=0 GOFLAGS=-trimpath "$go" build -ldflags "-s -w" -o "$tmp/pause" .)
      "$(bun_binary)" "$here/wrap-binary.ts" --binary "$tmp/pause" --path /pause --ref "$pause_ref" \
        --user 65535:65535 --out "$tmp/pause.tar" >/dev/null
      rm -rf "$out"
      mv "$tmp" "$out"
      prune_cache "$images_cache/pause" 3
    fi
  fi
  results+=("$pause_ref=$out/pause.tar")
}

# Sets ca_args to the Dockerfile's EXTRA_CA_CERTS build argument, or to nothing:
# the authorities that this machine trusts besides the usual ones, for a
# TLS-inspecting proxy between the build and the npm registry. From
# $CONDUCTOR_BUILD_CA_CERTS (a PEM file), else $NODE_EXTRA_CA_CERTS when it is
# small (not a whole system bundle), else Debian's folder of locally added
# authorities. They change nothing in the image, so they are not in its key.
ca_args=()
set_extra_ca_args() {
  local files=() f pem
  if [[ -n "${CONDUCTOR_BUILD_CA_CERTS:-}" ]]; then
    files=("$CONDUCTOR_BUILD_CA_CERTS")
  elif [[ -f "${NODE_EXTRA_CA_CERTS:-}" && $(wc -c <"${NODE_EXTRA_CA_CERTS:-/dev/null}") -lt 65536 ]]; then
    files=("$NODE_EXTRA_CA_CERTS")
  else
    while IFS= read -r f; do files+=("$f"); done < <(find /usr/local/share/ca-certificates -name '*.crt' 2>/dev/null | sort)
  fi
  [[ ${#files[@]} -eq 0 ]] && return 0
  pem="$(cat "${files[@]}")"
  # Build arguments reach RUN as environment variables, which Linux caps at 128 KiB each.
  if [[ ${#pem} -ge 65536 ]]; then
    log "warning: extra certificate authorities (${#pem} bytes) too large for a build argument; not passed"
    return 0
  fi
  ca_args=(--build-arg "EXTRA_CA_CERTS=$pem")
}

build_conductor() {
  # The build context: the Dockerfile and the sources of its COPY lines, without
  # the files that .dockerignore leaves out of them (tests, Markdown). A
  # reproducible tar, so that its hash is the cache key and its bytes are what
  # the daemon builds from.
  local sources=()
  mapfile -t sources < <(awk '/^COPY / && !/--from/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' "$repo_root/Dockerfile" |
    sort -u | awk 'kept == "" || index($0, kept "/") != 1 { print; kept = $0 }')
  local ctx
  ctx="$(mktemp)"
  # shellcheck disable=SC2064
  trap "rm -f '$ctx'" EXIT
  tar -C "$repo_root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --exclude='*.test.ts' --exclude='*.md' -cf "$ctx" Dockerfile "${sources[@]}"
  local key out
  key="$(cat "$ctx" "$here/build.sh" <(base_key) | short_hash)"
  out="$images_cache/conductor/$key"
  if [[ ! -f "$out/mcp-conductor.tar" ]]; then
    lock
    if [[ ! -f "$out/mcp-conductor.tar" ]]; then
      local start base tmp="$out.tmp.$$"
      start=$(date +%s)
      base="$(bash "$here/build-base.sh" | tail -1)"
      log "Building $conductor_ref on $base -> $out"
      rm -rf "$tmp"
      mkdir -p "$tmp"
      set_extra_ca_args
      local previous
      previous="$(docker image inspect -f '{{.Id}}' "$conductor_ref" 2>/dev/null || true)"
      # The classic builder: Debian's dockerd 20.10 has no buildx. RUN steps use
      # the host's network (bun install, apt-get).
      DOCKER_BUILDKIT=0 docker build --network host --force-rm --build-arg "BUN_IMAGE=$base" "${ca_args[@]}" \
        -t "$conductor_ref" - <"$ctx" >&2
      docker save -o "$tmp/mcp-conductor.tar" "$conductor_ref"
      chmod 0644 "$tmp/mcp-conductor.tar"
      # The classic builder leaves the previous image and the bridge stage's
      # last one untagged: drop them, or every rebuild keeps ~100 MB more.
      if [[ -n "$previous" && "$previous" != "$(docker image inspect -f '{{.Id}}' "$conductor_ref")" ]]; then
        docker rmi "$previous" >/dev/null 2>&1 || true
      fi
      docker image prune -f >/dev/null
      rm -rf "$out"
      mv "$tmp" "$out"
      prune_cache "$images_cache/conductor" 3
      log "Built $conductor_ref in $(($(date +%s) - start)) s: $(docker image inspect -f '{{.Size}}' "$conductor_ref") bytes, archive $(du -h "$out/mcp-conductor.tar" | cut -f1)"
    fi
  fi
  rm -f "$ctx"
  trap - EXIT
  results+=("$conductor_ref=$out/mcp-conductor.tar")
}

# The MCP reference server (@modelcontextprotocol/server-everything, the version package.json pins)
# on the Bun base, for the end-to-end suite's MCPServers. Like Node's official image it has no
# USER, so it runs as root unless the pod says otherwise.
build_everything() {
  local version key out
  version="$(sed -n 's|^ *"@modelcontextprotocol/server-everything": "\([^"]*\)".*|\1|p' "$repo_root/package.json")"
  [[ -n "$version" ]] || die "package.json pins no @modelcontextprotocol/server-everything"
  key="$( (echo "$version" && declare -f build_everything && base_key) | short_hash)"
  out="$images_cache/everything/$key"
  if [[ ! -f "$out/everything.tar" ]]; then
    lock
    if [[ ! -f "$out/everything.tar" ]]; then
      local base ctx tmp="$out.tmp.$$"
      base="$(bash "$here/build-base.sh" | tail -1)"
      ctx="$(mktemp -d)"
      log "Building $everything_ref ($version) on $base -> $out"
      # npm on the host installs it (the host's certificate setup applies); the image copies the result.
      (cd "$ctx" && npm install --no-audit --no-fund --ignore-scripts --omit=dev --no-package-lock \
        "@modelcontextprotocol/server-everything@$version" >&2)
      cat >"$ctx/Dockerfile" <<'DOCKERFILE'
ARG BUN_IMAGE
FROM ${BUN_IMAGE}
COPY node_modules /srv/node_modules
EXPOSE 3001
# Read-only root filesystems (as MCPServer pods get by default): no transpiler cache on disk.
ENV BUN_RUNTIME_TRANSPILER_CACHE_PATH=0
ENTRYPOINT ["bun", "/srv/node_modules/@modelcontextprotocol/server-everything/dist/index.js"]
CMD ["streamableHttp"]
DOCKERFILE
      rm -rf "$tmp"
      mkdir -p "$tmp"
      DOCKER_BUILDKIT=0 docker build --network host --force-rm --build-arg "BUN_IMAGE=$base" -t "$everything_ref" "$ctx" >&2
      docker save -o "$tmp/everything.tar" "$everything_ref"
      chmod 0644 "$tmp/everything.tar"
      rm -rf "$ctx" "$out"
      mv "$tmp" "$out"
      prune_cache "$images_cache/everything" 2
    fi
  fi
  results+=("$everything_ref=$out/everything.tar")
}

what=("$@")
[[ ${#what[@]} -eq 0 ]] && what=(pause conductor)
for w in "${what[@]}"; do
  case "$w" in
  pause) build_pause ;;
  conductor) build_conductor ;;
  everything) build_everything ;;
  *) die "usage: build.sh [pause] [conductor] [everything]" ;;
  esac
done
printf '%s\n' "${results[@]}"
