#!/usr/bin/env bash
# Builds the Bun base image locally, for machines that cannot pull
# oven/bun:<version>-slim: a Debian bookworm minbase root (debootstrap, trimmed
# like Debian's slim images) with the Bun executable of the pinned `bun`
# devDependency as /usr/local/bin/bun, a `bun` user (uid 1000) and the same
# entry point, working directory and environment as the official slim image.
#
# The root filesystem is cached as <cache>/images/bun-base/<key>/rootfs.tar,
# key = hash of this script and the Bun executable; the image is imported into
# the Docker daemon (started by dockerd.sh if needed) as
# mcp-conductor/bun-base:<version> unless that tag already holds this key.
# Prints the image reference as its last line.
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"

bun="$(bun_binary)"
want="$(pinned_bun_version)"
have="$("$bun" --version)"
[[ "$have" == "$want" ]] || die "$bun is Bun $have, package.json pins $want: run npm ci"

key="$(base_key)"
ref="mcp-conductor/bun-base:$want"
out="$images_cache/bun-base/$key"
label=org.mcp-conductor.base-key

if [[ ! -f "$out/rootfs.tar" ]]; then
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
  need debootstrap:debootstrap
  start=$(date +%s)
  tmp="$out.tmp.$$"
  root="$tmp/root"
  rm -rf "$tmp"
  mkdir -p "$root"
  cleanup() {
    local m
    # debootstrap mounts proc and sys inside the root while it works.
    for m in proc sys dev/pts; do umount -l "$root/$m" 2>/dev/null || true; done
    rm -rf "$tmp"
  }
  trap cleanup EXIT
  log "Building the Bun $want base image root (debootstrap bookworm) -> $out"
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  # As Debian's slim images: no documentation, manual pages or translations.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  # The downloaded packages are kept for the next build of the root.
  mkdir -p "$images_cache/debootstrap-debs"
  debootstrap --variant=minbase --cache-dir="$images_cache/debootstrap-debs" \
    bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
  for m in proc sys dev/pts; do umount -l "$root/$m" 2>/dev/null || true; done

  # The sources and apt settings of Debian's container images.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"

  # Bun as in the official image: /usr/local/bin/bun, bunx beside it, a bun user.
  install -m 0755 "$bun" "$root/usr/local/bin/bun"
  ln -s bun "$root/usr/local/bin/bunx"
  chroot "$root" /usr/sbin/groupadd --gid 1000 bun
  chroot "$root" /usr/sbin/useradd --uid 1000 --gid bun --shell /bin/sh --create-home bun
  mkdir -p "$root/home/bun/app"
  chroot "$root" /bin/chown bun:bun /home/bun/app
  # Runs bun when the first argument is an option or not a command.
  cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ]; then
  set -- bun "$@"
fi
exec "$@"
EOF
  chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"
  [[ "$(chroot "$root" /usr/local/bin/bun --version)" == "$want" ]] || die "bun does not run in the new root"

  # What an image should not carry.
  rm -rf "${root:?}"/var/cache/apt/* "${root:?}"/var/lib/apt/lists/* "${root:?}"/var/log/* "${root:?}"/tmp/* \
    "${root:?}"/var/cache/debconf/*-old "${root:?}"/dev/* "${root:?}"/proc/* "${root:?}"/sys/* "${root:?}"/run/* \
    "${root:?}"/root/.bash_history "${root:?}"/usr/share/doc/*/changelog*
  : >"$root/etc/machine-id"
  find "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/locale" "$root/usr/share/info" \
    -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true

  tar --numeric-owner --sort=name -C "$root" -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$tmp/rootfs.tar.done"
  mkdir -p "$out"
  mv "$tmp/rootfs.tar.done" "$out/rootfs.tar"
  cleanup
  trap - EXIT
  log "Built the base image root in $(($(date +%s) - start)) s ($(du -h "$out/rootfs.tar" | cut -f1))"
  prune_cache "$images_cache/bun-base" 2
fi

bash "$here/dockerd.sh"
if [[ "$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$ref" 2>/dev/null)" != "$key" ]]; then
  log "Importing $out/rootfs.tar as $ref"
  docker import \
    -c "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    -c "ENV BUN_RUNTIME_TRANSPILER_CACHE_PATH=0" \
    -c "ENV BUN_INSTALL_BIN=/usr/local/bin" \
    -c "WORKDIR /home/bun/app" \
    -c 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    -c 'CMD ["/usr/local/bin/bun"]' \
    -c "LABEL $label=$key" \
    "$out/rootfs.tar" "$ref" >&2
fi
echo "$ref"
