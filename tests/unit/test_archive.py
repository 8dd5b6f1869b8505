"""archive: deterministic tarballs (same tree, same bytes), tarfile-exact headers, safe reading, unpack commands."""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from juliapack import archive
from juliapack.archive import Entry, collect, pack_tree, tar_header, unpack_command, write_archive
from juliapack.errors import ExitCode, InputError
from tests.unit.helpers import EPOCH, member, write_tarball

LONG = "src/deep/" + "n" * 120 + ".jl"
BIG = hashlib.sha256(b"big").digest() * 12_000  # 384,000 bytes: several tar blocks and compressor windows


def populate(root: Path, *, reverse: bool = False) -> Path:
    """One tree with every kind of entry; ``reverse`` creates it in the opposite order."""
    files = [
        ("README.md", b"# readme\n", False),
        ("bin/run.sh", b"#!/bin/sh\necho hi\n", True),
        ("src/Inference.jl", b"module Inference\nend\n", False),
        (LONG, b"long name\n", False),
        ("donn\u00e9es/\u00e9t\u00e9.txt", "\u00e9t\u00e9\n".encode(), False),
        ("zero.txt", b"", False),
        ("big.bin", BIG, False),
    ]
    links = [("link", "src/Inference.jl"), ("src/up", "../README.md")]
    for relpath, data, executable in reversed(files) if reverse else files:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if executable:
            path.chmod(path.stat().st_mode | 0o111)
    (root / "empty").mkdir(parents=True, exist_ok=True)
    for relpath, target in reversed(links) if reverse else links:
        os.symlink(target, root / relpath)
    return root


def scramble(root: Path, seed: int) -> None:
    """Different times (and owners, when we may) for everything in the tree."""
    for index, path in enumerate(sorted(root.rglob("*"))):
        stamp = 1_000_000_000 + seed * 7919 + index * 104_729
        os.utime(path, (stamp + 17, stamp), follow_symlinks=False)
        if os.geteuid() == 0:
            os.lchown(path, 1000 + seed, 2000 + seed)


def tar_members(path: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Decompress with the libraries directly (not the module's reader) and list every member with its data."""
    raw = path.read_bytes()
    if raw.startswith(archive.ZSTD_MAGIC):
        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    else:
        import gzip

        data = gzip.decompress(raw)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [(info, tar.extractfile(info).read() if info.isreg() else None) for info in tar.getmembers()]


def snapshot(root: Path) -> dict[str, tuple]:
    """What an unpacked tree holds: kind, bytes, executable bit, link target."""
    out = {}
    for path in sorted(root.rglob("*")):
        relpath = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[relpath] = ("link", os.readlink(path))
        elif path.is_dir():
            out[relpath] = ("dir",)
        else:
            out[relpath] = ("file", path.read_bytes(), bool(path.stat().st_mode & 0o100))
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return populate(tmp_path / "tree")


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("codec", archive.CODECS)
def test_the_same_tree_packs_to_the_same_bytes_whatever_its_times_owners_and_umask(tmp_path: Path, codec: str) -> None:
    first = populate(tmp_path / "first")
    scramble(first, 1)
    previous = os.umask(0o077)
    try:
        second = populate(tmp_path / "second", reverse=True)
    finally:
        os.umask(previous)
    scramble(second, 2)
    assert (second / "README.md").stat().st_mode & 0o777 == 0o600  # the umask really differed

    a, _ = pack_tree(first, tmp_path / "a", codec=codec, mtime=EPOCH, prefix="Inference")
    b, _ = pack_tree(second, tmp_path / "out" / "b", codec=codec, mtime=EPOCH, prefix="Inference")

    assert (tmp_path / "a").read_bytes() == (tmp_path / "out" / "b").read_bytes()
    assert a.sha256 == b.sha256 == hashlib.sha256((tmp_path / "a").read_bytes()).hexdigest()
    assert a.size == (tmp_path / "a").stat().st_size
    assert (a.codec, a.entries, a.input_bytes) == (codec, b.entries, b.input_bytes)
    assert a.input_bytes == sum(len(data) for info, data in tar_members(tmp_path / "a") if data is not None)


@pytest.mark.parametrize("codec", archive.CODECS)
def test_one_changed_byte_changes_the_hash(tmp_path: Path, codec: str) -> None:
    tree = populate(tmp_path / "tree")
    before, _ = pack_tree(tree, tmp_path / "before", codec=codec, mtime=EPOCH)
    data = bytearray(BIG)
    data[200_000] ^= 1
    (tree / "big.bin").write_bytes(bytes(data))
    after, _ = pack_tree(tree, tmp_path / "after", codec=codec, mtime=EPOCH)
    assert before.sha256 != after.sha256 and before.size > 0


def test_the_mtime_given_is_the_one_stored(tree: Path, tmp_path: Path) -> None:
    a, _ = pack_tree(tree, tmp_path / "a", codec="gzip", mtime=EPOCH)
    b, _ = pack_tree(tree, tmp_path / "b", codec="gzip", mtime=EPOCH + 1)
    assert a.sha256 != b.sha256
    assert {info.mtime for info, _ in tar_members(tmp_path / "b")} == {EPOCH + 1}


# --------------------------------------------------------------------------- what the members look like


@pytest.mark.parametrize("codec", archive.CODECS)
def test_members_are_sorted_owned_by_root_and_carry_normalized_modes(tree: Path, tmp_path: Path, codec: str) -> None:
    scramble(tree, 3)
    pack_tree(tree, tmp_path / "out", codec=codec, mtime=EPOCH, prefix="Inference")
    members = tar_members(tmp_path / "out")
    names = [info.name for info, _ in members]

    assert names[0] == "Inference"
    assert names == sorted(names, key=lambda name: name.split("/"))  # depth first, children by name
    assert set(names) == {"Inference", *(f"Inference/{p}" for p in snapshot(tree))}
    for info, _ in members:
        assert (info.uid, info.gid, info.uname, info.gname, info.mtime) == (0, 0, "", "", EPOCH), info.name
    kinds = {info.name.removeprefix("Inference/"): (info.type, info.mode) for info, _ in members}
    assert kinds["src"] == kinds["empty"] == kinds["Inference"] == (tarfile.DIRTYPE, 0o755)
    assert kinds["README.md"] == kinds["zero.txt"] == kinds[LONG] == (tarfile.REGTYPE, 0o644)
    assert kinds["bin/run.sh"] == (tarfile.REGTYPE, 0o755)
    assert kinds["link"] == kinds["src/up"] == (tarfile.SYMTYPE, 0o777)


def test_members_hold_the_files_bytes_and_link_targets(tree: Path, tmp_path: Path) -> None:
    pack_tree(tree, tmp_path / "out", codec="zstd", mtime=EPOCH)
    members = {info.name: (info, data) for info, data in tar_members(tmp_path / "out")}
    for relpath, state in snapshot(tree).items():
        info, data = members[relpath]
        if state[0] == "file":
            assert data == state[1]
        elif state[0] == "link":
            assert info.linkname == state[1]


def test_gzip_output_has_no_file_name_and_no_time(tree: Path, tmp_path: Path) -> None:
    pack_tree(tree, tmp_path / "named-output.gz", codec="gzip", mtime=EPOCH)
    header = (tmp_path / "named-output.gz").read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08"
    assert header[3] == 0  # FLG: no FNAME, no FCOMMENT, no FEXTRA
    assert header[4:8] == b"\0\0\0\0"  # MTIME
    assert b"named-output" not in (tmp_path / "named-output.gz").read_bytes()


@pytest.mark.parametrize("codec, magic", [("zstd", b"\x28\xb5\x2f\xfd"), ("gzip", b"\x1f\x8b")])
def test_detect_codec_reads_the_magic(tree: Path, tmp_path: Path, codec: str, magic: bytes) -> None:
    pack_tree(tree, tmp_path / "out", codec=codec, mtime=EPOCH)
    assert (tmp_path / "out").read_bytes().startswith(magic)
    assert archive.detect_codec(tmp_path / "out") == codec


def test_detect_codec_refuses_anything_else(tmp_path: Path) -> None:
    (tmp_path / "plain.tar").write_bytes(b"not compressed at all")
    with pytest.raises(InputError, match="neither a zstd nor a gzip"):
        archive.detect_codec(tmp_path / "plain.tar")


def test_unknown_codec_is_a_programming_error(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="xz"):
        pack_tree(tree, tmp_path / "out", codec="xz", mtime=EPOCH)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- headers


def reference_header(name: str, kind: str, *, size: int = 0, executable: bool = False, link: str = "", mtime: int = EPOCH) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}[kind]
    info.mode = 0o777 if kind == "symlink" else 0o755 if kind == "dir" or executable else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.size, info.linkname, info.mtime = size, link, mtime
    return info.tobuf(tarfile.PAX_FORMAT)


@pytest.mark.parametrize(
    "name, kind, size, executable, link",
    [
        ("a", "dir", 0, False, ""),
        ("a/b/c", "dir", 0, False, ""),
        ("a/file.jl", "file", 1234, False, ""),
        ("a/run.sh", "file", 7, True, ""),
        ("empty", "file", 0, False, ""),
        ("a/link", "symlink", 0, False, "../b/target.jl"),
        ("x" * 100, "file", 1, False, ""),  # exactly fits
        ("x" * 101, "file", 1, False, ""),  # pax path
        ("d" * 99, "dir", 0, False, ""),  # 100 with the slash
        ("d" * 100, "dir", 0, False, ""),  # 101 with the slash
        ("deep/" * 30 + "f.jl", "file", 3, False, ""),
        ("l", "symlink", 0, False, "t" * 100),
        ("l", "symlink", 0, False, "t" * 101),  # pax linkpath
        ("caf\u00e9/\u00e9t\u00e9.jl", "file", 5, False, ""),  # non-ASCII
        ("\u65e5\u672c/\u8a9e", "dir", 0, False, ""),
        ("l", "symlink", 0, False, "\u00e9t\u00e9"),
        ("huge.bin", "file", 8**11 - 1, False, ""),  # largest ustar size
        ("huger.bin", "file", 8**11, False, ""),  # pax size
    ],
)
def test_tar_header_equals_tarfiles_pax_header(name: str, kind: str, size: int, executable: bool, link: str) -> None:
    entry = Entry(name, "/unused", kind, size=size, executable=executable, link=link)
    assert tar_header(entry, EPOCH) == reference_header(name, kind, size=size, executable=executable, link=link)


@pytest.mark.parametrize("mtime", [0, EPOCH, 2**33 - 1])
def test_tar_header_stores_any_mtime_like_tarfile(mtime: int) -> None:
    entry = Entry("f", "/unused", "file", size=1)
    assert tar_header(entry, mtime) == reference_header("f", "file", size=1, mtime=mtime)


# --------------------------------------------------------------------------- collect and the drop filter


def test_collect_lists_entries_with_kinds_sizes_and_the_prefix_first(tree: Path) -> None:
    collected = collect(tree, prefix="Inference")
    by_name = {entry.arcname: entry for entry in collected.entries}
    assert collected.entries[0] == Entry("Inference", str(tree), "dir")
    assert by_name["Inference/big.bin"].size == len(BIG) and by_name["Inference/big.bin"].kind == "file"
    assert by_name["Inference/bin/run.sh"].executable and not by_name["Inference/README.md"].executable
    assert (by_name["Inference/link"].kind, by_name["Inference/link"].link) == ("symlink", "src/Inference.jl")
    assert by_name["Inference/empty"].kind == "dir"
    assert collected.total_bytes == sum(len(s[1]) for s in snapshot(tree).values() if s[0] == "file")
    assert [e.arcname for e in collect(tree).entries][0] == "README.md"  # no prefix, no root entry


def test_the_drop_filter_sees_relative_paths_and_dropped_bytes_are_counted_per_reason(tree: Path) -> None:
    seen: list[tuple[str, bool]] = []

    def drop(relpath: str, is_dir: bool) -> str | None:
        seen.append((relpath, is_dir))
        if relpath == "bin":
            return "scripts"
        if relpath.endswith((".md", ".txt")):
            return "text"
        return None

    collected = collect(tree, prefix="Inference", drop=drop)
    names = {entry.arcname for entry in collected.entries}
    assert ("bin", True) in seen and ("README.md", False) in seen and ("src/Inference.jl", False) in seen
    assert not any(relpath.startswith("bin/") for relpath, _ in seen)  # a dropped folder is not walked
    assert "Inference/bin" not in names and "Inference/bin/run.sh" not in names and "Inference/README.md" not in names
    assert "Inference/donn\u00e9es" in names and "Inference/src/Inference.jl" in names
    assert collected.dropped == {
        "scripts": len(b"#!/bin/sh\necho hi\n"),
        "text": len(b"# readme\n") + len("\u00e9t\u00e9\n".encode()),  # zero.txt adds 0
    }


def test_special_files_are_skipped_and_named(tree: Path) -> None:
    os.mkfifo(tree / "src" / "pipe")
    collected = collect(tree)
    assert collected.skipped == ["src/pipe"]
    assert "src/pipe" not in {entry.arcname for entry in collected.entries}


@pytest.mark.parametrize(
    "where, target",
    [
        ("link", "/etc/passwd"),
        ("link", "../outside"),
        ("src/link", "../../outside"),
        ("src/link", "deep/../../../outside"),
        ("link", ".."),
    ],
)
def test_a_symlink_pointing_outside_the_tree_is_refused(tree: Path, where: str, target: str) -> None:
    (tree / where).unlink(missing_ok=True)
    os.symlink(target, tree / where)
    with pytest.raises(InputError, match="points outside") as raised:
        collect(tree)
    assert raised.value.exit_code == ExitCode.INPUT and target in raised.value.what


def test_a_dropped_symlink_pointing_outside_does_not_matter(tree: Path) -> None:
    os.symlink("/etc/passwd", tree / "src" / "escape")
    collected = collect(tree, drop=lambda relpath, is_dir: "gone" if relpath == "src/escape" else None)
    assert "src/escape" not in {entry.arcname for entry in collected.entries}


def test_collect_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a directory"):
        collect(tmp_path / "nothing")


# --------------------------------------------------------------------------- reading back safely


def tarball_with(tmp_path: Path, *members, codec: str = "gzip") -> Path:
    return write_tarball(tmp_path / f"test.{codec}", [member("top", "dir"), *members], codec=codec)


UNSAFE = [
    (member("/etc/passwd", data=b"x"), "absolute path"),
    (member("top/../../escape", data=b"x"), "'..' in the path"),
    (member("..", "dir"), "'..' in the path"),
    (member("top/hard", "hardlink", link="top/file"), "hard link"),
    (member("top/abs", "symlink", link="/etc/passwd"), "symlink to /etc/passwd outside the archive"),
    (member("top/up", "symlink", link="../../etc"), "symlink to ../../etc outside the archive"),
    (member("top/sub/up", "symlink", link="../../../x"), "outside the archive"),
    (member("top/dev", "chardev"), "device or fifo"),
    (member("top/disk", "blockdev"), "device or fifo"),
    (member("top/pipe", "fifo"), "device or fifo"),
]


@pytest.mark.parametrize("unsafe, reason", UNSAFE)
def test_unsafe_reason_names_each_way_out(unsafe, reason: str) -> None:
    assert reason in archive.unsafe_reason(unsafe[0])


@pytest.mark.parametrize("codec", archive.CODECS)
@pytest.mark.parametrize("unsafe, reason", UNSAFE)
def test_check_safe_refuses_a_tarball_with_an_unsafe_member(tmp_path: Path, codec: str, unsafe, reason: str) -> None:
    path = tarball_with(tmp_path, member("top/file", data=b"ok"), unsafe, codec=codec)
    with pytest.raises(InputError, match="unsafe member") as raised:
        archive.check_safe(path)
    assert repr(unsafe[0].name) in raised.value.what and reason in raised.value.what
    assert "juliapack build" in raised.value.fix


@pytest.mark.parametrize(
    "safe",
    [
        member("top/sub/link", "symlink", link="../file"),
        member("top/link", "symlink", link="sub/file"),
        member("top/dots..name", data=b"x"),
        member("top/sub", "dir"),
    ],
)
def test_safe_members_pass(tmp_path: Path, safe) -> None:
    assert archive.unsafe_reason(safe[0]) is None
    path = tarball_with(tmp_path, member("top/file", data=b"ok"), safe)
    assert archive.check_safe(path) == 3
    assert archive.check_safe(path, strip_components=1) == 3


@pytest.mark.parametrize("name, kind", [("file-at-top", "file"), ("link-at-top", "symlink")])
def test_check_safe_refuses_members_above_strip_components(tmp_path: Path, name: str, kind: str) -> None:
    path = tarball_with(tmp_path, member(name, kind, data=b"x" if kind == "file" else b"", link="top"))
    assert archive.check_safe(path) == 2
    with pytest.raises(InputError, match="above --strip-components 1"):
        archive.check_safe(path, strip_components=1)
    deeper = tarball_with(tmp_path, member("top/file", data=b"x"))
    with pytest.raises(InputError, match="above --strip-components 2"):
        archive.check_safe(deeper, strip_components=2)


def test_check_safe_judges_symlinks_after_strip_components(tmp_path: Path) -> None:
    path = tarball_with(tmp_path, member("top/lib", "dir"), member("top/lib/x", "symlink", link="../../y"))
    with pytest.raises(InputError, match="outside"):
        archive.check_safe(path, strip_components=1)


@pytest.mark.parametrize("codec", archive.CODECS)
def test_iter_members_streams_names_and_contents(tree: Path, tmp_path: Path, codec: str) -> None:
    pack_tree(tree, tmp_path / "out", codec=codec, mtime=EPOCH)
    seen = {}
    for info, reader in archive.iter_members(tmp_path / "out"):
        assert (reader is None) == (not info.isreg())
        seen[info.name] = reader.read() if reader else info.linkname
    expected = {k: v[1] for k, v in snapshot(tree).items() if v[0] != "dir"}
    assert {k: v for k, v in seen.items() if k in expected} == expected
    assert archive.check_safe(tmp_path / "out") == len(seen)


# --------------------------------------------------------------------------- unpack commands


@pytest.mark.parametrize(
    "codec, decompressor, strip, expected",
    [
        ("gzip", "tar", 1, "tar -x -f {src} -C /usr/local --strip-components 1"),
        ("gzip", "tar", 0, "tar -x -f {src} -C /usr/local"),
        ("gzip", "pigz", 0, "pigz -dc {src} | tar -x -C /usr/local"),
        ("zstd", "zstd", 0, "zstd -d -c -q {src} | tar -x -C /usr/local"),
        ("zstd", "zstd", 2, "zstd -d -c -q {src} | tar -x -C /usr/local --strip-components 2"),
        (
            "zstd",
            "python-zstandard",
            0,
            "python3 -c 'import sys, zstandard; zstandard.ZstdDecompressor().copy_stream(open(sys.argv[1], '\"'\"'rb'\"'\"'), "
            "sys.stdout.buffer)' {src} | tar -x -C /usr/local",
        ),
        (
            "zstd",
            "python-compression.zstd",
            0,
            "python3 -c 'import sys, shutil; from compression import zstd; shutil.copyfileobj(zstd.open(sys.argv[1]), "
            "sys.stdout.buffer)' {src} | tar -x -C /usr/local",
        ),
    ],
)
def test_unpack_command_strings(codec: str, decompressor: str, strip: int, expected: str) -> None:
    command = unpack_command(codec=codec, decompressor=decompressor, archive="{src}", dest="/usr/local", strip_components=strip)
    assert command == expected


def test_unpack_command_quotes_the_destination_and_keeps_the_archive_as_given() -> None:
    command = unpack_command(codec="gzip", decompressor="tar", archive="'my file'", dest="/tmp/a b")
    assert shlex.split(command) == ["tar", "-x", "-f", "my file", "-C", "/tmp/a b"]


@pytest.mark.parametrize("codec, decompressor", [("xz", "tar"), ("zstd", "pigz"), ("zstd", "unzstd"), ("zstd", "tar")])
def test_unpack_command_refuses_what_it_cannot_do(codec: str, decompressor: str) -> None:
    with pytest.raises(ValueError):
        unpack_command(codec=codec, decompressor=decompressor, archive="{src}", dest="/x")


def python3_with(module: str) -> str | None:
    """A python3 that can import ``module``: this interpreter or the host's."""
    for candidate in (sys.executable, shutil.which("python3")):
        if candidate and subprocess.run([candidate, "-c", f"import {module}"], capture_output=True).returncode == 0:
            return candidate
    return None


def path_with_python3(tmp_path: Path, python: str) -> str:
    """PATH with ``python`` first as python3, as the unpack command calls it."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "python3"  # a script, not a symlink: a venv's python finds its packages only from its own folder
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(python)} \"$@\"\n")
    wrapper.chmod(0o755)
    return f"{bindir}:{os.environ['PATH']}"


DECOMPRESSORS = [("gzip", "tar", "tar"), ("gzip", "pigz", "pigz"), ("zstd", "zstd", "zstd"), ("zstd", "python-zstandard", "zstandard"),
                 ("zstd", "python-compression.zstd", "compression.zstd")]  # fmt: skip


@pytest.mark.parametrize("codec, decompressor, needs", DECOMPRESSORS)
@pytest.mark.parametrize("strip", [0, 1])
def test_the_unpack_command_really_unpacks(tmp_path: Path, codec: str, decompressor: str, needs: str, strip: int) -> None:
    env = dict(os.environ)
    if decompressor.startswith("python"):
        python = python3_with(needs)
        if python is None:
            pytest.skip(f"no python3 here can import {needs}")
        env["PATH"] = path_with_python3(tmp_path, python)
    elif shutil.which(needs) is None:
        pytest.skip(f"{needs} is not installed here")
    tree = populate(tmp_path / "tree")
    target = tmp_path / "my dist" / "inference"
    pack_tree(tree, target, codec=codec, mtime=EPOCH, prefix="Inference")
    dest = tmp_path / "un packed"
    dest.mkdir()
    command = unpack_command(codec=codec, decompressor=decompressor, archive=shlex.quote(str(target)), dest=str(dest), strip_components=strip)
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, env=env, capture_output=True)
    assert snapshot(dest if strip else dest / "Inference") == snapshot(tree)
    assert (dest / ("" if strip else "Inference") / "README.md").stat().st_mtime == EPOCH


def test_a_corrupt_archive_fails_the_pipe_under_pipefail(tmp_path: Path) -> None:
    if shutil.which("zstd") is None:
        pytest.skip("zstd is not installed here")
    tree = populate(tmp_path / "tree")
    written, _ = pack_tree(tree, tmp_path / "depot", codec="zstd", mtime=EPOCH)
    data = bytearray((tmp_path / "depot").read_bytes())
    data[written.size // 2] ^= 0xFF
    (tmp_path / "depot").write_bytes(bytes(data))
    (tmp_path / "dest").mkdir()
    command = unpack_command(codec="zstd", decompressor="zstd", archive=str(tmp_path / "depot"), dest=str(tmp_path / "dest"))
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True)
    assert result.returncode != 0


@pytest.mark.parametrize("size", [1, 7, 512, 4096])
def test_the_block_stream_passes_every_byte_through_in_order_whatever_its_buffer(tmp_path: Path, size: int) -> None:
    source = tmp_path / "source"
    source.write_bytes(BIG)
    sink = io.BytesIO()
    stream = archive._BlockStream(sink, size)
    expected = b""
    for piece in (b"head", b"x" * 5000, b"", b"tail"):
        stream.write(piece)
        expected += piece
        with open(source, "rb", buffering=0) as reader:
            assert stream.copy_from(reader, 10_000) == 10_000
        expected += BIG[:10_000]
    with open(source, "rb", buffering=0) as reader:
        assert stream.copy_from(reader, len(BIG) + 5) == len(BIG)  # stops at the end of the file
    stream.flush()
    assert sink.getvalue() == expected + BIG


def test_thread_count_does_not_change_a_zstd_archive(tree: Path, tmp_path: Path, monkeypatch) -> None:
    # Larger than several of zstd's multi-threading jobs (8 MB at level 3), so the workers really split it.
    (tree / "artifact.so").write_bytes(b"".join(hashlib.sha256(b"%d" % (i % 5000)).digest() for i in range(900_000)))
    entries = collect(tree).entries
    hashes = set()
    for threads in (1, 2, 5):
        monkeypatch.setattr(archive, "THREADS", threads)
        hashes.add(write_archive(entries, tmp_path / f"t{threads}", codec="zstd", mtime=EPOCH).sha256)
    assert len(hashes) == 1


# --------------------------------------------------------------------------- atomic writes


def leftovers(folder: Path, *keep: str) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name not in keep)


@pytest.mark.parametrize("codec", archive.CODECS)
def test_a_file_that_changes_size_while_packing_fails_and_leaves_the_old_archive(tree: Path, tmp_path: Path, codec: str) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    (out / "inference").write_bytes(b"the previous archive")
    entries = collect(tree).entries
    (tree / "src" / "Inference.jl").write_bytes(b"grew after the walk\n" * 3)
    with pytest.raises(InputError, match="changed while it was being packed"):
        write_archive(entries, out / "inference", codec=codec, mtime=EPOCH)
    assert (out / "inference").read_bytes() == b"the previous archive"
    assert leftovers(out, "inference") == []


@pytest.mark.parametrize("codec", archive.CODECS)
def test_a_file_that_shrinks_while_packing_fails_too(tree: Path, tmp_path: Path, codec: str) -> None:
    entries = collect(tree).entries
    (tree / "big.bin").write_bytes(BIG[:100])
    with pytest.raises(InputError, match="big.bin changed"):
        write_archive(entries, tmp_path / "out" / "depot", codec=codec, mtime=EPOCH)
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("codec", archive.CODECS)
def test_a_file_that_vanishes_while_packing_leaves_nothing_behind(tree: Path, tmp_path: Path, codec: str) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "depot").write_bytes(b"old")
    entries = collect(tree).entries
    (tree / "zero.txt").unlink()
    with pytest.raises(InputError):
        write_archive(entries, tmp_path / "out" / "depot", codec=codec, mtime=EPOCH)
    assert (tmp_path / "out" / "depot").read_bytes() == b"old"
    assert leftovers(tmp_path / "out", "depot") == []


def test_a_file_that_vanishes_while_packing_is_a_user_error(tree: Path, tmp_path: Path) -> None:
    entries = collect(tree).entries
    (tree / "zero.txt").unlink()
    with pytest.raises(InputError, match="zero.txt"):
        write_archive(entries, tmp_path / "depot", codec="gzip", mtime=EPOCH)


def test_a_successful_write_replaces_the_target_with_the_usual_permissions(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "depot").write_bytes(b"old")
    written, _ = pack_tree(tree, tmp_path / "depot", codec="gzip", mtime=EPOCH)
    assert (tmp_path / "depot").read_bytes() != b"old" and written.sha256 == hashlib.sha256((tmp_path / "depot").read_bytes()).hexdigest()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "depot").stat().st_mode) == 0o666 & ~umask
    assert leftovers(tmp_path, "depot", "tree") == []
