#!/usr/bin/env bash
# Build stand-ins for the public images that docker-compose.yml and workers/Dockerfile start
# FROM (redis, postgres, the PyTorch image) where no image registry can be reached, and tag
# them with those names. Only Debian's mirror and the Python package index are used, from this
# machine; every image is built with --network none.
#
#   tests/docker/build-standins.sh          # as root; needs docker, debootstrap, chroot
#
# 1. debootstrap --variant=minbase bookworm into $CACHE/rootfs; in a chroot, apt downloads
#    (no install) redis-server, postgresql and python3-venv into its package cache.
# 2. docker import that folder as automl-standin/debian:bookworm.
# 3. One Dockerfile each under tests/docker/standins/ installs the packages from that cache
#    and adds what the real image's entrypoint does where the compose file relies on it.
# 4. pip downloads what torch needs beside the CPU wheel $TORCH_WHEEL; the PyTorch stand-in
#    installs from those wheels with --no-index.
#
# A tag that names an image which is not a stand-in (a real one, pulled earlier) is left alone.
# Cached between runs: $CACHE (default /var/cache/automl-docker-test); remove it to start over.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${AUTOML_DOCKER_CACHE:-/var/cache/automl-docker-test}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TORCH_WHEEL="${AUTOML_TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}"
PYTHON="${PYTHON:-python3}"
BASE=automl-standin/debian:bookworm
PACKAGES="redis-server redis-tools postgresql python3 python3-venv python3-pip python-is-python3"
LABEL=org.automl.standin

say() { echo "build-standins: $*" >&2; }
die() { say "$*"; exit 2; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"
for tool in docker debootstrap chroot; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y docker.io debootstrap)"
done
[ -f "$TORCH_WHEEL" ] || die "no torch wheel at $TORCH_WHEEL (set AUTOML_TORCH_WHEEL to a CPU wheel for Python 3.11)"

# The names to stand in for, read from the files that use them.
REDIS_IMAGE="$(sed -n 's/^ *image: *\(redis:[^ ]*\) *$/\1/p' "$ROOT/docker-compose.yml" | head -1)"
POSTGRES_IMAGE="$(sed -n 's/^ *image: *\(postgres:[^ ]*\) *$/\1/p' "$ROOT/docker-compose.yml" | head -1)"
TORCH_IMAGE="$(sed -n 's/^ARG BASE_IMAGE=\(.*\)$/\1/p' "$ROOT/workers/Dockerfile" | head -1)"
[ -n "$REDIS_IMAGE" ] && [ -n "$POSTGRES_IMAGE" ] && [ -n "$TORCH_IMAGE" ] \
  || die "could not read the image names from docker-compose.yml and workers/Dockerfile"

mkdir -p "$CACHE"

# 1. The Debian folder, with the packages downloaded into its apt cache (again when the list changes).
if [ ! -f "$CACHE/rootfs/.automl-debootstrap" ]; then
  rm -rf "$CACHE/rootfs.tmp" "$CACHE/rootfs"
  say "debootstrap bookworm (minbase) from $MIRROR"
  debootstrap --variant=minbase bookworm "$CACHE/rootfs.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $CACHE/debootstrap.log"
  # Services never start while a package installs (as in Debian's own images).
  printf '#!/bin/sh\nexit 101\n' >"$CACHE/rootfs.tmp/usr/sbin/policy-rc.d"
  chmod 0755 "$CACHE/rootfs.tmp/usr/sbin/policy-rc.d"
  touch "$CACHE/rootfs.tmp/.automl-debootstrap"
  mv "$CACHE/rootfs.tmp" "$CACHE/rootfs"
fi
if [ "$(cat "$CACHE/rootfs/.automl-standin" 2>/dev/null | cut -d' ' -f2-)" != "$PACKAGES" ]; then
  say "downloading $PACKAGES into the folder's apt cache"
  cp /etc/resolv.conf "$CACHE/rootfs/etc/resolv.conf"
  chroot "$CACHE/rootfs" apt-get update -q >>"$CACHE/debootstrap.log" 2>&1 \
    && chroot "$CACHE/rootfs" apt-get install -y -q --download-only --no-install-recommends $PACKAGES \
      >>"$CACHE/debootstrap.log" 2>&1 \
    || die "apt-get in the chroot failed; see $CACHE/debootstrap.log"
  : >"$CACHE/rootfs/etc/resolv.conf"
  echo "$(date -u +%Y%m%dT%H%M%SZ) $PACKAGES" >"$CACHE/rootfs/.automl-standin"
fi

# 2. The imported base image (again whenever the folder is newer than the image).
stamp="$(cut -d' ' -f1 "$CACHE/rootfs/.automl-standin")"
if [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$BASE" 2>/dev/null)" != "$stamp" ]; then
  say "docker import $CACHE/rootfs as $BASE"
  tar -C "$CACHE/rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . \
    | docker import --change "LABEL $LABEL=$stamp" --change 'CMD ["bash"]' - "$BASE" >/dev/null
fi

# 4 (first: the PyTorch stand-in's context). torch's wheel and the wheels it needs.
TORCH_WHEELS="$CACHE/torch-wheels"
if [ ! -f "$TORCH_WHEELS/.complete" ] || [ ! -f "$TORCH_WHEELS/$(basename "$TORCH_WHEEL")" ]; then
  rm -rf "$TORCH_WHEELS"
  say "pip download: $(basename "$TORCH_WHEEL") and what it needs (Python 3.11, manylinux x86_64)"
  "$PYTHON" -m pip download -q --dest "$TORCH_WHEELS" --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    "$TORCH_WHEEL" || die "pip download of torch's dependencies failed"
  touch "$TORCH_WHEELS/.complete"
fi

# 3. The stand-ins: a tag that is not ours is a real image, kept.
standins=() real=()
build() {  # build NAME TAG CONTEXT
  local name="$1" tag="$2" context="$3" have
  have="$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$tag" 2>/dev/null || echo absent)"
  if [ "$have" = "<no value>" ]; then
    say "$tag is a real image here; using it, not a stand-in"
    real+=("$tag")
    return
  fi
  standins+=("$tag")
  say "building the $name stand-in as $tag"
  docker build -q --network none --label "$LABEL=$name" -t "$tag" \
    -f "$HERE/standins/$name/Dockerfile" "$context" >/dev/null
}
build redis "$REDIS_IMAGE" "$HERE/standins/redis"
build postgres "$POSTGRES_IMAGE" "$HERE/standins/postgres"
build pytorch "$TORCH_IMAGE" "$TORCH_WHEELS"
say "ready: stand-ins for ${standins[*]:-nothing}${real:+; real images: ${real[*]}}"
