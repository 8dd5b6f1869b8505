"""Small file-system helpers every stage shares: atomic writes, hashing, disk-full mapping."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any, Iterator

from juliapack.errors import DiskFull

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_stamp(path: Path) -> list[int]:
    """What changes whenever a file's bytes could have: size, mtime, ctime (no program can set it), inode."""
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


@contextmanager
def atomic_output(target: Path, mode: str = "wb", *, large: bool = False) -> Iterator[IO[Any]]:
    """Write to a temp file next to ``target``, then os.replace it in: readers never see half a file.

    ``large``: the file will be big, so its bytes go to disk while it is being written, and the
    fsync before the replace waits only for the last of them.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        with map_disk_full(target), os.fdopen(fd, mode) as stream:
            with _syncing(fd) if large else nullcontext():
                yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


SYNC_INTERVAL = 0.5  # seconds


@contextmanager
def _syncing(fd: int) -> Iterator[None]:
    """fdatasync ``fd`` in the background every SYNC_INTERVAL until the block ends.

    The kernel would otherwise hold a packed layer's gigabyte in dirty pages until the final fsync,
    which then costs seconds on its own; meanwhile the disk sits idle.
    """
    done = threading.Event()

    def sync() -> None:
        while not done.wait(SYNC_INTERVAL):
            try:
                os.fdatasync(fd)
            except OSError:
                return  # the final fsync reports what went wrong

    thread = threading.Thread(target=sync, name="juliapack-sync", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_output(target, "w") as stream:
        stream.write(text)


def dumps_json(data: Any) -> str:
    """Stable JSON: sorted keys, two-space indent, trailing newline (byte-identical for equal data)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json_atomic(target: Path, data: Any) -> None:
    write_text_atomic(target, dumps_json(data))


@contextmanager
def map_disk_full(where: Path) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(
                f"no space left on the device while writing {where}",
                fix="free disk space (or point --out / JULIAPACK_CACHE_DIR at a bigger disk) and run again",
            ) from error
        raise
