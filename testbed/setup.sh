#!/usr/bin/env bash
# Make the whole test bed on this machine, offline but for Debian's mirror and PyPI: host tools, the base
# and Kaggle stand-in images (with the Python wheels it needs), a Julia 1.5.3 mirror, the local registry with its package and artifacts, and
# the example's model. Every stage is idempotent and cached under $JULIAPACK_TESTBED_CACHE (default
# ~/.cache/juliapack-testbed), keyed by a hash of its inputs, so a rerun takes seconds.
# Writes $CACHE/testbed.env (read by tests/conftest.py) and prints its path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${JULIAPACK_TESTBED_CACHE:-$HOME/.cache/juliapack-testbed}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# Run a stage, passing its stdout through and reporting how long it took on stderr.
timed() {
  local name=$1 start end
  shift
  start=$(date +%s%N)
  # set -e does not reach into $(...), where most stages run: fail the stage explicitly.
  "$@" || { local status=$?; echo "setup: $name failed (exit $status)" >&2; return $status; }
  end=$(date +%s%N)
  printf 'setup: %-14s %6.1f s\n' "$name" "$(((end - start) / 1000000))e-3" >&2
}

install_host_tools() {
  local missing=() tool package
  # zstd and pigz: the unit tests run every unpack command the notebook can be given.
  for tool in debootstrap:debootstrap patchelf:patchelf dpkg-deb:dpkg git:git curl:curl xz:xz-utils zstd:zstd pigz:pigz; do
    package=${tool#*:}
    command -v "${tool%%:*}" >/dev/null || missing+=("$package")
  done
  if ((${#missing[@]})); then
    echo "setup: apt-get install ${missing[*]}" >&2
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    "${sudo[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
}

# The example's model, written by examples/train.jl with the fixture's Julia in a container cut off
# from the network. Keyed by train.jl and the Julia mirror (its folder name is the fixture's hash).
train_model() {
  local image=$1 mirror=$2 key model_dir staging
  key=$( (cat "$root/examples/train.jl"; basename "$mirror") | sha256sum | cut -c1-12)
  model_dir=$cache/model-$key
  if [[ ! -f $model_dir/model.jls ]]; then
    staging=$(mktemp -d "$cache/model-tmp.XXXXXX")
    docker run --rm --network none \
      -v "$mirror:/mirror:ro" -v "$root/examples/train.jl:/train.jl:ro" -v "$staging:/out" \
      "$image" bash -ec "
        tar -x -f /mirror/bin/linux/x64/1.5/julia-1.5.3-linux-x86_64.tar.gz -C /usr/local --strip-components 1
        julia /train.jl /out/model.jls
        chown $(id -u):$(id -g) /out/model.jls" >&2
    chmod 755 "$staging"
    mv "$staging" "$model_dir"
  else
    echo "setup: model $model_dir/model.jls already made" >&2
  fi
  echo "$model_dir/model.jls"
}

command -v docker >/dev/null && docker info >/dev/null 2>&1 || {
  echo "setup: needs a running Docker engine that this user may use" >&2
  exit 1
}
timed "host tools" install_host_tools
base_image=$(timed "base image" bash "$here/base-image.sh")
wheels=$(timed "wheels" python3 "$here/standin_wheels.py")
image=$(timed "stand-in" bash "$here/standin-image.sh" "$base_image" "$wheels")
julia_mirror=$(timed "julia fixture" python3 "$here/julia_fixture.py")
repos=$(timed "package repos" python3 "$here/julia_packages.py")
model=$(timed "model" train_model "$image" "$julia_mirror")

env_file=$cache/testbed.env
cat > "$env_file.tmp" <<EOF
JULIAPACK_TESTBED_IMAGE=$image
JULIAPACK_TESTBED_BASE_IMAGE=$base_image
JULIAPACK_TESTBED_JULIA_MIRROR=$julia_mirror
JULIAPACK_TESTBED_REPOS=$repos
JULIAPACK_TESTBED_MODEL=$model
EOF
mv "$env_file.tmp" "$env_file"
echo "setup: wrote $env_file" >&2
echo "$env_file"
