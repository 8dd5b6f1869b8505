"""Runs inside the stand-in container for tests/docker/test_bridge.py: `python3 bridge_driver.py SCENARIO`.

Drives the real Julia worker through juliapack_bridge (mounted at /bridge) and prints one JSON object,
the scenario's observations, as its last line; the test asserts on them.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, "/bridge")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402

import juliapack_bridge as bridge  # noqa: E402

JULIA = "/usr/local/bin/julia"
ENV = {"JULIA_DEPOT_PATH": "/root/.julia", "JULIA_LOAD_PATH": "@:@stdlib", "JULIA_PKG_OFFLINE": "true", "JULIA_NUM_THREADS": "1"}
COMPETITION = "/competition"
MODEL = "/model/model.jls"  # test_bridge mounts the test bed's model here


def echo_worker(*args, deadline=30.0):
    return bridge.start_worker(JULIA, project="/apps/Echo", module="Echo", args=args, env=ENV, deadline=deadline)


def outcome(call) -> dict:
    """What a call did: its value (as text) or its exception's type and message, and how long it took."""
    started = time.monotonic()
    try:
        result = {"value": repr(call())}
    except Exception as error:  # the scenarios observe every failure kind
        result = {"error": type(error).__name__, "message": str(error)}
    return {**result, "seconds": round(time.monotonic() - started, 2)}


def every_type_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "f64": pl.Series([1.5, None, -2.25], dtype=pl.Float64), "f32": pl.Series([0.5, 3.0, None], dtype=pl.Float32),
        "i64": pl.Series([2**62, None, -(2**62)], dtype=pl.Int64), "i32": pl.Series([1, -2, 3], dtype=pl.Int32),
        "i16": pl.Series([None, -300, 300], dtype=pl.Int16), "i8": pl.Series([-128, 0, 127], dtype=pl.Int8),
        "u64": pl.Series([2**64 - 1, 0, None], dtype=pl.UInt64), "u32": pl.Series([4_000_000_000, 1, 2], dtype=pl.UInt32),
        "u16": pl.Series([65535, None, 0], dtype=pl.UInt16), "u8": pl.Series([255, 1, 0], dtype=pl.UInt8),
        "bool": pl.Series([True, None, False]), "str": pl.Series(["héllo", None, ""]),
        "date": pl.Series([datetime.date(2024, 2, 29), None, datetime.date(1900, 1, 1)]),
        "datetime": pl.Series([datetime.datetime(2024, 1, 1, 12, 30, 0, 125000), None, datetime.datetime(1960, 1, 1)], dtype=pl.Datetime("ms")),
        "null": pl.Series([None, None, None], dtype=pl.Null),
    })


SCALARS = [True, 7, -2**63, 2.5, "tëxt", datetime.date(2020, 5, 17), datetime.datetime(2020, 5, 17, 8, 9, 10, 11000), np.float32(1.25), np.uint8(200)]


def frames_round_trip(worker) -> dict:
    frame = every_type_frame()
    wide = pl.DataFrame({f"feature_{i:03d}": [float(i)] for i in range(559)})
    long = pl.DataFrame({"s": ["ü" * 300_000, None, "end"]})
    zero = frame.clear()
    pandas = pd.DataFrame({"f": [1.5, np.nan], "i": pd.array([1, None], dtype="Int64"), "s": ["x", None],
                           "b": pd.array([True, None], dtype="boolean"), "t": pd.to_datetime(["2024-01-01 10:00", None]).as_unit("ms")})
    pandas_back = worker("echo", pandas)
    return {
        "every_type": worker("echo", frame).equals(frame) and worker("echo", frame).schema == frame.schema,
        "eltypes": worker("describe", frame).rows(),
        "zero_rows": worker("echo", zero).schema == zero.schema and worker("echo", zero).height == 0,
        "empty": list(worker("echo", pl.DataFrame()).shape),
        "wide": worker("echo", wide).equals(wide),
        "long_strings": worker("echo", long).equals(long),
        "pandas": isinstance(pandas_back, pd.DataFrame) and pandas_back.equals(pandas),
        "series": worker("echo", pl.Series("s", [1, None, 3])).to_list(),
        "pandas_series_type": type(worker("echo", pd.Series([1.0, 2.0]))).__module__,
    }


def values_round_trip(worker) -> dict:
    return {
        "scalars": [worker("echo", value) == value for value in SCALARS],
        "scalar_types": [worker("describe", value) for value in SCALARS],
        "none": [worker("echo", None), worker("describe", None)],
        "lists": worker("describe-all", [1, 2], [1.5, "a"], [pl.DataFrame({"a": [1]})] * 2, []),
        "matrix": worker("describe", np.arange(6, dtype=np.int32).reshape(2, 3)),
        "matrix_answer": outcome(lambda: worker("echo", np.arange(6).reshape(2, 3))),
        "one_row_table": worker("scalars").to_dicts(),
        "bits": worker("bits", pl.Series([1, -1, 2])).to_dicts(),
        "any_vector": worker("any").to_list(),
        "dict": outcome(lambda: worker("dict")),
        "ragged": outcome(lambda: worker("ragged")),
        "unsupported_argument": outcome(lambda: worker("echo", 1 + 2j)),
        "after_errors": worker("echo", 42),
        "args": worker("args"),
    }


def scenario_round_trips() -> dict:
    worker = echo_worker("--model", "/nowhere")
    results = {"julia": worker.wait_ready(), **frames_round_trip(worker), **values_round_trip(worker)}
    worker.close()
    return {**results, "exit_code": worker.returncode}


def scenario_julia_errors() -> dict:
    worker = echo_worker()
    captured_out, captured_err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(captured_out), contextlib.redirect_stderr(captured_err):
        results = {"first": worker("echo", 1), "error": outcome(lambda: worker("error")), "after": worker("echo", 2),
                   "print": worker("print")}
        time.sleep(0.5)  # the tee threads forward what Julia printed
    worker.close()
    return {**results, "stdout": captured_out.getvalue(), "stderr": captured_err.getvalue()}


def failing_call(command: str, *, deadline: float, kill: bool = False) -> dict:
    worker = echo_worker(deadline=deadline)
    first = worker("echo", 1)
    if kill:
        os.kill(worker.pid, signal.SIGKILL)
    result = outcome(lambda: worker(command))
    return {"first": first, **result, "next": outcome(lambda: worker("echo", 3)), "returncode": worker.returncode}


def scenario_exit() -> dict:
    return failing_call("exit", deadline=30.0)


def scenario_hang() -> dict:
    return failing_call("hang", deadline=3.0)


def scenario_killed() -> dict:
    return failing_call("echo", deadline=30.0, kill=True)


def scenario_setup_fails() -> dict:
    worker = echo_worker("--fail-setup")
    return {"first": outcome(lambda: worker("echo", 1)), "next": outcome(lambda: worker("echo", 1)), "returncode": worker.returncode}


def expected_submission() -> pl.DataFrame:
    return pl.read_csv(f"{COMPETITION}/expected_submission.csv", schema={"row_id": pl.Int64, "prediction": pl.Float64})


def forecast_predict(project: str, module: str, deadline: float = 30.0):
    worker = bridge.start_worker(JULIA, project=project, module=module, args=["--model", MODEL], env=ENV, deadline=deadline)
    return worker.as_predict()


def scenario_local_gateway() -> dict:
    """The competition's run_local_gateway against the Forecast example; submission.parquet in the CWD."""
    started = time.monotonic()
    result = outcome(lambda: bridge.enter_server(forecast_predict("/examples/Forecast", "Forecast"), competition_dir=COMPETITION))
    submission = pl.read_parquet("submission.parquet") if os.path.exists("submission.parquet") else None
    expected = expected_submission()
    return {**result, "seconds": round(time.monotonic() - started, 2), "matches": submission is not None and submission.equals(expected),
            "rows": None if submission is None else submission.height}


def scenario_wrong_rows() -> dict:
    return outcome(lambda: bridge.enter_server(forecast_predict("/work/ShortForecast", "ShortForecast"), competition_dir=COMPETITION))


def scenario_rerun_server() -> dict:
    """Kaggle's rerun, server side: the notebook cell starts, enters the server, and serves for good."""
    print(json.dumps({"cell_started": time.time(), "pid": os.getpid()}), flush=True)
    bridge.enter_server(forecast_predict("/work/SlowForecast", "SlowForecast", deadline=10.0), competition_dir=COMPETITION)
    return {"serve_returned": True}


def scenario_rerun_gateway() -> dict:
    """Kaggle's rerun, gateway side: wait for the server's port, then run the gateway against it."""
    entered = None
    while entered is None:
        with contextlib.suppress(OSError), socket.create_connection(("inference_server", 50051), timeout=0.2):
            entered = time.time()
        time.sleep(0.05)
    sys.path.insert(0, COMPETITION)
    from kaggle_evaluation.tiny_gateway import TinyGateway

    started = time.monotonic()
    TinyGateway().run()
    expected = expected_submission()
    return {"server_entered": entered, "gateway_seconds": round(time.monotonic() - started, 2),
            "result": json.loads(Path("result.json").read_text()), "matches": pl.read_parquet("submission.parquet").equals(expected)}


if __name__ == "__main__":
    observations = globals()[f"scenario_{sys.argv[1].replace('-', '_')}"]()
    print(json.dumps(observations, default=str))
