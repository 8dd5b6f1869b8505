#!/usr/bin/env bash
# Make the test bed's base image without a registry: debootstrap a minimal Debian, `docker import` it,
# then add the Jupyter side with apt-get inside a container (debootstrap's --include resolves dependencies
# too loosely for python3-zmq) and commit. Idempotent: the tag carries a hash of this script, so an
# existing image is reused. Prints the image tag on stdout (progress goes to stderr).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

suite=bookworm
minimal=python3,ca-certificates
packages="python3-ipykernel python3-nbclient python3-nbformat tar gzip zstd xz-utils git curl"
tag="juliapack-testbed-base:$(sha256sum < "$0" | cut -c1-12)"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag already present" >&2
  echo "$tag"
  exit 0
fi

mirror=$(python3 "$here/debian_mirror.py")
rootfs=$(mktemp -d "${TMPDIR:-/tmp}/juliapack-rootfs.XXXXXX")
stage="juliapack-testbed-stage-$$"
trap 'rm -rf "$rootfs"; docker rm -f "$stage" >/dev/null 2>&1 || true; docker rmi "$stage:0" >/dev/null 2>&1 || true' EXIT

echo "debootstrap $suite ($minimal) from the apt mirror ..." >&2
debootstrap --variant=minbase --include="$minimal" "$suite" "$rootfs" "$mirror" >&2
rm -rf "$rootfs"/var/cache/apt/archives/*.deb
tar -C "$rootfs" -c . | docker import - "$stage:0" >&2

echo "apt-get install $packages ..." >&2
docker run --name "$stage" "$stage:0" sh -ec "
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends $packages
  apt-get clean
  rm -rf /var/lib/apt/lists/*
  python3 -c 'import ipykernel, nbclient, nbformat'
" >&2
docker commit --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' "$stage" "$tag" >&2
echo "$tag"
