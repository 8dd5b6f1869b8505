#!/usr/bin/env bash
# Build the Kaggle stand-in from Dockerfile.test on the test bed's base image (no network needed), with
# the Python wheels of testbed/standin_wheels.py in its build context.
# Usage: standin-image.sh BASE_TAG WHEELS_DIR. Idempotent: the tag hashes the Dockerfile, the base image id
# and every wheel's name and sha256. Prints the image tag on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${1:?usage: standin-image.sh BASE_TAG WHEELS_DIR}
wheels=${2:?usage: standin-image.sh BASE_TAG WHEELS_DIR}

base_id=$(docker image inspect --format '{{.Id}}' "$base")
wheel_sums=$(cd "$wheels" && sha256sum -- *.whl | LC_ALL=C sort -k 2)
tag="juliapack-testbed-kaggle:$( (cat "$root/Dockerfile.test"; echo "$base_id"; echo "$wheel_sums") | sha256sum | cut -c1-12)"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "stand-in image $tag already present" >&2
else
  context=$(mktemp -d "${TMPDIR:-/tmp}/juliapack-standin.XXXXXX")
  trap 'rm -rf "$context"' EXIT
  mkdir "$context/wheels"
  cp -l "$wheels"/*.whl "$context/wheels/" 2>/dev/null || cp "$wheels"/*.whl "$context/wheels/"
  docker build --network none --build-arg "BASE=$base" -t "$tag" -f "$root/Dockerfile.test" "$context" >&2
fi
echo "$tag"
