"""Small builders the tests share: Julia projects on disk, configs, locks, tarballs, fake tokens, and the
contract every bad input is held to (one error line, no partial output)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pytest

from juliapack.config import BuildConfig, LayerNames
from juliapack.julia_version import exact_version
from juliapack.workflow.lock import LayerFile, Lock

UUIDS = {
    "Inference": "11111111-1111-4111-8111-111111111111",
    "Foo": "22222222-2222-4222-8222-222222222222",
    "Bar": "33333333-3333-4333-8333-333333333333",
    "Baz": "44444444-4444-4444-8444-444444444444",
}
EPOCH = 1577836800


# --------------------------------------------------------------------------- fake credentials, built at run time


ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def random_text(length: int, alphabet: str = ALNUM, *, seed: str = "") -> str:
    """Random-looking characters, the same for the same seed: a run of a few characters reads as a placeholder."""
    out, counter = [], 0
    while len(out) < length:
        out += [alphabet[b % len(alphabet)] for b in hashlib.sha256(f"{seed}/{length}/{counter}".encode()).digest()]
        counter += 1
    return "".join(out[:length])


def fake_token(kind: str) -> str:
    """A string shaped like a live credential; assembled here so no source file holds one."""
    return {
        "github": "gh" + "p_" + random_text(36, seed="gh"),
        "github-oauth": "gh" + "o_" + random_text(40, seed="gho"),
        "github-pat": "github" + "_pat_" + random_text(64, seed="pat"),
        "huggingface": "h" + "f_" + random_text(34, seed="hf"),
        "kaggle-token": "KG" + "AT_" + random_text(30, seed="kgat"),
        "kaggle-key": '{"username": "alice", "key": "' + random_text(32, "0123456789abcdef", seed="kaggle") + '"}',
        "aws": "AK" + "IA" + random_text(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", seed="akia"),
        "pem": "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
        "pem-plain": "-----BEGIN " + "PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
    }[kind]


# --------------------------------------------------------------------------- Julia projects on disk


def write_project(
    root: Path,
    *,
    name: str | None = "Inference",
    uuid: str | None = None,
    deps: dict[str, str] | None = None,
    manifest: str | None = None,
    source: bool = True,
) -> Path:
    """A project folder with Project.toml, a format-2 Manifest listing ``deps`` (unless ``manifest``) and src/<Name>.jl."""
    deps = {"Foo": UUIDS["Foo"]} if deps is None else deps
    root.mkdir(parents=True, exist_ok=True)
    lines = [f'name = "{name}"'] if name else []
    if uuid:
        lines.append(f'uuid = "{uuid}"')
    lines += ["", "[deps]", *(f'{dep} = "{u}"' for dep, u in deps.items())]
    (root / "Project.toml").write_text("\n".join(lines) + "\n")
    if manifest is None:
        manifest = manifest_v2({dep: (u, ()) for dep, u in deps.items()})
    (root / "Manifest.toml").write_text(manifest)
    if source and name:
        (root / "src").mkdir(exist_ok=True)
        (root / "src" / f"{name}.jl").write_text(f"module {name}\nend\n")
    return root


def manifest_v2(packages: dict[str, tuple[str, tuple[str, ...]]], *, julia_version: str = "1.10.5", extra: str = "") -> str:
    """A format-2 Manifest: name -> (uuid, deps)."""
    out = [f'julia_version = "{julia_version}"', 'manifest_format = "2.0"', 'project_hash = "abc"', ""]
    for name, (uuid, deps) in packages.items():
        out.append(f"[[deps.{name}]]")
        if deps:
            out.append("deps = [" + ", ".join(f'"{d}"' for d in deps) + "]")
        out += ['git-tree-sha1 = "' + "ab" * 20 + '"', f'uuid = "{uuid}"', 'version = "1.2.3"', extra, ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- configs and locks


def build_config(tmp_path: Path, **changes) -> BuildConfig:
    """A BuildConfig as load_build would make it with no settings, in ``tmp_path``."""
    base = BuildConfig(
        project=tmp_path / "Inference",
        out=tmp_path / "dist",
        julia=None,
        versions_url=None,
        julia_mirror=None,
        image="gcr.io/kaggle-gpu-images/python:latest",
        pull="missing",
        registries=(),
        env=(),
        mounts=(),
        network="bridge",
        cpu_target=None,
        smoke=None,
        entry=None,
        names=LayerNames(),
        exclude=(),
        codec="auto",
        source_date_epoch=EPOCH,
        keep_registries=True,
        keep_container=False,
        fresh=False,
        verify=True,
        cache_dir=tmp_path / "cache",
    )
    return dataclasses.replace(base, **changes)


def make_lock(*, project: str = "Inference", codec: str = "zstd", decompressor: str = "zstd", files: dict[str, tuple[str, int]] | None = None, **changes) -> Lock:
    """A lock as `build` writes it for ``project``; ``files`` maps role -> (sha256, size)."""
    from juliapack.build.plan import APP_PARENT, DEPOT, layout_for

    layout = layout_for(project)
    files = files or {}
    names = {"julia": "julia", "depot": "dotjulia", "app": "inference"}

    def layer(role: str, index: int) -> LayerFile:
        sha, size = files.get(role, (f"{index:064x}", 1000 * (index + 1)))
        if role == "julia":
            return LayerFile("julia", names[role], sha, size, "gzip", "tar", layout.julia_prefix, strip_components=1)
        dest = str(Path(DEPOT).parent) if role == "depot" else APP_PARENT
        return LayerFile(role, names[role], sha, size, codec, decompressor, dest)

    base = Lock(
        fingerprint="f" * 64,
        project_name=project,
        project_dir=f"/home/alice/{project}",
        entry=f"src/{project}.jl",
        julia_version=exact_version("1.10.5"),
        julia_sha256="e" * 64,
        julia_url="https://example.invalid/julia-1.10.5-linux-x86_64.tar.gz",
        cpu_target="generic",
        image="gcr.io/kaggle-gpu-images/python:latest",
        image_id="sha256:" + "d" * 64,
        image_digest=None,
        codec=codec,
        layers=tuple(layer(role, i) for i, role in enumerate(("julia", "depot", "app"))),
        layout=layout,
        compiled={},
        juliapack_version="0.1.0",
    )
    return dataclasses.replace(base, **changes)


# --------------------------------------------------------------------------- tarballs made with tarfile


def member(name: str, kind: str = "file", data: bytes = b"", *, link: str = "", mode: int | None = None) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "chardev": tarfile.CHRTYPE,
        "blockdev": tarfile.BLKTYPE,
        "fifo": tarfile.FIFOTYPE,
    }[kind]
    info.linkname = link
    info.size = len(data) if kind == "file" else 0
    info.mode = mode if mode is not None else (0o755 if kind == "dir" else 0o644)
    return info, data


def write_tarball(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], *, codec: str) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    if codec == "gzip":
        import gzip

        path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    else:
        import zstandard

        path.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root (hidden ones too) -> its sha256, 'dir' or its link target."""
    found = {}
    for path in sorted(root.rglob("*")):
        relpath = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[relpath] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[relpath] = "dir"
        else:
            found[relpath] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- bad inputs: one error line, nothing left behind

PROGRESS = ("==> ", "  ", "warning: ")  # what may come before the error line
TEMP_PATTERNS = ("**/.staging-*", "**/*.partial", "**/juliapack-verify-*", "**/.*.tmp")  # juliapack's temp files


@dataclass
class Ran:
    """One command of a bad-input table: where it ran, what it said, the watched folder before and after."""

    root: Path
    code: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]


def temp_files(root: Path) -> set[Path]:
    return {path for pattern in TEMP_PATTERNS for path in root.glob(pattern)}


def check_error_line(stderr: str) -> str:
    """The last line is the only error and has a what and a fix; everything before it is progress."""
    assert "Traceback" not in stderr, stderr
    *before, last = stderr.splitlines() or [""]
    assert last.startswith("error: "), stderr
    what, _, fix = last.removeprefix("error: ").partition(" — ")
    assert what.strip() and fix.strip(), f"not `error: <what> — <how to fix>`: {last}"
    assert all(line.startswith(PROGRESS) for line in before), stderr  # progress only: no second error, no wrapped line
    return last


def table(cases: Mapping) -> list:
    """pytest params named after the cases; a case with a ``bug`` is a strict xfail."""
    return [pytest.param(name, case, id=name, marks=[pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else []) for name, case in cases.items()]
