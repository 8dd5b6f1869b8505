"""`juliapack notebook` + `juliapack verify`: the notebook rehearsed offline in the stand-in image."""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import nbformat

from juliapack import archive
from juliapack.config import DEFAULT_SOURCE_DATE_EPOCH
from juliapack.fsutil import sha256_file
from juliapack.workflow.lock import read_lock, write_lock

EXPECTED = Path(__file__).resolve().parents[2] / "examples" / "data" / "expected_submission.csv"


def verify_summary(ws) -> dict:
    return json.loads((ws.root / "notebook" / "verify" / "verify.json").read_text())


def error_line(result) -> str:
    return result.stderr.strip().splitlines()[-1]


def test_build_writes_the_notebook_and_rehearses_it_offline(built):
    result = built.juliapack("build")  # dist is up to date; the [notebook] section makes build verify
    assert "verify passed" in result.stdout
    notebook = built.root / "notebook" / "inference-submission.ipynb"
    nbformat.validate(nbformat.read(notebook, as_version=4))
    metadata = json.loads((built.root / "notebook" / "kernel-metadata.json").read_text())
    assert metadata["id"] == "alice/inference-submission" and metadata["enable_internet"] is False
    assert metadata["dataset_sources"] == ["alice/inference-julia", "alice/inference-depot", "alice/inference-compiled", "alice/inference-app", "alice/inference-model"]
    summary = verify_summary(built)
    assert summary["passed"] is True
    assert summary["network_attempts"] == [] and summary["recompiled"] == []
    assert set(summary["unpack_seconds"]) == {"julia", "depot", "compiled", "app"}
    assert summary["first_output_seconds"] > 0
    assert (built.root / "notebook" / "verify" / "submission.csv").read_text() == EXPECTED.read_text()
    assert (metadata["machine_shape"], metadata["enable_gpu"], metadata["docker_image_pinning_type"]) == (None, False, "original")  # a CPU image
    lock = read_lock(built.dist)
    assert lock.rehearsal.passed and lock.rehearsal.notebook_sha256 == sha256_file(notebook)  # the verdict names the bytes it ran
    assert lock.notebook.datasets["model"] == "alice/inference-model"
    assert Path(lock.notebook.model_source).name == "model.jls" and sha256_file(Path(lock.notebook.model_source)) == lock.notebook.model_sha256
    again = built.juliapack("build")
    assert "last offline rehearsal of this build and notebook passed" in again.stdout


def test_verify_names_a_download_at_run_time(tmp_path, built):
    ws = copy_workspace(built, tmp_path)
    source = ws.project / "src" / "Inference.jl"
    text = source.read_text()
    marker = "function main("
    assert marker in text
    source.write_text(text.replace(marker, 'fetch_weights() = download("http://weights.example.invalid/model.bin", tempname())\n\n' + marker, 1)
                      .replace("    model = ", "    fetch_weights()\n    model = ", 1))  # fmt: skip
    assert "fetch_weights()\n" in source.read_text()
    ws.juliapack("build", "--no-verify")
    result = ws.juliapack("verify", check=False)
    assert result.returncode == 6
    assert "network access attempted" in error_line(result)
    assert any("weights.example.invalid" in attempt for attempt in verify_summary(ws)["network_attempts"])


def test_verify_fails_clearly_when_the_depot_lacks_an_artifact(tmp_path, built):
    ws = copy_workspace(built, tmp_path)
    lazy = lazy_artifact_hash(ws)
    tamper_depot(ws, tmp_path, drop=f".julia/artifacts/{lazy}")
    stale = ws.root / "notebook" / "verify" / "submission.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("id,score,label\n1,0,from an earlier run\n")
    result = ws.juliapack("verify", check=False)
    assert not stale.exists()  # an earlier run's output never passes for this run's
    assert result.returncode == 6
    line = error_line(result)
    assert line.startswith("error: the offline rehearsal failed") and "cell" in line
    summary = verify_summary(ws)
    assert summary["passed"] is False
    assert any("Downloading artifact" in attempt for attempt in summary["network_attempts"])


def test_verify_fails_clearly_when_the_depot_lacks_a_package(tmp_path, built):
    ws = copy_workspace(built, tmp_path)
    tamper_depot(ws, tmp_path, drop=".julia/packages/TinyModel")
    result = ws.juliapack("verify", check=False)
    assert result.returncode == 6
    assert "TinyModel" in result.stderr  # Julia's own error, from the failing cell's output
    assert error_line(result).startswith("error: the offline rehearsal failed: cell")


# --------------------------------------------------------------------------- helpers


def copy_workspace(built, tmp_path: Path):
    root = tmp_path / "ws"
    shutil.copytree(built.root, root, ignore=shutil.ignore_patterns("notebook", "home"))
    return replace(built, root=root, build_output="")


def lazy_artifact_hash(ws) -> str:
    """The artifact TinyModel marks lazy: the one whose folder holds labels.txt."""
    for info, _ in archive.iter_members(ws.dist / "dotjulia"):
        if info.name.startswith(".julia/artifacts/") and info.name.endswith("/labels.txt"):
            return info.name.split("/")[2]
    raise AssertionError("no lazy artifact in the depot")


def tamper_depot(ws, tmp_path: Path, *, drop: str) -> None:
    """Repack the depot layer without ``drop`` and record it in the lock, as a broken build would."""
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    archive_path = ws.dist / "dotjulia"
    with archive.open_decompressed(archive_path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        tar.extractall(unpacked, filter="tar")
    target = unpacked / drop
    assert target.exists()
    shutil.rmtree(target)
    lock = read_lock(ws.dist)
    written, _ = archive.pack_tree(unpacked / ".julia", archive_path, codec=lock.codec, mtime=DEFAULT_SOURCE_DATE_EPOCH, prefix=".julia")
    layers = tuple(replace(l, sha256=written.sha256, size=written.size) if l.role == "depot" else l for l in lock.layers)
    write_lock(ws.dist, replace(lock, layers=layers))
    assert sha256_file(archive_path) == written.sha256


def test_an_entry_that_instantiates_first_passes_offline(tmp_path, built):
    """Many scripts start with Pkg.instantiate(): offline, it must find the registry in the depot, not download one."""
    ws = copy_workspace(built, tmp_path)
    (ws.project / "scripts").mkdir()
    (ws.project / "scripts" / "run.jl").write_text("using Pkg; Pkg.instantiate()\nusing Inference\nInference.main(ARGS)\n")
    ws.juliapack("build", "--no-verify", "--entry", "scripts/run.jl")
    assert any(name.startswith(".julia/registries/") for name in members(ws.dist / "dotjulia"))  # registries stay by default
    result = ws.juliapack("verify")
    assert "verify passed" in result.stdout
    assert (ws.root / "notebook" / "verify" / "submission.csv").read_text() == EXPECTED.read_text()


def members(path: Path) -> list[str]:
    return [info.name for info, _ in archive.iter_members(path)]
