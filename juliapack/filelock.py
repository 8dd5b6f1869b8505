"""Advisory file locks between juliapack processes: one build per dist/, one download per cache folder,
one upload per dist/ and per dataset.

An OS lock (flock) is released when its process dies, so a killed run never leaves a stale lock. The
lock files live in juliapack's cache, never in the user's folders.
"""

from __future__ import annotations

import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from juliapack.report import NullReporter, Reporter


def lock_file_for(cache_dir: Path, kind: str, key: str) -> Path:
    """The lock file in the cache that guards ``key`` (a path, a dataset ref) for one ``kind`` of work."""
    return cache_dir / "locks" / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"


@contextmanager
def held(path: Path, *, what: str, reporter: Reporter = NullReporter(), wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``path``; if another process holds it, say so and wait (or raise
    BlockingIOError when ``wait`` is False)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise
            reporter.info(f"waiting for another juliapack process using {what}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
