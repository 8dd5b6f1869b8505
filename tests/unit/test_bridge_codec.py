"""The bridge's Python side: the wire codec for every type, bad frames from a fake worker, server discovery."""

from __future__ import annotations

import datetime
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import polars as pl
import pytest

from tests.unit.bridge_helpers import TINY_SERVE, clean_imports_fixture, fake_julia  # noqa: F401 - the clean_imports fixture

import juliapack_bridge as bridge  # noqa: E402 - bridge_helpers puts templates/serve on sys.path
import juliapack_wire as wire  # noqa: E402
from juliapack_columns import value_chunks  # noqa: E402


def round_trip(value, library="polars"):
    """Encode value as a request argument, then decode those bytes as an answer: the column layout is one."""
    chunks: list = []
    value_chunks(value, chunks)
    reader = wire.Reader(b"".join(chunks))
    answer = wire.read_answer(reader, library)
    reader.done()
    return answer


EVERY_TYPE = {
    "f64": pl.Series([1.5, None, -2.25], dtype=pl.Float64),
    "f32": pl.Series([0.5, 3.0, None], dtype=pl.Float32),
    "i64": pl.Series([2**62, None, -(2**62)], dtype=pl.Int64),
    "i32": pl.Series([1, -2, 3], dtype=pl.Int32),
    "i16": pl.Series([None, -300, 300], dtype=pl.Int16),
    "i8": pl.Series([-128, 0, 127], dtype=pl.Int8),
    "u64": pl.Series([2**64 - 1, 0, None], dtype=pl.UInt64),
    "u32": pl.Series([4_000_000_000, 1, 2], dtype=pl.UInt32),
    "u16": pl.Series([65535, None, 0], dtype=pl.UInt16),
    "u8": pl.Series([255, 1, 0], dtype=pl.UInt8),
    "bool": pl.Series([True, None, False], dtype=pl.Boolean),
    "str": pl.Series(["héllo", None, ""], dtype=pl.String),
    "date": pl.Series([datetime.date(2024, 2, 29), None, datetime.date(1900, 1, 1)], dtype=pl.Date),
    "datetime": pl.Series([datetime.datetime(2024, 1, 1, 12, 30, 0, 125000), None, datetime.datetime(1960, 1, 1)], dtype=pl.Datetime("ms")),
    "null": pl.Series([None, None, None], dtype=pl.Null),
}


def test_a_polars_frame_of_every_type_with_nulls_comes_back_equal():
    frame = pl.DataFrame(EVERY_TYPE)
    answer = round_trip(frame)
    assert answer.schema == frame.schema
    assert answer.equals(frame)


def test_frames_of_several_chunks_and_slices_with_offsets():
    first = pl.DataFrame({"x": [1.0, None], "s": ["a", None], "b": [True, None], "d": [datetime.date(2024, 1, 1), None]})
    second = pl.DataFrame({"x": [3.0, 4.0], "s": ["cc", "d"], "b": [False, True], "d": [None, datetime.date(2024, 1, 3)]})
    chunked = pl.concat([first, second], rechunk=False)  # as an Arrow IPC stream of two batches reads
    assert chunked["x"].n_chunks() == 2
    for frame in (chunked, chunked.slice(1, 3), chunked.slice(3, 1)):
        assert round_trip(frame).equals(frame)


def test_without_pyarrow_polars_alone_encodes_the_same_bytes(monkeypatch):
    frame = pl.DataFrame(EVERY_TYPE)
    with_arrow: list = []
    value_chunks(frame, with_arrow)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    without: list = []
    value_chunks(frame, without)
    assert round_trip(frame).equals(frame)
    assert masked_nulls(b"".join(with_arrow)) == masked_nulls(b"".join(without))


def masked_nulls(encoded: bytes) -> list:
    """The decoded columns with the (unspecified) bytes under nulls left out."""
    reader = wire.Reader(encoded)
    reader.take(13)  # TABLE tag, column and row counts
    columns = []
    for _ in range(len(EVERY_TYPE)):
        column = wire.read_column(reader)
        keep = np.ones(column.length, dtype=bool) if column.valid is None else column.valid
        values = None if column.values is None else column.values[keep].tolist()
        strings = None if column.offsets is None else [bytes(column.data[a:b]) for a, b, k in zip(column.offsets[:-1], column.offsets[1:], keep) if k]
        columns.append((column.name, column.code, keep.tolist(), values, strings))
    return columns


def test_datetimes_travel_in_milliseconds_and_categoricals_as_strings():
    frame = pl.DataFrame({
        "us": pl.Series([datetime.datetime(2024, 1, 1, 0, 0, 0, 123456)], dtype=pl.Datetime("us")),
        "utc": pl.Series([datetime.datetime(2024, 1, 1, 12)], dtype=pl.Datetime("ns", "Europe/Paris")),
        "cat": pl.Series(["b"], dtype=pl.Categorical),
    })
    answer = round_trip(frame)
    assert answer["us"].to_list() == [datetime.datetime(2024, 1, 1, 0, 0, 0, 123000)]
    assert answer["utc"].to_list() == [datetime.datetime(2024, 1, 1, 12)]  # the UTC instant; the zone stays behind
    assert answer["cat"].to_list() == ["b"] and answer["cat"].dtype == pl.String


def test_empty_zero_row_and_wide_frames():
    assert round_trip(pl.DataFrame()).shape == (0, 0)
    zero = pl.DataFrame({"a": pl.Series([], dtype=pl.Float32), "s": pl.Series([], dtype=pl.String)})
    assert round_trip(zero).equals(zero) and round_trip(zero).schema == zero.schema
    wide = pl.DataFrame({f"feature_{i:03d}": [float(i)] for i in range(559)})
    answer = round_trip(wide)
    assert answer.shape == (1, 559) and answer.equals(wide)


def test_long_and_multibyte_strings():
    long = "ü" * 500_000 + "end"
    frame = pl.DataFrame({"s": [long, "日本語", None, "x" * 70_000]})
    assert round_trip(frame).equals(frame)
    assert round_trip(long) == long


def test_series_arrays_and_scalars():
    assert round_trip(pl.Series("score", [1, 2, None])).to_list() == [1, 2, None]
    assert round_trip(np.array([1.0, 2.0], dtype=np.float32)).dtype == pl.Float32
    assert round_trip(np.array(["a", "b"])).to_list() == ["a", "b"]
    assert round_trip(np.array(["2024-01-02", "NaT"], dtype="datetime64[D]")).to_list() == [datetime.date(2024, 1, 2), None]
    scalars = [None, True, 7, -2**63, 2.5, "text", datetime.date(2020, 5, 17), datetime.datetime(2020, 5, 17, 8, 9, 10, 11000),
               np.float32(1.25), np.int16(-3), np.uint8(200)]
    for scalar in scalars:
        assert round_trip(scalar) == scalar and type(round_trip(scalar)) is (type(scalar.item()) if isinstance(scalar, np.generic) else type(scalar))


def test_pandas_frames_come_back_as_pandas_with_their_nulls():
    frame = pd.DataFrame({
        "f": [1.5, np.nan], "i": pd.array([1, None], dtype="Int64"), "b": pd.array([True, None], dtype="boolean"),
        "s": ["x", None], "t": pd.to_datetime(["2024-01-01 10:00", None]), "u": np.array([1, 2], dtype=np.uint16),
    })
    answer = round_trip(frame, library="pandas")
    assert isinstance(answer, pd.DataFrame)
    assert answer["t"].dtype == "datetime64[ms]"  # Julia's DateTime resolution
    pd.testing.assert_frame_equal(answer.astype({"t": frame["t"].dtype}), frame, check_dtype=False)  # ns before pandas 3, us from 3 on
    assert str(answer["i"].dtype) == "Int64" and str(answer["b"].dtype) == "boolean" and answer["u"].dtype == np.uint16


def test_lists_and_matrices_are_laid_out_as_documented():
    chunks: list = []
    value_chunks([1, None], chunks)
    assert b"".join(chunks) == bytes([wire.LIST]) + struct.pack("<I", 2) + bytes([wire.SCALAR, wire.I64]) + struct.pack("<q", 1) + bytes([wire.NOTHING])
    chunks = []
    value_chunks(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32), chunks)
    assert b"".join(chunks) == struct.pack("<BBQQ", wire.MATRIX, wire.I32, 2, 3) + np.array([1, 4, 2, 5, 3, 6], dtype="<i4").tobytes()


@pytest.mark.parametrize("value, named", [
    (pl.DataFrame({"l": [[1, 2]]}), "List"),
    (pd.DataFrame({"o": [object()]}), "object"),
    (object(), "builtins.object"),
    (np.zeros((2, 2, 2)), "shape (2, 2, 2)"),
    (1 + 2j, "complex"),
])
def test_values_the_bridge_cannot_carry_raise_a_type_error_naming_them(value, named):
    with pytest.raises(TypeError, match="the Julia bridge carries") as raised:
        wire.request(1, (value,))
    assert named in str(raised.value)


def test_frame_headers_are_checked():
    assert wire.parse_header(wire.HEADER.pack(b"JPB1", wire.RESULT, 12)) == (wire.RESULT, 12)
    for header in (b"XXXX" + bytes(12), wire.HEADER.pack(b"JPB1", 9, 0), wire.HEADER.pack(b"JPB1", wire.RESULT, 1 << 50)):
        with pytest.raises(wire.WireError, match="garbled frame header"):
            wire.parse_header(header)


def test_truncated_and_overlong_bodies_are_wire_errors():
    body = struct.pack("<Q", 1) + bytes([wire.SCALAR, wire.F64]) + struct.pack("<d", 2.0)
    assert wire.parse_result(body, "polars") == (1, 2.0)
    with pytest.raises(wire.WireError, match="a field needs"):
        wire.parse_result(body[:-1], "polars")
    with pytest.raises(wire.WireError, match="left over"):
        wire.parse_result(body + b"\0", "polars")
    with pytest.raises(wire.WireError, match="unknown value tag 9"):
        wire.parse_result(struct.pack("<Q", 1) + bytes([9]), "polars")


# --- a fake worker that breaks the protocol ----------------------------------------------------


def fake_worker(tmp_path, mode, *, deadline=5.0):
    julia = fake_julia(tmp_path)
    return bridge.start_worker(julia, project=tmp_path, module="Fake", env={"FAKE_MODE": mode}, deadline=deadline)


@pytest.mark.parametrize("mode, message", [
    ("garbled", "garbled frame header"),
    ("short-header", "closed its reply pipe after 5 of 16 bytes of a frame header"),
    ("short-body", "closed its reply pipe after 10 of 100 bytes"),
    ("eof", "stopped without answering on batch 1; it exited with code 3; its stderr ends: fake worker gives up"),
    ("wrong-batch", "answered batch 99 instead"),
    ("huge", "garbled frame header"),
])
def test_a_worker_breaking_the_protocol_fails_the_call_at_once(tmp_path, mode, message):
    worker = fake_worker(tmp_path, mode, deadline=30.0)
    worker.wait_ready()
    started = time.monotonic()
    with pytest.raises((bridge.WorkerDied, wire.WireError)) as raised:
        worker(1.0)  # the first call has no deadline: only the checks can end it
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert time.monotonic() - started < 5
    assert worker.returncode is not None  # killed, not left running
    with pytest.raises(bridge.WorkerDied, match="julia worker is not running"):
        worker(2.0)
    worker.close()


def test_a_garbled_ready_fails_the_first_call(tmp_path):
    worker = fake_worker(tmp_path, "garbled-ready")
    with pytest.raises(wire.WireError, match="garbled frame header .* before READY"):
        worker(1.0)
    worker.close()


def test_a_silent_worker_times_out_after_the_first_call(tmp_path):
    worker = fake_worker(tmp_path, "silent-hang", deadline=1.5)
    worker.wait_ready()
    worker._batches, worker.julia_version = 16, "1.99.0-fake"  # as after 16 answered calls
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^julia worker exceeded 1.5 s on batch 17$"):
        worker(1.0)
    assert 1.4 < time.monotonic() - started < 4
    assert worker.returncode == -9
    worker.close()


def test_start_worker_wants_an_absolute_julia_and_returns_at_once(tmp_path):
    with pytest.raises(ValueError, match="absolute path"):
        bridge.start_worker("julia", project=tmp_path, module="Fake")
    started = time.monotonic()
    worker = fake_worker(tmp_path, "silent-hang")
    assert time.monotonic() - started < 1.0
    assert worker.wait_ready() == "1.99.0-fake"
    worker.close()
    assert worker.returncode == 0  # it saw EOF on its request pipe and exited
    with pytest.raises(bridge.WorkerDied, match=r"not running: it was closed \(JuliaWorker.close\)"):
        worker(1)


def test_as_predict_is_named_predict(tmp_path):
    worker = fake_worker(tmp_path, "silent-hang")
    predict = worker.as_predict()
    assert predict.__name__ == "predict"
    worker.close()


# --- finding and entering the competition's server ---------------------------------------------

OLD_TEMPLATES = '''
import os
CALLS = []
class InferenceServer:
    def __init__(self, endpoint_listeners):
        self.listeners = (endpoint_listeners,)
    def serve(self):
        CALLS.append(("serve",))
    def run_local_gateway(self, data_paths=None):
        CALLS.append(("run_local_gateway", data_paths))
'''


def old_style_competition(folder, *, servers=("old",)):
    package = folder / "kaggle_evaluation"
    (package / "core").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("")
    (package / "core" / "templates.py").write_text(OLD_TEMPLATES)
    for name in servers:
        (package / f"{name}_inference_server.py").write_text(
            "from kaggle_evaluation.core import templates\n"
            f"class {name.title()}InferenceServer(templates.InferenceServer):\n    pass\n"
            "class Unrelated:\n    pass\n"
        )
    return folder


def test_the_tiny_competitions_server_is_found_with_the_new_signature(clean_imports):
    found = bridge.server_class(competition_dir=TINY_SERVE)
    assert found.__name__ == "TinyInferenceServer"
    assert "*endpoint_listeners" in str(__import__("inspect").signature(found.__init__))


def test_an_old_signature_server_gets_the_one_predict_and_runs_the_local_gateway(tmp_path, clean_imports, monkeypatch):
    monkeypatch.delenv("KAGGLE_IS_COMPETITION_RERUN", raising=False)

    def predict(test, lags):
        return test

    server = bridge.enter_server(predict, competition_dir=old_style_competition(tmp_path), data_paths=("a.csv",))
    templates = __import__("kaggle_evaluation.core.templates", fromlist=["CALLS"])
    assert type(server).__name__ == "OldInferenceServer"
    assert server.listeners == (predict,) and server.listeners[0].__name__ == "predict"
    assert templates.CALLS == [("run_local_gateway", ("a.csv",))]


def test_the_rerun_serves_instead(tmp_path, clean_imports, monkeypatch):
    monkeypatch.setenv("KAGGLE_IS_COMPETITION_RERUN", "1")
    bridge.enter_server(print, competition_dir=old_style_competition(tmp_path))
    assert __import__("kaggle_evaluation.core.templates", fromlist=["CALLS"]).CALLS == [("serve",)]


def test_a_named_server_overrides_discovery(tmp_path, clean_imports):
    folder = old_style_competition(tmp_path, servers=("one", "two"))
    with pytest.raises(FileNotFoundError, match=r"holds 2 \*_inference_server.py modules .*pass server="):
        bridge.server_class(competition_dir=folder)
    assert bridge.server_class(competition_dir=folder, server="two_inference_server:TwoInferenceServer").__name__ == "TwoInferenceServer"
    with pytest.raises(ValueError, match='"module:Class"'):
        bridge.server_class(competition_dir=folder, server="two_inference_server")


def test_the_competition_folder_is_found_under_the_input_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="found none: attach the competition's data"):
        bridge.find_competition_dir(tmp_path)
    (tmp_path / "my-competition" / "kaggle_evaluation").mkdir(parents=True)
    assert bridge.find_competition_dir(tmp_path) == tmp_path / "my-competition"
    (tmp_path / "competitions" / "other" / "kaggle_evaluation").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="found several"):
        bridge.find_competition_dir(tmp_path)


def test_scalar_calls_need_no_data_library(tmp_path):
    script = f"""
import struct, sys
sys.path.insert(0, {str(bridge.WORKER_SCRIPT.parent)!r})
import juliapack_wire as wire
wire.request(1, (1, 2.5, "x", None, True, [3, "y"]))
answer = wire.parse_result(struct.pack("<Q", 1) + bytes([wire.SCALAR, wire.F32]) + struct.pack("<f", 0.5), "polars")
print(answer, sorted(name for name in ("numpy", "polars", "pandas", "pyarrow") if name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "(1, 0.5) []"


def test_the_worker_ends_when_the_interpreter_exits(tmp_path):
    julia = fake_julia(tmp_path)
    script = f"""
import sys
sys.path.insert(0, {str(bridge.WORKER_SCRIPT.parent)!r})
import juliapack_bridge
worker = juliapack_bridge.start_worker({str(julia)!r}, project=".", module="Fake", env={{"FAKE_MODE": "deaf"}})
worker.wait_ready()
print(worker.pid, flush=True)
"""  # no close(): at exit the finalizer closes the pipe, waits 5 s for the deaf worker, then terminates it
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert 5 <= time.monotonic() - started < 15
    pid = int(result.stdout.strip())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_julia_flags_come_before_the_project_and_the_worker_script(tmp_path):
    julia = tmp_path / "julia"
    julia.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path / 'argv'}\n")
    julia.chmod(0o755)
    worker = bridge.start_worker(julia, project=tmp_path / "App", module="App", args=["--model", "m"], julia_flags=["-t", "auto"])
    worker._proc.process.wait(timeout=10)
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:4] == ["--startup-file=no", "-t", "auto", f"--project={tmp_path / 'App'}"]
    assert argv[4].endswith("worker.jl") and argv[5:7] == ["--module", "App"] and argv[-2:] == ["--model", "m"]
    worker.close()
