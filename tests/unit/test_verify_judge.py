"""rehearse: judging what the offline runner reported, the failure message, and the checks before a run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from juliapack import archive, verify
from juliapack.config import load_notebook
from juliapack.container import Mount
from juliapack.errors import ExitCode, InputError, VerifyFailed
from juliapack import notebook as notebooks
from juliapack.accelerators import ACCELERATORS
from juliapack.notebook import plan_notebook
from juliapack.workflow.records import UploadedDataset
from juliapack.verify import judge, raise_if_failed
from tests.unit.helpers import EPOCH, make_lock, member, write_tarball

CACHES = {"compiled/v1.10/Foo/a.ji": "1" * 64, "compiled/v1.10/Foo/a.so": "2" * 64, ".juliapack-depot/compiled/v1.10/Inference/b.ji": "3" * 64}
UNPACK_OUTPUT = "juliapack: unpacked julia in 1.25 s\n", "juliapack: unpacked depot in 10.50 s\n", "juliapack: unpacked app in 0.03 s\n"


def result(**changes) -> dict:
    """What templates/verify/run_notebook.py writes for a passing run."""
    base = {
        "passed": True,
        "error": None,
        "failed_cell": None,
        "failed_cell_source": None,
        "failed_cell_output": None,
        "outputs": ["", "", *UNPACK_OUTPUT, "JULIA_PKG_OFFLINE=true\n",
                    "juliapack: first output after 3.75 s\nloading model\njuliapack: julia exited with code 0 after 9.00 s\n", "id,pred\n"],
        "network_attempts": [],
        "caches": dict(CACHES),
        "seconds": 42.5,
        "submission": "/juliapack/verify/submission.csv",
    }  # fmt: skip
    return {**base, **changes}


def judged(tmp_path: Path, **changes) -> verify.Rehearsal:
    lock = make_lock(compiled=dict(CACHES))
    return judge(result(**changes), lock, executed=tmp_path / "executed.ipynb", submission=tmp_path / "submission.csv")


def test_a_passing_run(tmp_path: Path) -> None:
    rehearsal = judged(tmp_path)
    assert rehearsal.passed and rehearsal.problems == [] and rehearsal.failure is None
    assert (rehearsal.network_attempts, rehearsal.recompiled, rehearsal.rejected) == ([], [], [])
    assert rehearsal.unpack_seconds == {"julia": 1.25, "depot": 10.5, "app": 0.03}
    assert (rehearsal.first_output_seconds, rehearsal.seconds) == (3.75, 42.5)
    assert (rehearsal.submission, rehearsal.executed) == (tmp_path / "submission.csv", tmp_path / "executed.ipynb")
    raise_if_failed(rehearsal)  # does not raise


def test_without_timing_lines_there_are_no_timings(tmp_path: Path) -> None:
    rehearsal = judged(tmp_path, outputs=["", "no timings here"])
    assert rehearsal.passed and rehearsal.unpack_seconds == {} and rehearsal.first_output_seconds is None


def test_a_failing_cell(tmp_path: Path) -> None:
    rehearsal = judged(
        tmp_path, passed=False, error="CellExecutionError: RuntimeError: Julia failed with exit code 1", failed_cell=7,
        failed_cell_output="ERROR: LoadError: UndefVarError: `x` not defined\nRuntimeError: Julia failed with exit code 1",
    )  # fmt: skip
    assert not rehearsal.passed and rehearsal.problems == ["cell 7 failed"]
    assert rehearsal.failure.startswith("CellExecutionError")
    with pytest.raises(VerifyFailed) as raised:
        raise_if_failed(rehearsal)
    error = raised.value
    assert error.exit_code == ExitCode.FAILED == 6
    assert error.what == "the offline rehearsal failed: cell 7 failed"
    assert str(tmp_path / "executed.ipynb") in error.fix
    assert error.details.startswith("ERROR: LoadError: UndefVarError")


def test_requests_caught_by_the_trap_fail_the_run(tmp_path: Path) -> None:
    rehearsal = judged(tmp_path, network_attempts=["CONNECT pkg.example.invalid:443 HTTP/1.1", "GET http://example.invalid/x HTTP/1.1"])
    assert not rehearsal.passed
    assert rehearsal.network_attempts == ["request to CONNECT pkg.example.invalid:443 HTTP/1.1", "request to GET http://example.invalid/x HTTP/1.1"]
    assert rehearsal.problems == ["network access attempted (request to CONNECT pkg.example.invalid:443 HTTP/1.1)"]
    with pytest.raises(VerifyFailed) as raised:
        raise_if_failed(rehearsal)
    assert "network access attempted" in raised.value.what and "--smoke" in raised.value.fix


@pytest.mark.parametrize(
    "line",
    [
        "curl: (6) Could not resolve host: example.invalid",
        "Couldn't resolve host name",
        "failed to resolve address for example.invalid: Temporary failure in name resolution",
        "DNSError: example.invalid, temporary failure",
        "getaddrinfo failed",
        "connect: Network is unreachable (ENETUNREACH)",
        "Name or service not known",
        "  Downloading artifact: MKL",
        "  Installing known registries into `/root/.julia`",
        "    Updating registry at `~/.julia/registries/General.toml`",
        "curl: (7) Failed to connect",
        "Warning: failed to download from https://example.invalid",
    ],
)
def test_log_lines_that_mean_network_use_fail_the_run(tmp_path: Path, line: str) -> None:
    outputs = result()["outputs"]
    outputs[-2] += f"{line}\n"
    rehearsal = judged(tmp_path, outputs=outputs)
    assert not rehearsal.passed and rehearsal.network_attempts
    assert rehearsal.problems[0].startswith("network access attempted (")


def test_ordinary_output_is_not_network_use(tmp_path: Path) -> None:
    outputs = result()["outputs"]
    outputs[-2] += "Precompiling project...\n  3 dependencies successfully precompiled\nresolved 10 rows\nhost name: kaggle\n"
    assert judged(tmp_path, outputs=outputs).passed


def test_repeated_network_signs_are_listed_once(tmp_path: Path) -> None:
    rehearsal = judged(tmp_path, outputs=["getaddrinfo\n", "getaddrinfo\n", "Downloading artifact: X\n"])
    assert rehearsal.network_attempts == ["Downloading artifact", "getaddrinfo"]


@pytest.mark.parametrize(
    "caches, recompiled",
    [
        ({**CACHES, "compiled/v1.10/Foo/a.ji": "9" * 64}, ["compiled/v1.10/Foo/a.ji"]),
        ({**CACHES, "compiled/v1.10/Foo/c.ji": "8" * 64}, ["compiled/v1.10/Foo/c.ji"]),
        ({**CACHES, ".juliapack-depot/compiled/v1.10/Inference/b.ji": "0" * 64, "compiled/v1.10/Bar/x.ji": "7" * 64},
         [".juliapack-depot/compiled/v1.10/Inference/b.ji", "compiled/v1.10/Bar/x.ji"]),
    ],
)  # fmt: skip
def test_caches_rebuilt_at_load_time_fail_the_run(tmp_path: Path, caches: dict, recompiled: list[str]) -> None:
    rehearsal = judged(tmp_path, caches=caches)
    assert not rehearsal.passed and rehearsal.recompiled == recompiled
    assert rehearsal.problems == [f"{len(recompiled)} compiled cache(s) rebuilt at load time ({recompiled[0]})"]
    with pytest.raises(VerifyFailed) as raised:
        raise_if_failed(rehearsal)
    assert "--fresh" in raised.value.fix and "JULIA_CPU_TARGET" in raised.value.fix


def test_rejected_cache_lines_go_into_the_details(tmp_path: Path) -> None:
    outputs = result()["outputs"]
    outputs[-2] += "\u250c Debug: Rejecting cache file /root/.julia/compiled/v1.10/Foo/a.ji because it is stale\nmore\n"
    rehearsal = judged(tmp_path, outputs=outputs, caches={**CACHES, "compiled/v1.10/Foo/a.ji": "9" * 64})
    assert rehearsal.rejected == ["Rejecting cache file /root/.julia/compiled/v1.10/Foo/a.ji because it is stale"]
    with pytest.raises(VerifyFailed) as raised:
        raise_if_failed(rehearsal)
    assert "Rejecting cache file /root/.julia/compiled/v1.10/Foo/a.ji" in raised.value.details


def test_every_problem_is_named_and_network_decides_the_fix(tmp_path: Path) -> None:
    rehearsal = judged(
        tmp_path, error="boom", failed_cell=3, failed_cell_output="x" * 5000, network_attempts=["GET http://a/ HTTP/1.1"],
        caches={**CACHES, "compiled/v1.10/New/n.ji": "5" * 64},
    )  # fmt: skip
    assert [p.split(" ")[0] for p in rehearsal.problems] == ["cell", "network", "1"]
    with pytest.raises(VerifyFailed) as raised:
        raise_if_failed(rehearsal)
    assert raised.value.what == "the offline rehearsal failed: " + "; ".join(rehearsal.problems)
    assert "--smoke" in raised.value.fix
    assert len(raised.value.details) == 4000  # the tail of a long output


def test_the_summary_is_plain_json(tmp_path: Path) -> None:
    summary = verify._summary(judged(tmp_path))
    assert json.loads(json.dumps(summary)) == summary
    assert summary["passed"] is True and summary["unpack_seconds"] == {"julia": 1.25, "depot": 10.5, "app": 0.03}


# --------------------------------------------------------------------------- before the run: dist/ and the mounts


@pytest.fixture
def dist(tmp_path: Path) -> tuple[Path, object]:
    folder = tmp_path / "dist"
    folder.mkdir()
    write_tarball(folder / "julia", [member("julia-1.10.5", "dir"), member("julia-1.10.5/bin/julia", data=b"#!")], codec="gzip")
    (tmp_path / "depot" / "packages").mkdir(parents=True)
    (tmp_path / "app" / "src").mkdir(parents=True)
    archive.pack_tree(tmp_path / "depot", folder / "dotjulia", codec="zstd", mtime=EPOCH, prefix=".julia")
    archive.pack_tree(tmp_path / "app", folder / "inference", codec="zstd", mtime=EPOCH, prefix="Inference")
    files = {role: (hashlib.sha256((folder / name).read_bytes()).hexdigest(), (folder / name).stat().st_size)
             for role, name in (("julia", "julia"), ("depot", "dotjulia"), ("app", "inference"))}  # fmt: skip
    return folder, make_lock(files=files)


def test_check_dist_accepts_what_the_lock_describes(dist) -> None:
    verify.check_layers(*dist)


def test_check_dist_refuses_a_missing_or_changed_layer(dist) -> None:
    folder, lock = dist
    data = bytearray((folder / "inference").read_bytes())
    data[-1] ^= 1
    (folder / "inference").write_bytes(bytes(data))
    with pytest.raises(InputError, match="does not match juliapack.lock.json"):
        verify.check_layers(folder, lock)
    (folder / "inference").unlink()
    with pytest.raises(InputError, match="inference is missing"):
        verify.check_layers(folder, lock)


def test_check_dist_refuses_an_unsafe_layer_even_if_the_lock_agrees(dist) -> None:
    folder, lock = dist
    write_tarball(folder / "julia", [member("julia-1.10.5", "dir"), member("julia-1.10.5/../../etc/x", data=b"!")], codec="gzip")
    data = (folder / "julia").read_bytes()
    julia = dataclasses.replace(lock.layer("julia"), sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    with pytest.raises(InputError, match="unsafe member"):
        verify.check_layers(folder, dataclasses.replace(lock, layers=(julia, *lock.layers[1:])))


def written(tmp_path: Path, lock, **flags) -> tuple[Path, object]:
    """The notebook folder `juliapack notebook` writes for ``lock``, and its record."""
    cfg = load_notebook(flags, env={}, cwd=tmp_path)
    plan = plan_notebook(cfg, lock, owner="alice", dist=tmp_path / "dist", accelerator=ACCELERATORS["none"])
    ipynb, metadata = notebooks.write(plan, tmp_path / "notebook")
    return tmp_path / "notebook", notebooks.record_of(plan, ipynb, metadata)


def test_mounts_put_each_file_where_the_notebook_looks(tmp_path: Path) -> None:
    (tmp_path / "model.jld2").write_bytes(b"m")
    (tmp_path / "comp").mkdir()
    lock = make_lock()
    folder, record = written(tmp_path, lock, model="model.jld2")
    rehearsed = verify.read_notebook(folder, dataclasses.replace(lock, notebook=record), fallback_model=None)
    assert rehearsed.files.code_file.read_bytes() == (folder / "inference-submission.ipynb").read_bytes()
    mounts = verify.mounts_for(rehearsed, tmp_path / "dist", (Mount(tmp_path / "comp", "/kaggle/input/comp", True),), tmp_path / "work")
    assert mounts == (
        Mount(tmp_path / "work", "/juliapack/verify", False),
        Mount(tmp_path / "comp", "/kaggle/input/comp", True),
        Mount(tmp_path / "dist" / "julia", "/kaggle/input/inference-julia/julia", True),
        Mount(tmp_path / "dist" / "dotjulia", "/kaggle/input/inference-depot/dotjulia", True),
        Mount(tmp_path / "dist" / "inference", "/kaggle/input/inference-app/inference", True),
        Mount(tmp_path / "model.jld2", "/kaggle/input/inference-model/model.jld2", True),
    )


def test_the_notebook_as_edited_is_what_is_rehearsed(tmp_path: Path) -> None:
    lock = make_lock()
    folder, _ = written(tmp_path, lock, args="--fast")
    code = folder / "inference-submission.ipynb"
    code.write_text(code.read_text().replace("--fast", "--slow"))  # edited by hand after `juliapack notebook`
    rehearsed = verify.read_notebook(folder, lock, fallback_model=None)
    assert rehearsed.config["command"][-1] == "--slow" and rehearsed.files.sha256 == hashlib.sha256(code.read_bytes()).hexdigest()


def test_a_notebook_written_for_another_build_is_refused(tmp_path: Path) -> None:
    folder, _ = written(tmp_path, make_lock())
    with pytest.raises(InputError, match="was written for another build") as raised:
        verify.read_notebook(folder, make_lock(fingerprint="e" * 64), fallback_model=None)
    assert "juliapack notebook" in raised.value.fix


def test_a_notebook_that_mounts_other_datasets_than_upload_made_is_refused(tmp_path: Path) -> None:
    lock = make_lock()
    folder, _ = written(tmp_path, lock)
    uploads = {"app": UploadedDataset("app", "bob/other-app", "sha256:" + "0" * 64, 2, "u", ())}
    with pytest.raises(InputError, match="upload made bob/other-app for the app, but the notebook .* attaches alice/inference-app") as raised:
        verify.read_notebook(folder, dataclasses.replace(lock, uploads=uploads), fallback_model=None)
    assert "juliapack notebook" in raised.value.fix


def test_a_model_only_on_kaggle_cannot_be_rehearsed(tmp_path: Path) -> None:
    folder, record = written(tmp_path, make_lock(), model="carol/weights/model.jld2")
    with pytest.raises(InputError, match="no local copy of it is known") as raised:
        verify.read_notebook(folder, dataclasses.replace(make_lock(), notebook=record), fallback_model=None)
    assert "--model" in raised.value.fix


def test_a_model_changed_since_the_notebook_was_written_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.jld2").write_bytes(b"m")
    folder, record = written(tmp_path, make_lock(), model="model.jld2")
    (tmp_path / "model.jld2").write_bytes(b"retrained")
    with pytest.raises(InputError, match="changed since the notebook was written"):
        verify.read_notebook(folder, dataclasses.replace(make_lock(), notebook=record), fallback_model=None)


def test_outputs_of_an_earlier_rehearsal_are_removed_first(tmp_path: Path) -> None:
    out = tmp_path / "notebook" / "verify"
    out.mkdir(parents=True)
    (out / "submission.csv").write_text("from the last run")
    assert verify.fresh_output_folder(out) == out and list(out.iterdir()) == []


SERVE_OUTPUT = ("juliapack: entering the competition server (/kaggle/input/tiny-serve) 0.41 s after the cell started\n"
                "Forecast: loaded 2 weights\n"
                "juliapack: served 50 calls; per call after the first p50 0.812 ms, p99 2.250 ms; first answer 3.17 s after the cell started\n")  # fmt: skip


def test_a_serve_run_reports_its_calls_and_times(tmp_path: Path) -> None:
    rehearsal = judged(tmp_path, outputs=["", *UNPACK_OUTPUT, SERVE_OUTPUT, ""], submission="/juliapack/verify/submission.parquet")
    assert rehearsal.passed and rehearsal.first_output_seconds is None
    assert rehearsal.served == verify.Served(entered_seconds=0.41, calls=50, p50_ms=0.812, p99_ms=2.25, first_answer_seconds=3.17)
    assert verify._summary(rehearsal)["served"] == {"entered_seconds": 0.41, "calls": 50, "p50_ms": 0.812, "p99_ms": 2.25, "first_answer_seconds": 3.17}


def test_a_script_run_or_one_that_never_finished_serving_has_no_serve_figures(tmp_path: Path) -> None:
    assert judged(tmp_path).served is None
    entered_only = SERVE_OUTPUT.splitlines()[0]
    assert judged(tmp_path, outputs=[entered_only], error="GatewayRuntimeError").served is None


def test_a_serve_notebook_is_not_rehearsed_without_the_competition_data(tmp_path: Path) -> None:
    config = {"serve": {"competition": "tiny-serve"}}
    with pytest.raises(InputError, match="none is mounted at /kaggle/input/tiny-serve") as raised:
        verify.refuse_serving_without_the_competition(config, (Mount(tmp_path, "/kaggle/input/other"),))
    assert "--input PATH:/kaggle/input/tiny-serve" in raised.value.fix
    verify.refuse_serving_without_the_competition(config, (Mount(tmp_path, "/kaggle/input/tiny-serve/"),))
    verify.refuse_serving_without_the_competition({"serve": None}, ())
