"""Mutual exclusion between juliapack processes: one build per dist/, one download per cache folder, one
upload per dist/ and per dataset. (A "lock" in juliapack is dist/juliapack.lock.json; these are mutexes.)

Each mutex is an OS lock (flock) on an empty file, released when its process dies, so a killed run never
leaves a stale one. The files live in juliapack's cache (``mutexes/``), never in the user's folders.
"""

from __future__ import annotations

import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from juliapack.report import NullReporter, Reporter


def mutex_file(cache_dir: Path, kind: str, key: str) -> Path:
    """The file in the cache whose flock guards ``key`` (a path, a dataset ref) for one ``kind`` of work."""
    return cache_dir / "mutexes" / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.mutex"


@contextmanager
def held(path: Path, *, what: str, reporter: Reporter = NullReporter(), wait: bool = True) -> Iterator[bool]:
    """Hold the mutex ``path``; if another process holds it, say so and wait (or raise BlockingIOError
    when ``wait`` is False). Yields whether it waited: what the other process did may change the plan."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        waited = False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise
            reporter.info(f"waiting for another juliapack process using {what}")
            fcntl.flock(handle, fcntl.LOCK_EX)
            waited = True
        try:
            yield waited
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
