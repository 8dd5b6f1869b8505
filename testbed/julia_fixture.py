"""Make a relocatable Julia 1.5.3 in the official binary tarball layout, from Debian bullseye packages.

No official Julia tarball can be downloaded here, but Debian's mirror still serves bullseye's Julia 1.5.3.
This script downloads the packages Julia needs to start and load its stdlibs (checked against the
SHA256 of bullseye's package index), unpacks them into one ``julia-1.5.3/`` folder, points every ELF
file's RUNPATH at the tree's own lib folders with ``$ORIGIN``, and packs it the way
julialang-s3.julialang.org serves it, with a matching ``bin/versions.json``:

    CACHE/julia-mirror-<hash>/bin/versions.json
    CACHE/julia-mirror-<hash>/bin/linux/x64/1.5/julia-1.5.3-linux-x86_64.tar.gz

juliapack reaches that folder as a mirror (the official URL prefix replaced by http://127.0.0.1:PORT).
The tarball is deterministic: sorted names, owner 0, fixed mtimes, gzip header mtime 0.
Idempotent: <hash> covers this script, so a rerun reuses the result. Prints the mirror folder on stdout.
Needs dpkg-deb and patchelf on the host (testbed/setup.sh installs them).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from cache import cache_root  # noqa: E402
from debian_mirror import debian_mirror  # noqa: E402

JULIA_VERSION = "1.5.3"
SUITE = "bullseye"
TOP = f"julia-{JULIA_VERSION}"
TARBALL_PATH = f"bin/linux/x64/1.5/julia-{JULIA_VERSION}-linux-x86_64.tar.gz"
OFFICIAL_PREFIX = "https://julialang-s3.julialang.org"
FIXED_MTIME = 1_600_000_000  # any fixed date; 2020-09-13, around Julia 1.5's time

# What `julia` needs to start and load its stdlibs: julia's packages and the closure of their ELF files'
# DT_NEEDED entries. libjulia1 brings its own OpenBLAS (ILP64) and SuiteSparse, so Debian's BLAS, LAPACK
# and SuiteSparse packages are not needed. libc, libstdc++, libgcc-s, zlib, liblzma and libtinfo are
# left out on purpose: every image has newer, compatible ones.
PACKAGES = """
    julia libjulia1 julia-common
    libllvm9 libz3-4 libedit2 libbsd0 libmd0 libffi7
    libutf8proc2 libpcre2-8-0 libdsfmt-19937-1 libgmp10 libmpfr6 libopenlibm3 libunwind8
    libgfortran5 libquadmath0
    libgit2-1.1 libpcre3 libhttp-parser2.9 libmbedtls12 libmbedcrypto3 libmbedx509-0
    libssh2-1 libgcrypt20 libgpg-error0
    libcurl3-gnutls libnghttp2-14 librtmp1 libpsl5 libidn2-0 libunistring2 libbrotli1
    libgnutls30 libnettle8 libhogweed6 libtasn1-6 libp11-kit0
    libldap-2.4-2 libsasl2-2 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2
    libkeyutils1
""".split()

LIB_DIR = "lib/x86_64-linux-gnu"  # Debian's, kept: the julia binary finds lib/.../julia/sys.so from it
LIB_DIRS = (LIB_DIR, f"{LIB_DIR}/julia")


def log(message: str) -> None:
    print(f"julia_fixture: {message}", file=sys.stderr, flush=True)


def input_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path) -> None:
    partial = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=120) as response, partial.open("wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
    partial.rename(target)


def parse_index(text: str) -> dict[str, dict[str, str]]:
    """Package name -> fields (Filename, SHA256, Version, ...) of a Debian Packages file."""
    packages = {}
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            packages[fields["Package"]] = fields
    return packages


def package_index(mirror: str, downloads: Path) -> dict[str, dict[str, str]]:
    index = downloads / f"{SUITE}-main-amd64-Packages.xz"
    if not index.is_file():
        log(f"downloading the {SUITE} package index")
        download(f"{mirror}/dists/{SUITE}/main/binary-amd64/Packages.xz", index)
    return parse_index(lzma.decompress(index.read_bytes()).decode())


def fetch_deb(mirror: str, fields: dict[str, str], downloads: Path) -> Path:
    """The package's .deb, downloaded once into the cache and checked against the index's SHA256."""
    deb = downloads / Path(fields["Filename"]).name
    if not deb.is_file():
        download(f"{mirror}/{fields['Filename']}", deb)
    if sha256_file(deb) != fields["SHA256"]:
        deb.unlink()
        raise SystemExit(f"{deb.name}: SHA256 differs from the {SUITE} index; rerun to download again")
    return deb


def fetch_debs(mirror: str, downloads: Path) -> list[Path]:
    index = package_index(mirror, downloads)
    missing = [name for name in PACKAGES if name not in index]
    if missing:
        raise SystemExit(f"not in the {SUITE} index: {' '.join(missing)}")
    log(f"fetching {len(PACKAGES)} packages (julia {index['julia']['Version']})")
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda name: fetch_deb(mirror, index[name], downloads), PACKAGES))


def unpack_debs(debs: list[Path], root: Path) -> None:
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)


def assemble(root: Path, top: Path) -> None:
    """Move julia's parts of Debian's tree into the official top folder, with usr/ dropped.

    bullseye is not merged-/usr yet: a few libraries live in /lib, so both lib folders merge into one.
    """
    libs = top / LIB_DIR
    libs.parent.mkdir(parents=True)
    (root / "usr" / LIB_DIR).rename(libs)
    for library in (root / LIB_DIR).iterdir():
        library.rename(libs / library.name)
    for unused in ("pkgconfig", "krb5"):  # krb5's plugins need an OpenSSL that Julia never loads
        shutil.rmtree(libs / unused, ignore_errors=True)
    for kept in ("usr/bin/julia", "usr/share/julia", "etc/julia"):
        target = top / kept.removeprefix("usr/")
        target.parent.mkdir(parents=True, exist_ok=True)
        (root / kept).rename(target)
    check_symlinks(top)


def check_symlinks(top: Path) -> None:
    """Every symlink must stay inside the tree, or the unpacked tarball points at the host."""
    for link in top.rglob("*"):
        if link.is_symlink():
            if os.path.isabs(os.readlink(link)):
                raise SystemExit(f"absolute symlink {link.relative_to(top)} -> {os.readlink(link)}")
            if not link.resolve().is_relative_to(top.resolve()) or not link.exists():
                raise SystemExit(f"symlink {link.relative_to(top)} leaves the tree or dangles")


def is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as stream:
        return stream.read(4) == b"\x7fELF"


def load_dirs(top: Path) -> dict[Path, list[Path]]:
    """Each ELF file -> the folders it can be loaded from: its own, and those of symlinks to it.

    glibc takes $ORIGIN from the path a library was opened by, symlinks unresolved; libjulia opens
    lib/.../julia/libgit2.so, a symlink to ../libgit2.so.1.1, so $ORIGIN is julia/ there.
    """
    paths = sorted(top.rglob("*"))
    dirs = {path: [path.parent] for path in paths if is_elf(path)}
    for link in paths:
        if link.is_symlink() and link.resolve() in dirs and link.parent not in dirs[link.resolve()]:
            dirs[link.resolve()].append(link.parent)
    return dirs


def relocate(top: Path) -> int:
    """Point each ELF file's RUNPATH at every lib folder of the tree, relative to where it is loaded."""
    elves = load_dirs(top.resolve())
    for elf, origins in elves.items():
        relative = [os.path.relpath(top.resolve() / lib, origin) for origin in origins for lib in LIB_DIRS]
        rpath = ":".join(dict.fromkeys(f"$ORIGIN/{path}" for path in relative))
        subprocess.run(["patchelf", "--set-rpath", rpath, str(elf)], check=True)
    return len(elves)


def normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = FIXED_MTIME
    if info.isfile() or info.isdir():
        info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    return info


def write_tarball(top: Path, tarball: Path) -> None:
    """A gzip tar of top/, byte-stable: sorted names, owner 0, fixed mtimes, gzip header mtime 0."""
    tarball.parent.mkdir(parents=True, exist_ok=True)
    paths = [top, *sorted(top.rglob("*"), key=lambda p: p.relative_to(top).as_posix())]
    with tarball.open("wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6
    ) as zipped, tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for path in paths:
            name = (Path(TOP) / path.relative_to(top)).as_posix()
            archive.add(path, arcname=name, recursive=False, filter=normalized)


def versions_json(tarball: Path) -> dict:
    url = f"{OFFICIAL_PREFIX}/{TARBALL_PATH}"
    entry = {
        "url": url,
        "triplet": "x86_64-linux-gnu",
        "kind": "archive",
        "arch": "x86_64",
        "sha256": sha256_file(tarball),
        "size": tarball.stat().st_size,
        "version": JULIA_VERSION,
        "os": "linux",
        "extension": "tar.gz",
    }
    return {JULIA_VERSION: {"stable": True, "files": [entry]}}


def build(mirror_dir: Path) -> None:
    cache = mirror_dir.parent
    downloads = cache / "downloads" / "debian"
    downloads.mkdir(parents=True, exist_ok=True)
    debs = fetch_debs(debian_mirror(), downloads)
    with tempfile.TemporaryDirectory(prefix="julia-fixture-", dir=cache) as work_dir:
        work = Path(work_dir)
        log("unpacking with dpkg-deb")
        unpack_debs(debs, work / "root")
        top = work / TOP
        assemble(work / "root", top)
        log(f"set RUNPATH on {relocate(top)} ELF files")
        staging = work / "mirror"
        log("writing the tarball")
        write_tarball(top, staging / TARBALL_PATH)
        versions = versions_json(staging / TARBALL_PATH)
        (staging / "bin" / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
        staging.rename(mirror_dir)


def main() -> None:
    for tool in ("dpkg-deb", "patchelf"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: run testbed/setup.sh (it installs it) or apt-get install it")
    mirror_dir = cache_root() / f"julia-mirror-{input_hash()}"
    if (mirror_dir / "bin" / "versions.json").is_file():
        log(f"{mirror_dir} already made")
    else:
        build(mirror_dir)
        log(f"made {mirror_dir}")
    print(mirror_dir)


if __name__ == "__main__":
    main()
