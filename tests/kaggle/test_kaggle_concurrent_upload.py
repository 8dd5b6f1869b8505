"""Two `juliapack upload` processes of the same dist/ at once, against the fake Kaggle, with the real client."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kaggle_fixtures import USER, FakeKaggle, app_source, make_dist

from juliapack import cli

ROLES = ("julia", "depot", "compiled", "app")
REFS = [f"{USER}/inference-{role}" for role in ROLES]


def start_upload(dist: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "juliapack", "upload", "--dist", str(dist)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_until(condition, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(0.05)


def uploaded_then_changed(folder: Path, capsys: pytest.CaptureFixture[str]):
    """A dist/ uploaded once, then rebuilt with a changed app (only the app dataset has news)."""
    dist = make_dist(folder)
    with pytest.raises(SystemExit) as first:
        cli.main(["upload", "--dist", str(dist.path)])
    assert first.value.code == 0, capsys.readouterr()
    return make_dist(dist.path, {"app": app_source('println("v2")')})


def race(fake: FakeKaggle, first, second, *, delay: float) -> tuple[list[str], list[int]]:
    """Upload ``first``, and ``second`` while the first is still sending its app (a PUT slowed by ``delay``)."""
    slow_put = fake.inject("PUT", delay=delay, match=first.lock.layer("app").file)
    one = start_upload(first.path)
    wait_until(lambda: slow_put.hits == 1 or one.poll() is not None, timeout=60)  # the first is sending the app
    other = start_upload(second.path)
    outputs = [process.communicate(timeout=120)[0] for process in (one, other)]
    return outputs, [one.returncode, other.returncode]


def test_two_uploads_of_one_dist_at_once_make_one_new_version(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = uploaded_then_changed(tmp_path / "dist", capsys)
    outputs, returncodes = race(fake, dist, dist, delay=6.0)

    assert returncodes == [0, 0], outputs
    assert [[v["number"] for v in fake.versions(ref)] for ref in REFS] == [[1], [1], [1], [1, 2]]
    assert re.search(rf"{REFS[-1]}: versioned, version 2", outputs[0]), outputs[0]
    assert f"waiting for another juliapack process using the upload of {dist.path}" in outputs[1], outputs[1]
    for ref, version in zip(REFS, (1, 1, 1, 2), strict=True):
        assert f"{ref}: unchanged (version {version}), nothing sent" in outputs[1], outputs[1]
    assert fake.calls.count("CreateDatasetVersion") == 1


def test_two_dists_with_the_same_new_content_for_one_dataset_make_one_new_version(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changed = uploaded_then_changed(tmp_path / "a" / "dist", capsys)
    clone = make_dist(tmp_path / "b" / "dist", {"app": app_source('println("v2")')})  # a second checkout, built alike
    assert clone.lock.layers == changed.lock.layers
    outputs, returncodes = race(fake, changed, clone, delay=8.0)

    assert returncodes == [0, 0], outputs
    assert [[v["number"] for v in fake.versions(ref)] for ref in REFS] == [[1], [1], [1], [1, 2]]
    assert f"waiting for another juliapack process using the dataset {REFS[-1]}" in outputs[1], outputs[1]
    assert f"{REFS[-1]}: unchanged (version 2), nothing sent" in outputs[1], outputs[1]
