"""Make the test bed's offline Julia package world: a package repository, a registry and artifacts.

    CACHE/repos-<hash>/TinyModel.git   bare git repo, one commit and tag per folder of
                                       testbed/packages/TinyModel/v*/ (v0.1.0, v0.2.0)
    CACHE/repos-<hash>/registry/       git repo of the registry TestbedRegistry
    CACHE/repos-<hash>/artifacts/      <name>.tar.gz of each folder of testbed/packages/TinyModel/artifacts/

Containers always mount this folder read-only at /srv/juliapack-testbed, so every URL in it (the
registry's package repo, the artifacts' downloads) is a file:///srv/juliapack-testbed/... URL.
Everything is deterministic: fixed commit authors and dates, artifact tarballs with sorted names,
owner 0 and fixed mtimes, so TinyModel's git tree hashes (pinned by examples/Inference/Manifest.toml)
never depend on the machine. Idempotent: <hash> covers this script and the package sources.
Prints the repos folder on stdout.

Changing TinyModel's sources changes its tree hash, so examples/Inference/Manifest.toml must be made
again: in the stand-in image with the fixture's Julia and this folder mounted at /srv/juliapack-testbed,
add the registry and run `Pkg.update()` in a copy of the project with JULIA_PKG_SERVER="", then commit
the new Manifest. This script refuses to build repos that the committed Manifest does not match.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from cache import cache_root  # run as a script: its folder is on sys.path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "packages" / "TinyModel"
EXAMPLE_MANIFEST = HERE.parent / "examples" / "Inference" / "Manifest.toml"
MOUNT = "/srv/juliapack-testbed"

REGISTRY_NAME = "TestbedRegistry"
REGISTRY_UUID = "a6bc7f1a-1a59-4cb9-8f6b-d8b546dbd7f5"
PACKAGE = "TinyModel"
LAZY_ARTIFACTS = {"tinylabels"}  # fetched on first use, not by Pkg.instantiate()
FIXED_MTIME = 1_600_000_000
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "juliapack test bed",
    "GIT_AUTHOR_EMAIL": "testbed@juliapack.invalid",
    "GIT_COMMITTER_NAME": "juliapack test bed",
    "GIT_COMMITTER_EMAIL": "testbed@juliapack.invalid",
}


def log(message: str) -> None:
    print(f"julia_packages: {message}", file=sys.stderr, flush=True)


def input_hash() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(p for p in SOURCES.rglob("*") if p.is_file()):
        digest.update(path.relative_to(SOURCES).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# --- artifacts ---------------------------------------------------------------------------------------


def artifact_tarball(folder: Path) -> bytes:
    """A .tar.gz of the folder's files, byte-stable. Level 0 (stored) deflate does not depend on zlib's
    version, so the sha256 committed in Artifacts.toml holds on every machine."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.USTAR_FORMAT) as archive:
            for path in sorted(folder.iterdir()):
                if not path.is_file():
                    raise SystemExit(f"{path}: artifacts here hold plain files only")
                data = path.read_bytes()
                info = tarfile.TarInfo(path.name)
                info.size, info.mode, info.mtime = len(data), 0o644, FIXED_MTIME
                archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def git_tree_hash(folder: Path) -> str:
    """The git tree hash of a folder of plain files, as Pkg.GitTools.tree_hash computes it."""
    entries = b""
    for path in sorted(folder.iterdir(), key=lambda p: p.name.encode()):
        data = path.read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).digest()
        entries += b"100644 " + path.name.encode() + b"\0" + blob
    return hashlib.sha1(b"tree %d\0" % len(entries) + entries).hexdigest()


def artifacts_toml(artifacts: dict[str, tuple[str, str]], lazy: set[str]) -> str:
    """The Artifacts.toml text for name -> (git tree hash, tarball sha256)."""
    stanzas = []
    for name, (tree_hash, sha256) in artifacts.items():
        lines = [f"[{name}]", f'git-tree-sha1 = "{tree_hash}"']
        if name in lazy:
            lines.append("lazy = true")
        lines += [
            "",
            f"    [[{name}.download]]",
            f'    url = "file://{MOUNT}/artifacts/{name}.tar.gz"',
            f'    sha256 = "{sha256}"',
        ]
        stanzas.append("\n".join(lines) + "\n")
    return "\n".join(stanzas)


def write_artifacts(target: Path) -> None:
    """Write the tarballs and check them against the newest TinyModel's committed Artifacts.toml."""
    target.mkdir(parents=True)
    hashes = {}
    for folder in sorted((SOURCES / "artifacts").iterdir()):
        tarball = artifact_tarball(folder)
        (target / f"{folder.name}.tar.gz").write_bytes(tarball)
        hashes[folder.name] = (git_tree_hash(folder), hashlib.sha256(tarball).hexdigest())
    expected = artifacts_toml(hashes, LAZY_ARTIFACTS)
    committed = package_versions()[-1] / "Artifacts.toml"
    if not committed.is_file() or committed.read_text() != expected:
        raise SystemExit(f"{committed} does not match the artifacts; it should read:\n{expected}")


# --- the package repository ------------------------------------------------------------------------


def package_versions() -> list[Path]:
    """TinyModel's version folders, oldest first."""
    folders = [p for p in SOURCES.glob("v*") if p.is_dir()]
    return sorted(folders, key=lambda p: tuple(int(n) for n in p.name[1:].split(".")))


def git(*args: str, cwd: Path, date: str | None = None) -> str:
    # No user or system git configuration may change what gets committed.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        **GIT_IDENTITY,
    }
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    result = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return result.stdout.strip()


def init_repo(path: Path, *, bare: bool = False) -> None:
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "--template=", *(["--bare"] if bare else []), ".", cwd=path)
    git("symbolic-ref", "HEAD", "refs/heads/main", cwd=path)


def commit_all(repo: Path, message: str, day: int) -> None:
    git("add", "-A", cwd=repo)
    git("-c", "commit.gpgsign=false", "commit", "-q", "-m", message, cwd=repo,
        date=f"2021-01-{day:02d}T12:00:00+0000")


def replace_tree(repo: Path, source: Path) -> None:
    """Make the work tree of repo exactly the files of source (copied without their modes)."""
    for path in repo.iterdir():
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = repo / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def write_package_repo(target: Path, work: Path) -> dict[str, str]:
    """A bare repo with one commit and tag per version; returns version -> git tree hash."""
    init_repo(work)
    trees = {}
    for day, folder in enumerate(package_versions(), start=1):
        version = folder.name[1:]
        replace_tree(work, folder)
        commit_all(work, f"{PACKAGE} {version}", day)
        git("tag", folder.name, cwd=work)
        trees[version] = git("rev-parse", f"{folder.name}^{{tree}}", cwd=work)
    init_repo(target, bare=True)
    git("push", "-q", "--tags", str(target), "main", cwd=work)
    return trees


def check_example_manifest(trees: dict[str, str]) -> None:
    """The example's committed Manifest must pin a TinyModel tree that these sources produce."""
    text = EXAMPLE_MANIFEST.read_text()
    entry = re.search(rf"^\[\[{PACKAGE}\]\]\n((?:.+\n?)*)", text, re.MULTILINE)
    fields = toml_tables(entry[1])[""] if entry else {}
    version, tree = fields.get("version"), fields.get("git-tree-sha1")
    if trees.get(version) != tree:
        raise SystemExit(
            f"{EXAMPLE_MANIFEST} pins {PACKAGE} {version} at tree {tree}, but the sources give "
            f"{trees}: make the Manifest again (see this script's docstring)"
        )


# --- the registry ----------------------------------------------------------------------------------


def toml_tables(text: str) -> dict[str, dict[str, str]]:
    """The `key = "value"` lines of a Project.toml, by table ("" for the top level)."""
    tables: dict[str, dict[str, str]] = {"": {}}
    current = ""
    for line in text.splitlines():
        if header := re.fullmatch(r"\[([\w.-]+)\]\s*", line):
            current = header[1]
            tables.setdefault(current, {})
        elif pair := re.fullmatch(r'\s*([\w-]+)\s*=\s*"([^"]*)"\s*', line):
            tables[current][pair[1]] = pair[2]
    return tables


def registry_range(compat: str) -> str:
    """A Project.toml caret compat "1.5" as the registry's range "1.5.0-1"."""
    if not re.fullmatch(r"[1-9]\d*\.\d+", compat):
        raise SystemExit(f'compat "{compat}": only MAJOR.MINOR with MAJOR >= 1 is supported here')
    major, minor = compat.split(".")
    return f"{major}.{minor}.0-{major}"


def version_tables(table: str, convert=lambda value: value) -> str:
    """Deps.toml or Compat.toml: one section per version that has entries in that Project.toml table."""
    sections = []
    for folder in package_versions():
        entries = toml_tables((folder / "Project.toml").read_text()).get(table, {})
        if entries:
            lines = [f'{name} = "{convert(value)}"' for name, value in sorted(entries.items())]
            sections.append(f'["{folder.name[1:]}"]\n' + "\n".join(lines) + "\n")
    return "\n".join(sections)


def write_registry(target: Path, trees: dict[str, str]) -> None:
    project = toml_tables((package_versions()[-1] / "Project.toml").read_text())[""]
    package_dir = target / PACKAGE[0] / PACKAGE
    package_dir.mkdir(parents=True)
    (target / "Registry.toml").write_text(
        f'name = "{REGISTRY_NAME}"\nuuid = "{REGISTRY_UUID}"\nrepo = "file://{MOUNT}/registry"\n'
        'description = "Packages of the juliapack test bed"\n\n'
        f'[packages]\n{project["uuid"]} = {{ name = "{PACKAGE}", path = "{PACKAGE[0]}/{PACKAGE}" }}\n'
    )
    (package_dir / "Package.toml").write_text(
        f'name = "{PACKAGE}"\nuuid = "{project["uuid"]}"\nrepo = "file://{MOUNT}/{PACKAGE}.git"\n'
    )
    (package_dir / "Versions.toml").write_text(
        "\n".join(f'["{version}"]\ngit-tree-sha1 = "{tree}"\n' for version, tree in trees.items())
    )
    (package_dir / "Deps.toml").write_text(version_tables("deps"))
    (package_dir / "Compat.toml").write_text(version_tables("compat", registry_range))
    init_repo(target)
    commit_all(target, f"Register {PACKAGE} {', '.join(trees)}", day=len(trees) + 1)


# --- main ------------------------------------------------------------------------------------------


def build(repos: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="repos-", dir=repos.parent) as work_dir:
        work = Path(work_dir)
        staging = work / "repos"
        log("artifacts")
        write_artifacts(staging / "artifacts")
        log(f"{PACKAGE}.git")
        trees = write_package_repo(staging / f"{PACKAGE}.git", work / "package-work")
        check_example_manifest(trees)
        log(f"registry ({', '.join(f'{v}: {t}' for v, t in trees.items())})")
        write_registry(staging / "registry", trees)
        staging.rename(repos)


def main() -> None:
    repos = cache_root() / f"repos-{input_hash()}"
    if (repos / "registry" / "Registry.toml").is_file():
        log(f"{repos} already made")
    else:
        repos.parent.mkdir(parents=True, exist_ok=True)
        build(repos)
        log(f"made {repos}")
    print(repos)


if __name__ == "__main__":
    main()
