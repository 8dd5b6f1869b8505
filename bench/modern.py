"""Issue 17's figures: the app from its package image, and what a fresh rebuild re-uploads. One command:

    .venv/bin/python bench/modern.py [--runs 3] [--functions 60]

Needs the test bed (`bash .ci/install`). Every time is the median of --runs runs; each ratio is against a
baseline measured in the same run.

  8 first out, package   unpack + Julia start + load + first output of a generated compile-heavy app
                         (bench/gen_app.py), built by juliapack as a package with `main`: the notebook runs
                         `using Heavy; Heavy.main(ARGS)` from its package image. Baseline: the same app
                         built with `--entry src/Heavy.jl` (script mode: included into Main, compiled at
                         every start); and, for reference, the seed recipe (gzip tarballs, PATH's julia,
                         the module file as a script), in the stand-in image without network
  9 fresh re-upload      bytes `juliapack upload` sends after `juliapack build --fresh` with unchanged
                         inputs vs the first, full upload of examples/Inference (fake Kaggle), and which
                         layers' bytes moved and which of their files: the target is that only compiled caches
                         move (the depot's, in the compiled layer, and the app's own, in the app layer)
Results also go to bench/results/modern.json.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import gen_app  # noqa: E402
from bench.run import Example, Row, Rows, fake_kaggle, julia_tarball, julia_mirror, layer_unpack, report, run, testbed_env, uploaded_bytes  # noqa: E402
from testbed import workspace  # noqa: E402

NAME = "Heavy"

FIRST_OUTPUT = """
set -euo pipefail
start=$(date +%s%N)
@UNPACK@
export JULIA_DEPOT_PATH=@DEPOT_PATH@ JULIA_LOAD_PATH=@:@stdlib JULIA_PKG_OFFLINE=true JULIA_PKG_SERVER=
@RUN@ --input /kaggle/input | { read -r first; echo $(( ($(date +%s%N) - start) / 1000000 )); echo "$first"; cat > /dev/null; }
"""


class HeavyApp(Example):
    """The generated app in a workspace of its own on the test bed, built through the CLI as a user would."""

    def __init__(self, scratch: Path, bed: dict[str, str], mirror_url: str, *, functions: int, workload: bool = True) -> None:
        scratch.mkdir(parents=True)
        self.root = scratch / "ws"
        gen_app.generate(self.root, name=NAME, functions=functions, workload=workload)
        config = workspace.config_text(image=bed["JULIAPACK_TESTBED_IMAGE"], repos=Path(bed["JULIAPACK_TESTBED_REPOS"]),
                                       model=Path(bed["JULIAPACK_TESTBED_MODEL"]), mirror_url=mirror_url, notebook=False)  # fmt: skip
        (self.root / "juliapack.toml").write_text(config.replace('project = "Inference"', f'project = "{NAME}"'))
        self.model = Path(bed["JULIAPACK_TESTBED_MODEL"])
        self.env = {**os.environ, "JULIAPACK_CACHE_DIR": str(scratch / "cache"), "HOME": str(scratch / "home"), "PYTHONPATH": str(ROOT)}

    @property
    def depot(self) -> Path:
        (folder,) = (Path(self.env["JULIAPACK_CACHE_DIR"]) / "work").glob(f"{NAME}-*/depot")
        return folder


def first_output_ms(image: str, *, dist: Path, seed: Path, unpack: str, depot_path: str, command: str) -> tuple[int, str]:
    script = FIRST_OUTPUT.replace("@UNPACK@", unpack).replace("@DEPOT_PATH@", depot_path).replace("@RUN@", command)
    volumes = ["-v", f"{dist}:/in/dist:ro", "-v", f"{seed}:/in/seed:ro"]
    result = run("docker", "run", "--rm", "--network", "none", *volumes, image, "bash", "-c", script, check=False)
    if result.returncode:
        raise SystemExit(f"the first-output run failed ({result.returncode}):\n{script}\n{result.stderr[-3000:]}")
    ms, first = result.stdout.strip().split("\n", 1)
    return int(ms), first


def first_output_rows(scratch: Path, bed: dict[str, str], mirror_url: str, *, functions: int, runs: int) -> list[Row]:
    from juliapack.julia_call import entry_command

    image = bed["JULIAPACK_TESTBED_IMAGE"]
    package = HeavyApp(scratch / "package", bed, mirror_url, functions=functions)
    bare = HeavyApp(scratch / "bare", bed, mirror_url, functions=functions, workload=False)
    script = HeavyApp(scratch / "script", bed, mirror_url, functions=functions)
    package.juliapack("build", "--no-verify")
    bare.juliapack("build", "--no-verify")
    script.juliapack("build", "--no-verify", "--entry", f"src/{NAME}.jl")
    seed = scratch / "seed"
    seed.mkdir()
    shutil.copyfile(julia_tarball(script), seed / "julia")
    run("tar", "czf", seed / "dotjulia", "-C", script.depot.parent, "depot", "--transform", "s,^depot,.julia,")
    run("tar", "czf", seed / "app", "-C", script.root, NAME)
    seed_unpack = "\n".join(["tar -x -f /in/seed/julia -C /usr/local --strip-components 1", "tar -x -f /in/seed/dotjulia -C /root",
                             "tar -x -f /in/seed/app -C /tmp"])  # fmt: skip
    seed_run = f"julia -t auto --project=/tmp/{NAME} /tmp/{NAME}/src/{NAME}.jl"

    cases = {}
    for label, app in (("package", package), ("bare", bare), ("script", script)):
        unpack, lock = layer_unpack(app.root / "dist")
        command = shlex.join(entry_command(lock.layout, name=lock.project_name, entry=lock.entry, mode=lock.entry_mode, arguments=[]))
        cases[label] = dict(dist=app.root / "dist", unpack=unpack, depot_path=":".join(lock.layout.depot_path), command=command)
        print(f"{label} mode ({lock.entry_mode}): {command}", file=sys.stderr)
    cases["seed"] = dict(cases["script"], unpack=seed_unpack, depot_path="/root/.julia", command=seed_run)
    times: dict[str, list[int]] = {label: [] for label in cases}
    firsts = set()
    for _ in range(runs):  # alternated, so that the machine's drift weighs on all alike
        for label, case in cases.items():
            ms, first = first_output_ms(image, seed=seed, **case)
            times[label].append(ms)
            firsts.add(first)
    if len(firsts) != 1:
        raise SystemExit(f"the modes disagree on the first output: {sorted(firsts)}")
    ours, bare_s, baseline, seed_ms = (statistics.median(times[label]) / 1000 for label in ("package", "bare", "script", "seed"))
    print(f"first output: {firsts.pop()}; runs (ms): {times}", file=sys.stderr)
    return [
        Row(f"8 first output: package ({functions} fns)", f"{ours:.2f} s", f"{baseline:.2f} s (script mode)", ours / baseline, "<= 0.50", ours <= 0.5 * baseline),
        Row("  package mode without the workload", f"{bare_s:.2f} s", f"{baseline:.2f} s (script mode)", bare_s / baseline, "", None),
        Row("  package mode vs the seed recipe", f"{ours:.2f} s", f"{seed_ms:.2f} s (seed recipe)", ours / seed_ms, "", None),
    ]


def fresh_upload_rows(scratch: Path, bed: dict[str, str], mirror_url: str) -> list[Row]:
    from juliapack.workflow.lock import read_lock

    example = Example(scratch / "fresh", bed, mirror_url)
    example.juliapack("build", "--no-verify")
    dist, kept = example.root / "dist", scratch / "fresh" / "first-dist"
    before = {layer.role: layer for layer in read_lock(dist).layers}
    shutil.copytree(dist, kept)
    with fake_kaggle(scratch / "fresh") as kaggle_env:
        first = uploaded_bytes(example, kaggle_env, skip_verify=True)
        example.juliapack("build", "--no-verify", "--fresh")
        after = {layer.role: layer for layer in read_lock(dist).layers}
        second = uploaded_bytes(example, kaggle_env, skip_verify=True)
    moved = [role for role in before if before[role].sha256 != after[role].sha256]
    changed = {role: changed_files(kept, dist, after[role], scratch / "fresh" / "diff") for role in moved}
    for role in moved:
        print(f"fresh rebuild moved the {role} layer ({after[role].size:,} B): {', '.join(changed[role])}", file=sys.stderr)
    # The target: only compiled caches move, the depot's in the compiled layer and the app's own in the app layer.
    only_caches = set(moved) <= {"compiled", "app"} and all(f.startswith(".juliapack-depot/compiled/") for f in changed.get("app", []))
    ratio, shipped = second / first, sum(after[role].size for role in after if role != "julia")
    print(f"fresh rebuild: {second:,} / {first:,} B = {ratio:.6f} of the full upload", file=sys.stderr)
    return [Row(f"9 re-upload after --fresh (moved: {'+'.join(moved) or 'none'})", f"{second:,} B", f"{first:,} B (full upload)", ratio,
               "caches", only_caches),
            Row("  vs the layers but Julia's (test bed depot)", f"{second:,} B", f"{shipped:,} B (depot+compiled+app)", second / shipped, "", None)]  # fmt: skip


def changed_files(first: Path, second: Path, layer, scratch: Path) -> list[str]:
    """The files of a layer whose bytes differ between two builds (relative to the layer's top folder)."""
    from juliapack import archive

    trees = []
    for label, dist in (("first", first), ("second", second)):
        tree = scratch / layer.role / label
        tree.mkdir(parents=True)
        command = archive.unpack_command(codec=layer.codec, decompressor=layer.decompressor, archive=str(dist / layer.file), dest=str(tree))
        run("bash", "-o", "pipefail", "-c", command)
        trees.append(tree)
    names = {p.relative_to(t).as_posix() for t in trees for p in t.rglob("*") if p.is_file()}
    differ = [n for n in sorted(names) if not all((t / n).is_file() for t in trees) or (trees[0] / n).read_bytes() != (trees[1] / n).read_bytes()]
    return [n.split("/", 1)[1] if "/" in n else n for n in differ]  # without the layer's top folder (.julia, Inference)


def main() -> None:
    parser = argparse.ArgumentParser(description="juliapack's issue-17 figures")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--functions", type=int, default=60, help="generated methods in the compile-heavy app")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "results", help="where scratch trees and results go")
    args = parser.parse_args()
    bed = testbed_env()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = Rows()
    with julia_mirror(bed) as mirror_url:
        with tempfile.TemporaryDirectory(prefix="juliapack-modern-", dir=args.work) as temp:
            scratch = Path(temp)
            rows += first_output_rows(scratch, bed, mirror_url, functions=args.functions, runs=args.runs)
            rows += fresh_upload_rows(scratch, bed, mirror_url)
    report(rows, args.work / "modern.json")


if __name__ == "__main__":
    main()
