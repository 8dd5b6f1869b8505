#!/usr/bin/env bash
# Build the Kaggle stand-in from Dockerfile.test on the test bed's base image (no network needed).
# Usage: standin-image.sh BASE_TAG. Idempotent: the tag hashes the Dockerfile and the base image id.
# Prints the image tag on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${1:?usage: standin-image.sh BASE_TAG}

base_id=$(docker image inspect --format '{{.Id}}' "$base")
tag="juliapack-testbed-kaggle:$( (cat "$root/Dockerfile.test"; echo "$base_id") | sha256sum | cut -c1-12)"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "stand-in image $tag already present" >&2
else
  docker build --network none --build-arg "BASE=$base" -t "$tag" - < "$root/Dockerfile.test" >&2
fi
echo "$tag"
