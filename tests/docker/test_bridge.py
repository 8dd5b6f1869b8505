"""The bridge with the real Julia worker, in the stand-in image with no network: round trips of every type,
every way a call can fail (each one line, within deadline + 5 s), and the tiny competition's gateway end
to end against the Forecast example, locally and as Kaggle's rerun (server entered within 5 s while
Julia's setup sleeps 60 s). Scenarios run in tests/docker/bridge_driver.py inside one container."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.docker.test_testbed import INSTALL_JULIA

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FORECAST = ROOT / "examples" / "Forecast"

SHORT_FORECAST = """module ShortForecast
include("/examples/Forecast/src/Forecast.jl")
using .Forecast: setup, warmup
# One row short: the gateway must refuse the answer.
function predict(test, lags)
    answer = Forecast.predict(test, lags)
    return (row_id = answer.row_id[2:end], prediction = answer.prediction[2:end])
end
end
"""

SLOW_FORECAST = """module SlowForecast
include("/examples/Forecast/src/Forecast.jl")
using .Forecast: predict, warmup
# A model that takes a minute to load.
setup(args) = (sleep(60); Forecast.setup(args))
end
"""


def wrapper_app(work: Path, name: str, source: str) -> None:
    """An app whose module includes the Forecast example's source (same deps, another name)."""
    app = work / name
    (app / "src").mkdir(parents=True)
    project = (FORECAST / "Project.toml").read_text().replace('name = "Forecast"', f'name = "{name}"')
    (app / "Project.toml").write_text(project.replace("0b9f3c53-6f0e-4d0a-8a51-2d6c4b8e7a19", str(uuid.uuid5(uuid.NAMESPACE_DNS, name))))
    shutil.copy(FORECAST / "Manifest.toml", app / "Manifest.toml")
    (app / "src" / f"{name}.jl").write_text(source)


@pytest.fixture(scope="module")
def container(docker_client, testbed, tmp_path_factory):
    """One stand-in container with Julia unpacked, the bridge, apps and competition mounted; no network."""
    work = tmp_path_factory.mktemp("bridge-work")
    work.chmod(0o777)
    wrapper_app(work, "ShortForecast", SHORT_FORECAST)
    wrapper_app(work, "SlowForecast", SLOW_FORECAST)
    mounts = {
        testbed.julia_mirror: "/mirror", ROOT / "templates" / "serve": "/bridge", ROOT / "tests" / "docker": "/tests",
        ROOT / "tests" / "docker" / "apps": "/apps", ROOT / "examples": "/examples",
        ROOT / "testbed" / "competition" / "tiny-serve": "/competition", testbed.model: "/model/model.jls",  # the driver's MODEL, whatever setup named it
    }
    volumes = {str(host): {"bind": bind, "mode": "ro"} for host, bind in mounts.items()}
    volumes[str(work)] = {"bind": "/work", "mode": "rw"}
    box = docker_client.containers.run(testbed.image, ["sleep", "infinity"], network_mode="none", volumes=volumes,
                                       extra_hosts={"inference_server": "127.0.0.1"}, detach=True, auto_remove=False)
    try:
        exit_code, output = box.exec_run(["bash", "-ec", INSTALL_JULIA + " && mkdir -p /root/.julia"])
        assert exit_code == 0, output.decode(errors="replace")
        yield box
    finally:
        box.remove(force=True)


def run(container, scenario: str, *, timeout: float, folder: str | None = None) -> dict:
    """Run one driver scenario in the container (in a fresh folder under /work); its JSON observations."""
    folder = folder or scenario
    command = ["docker", "exec", "-w", f"/work/{folder}", container.id, "python3", "/tests/bridge_driver.py", scenario]
    subprocess.run(["docker", "exec", container.id, "mkdir", "-p", f"/work/{folder}"], check=True, timeout=30)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{scenario} failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_type_round_trips_through_julia(container):
    seen = run(container, "round-trips", timeout=300)
    assert seen["julia"] == "1.5.3"
    assert seen["every_type"] and seen["wide"] and seen["long_strings"] and seen["zero_rows"] and seen["pandas"]
    assert seen["empty"] == [0, 0]
    assert dict(seen["eltypes"]) == {
        "f64": "Union{Missing, Float64}", "f32": "Union{Missing, Float32}", "i64": "Union{Missing, Int64}", "i32": "Int32",
        "i16": "Union{Missing, Int16}", "i8": "Int8", "u64": "Union{Missing, UInt64}", "u32": "UInt32",
        "u16": "Union{Missing, UInt16}", "u8": "UInt8", "bool": "Union{Missing, Bool}", "str": "Union{Missing, String}",
        "date": "Union{Missing, Dates.Date}", "datetime": "Union{Missing, Dates.DateTime}", "null": "Missing",
    }
    assert seen["series"] == [1, None, 3] and seen["pandas_series_type"].startswith("pandas")
    assert all(seen["scalars"]), seen["scalars"]
    assert seen["scalar_types"] == ["Bool", "Int64", "Int64", "Float64", "String", "Dates.Date", "Dates.DateTime", "Float32", "UInt8"]
    assert seen["none"] == [None, "Nothing"]
    assert seen["lists"].split("; ")[:2] == ["Array{Int64,1}", "Array{Any,1}"] and seen["lists"].endswith("; Array{Any,1}")
    assert seen["lists"].split("; ")[2].startswith("Array{NamedTuple{(:a,),Tuple{Array{Int64,1}}},1}")
    assert seen["matrix"] == "Array{Int32,2}"
    assert seen["one_row_table"] == [{"x": 1.5, "n": 2, "s": "a", "d": "2024-01-02", "m": None}]
    assert seen["bits"] == [{"flag": True}, {"flag": False}, {"flag": True}] and seen["any_vector"] == [1.0, 2.5]
    assert seen["args"] == "--model /nowhere" and seen["after_errors"] == 42 and seen["exit_code"] == 0


def test_answers_julia_cannot_send_and_arguments_python_cannot_are_one_line_errors(container):
    seen = run(container, "round-trips", timeout=300, folder="round-trips-errors")
    assert seen["dict"]["message"].startswith("JuliaError: ErrorException: predict returned a Dict{String,Int64}: return a table")
    assert "(in answer of predict, batch" in seen["dict"]["message"]
    assert "Array{Int64,2}" in seen["matrix_answer"]["message"]
    assert "different lengths [2, 1]" in seen["ragged"]["message"]
    assert seen["unsupported_argument"]["error"] == "TypeError" and "complex" in seen["unsupported_argument"]["message"]
    for key in ("dict", "matrix_answer", "ragged"):
        assert seen[key]["error"] == "JuliaError" and "\n" not in seen[key]["message"]


def test_a_julia_exception_is_one_line_with_the_backtrace_on_stderr(container):
    seen = run(container, "julia-errors", timeout=120)
    assert seen["error"]["error"] == "JuliaError"
    assert seen["error"]["message"] == ("JuliaError: DomainError: DomainError with -1.0: sqrt was given a negative number "
                                        "second line (in predict, batch 2)")
    assert "Stacktrace:" in seen["stderr"] and "predict(::String)" in seen["stderr"]
    assert seen["after"] == 2 and seen["first"] == 1  # the worker goes on after an exception
    assert "to stdout" in seen["stdout"] and "to stderr" in seen["stderr"]


def test_exit_inside_predict_is_a_dead_worker_with_its_exit_code(container):
    seen = run(container, "exit", timeout=60)
    assert seen["error"] == "WorkerDied" and seen["seconds"] < 5
    assert seen["message"].startswith("julia worker stopped without answering on batch 2; it exited with code 1")
    assert seen["next"]["message"].startswith("julia worker is not running: julia worker stopped") and seen["returncode"] == 1


def test_a_hang_past_the_deadline_kills_the_worker(container):
    seen = run(container, "hang", timeout=60)
    assert seen["error"] == "TimeoutError" and seen["message"] == "julia worker exceeded 3 s on batch 2"
    assert 3 <= seen["seconds"] < 3 + 5
    assert seen["returncode"] == -9 and "exceeded 3 s on batch 2 and was killed" in seen["next"]["message"]


def test_a_worker_killed_from_outside(container):
    seen = run(container, "killed", timeout=60)
    assert seen["error"] == "WorkerDied" and seen["seconds"] < 5
    assert "it was killed by signal 9 (SIGKILL)" in seen["message"] and "\n" not in seen["message"]


def test_a_failing_setup_fails_the_first_call(container):
    seen = run(container, "setup-fails", timeout=120)
    assert seen["first"]["error"] == "JuliaError"
    assert seen["first"]["message"] == "JuliaError: ErrorException: setup failed on purpose (in loading Echo)"
    assert seen["next"]["error"] == "WorkerDied" and seen["returncode"] == 1


def test_the_local_gateway_against_the_forecast_example(container):
    seen = run(container, "local-gateway", timeout=300)
    assert "error" not in seen, seen
    assert seen["matches"] and seen["rows"] == 50


def test_a_wrong_row_count_is_refused_by_the_gateway(container):
    seen = run(container, "wrong-rows", timeout=300)
    assert seen["error"] == "GatewayRuntimeError"
    assert seen["message"].startswith("INVALID_SUBMISSION: predict returned 3 rows for a batch of 4 row ids")


def test_the_rerun_enters_the_server_within_5_s_while_setup_sleeps_60_s(container):
    server = subprocess.Popen(
        ["docker", "exec", "-e", "KAGGLE_IS_COMPETITION_RERUN=1", "-w", "/work", container.id, "python3", "/tests/bridge_driver.py", "rerun-server"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        started = json.loads(server.stdout.readline())
        cell_started = started["cell_started"]
        subprocess.run(["docker", "exec", container.id, "mkdir", "-p", "/work/gateway"], check=True, timeout=30)
        gateway = subprocess.run(
            ["docker", "exec", "-e", "KAGGLE_IS_COMPETITION_RERUN=1", "-w", "/work/gateway", container.id, "python3", "/tests/bridge_driver.py", "rerun-gateway"],
            capture_output=True, text=True, timeout=240,
        )
        assert gateway.returncode == 0, gateway.stderr
        seen = json.loads(gateway.stdout.strip().splitlines()[-1])
    finally:
        # serve() never returns on a rerun: interrupt it (its atexit hook ends the worker), as Kaggle ends the container.
        subprocess.run(["docker", "exec", container.id, "bash", "-c", f"kill -INT {started['pid']}"], timeout=30)
        try:
            server_out, server_err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server_out, server_err = server.communicate()
    assert seen["server_entered"] - cell_started <= 5
    assert seen["result"] == {"Succeeded": True} and seen["matches"]
    assert seen["gateway_seconds"] >= 55  # the first call waited for setup, with no deadline
    assert "Forecast: loaded 2 weights" in server_out  # Julia's stdout, forwarded by the notebook's side
    assert "KeyboardInterrupt" in server_err
