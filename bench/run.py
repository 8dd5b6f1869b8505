"""juliapack's benchmarks: one command, one table of ratios against baselines measured in the same run.

    .venv/bin/python bench/run.py [--runs 3] [--scale 1.0]

Needs the test bed (`bash .ci/install`) and a quiet machine. Every figure is the median of --runs runs.
Trees: (a) what building examples/Inference on the test bed produces (the Julia 1.5.3 tree and the
depot) and (b) a generated depot that mimics a real one (bench/gen_depot.py: seeded, ~3.6 GB).

  1 pack        juliapack's pack (zstd) vs `tar czf` of the same tree: time and size (and, for reference,
                the time of `tar | zstd` with as many threads as cores). Ours runs just before and just
                after each baseline run; the ratio is the median over runs of their mean / the baseline
  2 unpack      the notebook's unpack command vs `tar xzf`, inside the stand-in image
  3 prune       the packed depot after pruning vs a naive `tar czf` of the depot
  4 no-op       a rebuild with nothing changed vs the first build (cold cache)
  5 re-upload   bytes sent after a one-line change in the app vs the first, full upload (fake Kaggle)
  6 recompiled  packages recompiled at the offline cold start (juliapack verify)
  7 first out   unpack + Julia start + load + first output: juliapack's layers vs the seed recipe's
                (gzip tarballs unpacked with `tar xzf`), in the stand-in image without network
Peak memory of packing is reported too. Results also go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import gen_depot  # noqa: E402
from testbed import workspace  # noqa: E402
from testbed.cache import cache_root, read_env_file  # noqa: E402

PYTHON = sys.executable
TOO_QUICK = 0.1  # seconds: a baseline faster than this is not compared (start-up noise)


@dataclass
class Row:
    metric: str
    ours: str
    baseline: str
    ratio: float | None
    target: str
    ok: bool | None


def median_time(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        action()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def run(*args, env=None, cwd=None, check=True) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], env=env, cwd=cwd, check=check, capture_output=True, text=True)


def testbed_env() -> dict[str, str]:
    return read_env_file(cache_root() / "testbed.env")


@contextlib.contextmanager
def julia_mirror(bed: dict[str, str]):
    """The test bed's Julia mirror served for the block; yields its URL."""
    server = subprocess.Popen([PYTHON, ROOT / "testbed" / "serve.py", bed["JULIAPACK_TESTBED_JULIA_MIRROR"]], stdout=subprocess.PIPE, text=True)
    try:
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.communicate()


def report(rows: list[Row], path: Path) -> None:
    """The table on stdout, the rows as JSON in ``path``."""
    print(table(rows))
    path.write_text(json.dumps([row.__dict__ for row in rows], indent=1))


# --------------------------------------------------------------------------- 1 pack (and peak memory)

PACK = """
import json, re, sys, time
from pathlib import Path
from juliapack import archive
from juliapack.build.depot import DepotReport, depot_filter
root, target, prefix, report = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
drop = archive.keep_everything
if report:
    drop = depot_filter(DepotReport.read(Path(report)), compiled=sys.argv[5], project_name="Inference", keep_registries=False)
started = time.monotonic()
written, collected = archive.pack_tree(root, target, codec="zstd", mtime=0, prefix=prefix, drop=drop)
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))  # this process only
print(json.dumps({"seconds": time.monotonic() - started, "size": written.size, "rss_mb": peak_kb / 1024,
                  "dropped": sum(collected.dropped.values())}))
"""


def pack(tree: Path, target: Path, *, prefix: str, report: Path | None = None, compiled: str = "") -> dict:
    result = run(PYTHON, "-c", PACK, tree, target, prefix, report or "", compiled)
    return json.loads(result.stdout)


def tar_czf(tree: Path, target: Path) -> None:
    run("tar", "czf", target, "-C", tree.parent, tree.name)


def tar_zstd(tree: Path, target: Path) -> None:
    run("bash", "-o", "pipefail", "-c", f'tar -c -C "$1" "$2" | zstd -q -3 -T{os.cpu_count()} -o "$3" -f', "-", tree.parent, tree.name, target)


def pack_rows(name: str, tree: Path, scratch: Path, runs: int) -> tuple[list[Row], Path, Path, dict]:
    ours_file, gz_file = scratch / f"{name}.zst", scratch / f"{name}.tgz"
    # Each run packs ours just before and just after the baseline and compares their mean with it: this
    # machine's speed drifts by a fifth over minutes, which this cancels (as long as the drift is slow).
    # Every command starts after a sync, so no run pays for writing back the previous run's output.
    results, baselines, natives, ratios, native_ratios = [], [], [], [], []
    for _ in range(runs):
        os.sync()
        before = pack(tree, ours_file, prefix=tree.name)
        os.sync()
        baselines.append(median_time(lambda: tar_czf(tree, gz_file), 1))
        os.sync()
        after = pack(tree, ours_file, prefix=tree.name)
        os.sync()
        natives.append(median_time(lambda: tar_zstd(tree, scratch / f"{name}.native.zst"), 1))
        results += [before, after]
        ratios.append((before["seconds"] + after["seconds"]) / 2 / baselines[-1])
        native_ratios.append(after["seconds"] / natives[-1])
    ours, baseline = statistics.median(r["seconds"] for r in results), statistics.median(baselines)
    native, ratio, native_ratio = statistics.median(natives), statistics.median(ratios), statistics.median(native_ratios)
    ours_size, gz_size = ours_file.stat().st_size, gz_file.stat().st_size
    rss = max(r["rss_mb"] for r in results)
    timed = baseline >= TOO_QUICK  # under that, process start-up is all a ratio would measure
    rows = [
        Row(f"1 pack time: {name}", f"{ours:.2f} s", f"{baseline:.2f} s (tar czf)", ratio, "<= 0.10" if timed else "n/a", ratio <= 0.10 if timed else None),
        Row(f"1 pack size: {name}", f"{ours_size / 1e6:.1f} MB", f"{gz_size / 1e6:.1f} MB", ours_size / gz_size, "<= 1.00", ours_size <= gz_size),
        Row(f"  peak memory packing {name}", f"{rss:.0f} MB", "", None, "bounded", None),
        # For reference, not a target: the same codec through the native tools, on the same cores.
        Row(f"  pack time vs native tools: {name}", f"{ours:.2f} s", f"{native:.2f} s (tar | zstd -T{os.cpu_count()} -3)",
            native_ratio if timed else None, "", None),  # fmt: skip
    ]
    return rows, ours_file, gz_file, {"seconds": ours, "baseline": baseline}


# --------------------------------------------------------------------------- 2 unpack, in the stand-in image

UNPACK = """
set -euo pipefail
best() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_it() { local start end; rm -rf /x/*; start=$(date +%s%N); bash -o pipefail -c "$1"; end=$(date +%s%N); echo $(( (end - start) / 1000000 )); }
# Alternated, so that whatever drifts during the runs (page cache, tmpfs pages) weighs on both alike.
for i in $(seq @RUNS@); do
  echo "ours $(time_it "@OURS@")"
  echo "gz $(time_it "tar xzf /in/@GZ@ -C /x")"
done > /tmp/times
echo "$(grep ^ours /tmp/times | cut -d' ' -f2 | best) $(grep ^gz /tmp/times | cut -d' ' -f2 | best)"
"""


def unpack_row(name: str, ours_file: Path, gz_file: Path, image: str, runs: int) -> Row:
    from juliapack import archive

    command = archive.unpack_command(codec="zstd", decompressor="zstd", archive=f"/in/{ours_file.name}", dest="/x")
    script = UNPACK.replace("@RUNS@", str(runs)).replace("@OURS@", command).replace("@GZ@", gz_file.name)
    # Into a tmpfs: the stand-in's storage driver here (fuse-overlayfs) makes every file write slow, which
    # would measure the driver rather than the command; Kaggle's disks are local.
    os.sync()
    result = run("docker", "run", "--rm", "--network", "none", "--tmpfs", "/x:size=8g", "-v", f"{ours_file.parent}:/in:ro", image, "bash", "-c", script)
    ours_ms, gz_ms = (max(1, int(ms)) for ms in result.stdout.split())
    ratio, timed = ours_ms / gz_ms, gz_ms >= TOO_QUICK * 1000
    return Row(f"2 unpack: {name}", f"{ours_ms / 1000:.2f} s", f"{gz_ms / 1000:.2f} s (tar xzf)", ratio, "<= 0.40" if timed else "n/a", ratio <= 0.40 if timed else None)


# --------------------------------------------------------------------------- the example on the test bed


class Example:
    """examples/Inference in a workspace on the test bed, driven through the CLI as a user would."""

    def __init__(self, scratch: Path, bed: dict[str, str], mirror_url: str) -> None:
        self.root = workspace.make(
            scratch / "ws",
            image=bed["JULIAPACK_TESTBED_IMAGE"],
            repos=Path(bed["JULIAPACK_TESTBED_REPOS"]),
            model=Path(bed["JULIAPACK_TESTBED_MODEL"]),
            mirror_url=mirror_url,
        )
        self.model = Path(bed["JULIAPACK_TESTBED_MODEL"])
        # PYTHONPATH: this checkout's juliapack, not whichever one the venv's editable install points at.
        self.env = {**os.environ, "JULIAPACK_CACHE_DIR": str(scratch / "cache"), "HOME": str(scratch / "home"), "PYTHONPATH": str(ROOT)}

    def juliapack(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return run(PYTHON, "-m", "juliapack", *args, env={**self.env, **(env or {})}, cwd=self.root)

    @property
    def depot(self) -> Path:
        (folder,) = (Path(self.env["JULIAPACK_CACHE_DIR"]) / "work").glob("Inference-*/depot")
        return folder


def noop_row(example: Example, runs: int) -> Row:
    # Bytecode as an installed wheel has it (pip compiles at install): an editable checkout run with
    # PYTHONDONTWRITEBYTECODE would otherwise compile every module on every start.
    run(PYTHON, "-m", "compileall", "-q", ROOT / "juliapack")
    first = median_time(lambda: example.juliapack("build", "--no-verify"), 1)
    noop = median_time(lambda: example.juliapack("build", "--no-verify"), runs)
    ratio = noop / first
    return Row("4 no-op rebuild", f"{noop:.2f} s", f"{first:.2f} s (first build)", ratio, "<= 0.05", ratio <= 0.05)


@contextlib.contextmanager
def fake_kaggle(scratch: Path):
    """The test bed's fake Kaggle API server; yields the environment that points the kaggle client at it."""
    fake = subprocess.Popen(
        [PYTHON, ROOT / "testbed" / "fake_kaggle.py", "--port", "0", "--root", scratch / "fake-kaggle", "--user", "alice", "--key", "bench-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = fake.stdout.readline().strip()
        yield {"KAGGLE_API_ENVIRONMENT": "LOCALHOST", "HTTP_PROXY": url, "http_proxy": url, "NO_PROXY": "", "no_proxy": "",
               "KAGGLE_USERNAME": "alice", "KAGGLE_KEY": "bench-key", "KAGGLE_CONFIG_DIR": str(scratch / "kaggle")}  # fmt: skip
    finally:
        fake.terminate()
        fake.communicate()


def upload_row(example: Example, scratch: Path) -> Row:
    with fake_kaggle(scratch) as kaggle_env:
        first = uploaded_bytes(example, kaggle_env)
        source = example.root / "Inference" / "src" / "Inference.jl"
        source.write_text(source.read_text().replace("Inference: wrote", "Inference: wrote the submission to"))
        example.juliapack("build", "--no-verify")
        second = uploaded_bytes(example, kaggle_env, skip_verify=True)  # the bytes are the figure, not the rehearsal gate
    ratio = second / first
    return Row("5 re-upload after a one-line change", f"{second:,} B", f"{first:,} B (full upload)", ratio, "<= 0.01", ratio <= 0.01)


def uploaded_bytes(example: Example, kaggle_env: dict[str, str], *, skip_verify: bool = False) -> int:
    """`juliapack upload --model` through the product's API, for the exact byte count it reports."""
    from juliapack import config, upload

    saved = dict(os.environ)
    os.environ.update(kaggle_env)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(name, None)
    try:
        cfg = config.load_upload({"model": str(example.model), "skip_verify": skip_verify}, cwd=example.root)
        return upload.upload(cfg).bytes_sent
    finally:
        os.environ.clear()
        os.environ.update(saved)


def verify_rows(example: Example) -> tuple[list[Row], dict]:
    example.juliapack("verify")
    summary = json.loads((example.root / "notebook" / "verify" / "verify.json").read_text())
    recompiled = len(summary["recompiled"])
    return [Row("6 packages recompiled at offline cold start", str(recompiled), "", None, "0", recompiled == 0)], summary


FIRST_OUTPUT = """
set -euo pipefail
start=$(date +%s%N)
@UNPACK@
export JULIA_DEPOT_PATH=@DEPOT_PATH@ JULIA_LOAD_PATH=@:@stdlib JULIA_PKG_OFFLINE=true JULIA_PKG_SERVER=
@RUN@ --model /in/model/@MODEL@ --input /in/data --output /tmp/out | {
  read -r first; echo $(( ($(date +%s%N) - start) / 1000000 )); cat > /dev/null; }
"""


def layer_unpack(dist: Path) -> tuple[str, object]:
    """The notebook's unpack commands for the layers in dist (mounted at /in/dist), and the lock."""
    from juliapack import archive
    from juliapack.workflow.lock import read_lock

    lock = read_lock(dist)
    commands = [  # the notebook makes each destination first, so does this
        f"mkdir -p {shlex.quote(l.dest)} && "
        + archive.unpack_command(codec=l.codec, decompressor=l.decompressor, archive=f"/in/dist/{l.file}", dest=l.dest, strip_components=l.strip_components)
        for l in lock.layers
    ]  # fmt: skip
    return "\n".join(commands), lock


def first_output_row(example: Example, scratch: Path, image: str, runs: int) -> Row:
    """Time to the entry point's first output, from the datasets as mounted: juliapack's layers vs the seed's."""
    from juliapack.julia_call import entry_command

    ours_unpack, lock = layer_unpack(example.root / "dist")
    seed = scratch / "seed"
    seed.mkdir(exist_ok=True)
    shutil.copyfile(julia_tarball(example), seed / "julia")  # the official tarball, as the seed recipe uploads it
    run("tar", "czf", seed / "dotjulia", "-C", example.depot.parent, "depot", "--transform", "s,^depot,.julia,")
    run("tar", "czf", seed / "inference", "-C", example.depot.parent / "app", "Inference")
    seed_unpack = "\n".join(
        ["tar -x -f /in/seed/julia -C /usr/local --strip-components 1", "tar -x -f /in/seed/dotjulia -C /root", "tar -x -f /in/seed/inference -C /tmp"]
    )
    depot_path = ":".join(lock.layout.depot_path)
    ours_run = shlex.join(entry_command(lock.layout, name=lock.project_name, entry=lock.entry, mode=lock.entry_mode, arguments=[]))
    seed_run = "julia -t auto --project=/tmp/Inference /tmp/Inference/src/Inference.jl"  # the seed recipe: a script, PATH's julia

    def measure(unpack: str, command: str) -> int:
        script = FIRST_OUTPUT.replace("@UNPACK@", unpack).replace("@DEPOT_PATH@", depot_path).replace("@RUN@", command)
        script = script.replace("@MODEL@", example.model.name)
        volumes = ["-v", f"{example.root / 'dist'}:/in/dist:ro", "-v", f"{seed}:/in/seed:ro",
                   "-v", f"{example.model.parent}:/in/model:ro", "-v", f"{ROOT / 'examples' / 'data'}:/in/data:ro"]  # fmt: skip
        result = run("docker", "run", "--rm", "--network", "none", *volumes, image, "bash", "-c", script)
        return int(result.stdout.split()[-1])

    ours = statistics.median(measure(ours_unpack, ours_run) for _ in range(runs))
    baseline = statistics.median(measure(seed_unpack, seed_run) for _ in range(runs))
    ratio = ours / baseline
    return Row("7 time to first output (unpack + run)", f"{ours / 1000:.2f} s", f"{baseline / 1000:.2f} s (seed recipe)", ratio, "< 1.00", ratio < 1.0)


def julia_tarball(example: Example) -> Path:
    (path,) = (Path(example.env["JULIAPACK_CACHE_DIR"]) / "julia").glob("*/julia-*-linux-x86_64.tar.gz")
    return path


# --------------------------------------------------------------------------- 3 prune


def prune_rows(example: Example, generated: Path, scratch: Path, naive_generated: Path, runs: int) -> list[Row]:
    from juliapack.workflow.lock import read_lock

    naive = scratch / "testbed-depot.tgz"
    run("tar", "czf", naive, "-C", example.depot.parent, "depot")
    ours = read_lock(example.root / "dist").layer("depot").size
    rows = [Row("3 pruned+packed depot: test bed", f"{ours:,} B", f"{naive.stat().st_size:,} B (tar czf ~/.julia)",
                ours / naive.stat().st_size, "<= 0.60", ours <= 0.6 * naive.stat().st_size)]  # fmt: skip
    result = pack(generated / "depot", scratch / "generated-pruned.zst", prefix=".julia", report=generated / "report.tsv", compiled="v1.10")
    size, base = result["size"], naive_generated.stat().st_size
    rows.append(Row("3 pruned+packed depot: generated", f"{size / 1e6:.1f} MB", f"{base / 1e6:.1f} MB (tar czf ~/.julia)", size / base, "<= 0.60", size <= 0.6 * base))
    return rows


# --------------------------------------------------------------------------- main


HEADER = f"{'metric':<44} {'juliapack':>14} {'baseline':>28} {'ratio':>7} {'target':>8}  ok"


def line(row: Row) -> str:
    ratio = "" if row.ratio is None else f"{row.ratio:.3f}" if row.ratio >= 0.001 else f"{row.ratio:.1e}"
    ok = {True: "yes", False: "NO", None: ""}[row.ok]
    return f"{row.metric:<44} {row.ours:>14} {row.baseline:>28} {ratio:>7} {row.target:>8}  {ok}"


def table(rows: list[Row]) -> str:
    return "\n".join([HEADER, *map(line, rows)])


class Rows(list):
    """The rows so far, each shown on stderr as soon as it is measured."""

    def append(self, row: Row) -> None:
        print(line(row), file=sys.stderr, flush=True)
        super().append(row)

    def __iadd__(self, rows):
        for row in rows:
            self.append(row)
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description="juliapack benchmarks")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="size of the generated depot (1.0: ~3.6 GB)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "results", help="where generated trees and results go")
    args = parser.parse_args()
    bed = testbed_env()
    image = bed["JULIAPACK_TESTBED_IMAGE"]
    args.work.mkdir(parents=True, exist_ok=True)
    rows = Rows()
    with julia_mirror(bed) as mirror_url:
        with tempfile.TemporaryDirectory(prefix="juliapack-bench-", dir=args.work) as temp:
            scratch = Path(temp)
            example = Example(scratch, bed, mirror_url)
            rows.append(noop_row(example, args.runs))
            julia_tree = scratch / "julia-tree"
            julia_tree.mkdir()
            run("tar", "-x", "-f", julia_tarball(example), "-C", julia_tree, "--strip-components", "1")
            generated = args.work / "generated"
            gen_depot.ensure(generated, julia_tarball=julia_tarball(example), scale=args.scale)
            trees = (("julia-tree", julia_tree), ("testbed-depot", example.depot), ("generated-depot", generated / "depot"))
            for name, tree in trees:
                found, ours_file, gz_file, _ = pack_rows(name, tree, scratch, args.runs)
                rows += found
                rows.append(unpack_row(name, ours_file, gz_file, image, args.runs))
            naive_generated = scratch / "generated-depot.tgz"
            rows += prune_rows(example, generated, scratch, naive_generated, args.runs)
            verify, summary = verify_rows(example)
            rows += verify
            rows.append(first_output_row(example, scratch, image, args.runs))
            rows.append(upload_row(example, scratch))
    report(rows, args.work / "latest.json")


if __name__ == "__main__":
    main()
