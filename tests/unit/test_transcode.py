"""The Julia layer recompressed member for member: what unpacks is what the official tarball holds."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from juliapack import archive
from juliapack.build.julia_layer import julia_layer_for
from juliapack.julia_version import exact_version
from juliapack.errors import InputError
from juliapack.julia_dist import JuliaDist, JuliaRelease
from juliapack.report import RecordingReporter


def official_tarball(path: Path, *, extra: tarfile.TarInfo | None = None) -> Path:
    """A small gzip tarball shaped like Julia's: a top folder, an executable, a symlink, odd owners and mtimes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, mtime=1_600_000_000, link=""):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
            info.uid, info.gid, info.uname, info.gname = 1000, 1000, "builder", "builder"
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("julia-1.9.9", tarfile.DIRTYPE, mode=0o755)
        add("julia-1.9.9/bin/julia", data=b"\x7fELF" + bytes(range(256)) * 64, mode=0o755, mtime=1_600_000_123)
        add("julia-1.9.9/lib/libjulia.so", tarfile.SYMTYPE, link="libjulia.so.1.9")
        add("julia-1.9.9/share/julia/stdlib/v1.9/Foo/src/Foo.jl", data=b"module Foo end\n" * 100, mtime=1_590_000_000)
        if extra is not None:
            tar.addfile(extra)
    path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return path


def listing(path: Path) -> list[tuple]:
    return [
        (i.name, i.type, i.mode, i.mtime, i.linkname, i.uid, i.gid, i.uname, i.gname, r.read() if r else None)
        for i, r in archive.iter_members(path)
    ]


def test_members_keep_names_modes_links_and_mtimes_but_lose_their_owners(tmp_path: Path) -> None:
    source = official_tarball(tmp_path / "julia.tar.gz")
    written = archive.transcode(source, tmp_path / "julia", codec="zstd")
    assert archive.detect_codec(written.path) == "zstd" and written.entries == 4
    before, after = listing(source), listing(written.path)
    assert [m[:5] + m[9:] for m in after] == [m[:5] + m[9:] for m in before]
    assert {m[5:9] for m in after} == {(0, 0, "", "")}
    assert archive.check_safe(written.path, strip_components=1) == 4


def test_the_same_source_gives_the_same_bytes(tmp_path: Path) -> None:
    source = official_tarball(tmp_path / "julia.tar.gz")
    first = archive.transcode(source, tmp_path / "a", codec="zstd")
    second = archive.transcode(source, tmp_path / "b", codec="zstd")
    assert first.sha256 == second.sha256 and (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_a_hard_link_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    link = tarfile.TarInfo("julia-1.9.9/bin/julia2")
    link.type, link.linkname = tarfile.LNKTYPE, "julia-1.9.9/bin/julia"
    source = official_tarball(tmp_path / "julia.tar.gz", extra=link)
    with pytest.raises(InputError, match="neither a file, a folder nor a symlink"):
        archive.transcode(source, tmp_path / "out" / "julia", codec="zstd")
    assert list((tmp_path / "out").iterdir()) == []


def test_the_julia_layer_is_recompressed_once_and_then_reused(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    source = official_tarball(tmp_path / "cache" / "julia-1.9.9-linux-x86_64.tar.gz")
    release = JuliaRelease(exact_version("1.9.9"), "https://example.invalid/j.tar.gz", "e" * 64, source.stat().st_size, source.name)
    julia = JuliaDist(release, source)
    reporter = RecordingReporter()
    first = julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter)
    again = julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter)
    assert first == again and first.path.parent.parent == source.parent
    assert len([s for s in reporter.texts("step") if s.startswith("Recompressing")]) == 1
    official = julia_layer_for(julia, codec="gzip", decompressor="pigz", reporter=reporter)
    assert (official.path, official.sha256, official.codec, official.decompressor) == (source, "e" * 64, "gzip", "pigz")


def test_the_recompress_progress_bar_has_a_total_and_reaches_it(tmp_path: Path) -> None:
    source = official_tarball(tmp_path / "julia.tar.gz")
    bars: dict[str, list] = {}

    class Bars(RecordingReporter):
        def progress(self, label, *, total, done=0):
            bars[label] = [total, done]

            class Bar:
                def advance(self, amount: int) -> None:
                    bars[label][1] += amount

                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    return None

            return Bar()

    archive.transcode(source, tmp_path / "julia", codec="zstd", reporter=Bars())
    assert bars == {"recompress julia": [source.stat().st_size, source.stat().st_size]}
