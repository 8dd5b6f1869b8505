"""Fixtures for tests against the fake Kaggle (testbed/fake_kaggle.py), started in-process on 127.0.0.1:0.

The real, unpatched `kaggle` client reaches it through KAGGLE_API_ENVIRONMENT=LOCALHOST and an HTTP
proxy setting; every test gets a fresh HOME, KAGGLE_CONFIG_DIR and TMPDIR (the client keeps resumable
upload state in $TMPDIR/.kaggle/uploads), and runs in its own temporary folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from kaggle_fixtures import FAST, KEY, OTHER, OTHER_KEY, PROXY_VARIABLES, TOKEN, USER, FakeKaggle, write_kaggle_json

from juliapack.kaggle_api import KaggleClient


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKaggle]:
    server = FakeKaggle(tmp_path / "fake-kaggle", users={USER: KEY, OTHER: OTHER_KEY}, tokens={TOKEN: USER}, ready_after=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kaggle_env(fake: FakeKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The client's environment pointed at the fake, with alice's kaggle.json; returns the config dir."""
    home, temp = tmp_path / "home", tmp_path / "tmp"
    config = home / ".kaggle"
    config.mkdir(parents=True)
    temp.mkdir()
    for name in [*PROXY_VARIABLES, "XDG_CONFIG_HOME", *(k for k in os.environ if k.startswith("KAGGLE_"))]:
        monkeypatch.delenv(name, raising=False)
    for name, value in fake.client_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # gettempdir() caches; the client calls it
    monkeypatch.setenv("COLUMNS", "300")  # rich wraps captured output at 80 columns otherwise
    monkeypatch.chdir(tmp_path)  # no juliapack.toml from elsewhere
    write_kaggle_json(config, USER, KEY)
    return config


@pytest.fixture
def sleeps() -> list[float]:
    """Every pause a stage asks for, instead of sleeping."""
    return []


@pytest.fixture
def client(kaggle_env: Path, sleeps: list[float]) -> KaggleClient:
    return KaggleClient.from_environment(sleep=sleeps.append, policy=FAST)
