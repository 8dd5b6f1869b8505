"""The build's state between runs: its work folder in the cache, the fingerprint of its inputs, and the
stamps that make a rebuild with unchanged inputs a no-op.

The build works in a per-project work folder of the cache: the depot (`/root/.julia` in the
container) and the app (`/tmp/<Name>`) are bind mounts of it, so a rebuild reuses the depot and its
compiled caches; byte-identical output comes from reusing them and from deterministic archives.
New files reach dist/ through a staging folder and os.replace, all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from juliapack import __version__
from juliapack.project import JuliaProject
from juliapack.config import BuildConfig
from juliapack.errors import InputError
from juliapack.fsutil import atomic_output, file_stamp, write_json_atomic
from juliapack.report import Reporter
from juliapack.workflow.lock import APP_DEPOT, LayerFile, Lock, layer_problem, lock_path, read_lock


@dataclass(frozen=True)
class WorkDirs:
    root: Path

    @property
    def depot(self) -> Path:
        return self.root / "depot"

    @property
    def app_parent(self) -> Path:
        return self.root / "app"

    @property
    def report(self) -> Path:
        return self.root / "report.tsv"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def cache_report(self) -> Path:
        return self.root / "caches.tsv"


def fingerprint(cfg: BuildConfig, *, app_files: dict[str, str], julia_sha256: str, image_id: str, cpu_target: str) -> str:
    """A hash of everything the build output depends on; equal fingerprints make a rebuild a no-op."""
    inputs = {
        "juliapack": __version__,
        "app_files": app_files,
        "julia": julia_sha256,
        "image": image_id,
        "cpu_target": cpu_target,
        "registries": list(cfg.registries),
        # Values may be secrets: only their hashes enter the fingerprint, which is stored in the lock.
        "env": {key: hashlib.sha256(value.encode()).hexdigest() for key, value in cfg.env},
        "mounts": [mount.spec() for mount in cfg.mounts],
        "network": cfg.network,
        "smoke": list(cfg.smoke) if cfg.smoke is not None else None,
        "entry": cfg.entry,
        "names": [cfg.names.julia, cfg.names.depot, cfg.names.compiled, cfg.names.app],
        "codec": cfg.codec,
        "source_date_epoch": cfg.source_date_epoch,
        "keep_registries": cfg.keep_registries,
        "allow_secrets": [list(pair) for pair in cfg.allow_secrets],
        "accelerator": cfg.accelerator,
        "cuda_local": cfg.cuda_local,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def up_to_date(dist: Path, expected: str, *, stamps: Path | None = None) -> Lock | None:
    """The current lock if dist/ already holds exactly what the inputs with fingerprint ``expected``
    build, else None. A layer file is hashed again unless ``stamps`` shows it untouched since the
    build wrote it."""
    if not lock_path(dist).is_file():
        return None
    try:
        lock = read_lock(dist)
    except InputError:
        return None
    if lock.fingerprint != expected:
        return None
    known = _read_stamps(stamps)
    for layer in lock.layers:
        untouched = (dist / layer.file).is_file() and known.get(layer.file) == [layer.sha256, *file_stamp(dist / layer.file)]
        if layer_problem(dist, layer, hashed=not untouched):
            return None
    return lock


def stamps_file(cfg: BuildConfig) -> Path:
    return cfg.cache_dir / "stamps" / f"{hashlib.sha256(str(cfg.out).encode()).hexdigest()[:16]}.json"


def _read_stamps(path: Path | None) -> dict[str, list]:
    try:
        stamps = json.loads(path.read_text()) if path else {}
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def write_stamps(path: Path, dist: Path, layers: tuple[LayerFile, ...]) -> None:
    write_json_atomic(path, {layer.file: [layer.sha256, *file_stamp(dist / layer.file)] for layer in layers})


def work_dirs_for(cfg: BuildConfig, project: JuliaProject) -> WorkDirs:
    key = hashlib.sha256(str(project.root).encode()).hexdigest()[:16]
    return WorkDirs(cfg.cache_dir / "work" / f"{project.name}-{key}")


def depot_key(julia_sha256: str, image_id: str, cpu_target: str) -> dict[str, str]:
    return {"julia": julia_sha256, "image": image_id, "cpu_target": cpu_target}


def prepare_work(work: WorkDirs, *, key: dict[str, str], fresh: bool, reporter: Reporter) -> dict:
    """The work folder, wiped when its depot was built for another Julia, image or CPU target.

    The depot's logs/ go every time: Pkg appends to them on every run, and nothing reads them back.
    """
    state = json.loads(work.state.read_text()) if work.state.is_file() else {}
    shutil.rmtree(work.depot / "logs", ignore_errors=True)
    if fresh or state.get("depot") != key:
        if work.root.exists() and state:
            reporter.info("starting from an empty depot" + (" (--fresh)" if fresh else f": {_why_empty(state)}"))
        for folder in (work.depot, work.app_parent):
            shutil.rmtree(folder, ignore_errors=True)
        state = {"depot": key, "registries": []}
    work.depot.mkdir(parents=True, exist_ok=True)
    work.app_parent.mkdir(parents=True, exist_ok=True)
    return state


def _why_empty(state: dict) -> str:
    return "the last build refused what the depot held" if state.get("refused") else "Julia, image or CPU target changed"


def forget_depot(work: WorkDirs) -> None:
    """Make the next build start from an empty depot: this one refused something in it, which a cached
    depot would keep after its cause is gone."""
    state = json.loads(work.state.read_text()) if work.state.is_file() else {}
    write_json_atomic(work.state, {**state, "depot": None, "refused": True})


def host_paths(targets: tuple[str, ...], places: Mapping[str, Path]) -> list[Path]:
    """Where each container path under one of ``places`` (container folder -> host folder) is on the host."""
    found = []
    for target in targets:
        for inside, host in places.items():
            if target.startswith(inside + "/"):
                found.append(host / target[len(inside) + 1 :])
    return found


@contextmanager
def mount_points_removed(paths: list[Path]) -> Iterator[None]:
    """Remove what the engine creates at ``paths`` (mount points inside bind-mounted work folders, and
    the folders above them) once the block ends, so neither a layer nor the cache keeps them."""
    created = sorted({p for path in paths for p in (path, *path.parents) if not os.path.lexists(p)}, key=lambda p: len(p.parts), reverse=True)
    try:
        yield
    finally:
        for path in created:
            _remove_if_empty(path)


def _remove_if_empty(path: Path) -> None:
    """An empty folder or file the engine made: whatever else is there is the build's and stays."""
    try:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        elif path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
            path.unlink()
    except OSError:
        pass  # not empty after all, or gone


def stage_app(
    project: JuliaProject,
    files: tuple[str, ...],
    work: WorkDirs,
    *,
    epoch: int,
    extra: dict[str, Path] | None = None,
    links: Mapping[str, str] | None = None,
) -> Path:
    """Copy the app's files into the work folder with fixed mtimes; keep the app's compiled cache.

    ``extra`` maps a staged path to a file from outside the project (a workspace member's Manifest);
    ``links`` a staged path to the relative target of a link kept as a link."""
    target = work.app_parent / project.name
    target.mkdir(parents=True, exist_ok=True)
    sources = {relpath: project.root / relpath for relpath in files} | dict(extra or {})
    links = dict(links or {})
    _remove_unwanted(target, set(sources) | set(links))
    for relpath, source in sorted(sources.items()):
        copy = target / relpath
        if copy.is_symlink():
            copy.unlink()  # a copy onto a link would write through it
        if not (copy.is_file() and _same_bytes(source, copy)):
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy, follow_symlinks=True)
        shutil.copymode(source, copy)
        os.utime(copy, (epoch, epoch), follow_symlinks=False)
    for relpath, link in sorted(links.items()):
        _stage_link(target / relpath, link, epoch=epoch)
    return target


def _remove_unwanted(target: Path, wanted: set[str]) -> None:
    """Everything staged before that is not wanted now, except the app's own depot; links are never followed."""
    for folder, dirs, names in os.walk(target, topdown=False):
        for name in [*names, *dirs]:
            path = Path(folder, name)
            relpath = path.relative_to(target).as_posix()
            if relpath.split("/")[0] == APP_DEPOT:
                continue
            if path.is_dir() and not path.is_symlink():
                if not any(f.startswith(relpath + "/") for f in wanted):
                    shutil.rmtree(path)
            elif relpath not in wanted:
                path.unlink()


def _stage_link(path: Path, link: str, *, epoch: int) -> None:
    if path.is_symlink() and os.readlink(path) == link:
        os.utime(path, (epoch, epoch), follow_symlinks=False)
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(link, path)
    os.utime(path, (epoch, epoch), follow_symlinks=False)


def _same_bytes(a: Path, b: Path, *, chunk: int = 1 << 20) -> bool:
    """Whether two files hold the same bytes, read a chunk at a time (a data file may be gigabytes)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as left, open(b, "rb") as right:
        while True:
            block = left.read(chunk)
            if block != right.read(chunk):
                return False
            if not block:
                return True


def copy_file(source: Path, target: Path) -> str:
    """A copy of its own, never a hard link: a later write to a file in dist/ must not reach the cache.
    Returns the sha256 of the bytes copied."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, atomic_output(target, large=True) as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()


@contextmanager
def staging(dist: Path) -> Iterator[Path]:
    """A temp folder inside dist/ for the new files; removed whatever happens (dist/ too, if it was
    made here and the build failed)."""
    created = not dist.exists()
    dist.mkdir(parents=True, exist_ok=True)
    for stale in dist.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    folder = dist / f".staging-{os.getpid()}"
    folder.mkdir()
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if created and not any(dist.iterdir()):
            dist.rmdir()
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def commit(stage: Path, dist: Path, names: list[str]) -> None:
    """Move the staged files in; the old lock goes first so a crash midway never pairs it with new files."""
    lock_path(dist).unlink(missing_ok=True)
    for name in names:
        os.replace(stage / name, dist / name)
