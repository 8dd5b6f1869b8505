"""The wheel carries templates/: built from this checkout, installed into a fresh venv, loaded from there."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_templates_ship_inside_the_wheel(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "wheels"), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("juliapack-*.whl")
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    # --no-deps: the templates need nothing but the package itself, and the test needs no index.
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True)
    probe = (
        "from juliapack.resources import templates_root; root = templates_root(); "
        "print(root); print((root / 'notebook' / 'submission.py').read_text().splitlines()[0])"
    )
    where, first_line = subprocess.run(
        [str(python), "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout.splitlines()
    assert Path(where).is_relative_to(tmp_path / "venv")
    assert first_line == "# %% [markdown]"
    for shipped in ("build/artifacts.jl", "build/check_caches.jl", "build/env_info.jl", "verify/run_notebook.py"):
        assert (Path(where) / shipped).is_file()
