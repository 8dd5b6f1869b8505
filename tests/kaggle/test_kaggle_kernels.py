"""`juliapack push`, `status` and `fetch` against the fake Kaggle, through the CLI and the real client."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from kaggle_fixtures import OTHER, USER, FakeKaggle, make_dist, make_lock

from juliapack import cli, kernels
from juliapack.report import human_size
from juliapack.config import PushConfig
from juliapack.errors import ExitCode, KaggleError
from juliapack.kaggle_api import KaggleClient
from juliapack.report import RecordingReporter
from juliapack.workflow.gate import notebook_files
from juliapack.workflow.lock import read_lock, write_lock
from juliapack.workflow.records import NotebookRecord, RehearsalRecord

REF = f"{USER}/inference-run"
SOURCES = [f"{USER}/inference-julia", f"{USER}/inference-depot", f"{USER}/inference-app"]
LOG = json.dumps([{"stream_name": "stdout", "time": 1.5, "data": "predicted 3 rows\n"}])


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def write_notebook(folder: Path, **meta: object) -> Path:
    """The folder `juliapack notebook` writes: kernel-metadata.json and the .ipynb."""
    folder.mkdir(parents=True, exist_ok=True)
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Inference\n"]},
            {"cell_type": "code", "metadata": {}, "execution_count": 3, "outputs": [{"output_type": "stream", "name": "stdout", "text": ["old\n"]}],
             "source": ["import subprocess\n", "subprocess.run(['julia', 'main.jl'], check=True)\n"]},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip
    (folder / "inference-run.ipynb").write_text(json.dumps(notebook))
    metadata = {
        "id": REF, "title": "Inference run", "code_file": "inference-run.ipynb", "language": "python", "kernel_type": "notebook",
        "is_private": True, "enable_gpu": False, "enable_internet": False, "dataset_sources": SOURCES,
        "competition_sources": [], "kernel_sources": [], **meta,
    }  # fmt: skip
    (folder / "kernel-metadata.json").write_text(json.dumps(metadata))
    if (folder / str(metadata["code_file"])).is_file():  # a broken folder on purpose is not rehearsed
        rehearse(folder)
    return folder


def rehearse(folder: Path, *, passed: bool = True) -> None:
    """Record in dist/ (beside the folder) a rehearsal of exactly these files, as `juliapack verify` does."""
    files = notebook_files(folder)
    verdict = RehearsalRecord(passed, () if passed else ("cell 7 failed",), str(files.folder), files.sha256, files.metadata_sha256)
    write_lock(folder.parent / "dist", dataclasses.replace(make_lock("Inference", ()), rehearsal=verdict))


@pytest.fixture
def notebook(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path) -> Path:
    for ref in SOURCES:
        fake.seed_dataset(*ref.split("/"))
    return write_notebook(tmp_path / "notebook")


def test_push_status_fetch_round_trip(notebook: Path, fake: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = {"submission.csv": b"id,prediction\n1,0.25\n2,0.75\n", "figures/loss.txt": b"0.1\n"}
    fake.kernel_run(REF, outputs=outputs, log=LOG)

    code, out, _ = run_cli(["push", str(notebook)], capsys)
    assert code == 0
    assert out.strip() == f"pushed {REF} (version 1): http://localhost/code/{REF}"

    states = [run_cli(["status", REF], capsys)[:2] for _ in range(3)]
    assert states == [(0, f"{REF}: queued, waiting for a machine\n"), (0, f"{REF}: running\n"), (0, f"{REF}: complete\n")]

    code, out, _ = run_cli(["fetch", REF, str(tmp_path / "out")], capsys)
    assert code == 0
    for name, data in outputs.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert (tmp_path / "out" / "inference-run.log").read_text() == LOG
    size = human_size(sum(len(data) for data in outputs.values()))
    assert out.strip().endswith(f"{REF}: complete; 2 files, {size} → {tmp_path / 'out'}")


def test_push_is_private_and_offline_and_sends_the_notebook_without_outputs(notebook: Path, fake: FakeKaggle, capsys) -> None:
    assert run_cli(["push", str(notebook)], capsys)[0] == 0
    sent = fake.saved_kernel(REF)
    assert (sent["isPrivate"], sent["enableInternet"], sent["enableGpu"]) == (True, False, False)  # sent explicitly, not left out
    assert (sent["language"], sent["kernelType"], sent["newTitle"], sent["datasetDataSources"]) == ("python", "notebook", "Inference run", SOURCES)
    cells = json.loads(sent["text"])["cells"]
    assert cells[1]["outputs"] == [] and cells[1]["source"] == "import subprocess\nsubprocess.run(['julia', 'main.jl'], check=True)\n"

    assert run_cli(["push", str(notebook), "--public"], capsys)[0] == 0
    assert fake.saved_kernel(REF)["isPrivate"] is False

    write_notebook(notebook, is_private=False)
    code, _, err = run_cli(["push", str(notebook)], capsys)
    assert (code, fake.saved_kernel(REF)["isPrivate"]) == (0, True)
    assert "asks for a public notebook; pushing it private (pass --public to publish it)" in err


def test_push_turns_the_internet_off_even_if_the_metadata_asks_for_it(notebook: Path, fake: FakeKaggle, capsys) -> None:
    write_notebook(notebook, enable_internet=True)
    code, _, err = run_cli(["push", str(notebook)], capsys)
    assert code == 0
    assert fake.saved_kernel(REF)["enableInternet"] is False
    assert "turns the internet on; pushing with it off" in err


def test_status_says_when_it_waits_out_a_rate_limit(notebook: Path, fake: FakeKaggle, capsys) -> None:
    fake.kernel_run(REF, steps=())
    assert run_cli(["push", str(notebook)], capsys)[0] == 0
    fake.inject("GetKernelSessionStatus", status=429, retry_after="1")
    code, out, err = run_cli(["status", REF], capsys)
    assert (code, out) == (0, f"{REF}: complete\n")
    assert err.splitlines() == [f"warning: status of notebook {REF}: rate limited by Kaggle (HTTP 429); waiting 1 s as Kaggle asks (try 2 of 5)"]


@pytest.mark.parametrize(
    "outcome, exit_code, label",
    [
        ("COMPLETE", 0, "complete"),
        ("ERROR", ExitCode.FAILED, "failed"),
        ("CANCEL_ACKNOWLEDGED", ExitCode.REMOTE, "cancelled"),
        ("CANCEL_REQUESTED", 0, "being cancelled"),
        ("QUEUED", 0, "queued, waiting for a machine"),
        ("RUNNING", 0, "running"),
        ("NEW_SCRIPT", 0, "saved, not started yet"),
    ],
)
def test_status_names_every_state_and_fails_on_failures(notebook: Path, fake: FakeKaggle, capsys, outcome: str, exit_code: int, label: str) -> None:
    fake.kernel_run(REF, steps=(), outcome=outcome, failure_message="julia exited with 1: UndefVarError: predict")
    assert run_cli(["push", str(notebook)], capsys)[0] == 0
    code, out, err = run_cli(["status", REF], capsys)
    assert (code, out) == (exit_code, f"{REF}: {label}\n")
    if outcome == "ERROR":
        assert err.strip() == (
            f"error: notebook {REF} failed on Kaggle: julia exited with 1: UndefVarError: predict — read its log: juliapack fetch {REF} ./out"
        )


def test_push_wait_reports_the_outcome(notebook: Path, fake: FakeKaggle, capsys) -> None:
    fake.kernel_run(REF, steps=(), outcome="COMPLETE")
    code, out, _ = run_cli(["push", str(notebook), "--wait"], capsys)
    assert (code, out.splitlines()[-1]) == (0, f"{REF}: complete")

    fake.kernel_run(REF, steps=(), outcome="ERROR", failure_message="out of memory")
    code, out, err = run_cli(["push", str(notebook), "--wait"], capsys)
    assert code == ExitCode.FAILED
    assert out.splitlines() == [f"pushed {REF} (version 2): http://localhost/code/{REF}", f"{REF}: failed"]
    assert f"error: notebook {REF} failed on Kaggle: out of memory" in err


def test_wait_polls_with_backoff_and_gives_up_after_the_timeout(notebook: Path, fake: FakeKaggle, client: KaggleClient, sleeps: list[float]) -> None:
    cfg = PushConfig(folder=notebook, dist=notebook.parent / "dist", public=False, wait=True, timeout=3600, skip_verify=False, cache_dir=notebook.parent / "cache")
    fake.kernel_run(REF, steps=("QUEUED", "RUNNING", "RUNNING", "RUNNING", "RUNNING"))
    saved = kernels.push(cfg, client=client)
    reporter = RecordingReporter()
    state = kernels.wait_for_run(saved.ref, timeout=cfg.timeout, client=client, reporter=reporter, sleep=sleeps.append)
    assert state.name == "COMPLETE"
    assert sleeps == [2.0, 4.0, 8.0, 16.0, 32.0]  # a few seconds first: a run is often queued for seconds only
    assert reporter.texts("info") == [f"{REF}: queued, waiting for a machine", f"{REF}: running"]  # "complete" is the caller's to say

    sleeps.clear()
    fake.kernel_run(REF, steps=("RUNNING",) * 50)
    kernels.push(cfg, client=client)
    with pytest.raises(KaggleError, match=f"notebook {REF} is still running after 2 min"):
        kernels.wait_for_run(REF, timeout=100, client=client, sleep=sleeps.append)
    assert sleeps == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]


def test_fetch_refuses_an_unfinished_run_unless_forced(notebook: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    fake.kernel_run(REF, steps=("RUNNING",) * 5, log="partial log")
    assert run_cli(["push", str(notebook)], capsys)[0] == 0
    code, _, err = run_cli(["fetch", REF, str(tmp_path / "out")], capsys)
    assert code == ExitCode.REMOTE
    assert err.strip() == (
        f"error: notebook {REF} has not finished (it is running) — wait for it (juliapack status), or pass --force to fetch what is there now"
    )
    assert not (tmp_path / "out").exists()

    assert run_cli(["fetch", REF, str(tmp_path / "out"), "--force"], capsys)[0] == 0
    assert (tmp_path / "out" / "inference-run.log").read_text() == "partial log"


def test_fetching_a_failed_run_brings_its_log(notebook: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    fake.kernel_run(REF, steps=(), outcome="ERROR", failure_message="boom", log=LOG)
    assert run_cli(["push", str(notebook)], capsys)[0] == 0
    code, _, err = run_cli(["fetch", REF, str(tmp_path / "out")], capsys)
    assert code == 0
    assert (tmp_path / "out" / "inference-run.log").read_text() == LOG
    assert "warning: the run failed" in err


def test_gpu_quota_is_named_with_its_fix(notebook: Path, fake: FakeKaggle, capsys) -> None:
    fake.inject("SaveKernel", error="Maximum weekly GPU quota of 30.00 hours reached.")
    code, _, err = run_cli(["push", str(notebook)], capsys)
    assert code == ExitCode.REMOTE
    assert err.strip().splitlines()[-1] == (
        f"error: push notebook {REF}: Kaggle refused: Maximum weekly GPU quota of 30.00 hours reached. — "
        "wait for the weekly GPU quota to reset, or push with enable_gpu false in kernel-metadata.json"
    )


def test_unknown_dataset_sources_are_refused(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    folder = write_notebook(tmp_path / "notebook")  # the datasets were never uploaded
    code, _, err = run_cli(["push", str(folder)], capsys)
    assert code == ExitCode.REMOTE
    assert f"error: dataset {SOURCES[0]} is not on Kaggle — upload it first: juliapack upload" in err
    assert REF not in fake.state["kernels"]  # refused before the push
    code, _, err = run_cli(["push", str(folder), "--skip-verify"], capsys)  # Kaggle's own answer, when it gets that far
    assert code == ExitCode.REMOTE
    assert f"Kaggle pushed it without these sources, which it does not know: {', '.join(SOURCES)} — upload the datasets first" in err
    assert fake.saved_kernel(REF)["datasetDataSources"] == []  # the trap: the push went through without them


def test_unknown_model_sources_are_refused_too(notebook: Path, fake: FakeKaggle, capsys) -> None:
    write_notebook(notebook, model_sources=[f"{USER}/weights/pytorch/default/1"])
    code, _, err = run_cli(["push", str(notebook)], capsys)
    assert code == ExitCode.REMOTE  # the kaggle CLI never prints these, and reports success
    assert f"Kaggle pushed it without these sources, which it does not know: {USER}/weights/pytorch/default/1" in err


def test_the_machine_shape_and_image_pinning_reach_kaggle(notebook: Path, fake: FakeKaggle, capsys) -> None:
    write_notebook(notebook, machine_shape="NvidiaTeslaT4", enable_gpu=True, docker_image_pinning_type="original")
    assert run_cli(["push", str(notebook)], capsys)[0] == 0
    saved = fake.saved_kernel(REF)
    assert (saved["machineShape"], saved["enableGpu"], saved["dockerImagePinningType"]) == ("NvidiaTeslaT4", True, "original")


def test_a_notebook_changed_since_its_rehearsal_is_not_pushed(notebook: Path, fake: FakeKaggle, capsys) -> None:
    code_file = notebook / "inference-run.ipynb"
    code_file.write_text(code_file.read_text().replace("main.jl", "other.jl"))
    code, _, err = run_cli(["push", str(notebook)], capsys)
    assert code == ExitCode.INPUT
    assert "changed since the rehearsal" in err and "juliapack verify" in err and REF not in fake.state["kernels"]


def test_status_and_fetch_default_to_the_notebook_folders_kernel(notebook: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    fake.kernel_run(REF, steps=(), outputs={"submission.csv": b"id\n1\n"}, log=LOG)
    assert run_cli(["push", str(notebook)], capsys)[0] == 0
    assert run_cli(["status"], capsys)[:2] == (0, f"{REF}: complete\n")  # notebook/kernel-metadata.json names it
    code, out, _ = run_cli(["fetch"], capsys)
    assert code == 0 and (tmp_path / "kaggle-output" / "submission.csv").read_bytes() == b"id\n1\n"


def test_pushing_as_someone_else_is_denied(notebook: Path, fake: FakeKaggle, capsys) -> None:
    write_notebook(notebook, id=f"{OTHER}/inference-run")
    code, _, err = run_cli(["push", str(notebook)], capsys)
    assert code == ExitCode.REMOTE
    assert f"error: push notebook {OTHER}/inference-run: Kaggle denied access (HTTP 403" in err


def test_status_of_an_unknown_notebook(kaggle_env: Path, fake: FakeKaggle, capsys) -> None:
    code, _, err = run_cli(["status", f"{USER}/never-pushed"], capsys)
    assert code == ExitCode.REMOTE
    assert err.strip() == f"error: status of notebook {USER}/never-pushed: not found on Kaggle — check the owner and slug"


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"language": "julia"}, "language 'julia' / kernel_type 'notebook' cannot be pushed"),
        ({"title": "ab"}, "the title must have at least 5 characters"),
        ({"id": "no-owner"}, "is not OWNER/SLUG of a notebook"),
        ({"code_file": "missing.ipynb"}, "code_file 'missing.ipynb' is not a file"),
        ({"dataset_sources": "alice/x"}, "'dataset_sources' must be a list of names"),
    ],
)
def test_a_broken_notebook_folder_is_an_input_error(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys, meta: dict, message: str) -> None:
    folder = write_notebook(tmp_path / "notebook", **meta)
    code, _, err = run_cli(["push", str(folder)], capsys)
    assert code == ExitCode.INPUT
    assert message in err
    assert "SaveKernel" not in fake.calls


def test_a_bad_notebook_ref_is_a_usage_error(kaggle_env: Path, fake: FakeKaggle, capsys) -> None:
    code, _, err = run_cli(["status", "not a ref"], capsys)
    assert code == ExitCode.USAGE
    assert err.strip() == "error: the notebook argument 'not a ref' is not OWNER/SLUG of a notebook — write it as owner/notebook-slug, e.g. alice/my-inference"
    assert fake.calls == []


def test_a_notebook_that_attaches_other_datasets_than_upload_made_is_not_pushed(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    dist = make_dist(tmp_path / "dist")
    code, _, err = run_cli(["upload", "--dist", str(dist.path), "--dataset", f"{USER}/foo"], capsys)
    assert code == 0, err
    lock = read_lock(dist.path)  # with the upload recorded
    folder = write_notebook(tmp_path / "notebook")  # attaches alice/inference-*, as a notebook written before that upload would
    files = notebook_files(folder)
    record = NotebookRecord(str(files.folder), REF, files.code_file.name, files.sha256, files.metadata_sha256,
                            {"julia": SOURCES[0], "depot": SOURCES[1], "app": SOURCES[2]}, "none")  # fmt: skip
    verdict = RehearsalRecord(True, (), str(files.folder), files.sha256, files.metadata_sha256)
    write_lock(dist.path, dataclasses.replace(lock, notebook=record, rehearsal=verdict))
    code, _, err = run_cli(["push", str(folder), "--dist", str(dist.path)], capsys)
    assert code == ExitCode.INPUT
    assert f"the notebook attaches {USER}/inference-app for the app, but upload made {USER}/foo-app" in err
    assert "juliapack notebook" in err and REF not in fake.state["kernels"]
