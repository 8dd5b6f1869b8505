"""Atomic outputs: the background sync of large files, and what is left after a failure."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from juliapack import fsutil
from juliapack.fsutil import atomic_output


@pytest.fixture
def synced(monkeypatch) -> list[int]:
    """The descriptors fdatasync'ed, with the background sync made quick."""
    calls: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(fsutil, "SYNC_INTERVAL", 0.01)
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append(fd), real(fd)))
    return calls


def sync_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "juliapack-sync"]


def test_a_large_output_is_synced_while_it_is_written_and_the_syncing_stops_with_it(tmp_path: Path, synced: list[int]) -> None:
    target = tmp_path / "layer"
    with atomic_output(target, large=True) as stream:
        for _ in range(5):
            stream.write(b"x" * 100_000)
            time.sleep(0.03)
        assert sync_threads()
    assert synced, "no fdatasync while writing"
    assert sync_threads() == []
    assert target.read_bytes() == b"x" * 500_000


def test_a_small_output_is_not_synced_in_the_background(tmp_path: Path, synced: list[int]) -> None:
    with atomic_output(tmp_path / "lock.json", "w") as stream:
        stream.write("{}")
        time.sleep(0.05)
        assert sync_threads() == []
    assert synced == []


def test_a_failed_large_output_leaves_neither_a_file_nor_a_thread(tmp_path: Path, synced: list[int]) -> None:
    (tmp_path / "layer").write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "layer", large=True) as stream:
            stream.write(b"half")
            time.sleep(0.03)
            raise RuntimeError("interrupted")
    assert sync_threads() == []
    assert sorted(os.listdir(tmp_path)) == ["layer"]
    assert (tmp_path / "layer").read_bytes() == b"previous"
