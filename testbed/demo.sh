#!/usr/bin/env bash
# The main job on the bundled example, on the offline test bed:
#   juliapack build (in the Kaggle stand-in image, from a local Julia mirror and registry)
#   → the notebook, rehearsed offline in the same image (verify) → upload, push, status and fetch against
#   a local fake Kaggle server that the real kaggle client talks to.
# Sets up whatever is missing first (.ci/install). The workspace stays in demo/ (or $JULIAPACK_DEMO_DIR),
# so running it again shows the no-op rebuild and the skipped re-upload.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash .ci/install
env_file=${JULIAPACK_TESTBED_CACHE:-$HOME/.cache/juliapack-testbed}/testbed.env
set -a
# shellcheck disable=SC1090
source "$env_file"
set +a
demo=${JULIAPACK_DEMO_DIR:-$root/demo}
export JULIAPACK_CACHE_DIR=${JULIAPACK_CACHE_DIR:-$demo/.cache}
juliapack=$root/.venv/bin/juliapack

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
start_server() {  # start_server NAME COMMAND... : runs it in the background, waits for the URL it prints
  local out=$demo/.$1
  shift
  "$@" > "$out" 2> "$out.log" &
  pids+=($!)
  for _ in $(seq 100); do [[ -s $out ]] && break; sleep 0.1; done
  [[ -s $out ]] || { cat "$out.log" >&2; exit 1; }
}
mkdir -p "$demo"
start_server mirror-url .venv/bin/python testbed/serve.py "$JULIAPACK_TESTBED_JULIA_MIRROR"
mirror_url=$(head -n 1 "$demo/.mirror-url")
.venv/bin/python testbed/workspace.py "$demo" "$mirror_url"
cd "$demo"

echo "== juliapack build (then the notebook, rehearsed offline in the stand-in image)"
"$juliapack" build
echo "== the rehearsal's submission vs the expected one"
diff "$root/examples/data/expected_submission.csv" notebook/verify/submission.csv && echo "identical"

# A local fake Kaggle that the real kaggle client talks to; its kernel "runs" output the rehearsal's files.
mkdir -p .kaggle-config .fake-kaggle
start_server kaggle-url "$root/.venv/bin/python" "$root/testbed/fake_kaggle.py" --port 0 --root "$demo/.fake-kaggle" \
  --user alice --key demo-key --outputs "$demo/notebook/verify"
kaggle_url=$(head -n 1 "$demo/.kaggle-url")
unset HTTPS_PROXY https_proxy ALL_PROXY all_proxy
export KAGGLE_API_ENVIRONMENT=LOCALHOST HTTP_PROXY=$kaggle_url http_proxy=$kaggle_url NO_PROXY= no_proxy=
export KAGGLE_CONFIG_DIR=$demo/.kaggle-config KAGGLE_USERNAME=alice KAGGLE_KEY=demo-key

echo "== juliapack upload (to the fake Kaggle at $kaggle_url): the rehearsed build, the notebook's model"
"$juliapack" upload
echo "== juliapack upload again: nothing changed, nothing sent"
"$juliapack" upload
echo "== juliapack push --wait (the rehearsed notebook, its datasets checked on Kaggle), status, fetch"
"$juliapack" push --wait --timeout 2m
"$juliapack" status
"$juliapack" fetch
ls -l kaggle-output
