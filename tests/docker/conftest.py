"""Docker tests: the real engine, the stand-in Kaggle image, the local Julia mirror and registry."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed import workspace


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/docker/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.docker)


@dataclass
class Workspace:
    """A user's folder: a copy of the example project, a juliapack.toml for the test bed, dist/ and notebook/."""

    root: Path
    env: dict[str, str]
    build_output: str = ""  # stdout of the first build

    @property
    def project(self) -> Path:
        return self.root / "Inference"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    def juliapack(self, *args: str, check: bool = True, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "juliapack", *args],
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"juliapack {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture(scope="session")
def juliapack_cache(tmp_path_factory) -> Path:
    """One juliapack cache for the session: the Julia tarball is downloaded once."""
    return tmp_path_factory.mktemp("juliapack-cache")


def make_workspace(root: Path, testbed, mirror_url: str, cache: Path, *, notebook: bool = True) -> Workspace:
    workspace.make(root, image=testbed.image, repos=testbed.repos, model=testbed.model, mirror_url=mirror_url, notebook=notebook)
    env = {**os.environ, "JULIAPACK_CACHE_DIR": str(cache), "HOME": str(root / "home"), "KAGGLE_CONFIG_DIR": str(root / "kaggle")}
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        env.pop(name, None)
    return Workspace(root, env)


@pytest.fixture(name="workspace")
def workspace_fixture(tmp_path, testbed, julia_mirror_url, juliapack_cache) -> Workspace:
    return make_workspace(tmp_path / "ws", testbed, julia_mirror_url, juliapack_cache, notebook=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory, testbed, julia_mirror_url, juliapack_cache) -> Workspace:
    """A workspace whose example was built once for the module (with a [notebook] section, no verify)."""
    ws = make_workspace(tmp_path_factory.mktemp("built") / "ws", testbed, julia_mirror_url, juliapack_cache)
    ws.build_output = ws.juliapack("build", "--no-verify").stdout
    return ws
