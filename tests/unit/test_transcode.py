"""The Julia layer recompressed member for member: what unpacks is what the official tarball holds."""

from __future__ import annotations

import dataclasses
import gzip
import io
import tarfile
from pathlib import Path

import pytest

from juliapack import archive
from juliapack.build import julia_layer
from juliapack.build.julia_layer import copy_layer, julia_layer_for
from juliapack.julia_version import exact_version
from juliapack.errors import EnvironmentProblem, InputError
from juliapack.fsutil import sha256_file
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


def cached_layer(tmp_path: Path) -> tuple[JuliaDist, RecordingReporter]:
    (tmp_path / "cache").mkdir()
    source = official_tarball(tmp_path / "cache" / "julia-1.9.9-linux-x86_64.tar.gz")
    release = JuliaRelease(exact_version("1.9.9"), "https://example.invalid/j.tar.gz", "e" * 64, source.stat().st_size, source.name)
    return JuliaDist(release, source), RecordingReporter()


def recompressions(reporter: RecordingReporter) -> int:
    return len([s for s in reporter.texts("step") if s.startswith("Recompressing")])


def overwrite_in_place(path: Path, *, at: int = 100) -> None:
    with open(path, "r+b") as stream:  # same size, same inode: what a size check cannot see
        stream.seek(at)
        old = stream.read(1)
        stream.seek(at)
        stream.write(bytes([old[0] ^ 0xFF]))


def test_a_damaged_cached_layer_is_recompressed(tmp_path: Path) -> None:
    julia, reporter = cached_layer(tmp_path)
    first = julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter)
    overwrite_in_place(first.path)
    again = julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter)
    assert again == first and sha256_file(again.path) == first.sha256
    assert recompressions(reporter) == 2
    assert any("is damaged (its sha256 differs" in w for w in reporter.texts("warn"))


def test_a_cached_layer_touched_but_intact_is_hashed_once_and_kept(tmp_path: Path) -> None:
    julia, reporter = cached_layer(tmp_path)
    first = julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter)
    first.path.write_bytes(first.path.read_bytes())  # new stamps, same bytes
    hashed = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(julia_layer, "sha256_file", lambda path: hashed.append(path) or sha256_file(path))
        assert julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter) == first
        assert julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter) == first
    assert hashed == [first.path]  # the second call trusts the stamps recorded after the first
    assert recompressions(reporter) == 1 and reporter.texts("warn") == []


@pytest.mark.parametrize("record", ["not json", "[]", '{"size": 1}', None])
def test_an_unreadable_or_missing_record_makes_the_layer_again(tmp_path: Path, record: str | None) -> None:
    julia, reporter = cached_layer(tmp_path)
    first = julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter)
    stamp = first.path.parent / "sha256.json"
    if record is None:
        stamp.unlink()
    else:
        stamp.write_text(record)
    assert julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter) == first
    assert recompressions(reporter) == 2
    assert len(reporter.texts("warn")) == (0 if record is None else 1)


def test_the_copy_in_dist_shares_no_storage_with_the_cache(tmp_path: Path) -> None:
    julia, reporter = cached_layer(tmp_path)
    layer = julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter)
    copy = tmp_path / "dist" / "julia"
    copy_layer(layer, copy)
    assert copy.read_bytes() == layer.path.read_bytes()
    assert copy.stat().st_ino != layer.path.stat().st_ino and copy.stat().st_nlink == 1
    overwrite_in_place(copy)
    assert julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter) == layer
    assert sha256_file(layer.path) == layer.sha256 and recompressions(reporter) == 1


def test_a_layer_whose_bytes_are_not_the_recorded_ones_is_not_copied_and_is_made_again(tmp_path: Path) -> None:
    julia, reporter = cached_layer(tmp_path)
    layer = julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter)
    with pytest.raises(EnvironmentProblem, match="does not hold the bytes recorded") as refused:
        copy_layer(dataclasses.replace(layer, sha256="0" * 64), tmp_path / "dist" / "julia")
    assert "run the build again" in refused.value.fix
    assert not layer.path.exists() and not (tmp_path / "dist" / "julia").exists()
    assert julia_layer_for(julia, codec="zstd", decompressor="zstd", reporter=reporter) == layer
    assert recompressions(reporter) == 2
