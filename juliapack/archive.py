"""Deterministic tarballs: walk a tree, filter it, write it; and read them back safely.

Same tree in, same bytes out: entries sorted by name, uid/gid 0 without user names, one fixed mtime,
modes reduced to 0644/0755, and a compressor whose output does not depend on the machine (zstd's
multi-threaded framing is identical for any thread count >= 1; gzip's header carries no name or time).
Writing streams through the compressor into a temp file next to the target, hashing as it goes, and
`os.replace`s it in, so memory stays bounded and readers never see half an archive.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import shlex
import stat
import tarfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterator

from juliapack.errors import InputError
from juliapack.fsutil import atomic_output
from juliapack.report import NullReporter, Reporter

CODECS = ("zstd", "gzip")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_LEVEL = 3
GZIP_LEVEL = 6
# One zstd worker more than there are cores keeps every core compressing while the main thread reads
# files; the output does not depend on the count.
THREADS = (os.cpu_count() or 1) + 1
COPY_BUFFER = 1 << 20
WRITE_BUFFER = 4 << 20
BLOCK = 512
NUL = b"\0"

# A filter gets a path relative to the walked root (posix) and whether it is a directory; it returns
# the reason to leave it out (a category for the report), or None to keep it.
Filter = Callable[[str, bool], "str | None"]


@dataclass(frozen=True)
class Entry:
    arcname: str
    path: str  # where to read it; a str, not a Path: making 40,000 Paths costs more than the whole walk
    kind: str  # "dir", "file" or "symlink"
    size: int = 0
    executable: bool = False
    link: str = ""


@dataclass
class Collected:
    entries: list[Entry] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> bytes left out
    skipped: list[str] = field(default_factory=list)  # special files (sockets, fifos, devices)

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.entries)


@dataclass(frozen=True)
class Written:
    path: Path
    sha256: str
    size: int
    codec: str
    entries: int
    input_bytes: int


def keep_everything(relpath: str, is_dir: bool) -> str | None:
    return None


# --------------------------------------------------------------------------- walk + filter


def collect(root: Path, *, prefix: str = "", drop: Filter = keep_everything) -> Collected:
    """Every entry under ``root`` that ``drop`` keeps, sorted, named ``prefix/relpath`` in the archive."""
    if not root.is_dir():
        raise InputError(f"{root} is not a directory", fix="check the path")
    result = Collected()
    if prefix:
        result.entries.append(Entry(prefix, str(root), "dir"))
    _collect_dir(root, str(root), "", f"{prefix}/" if prefix else "", drop, result)
    return result


def _collect_dir(root: Path, folder: str, relfolder: str, arcfolder: str, drop: Filter, result: Collected) -> None:
    """``folder`` is ``root/relfolder``; ``relfolder`` and ``arcfolder`` are empty or end with a slash."""
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        relpath = relfolder + name
        info = os.lstat(path)
        is_dir = stat.S_ISDIR(info.st_mode)
        reason = drop(relpath, is_dir)
        if reason is not None:
            result.dropped[reason] = result.dropped.get(reason, 0) + _tree_size(path, info)
        elif is_dir:
            result.entries.append(Entry(arcfolder + relpath, path, "dir"))
            _collect_dir(root, path, relpath + "/", arcfolder, drop, result)
        elif stat.S_ISLNK(info.st_mode):
            result.entries.append(Entry(arcfolder + relpath, path, "symlink", link=_checked_link(root, path, relfolder)))
        elif stat.S_ISREG(info.st_mode):
            executable = bool(info.st_mode & 0o111)
            result.entries.append(Entry(arcfolder + relpath, path, "file", size=info.st_size, executable=executable))
        else:
            result.skipped.append(relpath)


def _checked_link(root: Path, path: str, relfolder: str) -> str:
    target = os.readlink(path)
    if os.path.isabs(target) or not _inside(relfolder.rstrip("/") or ".", target):
        raise InputError(
            f"symlink {path} points outside {root} (to {target})",
            fix="replace it by a relative link inside the folder, or by the file itself",
        )
    return target


def _inside(folder: str, link_target: str) -> bool:
    """Whether a relative link in ``folder`` (relative to the root) stays inside the root."""
    resolved = posixpath.normpath(posixpath.join(folder, link_target))
    return resolved != ".." and not resolved.startswith("../") and not posixpath.isabs(resolved)


def _tree_size(path: str, info: os.stat_result) -> int:
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size if stat.S_ISREG(info.st_mode) else 0
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


# --------------------------------------------------------------------------- write


class _HashingWriter:
    """Counts and hashes bytes on their way to the file."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.stream.write(data)

    def flush(self) -> None:
        self.stream.flush()


@contextmanager
def _compressor(codec: str, sink: _HashingWriter) -> Iterator[IO[bytes]]:
    if codec == "zstd":
        import zstandard

        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=THREADS, write_checksum=True)
        with compressor.stream_writer(sink, closefd=False) as stream:
            yield stream
    elif codec == "gzip":
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=GZIP_LEVEL, mtime=0) as stream:
            yield stream
    else:
        raise ValueError(f"unknown codec {codec!r}")


def _tarinfo(entry: Entry, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.arcname)
    info.type, info.mode, info.mtime = _TYPES[entry.kind], _mode(entry), mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.size, info.linkname = entry.size, entry.link
    return info


def write_archive(
    entries: list[Entry],
    target: Path,
    *,
    codec: str,
    mtime: int,
    reporter: Reporter = NullReporter(),
    label: str | None = None,
) -> Written:
    """Write ``entries`` as a compressed tarball at ``target`` (atomically) and return its hash and size."""
    total = sum(entry.size for entry in entries)
    with atomic_output(target, large=True) as raw, reporter.progress(label or f"pack {target.name}", total=total) as bar:
        sink = _HashingWriter(raw)
        with _compressor(codec, sink) as compressed:
            stream = _BlockStream(compressed)
            for entry in entries:
                _write_entry(stream, entry, mtime)
                bar.advance(entry.size)
            stream.write(NUL * (2 * BLOCK))  # two zero blocks end a tar
            stream.flush()
    return Written(target, sink.digest.hexdigest(), sink.size, codec, len(entries), total)


class _BlockStream:
    """Gathers tar blocks in one reusable buffer for the compressor; file bytes are read straight into it.

    Packing is bound by the CPU: a depot is tens of thousands of small files and a few GB in all, so
    a copy or an allocation saved on every chunk shows in the wall time.
    """

    def __init__(self, sink: IO[bytes], size: int = WRITE_BUFFER) -> None:
        self.sink = sink
        self.view = memoryview(bytearray(size))
        self.used = 0

    def write(self, data: bytes) -> None:
        if self.used + len(data) > len(self.view):
            self.flush()
        if len(data) > len(self.view):
            self.sink.write(data)
            return
        self.view[self.used : self.used + len(data)] = data
        self.used += len(data)

    def copy_from(self, source: IO[bytes], size: int) -> int:
        """Copy up to ``size`` bytes of ``source``; returns how many there were."""
        copied = 0
        while copied < size:
            if self.used == len(self.view):
                self.flush()
            free = min(len(self.view) - self.used, size - copied)
            got = source.readinto(self.view[self.used : self.used + free])
            if not got:
                break
            self.used += got
            copied += got
        return copied

    def flush(self) -> None:
        if self.used:
            self.sink.write(self.view[: self.used])
            self.used = 0


_PADDING = bytes(BLOCK)


def _write_entry(stream: _BlockStream, entry: Entry, mtime: int) -> None:
    stream.write(tar_header(entry, mtime))
    if entry.kind != "file":
        return
    try:
        with open(entry.path, "rb", buffering=0) as source:
            copied = stream.copy_from(source, entry.size)
            changed = copied != entry.size or os.fstat(source.fileno()).st_size != entry.size
    except FileNotFoundError:
        changed = True
    if changed:
        raise InputError(f"{entry.path} changed while it was being packed", fix="run the command again")
    stream.write(_PADDING[: -entry.size % BLOCK])


def tar_header(entry: Entry, mtime: int) -> bytes:
    """The header block(s) for one entry: plain ustar when the fields fit, else tarfile's pax form.

    Built by hand because ``TarInfo.tobuf`` costs ~40 us an entry, most of the time spent on a depot
    of tens of thousands of small files; the bytes equal tarfile's (a unit test holds them to it).
    """
    header = _ustar(entry, mtime)
    if header is None:
        header = _tarinfo(entry, mtime).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    return header


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}


def _ustar(entry: Entry, mtime: int) -> bytes | None:
    name = entry.arcname + ("/" if entry.kind == "dir" else "")
    # Anything longer or non-ASCII goes through tarfile, which writes a pax header for it.
    if not (name.isascii() and entry.link.isascii()) or max(len(name), len(entry.link)) > 100 or entry.size >= 8**11:
        return None
    block = b"".join(
        (
            name.encode().ljust(100, NUL),
            b"%07o\0" % _mode(entry),
            b"0000000\0" * 2,  # uid, gid
            b"%011o\0" % entry.size,
            b"%011o\0" % mtime,
            b" " * 8,  # the checksum is computed over this field as spaces
            _TYPES[entry.kind],
            entry.link.encode().ljust(100, NUL),
            b"ustar\x0000",
            NUL * 64,  # uname, gname
            NUL * (16 + 155 + 12),  # devmajor, devminor (empty unless a device, as tarfile writes), prefix
        )
    )
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def _mode(entry: Entry) -> int:
    if entry.kind == "symlink":
        return 0o777
    return 0o755 if entry.kind == "dir" or entry.executable else 0o644


def pack_tree(
    root: Path,
    target: Path,
    *,
    codec: str,
    mtime: int,
    prefix: str = "",
    drop: Filter = keep_everything,
    reporter: Reporter = NullReporter(),
) -> tuple[Written, Collected]:
    collected = collect(root, prefix=prefix, drop=drop)
    written = write_archive(collected.entries, target, codec=codec, mtime=mtime, reporter=reporter)
    return written, collected


# --------------------------------------------------------------------------- read


def detect_codec(path: Path) -> str:
    with open(path, "rb") as stream:
        magic = stream.read(4)
    if magic.startswith(ZSTD_MAGIC):
        return "zstd"
    if magic.startswith(GZIP_MAGIC):
        return "gzip"
    raise InputError(f"{path} is neither a zstd nor a gzip tarball", fix="rebuild it with 'juliapack build'")


@contextmanager
def open_decompressed(path: Path, *, on_read: Callable[[int], None] | None = None) -> Iterator[IO[bytes]]:
    """The tarball's uncompressed stream; ``on_read`` is told each count of compressed bytes read."""
    codec = detect_codec(path)
    with open(path, "rb") as file:
        raw = _Counting(file, on_read) if on_read else file
        if codec == "zstd":
            import zstandard

            with zstandard.ZstdDecompressor().stream_reader(raw, read_size=COPY_BUFFER) as stream:
                yield stream
        else:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield stream


class _Counting:
    """A binary reader that reports how many bytes each read returned."""

    def __init__(self, stream: IO[bytes], on_read: Callable[[int], None]) -> None:
        self.stream = stream
        self.on_read = on_read

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.on_read(len(data))
        return data

    def readinto(self, buffer) -> int:
        count = self.stream.readinto(buffer)
        self.on_read(count or 0)
        return count


def iter_members(path: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """Stream the members of a tarball; a file's reader is valid only until the next member."""
    with open_decompressed(path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            yield info, tar.extractfile(info) if info.isreg() else None


def unsafe_reason(info: tarfile.TarInfo, *, strip_components: int = 0) -> str | None:
    """Why extracting this member (with tar's --strip-components) could write outside the destination."""
    name = info.name
    if name.startswith("/") or posixpath.isabs(name):
        return "absolute path"
    if ".." in name.split("/"):
        return "'..' in the path"
    if info.islnk():
        return "hard link"
    if info.isdev() or info.isfifo():
        return "device or fifo"
    parts = name.rstrip("/").split("/")
    if strip_components and len(parts) <= strip_components:
        return None if info.isdir() else f"a file above --strip-components {strip_components}"
    # Judge a link where it lands after stripping: top/lib/x -> ../../y is inside the archive but outside DEST.
    landed = "/".join(parts[strip_components:])
    if info.issym() and not _inside(posixpath.dirname(landed), info.linkname):
        return f"symlink to {info.linkname} outside the archive"
    return None


def check_safe(path: Path, *, strip_components: int = 0) -> int:
    """Raise if any member of the tarball could escape its destination; returns the member count."""
    count = 0
    for info, _reader in iter_members(path):
        count += 1
        reason = unsafe_reason(info, strip_components=strip_components)
        if reason:
            raise InputError(f"{path.name} has an unsafe member {info.name!r}: {reason}", fix="rebuild it with 'juliapack build'")
    return count


# --------------------------------------------------------------------------- unpack commands


def unpack_command(*, codec: str, decompressor: str, archive: str, dest: str, strip_components: int = 0) -> str:
    """The shell command that unpacks ``archive`` into ``dest`` in the target image.

    ``archive`` goes in as given (quote a path with shlex.quote; a placeholder stays a placeholder).
    ``decompressor`` is what the build found in the image: "tar" (gzip, GNU tar's own), "pigz",
    "zstd" (the binary), "python-zstandard" or "python-compression.zstd".
    """
    tar_args = f"-C {shlex.quote(dest)}" + (f" --strip-components {strip_components}" if strip_components else "")
    if codec == "gzip":
        if decompressor == "pigz":
            return f"pigz -dc {archive} | tar -x {tar_args}"
        return f"tar -x -f {archive} {tar_args}"
    if codec != "zstd":
        raise ValueError(f"unknown codec {codec!r}")
    if decompressor == "zstd":
        return f"zstd -d -c -q {archive} | tar -x {tar_args}"
    if decompressor == "python-zstandard":
        script = "import sys, zstandard; zstandard.ZstdDecompressor().copy_stream(open(sys.argv[1], 'rb'), sys.stdout.buffer)"
    elif decompressor == "python-compression.zstd":
        script = "import sys, shutil; from compression import zstd; shutil.copyfileobj(zstd.open(sys.argv[1]), sys.stdout.buffer)"
    else:
        raise ValueError(f"no zstd decompressor {decompressor!r}")
    return f"python3 -c {shlex.quote(script)} {archive} | tar -x {tar_args}"


# --------------------------------------------------------------------------- transcoding


def transcode(source: Path, target: Path, *, codec: str, reporter: Reporter = NullReporter(), label: str | None = None) -> Written:
    """Re-compress a tarball with ``codec``, member for member, atomically.

    Names, modes, link targets and mtimes stay as they are (Julia's bundled caches check the mtimes of
    its stdlib sources), owners are cleared. The same source gives the same bytes.
    """
    entries = input_bytes = 0
    total = source.stat().st_size  # the bar counts compressed bytes read: the only total known up front
    with atomic_output(target, large=True) as raw, reporter.progress(label or f"recompress {target.name}", total=total) as bar:
        sink = _HashingWriter(raw)
        with _compressor(codec, sink) as compressed, open_decompressed(source, on_read=bar.advance) as stream:
            out = io.BufferedWriter(compressed, buffer_size=WRITE_BUFFER)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for info in tar:
                    _copy_member(tar, info, out, source)
                    entries += 1
                    input_bytes += info.size
            out.write(NUL * (2 * BLOCK))
            out.flush()
            out.detach()
    return Written(target, sink.digest.hexdigest(), sink.size, codec, entries, input_bytes)


def _copy_member(tar: tarfile.TarFile, info: tarfile.TarInfo, out: IO[bytes], source: Path) -> None:
    if not (info.isreg() or info.isdir() or info.issym()):
        raise InputError(f"{source.name} has {info.name!r}, neither a file, a folder nor a symlink", fix="use the official tarball")
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    out.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
    if info.isreg():
        reader = tar.extractfile(info)
        while chunk := reader.read(COPY_BUFFER):
            out.write(chunk)
        out.write(NUL * (-info.size % BLOCK))
