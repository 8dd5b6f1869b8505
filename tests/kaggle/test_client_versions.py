"""juliapack works with every kaggle client its pin allows: these tests run against the lowest (this venv,
pinned by .ci/constraints.txt) and again against the newest (.venv-kaggle-newest, made by .ci/install)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEWEST = ROOT / ".venv-kaggle-newest" / "bin" / "python"
INNER = "JULIAPACK_KAGGLE_CLIENT_RUN"  # set in the run against the newest client: it must not start another


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def pin() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The lowest version pyproject.toml allows, and the first it does not."""
    found = re.search(r'"kaggle>=([0-9.]+),<([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    return version(found.group(1)), version(found.group(2))


def client_version(python: Path) -> str:
    script = "import importlib.metadata as m; print(m.version('kaggle'))"
    return subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(os.environ.get(INNER) == "1", reason="this is the run against the newest client")
def test_the_kaggle_tests_pass_with_the_newest_client_the_pin_allows() -> None:
    if not NEWEST.is_file():
        if os.environ.get("JULIAPACK_CI") == "1":
            pytest.fail(f"{NEWEST} is missing: .ci/install makes it")
        pytest.skip(f"no {NEWEST} (bash .ci/install makes it)")
    lowest, beyond = pin()
    ours, newest = importlib.metadata.version("kaggle"), client_version(NEWEST)
    assert lowest <= version(ours) <= version(newest) < beyond, (ours, newest)
    if os.environ.get("JULIAPACK_CI") == "1":
        assert version(ours) == lowest, f"CI's venv is fresh and pinned to the lowest client, not {ours}"
    done = subprocess.run(
        [str(NEWEST), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/kaggle"],
        cwd=ROOT, env={**os.environ, INNER: "1"}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout
