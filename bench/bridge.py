"""The bridge's overhead: a predict answered by the Julia worker vs the same predict in Python, in-process.

    .venv/bin/python bench/bridge.py [--calls 100000] [--samples 3000]

Runs inside the stand-in image with no network (after `bash .ci/install`), like the docker tests. Each
predict answers (row_id, prediction = zeros) for the batch it gets; Julia's predict times itself, and
that time is subtracted, so the Julia figures are the bridge's overhead: encoding, two pipe transfers,
decoding in Julia, encoding the answer, building the polars answer. The baseline is the equivalent
Python predict called in-process, measured in the same run, interleaved with the Julia calls.

  batches   p50 / p99 per call for a 39 x 85 Float32 frame with a row-id column (Jane Street's shape),
            a 1 x 559 frame (Mitsui's) and a 1,000 x 20 frame with strings and nulls
  total     the summed overhead of --calls 39 x 85 calls (16 distinct frames, cycled)
  entered   notebook cell start -> the competition's server accepting connections, with a setup that
            sleeps 60 s (KAGGLE_IS_COMPETITION_RERUN set, the tiny-serve competition), vs a Python predict
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARBALL = "bin/linux/x64/1.5/julia-1.5.3-linux-x86_64.tar.gz"
JULIA = "/usr/local/bin/julia"
ENV = {"JULIA_DEPOT_PATH": "/root/.julia", "JULIA_LOAD_PATH": "@:@stdlib", "JULIA_PKG_OFFLINE": "true", "JULIA_NUM_THREADS": "1"}
TARGETS = {"39x85": (1.0, 3.0)}  # ms: p50, p99


# --- inside the container ------------------------------------------------------------------------


def batches():
    """name -> 16 distinct (test, lags) argument tuples of that shape."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(1)

    def jane_street(i):
        features = {f"feature_{j:02d}": rng.random(39, dtype=np.float32) for j in range(85)}
        return pl.DataFrame({"row_id": np.arange(39 * i, 39 * (i + 1), dtype=np.int64), **features}), None

    def mitsui(i):
        return pl.DataFrame({"row_id": [i], **{f"x{j:03d}": [float(j + i)] for j in range(558)}}), None

    def mixed(i):
        columns = {"row_id": np.arange(1000, dtype=np.int64) + 1000 * i}
        for j in range(16):
            values = rng.random(1000)
            columns[f"f{j}"] = pl.Series(values).scatter(np.flatnonzero(values < 0.1), None)  # 10 % nulls
        for j in range(3):
            columns[f"s{j}"] = pl.Series([None if k % 7 == 0 else f"symbol-{k % 97}-ü" for k in range(1000)])
        return pl.DataFrame(columns), None

    return {name: [make(i) for i in range(16)] for name, make in (("39x85", jane_street), ("1x559", mitsui), ("1000x20 str+nulls", mixed))}


def python_predict(test, lags):
    import numpy as np
    import polars as pl

    return pl.DataFrame({"row_id": test["row_id"], "prediction": np.zeros(test.height)})


def percentile(sorted_values: list, fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def timed_calls(worker, frames: list, count: int) -> tuple[list, list]:
    """Per-call seconds of the Julia worker (minus Julia's predict time) and of the in-process predict, interleaved."""
    julia, python = [], []
    for i in range(count):
        args = frames[i % len(frames)]
        before = worker("predict-ns")
        started = time.perf_counter()
        worker(*args)
        elapsed = time.perf_counter() - started
        julia.append(elapsed - (worker("predict-ns") - before) * 1e-9)
        started = time.perf_counter()
        python_predict(*args)
        python.append(time.perf_counter() - started)
    return julia, python


def total_overhead(worker, frames: list, count: int) -> dict:
    """Summed overhead of `count` calls: wall time of the loop minus Julia's predict time, vs the same in Python."""
    before = worker("predict-ns")
    started = time.perf_counter()
    for i in range(count):
        worker(*frames[i % len(frames)])
    julia = time.perf_counter() - started - (worker("predict-ns") - before) * 1e-9
    started = time.perf_counter()
    for i in range(count):
        python_predict(*frames[i % len(frames)])
    return {"calls": count, "julia_s": julia, "python_s": time.perf_counter() - started}


def wait_for_port(port: int, limit: float) -> float | None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return time.monotonic()
        except OSError:
            time.sleep(0.02)
    return None


CELL = """
import sys, time
sys.path.insert(0, "/bridge")
import juliapack_bridge as bridge
if sys.argv[1] == "julia":
    worker = bridge.start_worker({julia!r}, project="/app", module="BridgeBench", args=["--sleep", "60"], env={env!r})
    predict = worker.as_predict()
else:
    def predict(test, lags):
        return None
bridge.enter_server(predict, competition_dir="/competition")
"""


def entered_seconds(kind: str) -> float | None:
    """A notebook cell (a fresh python3) that starts the worker and enters the server, timed to the open port."""
    env = {**os.environ, "KAGGLE_IS_COMPETITION_RERUN": "1"}
    started = time.monotonic()
    cell = subprocess.Popen([sys.executable, "-c", CELL.format(julia=JULIA, env=ENV), kind], env=env)
    try:
        opened = wait_for_port(50051, 30)
    finally:
        cell.send_signal(signal.SIGINT)  # serve() never returns on a rerun
        cell.wait(timeout=30)
    return None if opened is None else opened - started


def inside(calls: int, samples: int) -> dict:
    sys.path.insert(0, "/bridge")
    import juliapack_bridge as bridge

    worker = bridge.start_worker(JULIA, project="/app", module="BridgeBench", env=ENV, deadline=60)
    results = {"julia_version": worker.wait_ready(), "batches": {}}
    shapes = batches()
    for name, frames in shapes.items():
        timed_calls(worker, frames, 50)  # compile each shape's methods first, as warmup() would
        julia, python = (sorted(times) for times in timed_calls(worker, frames, samples))
        results["batches"][name] = {"julia": [percentile(julia, 0.5), percentile(julia, 0.99)],
                                    "python": [percentile(python, 0.5), percentile(python, 0.99)]}
    results["total"] = total_overhead(worker, shapes["39x85"], calls)
    worker.close()
    results["entered"] = {"julia": entered_seconds("julia"), "python": entered_seconds("python")}
    return results


# --- on the host ---------------------------------------------------------------------------------


def run_in_container(calls: int, samples: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from testbed.cache import cache_root, read_env_file

    bed = read_env_file(cache_root() / "testbed.env")
    mounts = {bed["JULIAPACK_TESTBED_JULIA_MIRROR"]: "/mirror", ROOT / "templates" / "serve": "/bridge", ROOT / "bench": "/bench",
              ROOT / "bench" / "apps" / "BridgeBench": "/app", ROOT / "testbed" / "competition" / "tiny-serve": "/competition"}
    volumes = [arg for host, bind in mounts.items() for arg in ("-v", f"{host}:{bind}:ro")]
    script = f"tar -x -f /mirror/{TARBALL} -C /usr/local --strip-components 1 && mkdir -p /root/.julia && " \
             f"python3 /bench/bridge.py --inside --calls {calls} --samples {samples}"
    result = subprocess.run(["docker", "run", "--rm", "--network", "none", *volumes, bed["JULIAPACK_TESTBED_IMAGE"], "bash", "-ec", script],
                            capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"bench container failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(results: dict) -> str:
    lines = [f"bridge overhead, Julia {results['julia_version']} worker vs the same predict in-process (Python)", "",
             "| metric | julia bridge | in-process python | ratio | target |", "| --- | --- | --- | --- | --- |"]
    for name, figures in results["batches"].items():
        for index, label in enumerate(("p50", "p99")):
            ours, base = figures["julia"][index] * 1e3, figures["python"][index] * 1e3
            target = f"≤ {TARGETS[name][index]:g} ms" if name in TARGETS else ""
            lines.append(f"| {name} {label} | {ours:.3f} ms | {base:.3f} ms | {ours / base:.1f} | {target} |")
    total = results["total"]
    lines.append(f"| {total['calls']:,} calls of 39x85, total | {total['julia_s']:.1f} s | {total['python_s']:.1f} s | "
                 f"{total['julia_s'] / total['python_s']:.1f} | ≤ 150 s |")
    entered = results["entered"]
    ratio = f"{entered['julia'] / entered['python']:.2f}" if entered["julia"] and entered["python"] else "-"
    lines.append(f"| cell start → server entered, setup sleeps 60 s | {entered['julia']:.2f} s | {entered['python']:.2f} s | {ratio} | ≤ 5 s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000, help="39 x 85 calls for the total (default 100,000)")
    parser.add_argument("--samples", type=int, default=3000, help="timed calls per batch shape (default 3,000)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.inside:
        print(json.dumps(inside(options.calls, options.samples)))
    else:
        print(table(run_in_container(options.calls, options.samples)))


if __name__ == "__main__":
    main()
