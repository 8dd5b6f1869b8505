"""Compiled caches: what check_caches.jl found, which cache files are stale, how the rehearsal loads them.

Julia keeps one or more cache files per package in ``compiled/vX.Y/<Name>/``: ``<slug>_<hash>.ji``
and, from 1.9, the native code beside it as ``<slug>_<hash>.so`` (loading.jl
``ocachefile_from_cachefile``). A new one is written whenever the dependencies, preferences or flags
change, and the old ones stay; `Base` tries the candidates (pkgimages first, newest first,
``find_all_in_cache_path``) and loads the first that is not stale. Only that one needs shipping.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from juliapack.errors import BuildFailed

CACHE_SUFFIXES = (".ji", ".so")

# --------------------------------------------------------------------------- check_caches.jl's report


@dataclass(frozen=True)
class CacheCheck:
    skipped: str | None  # why nothing was checked (Julia < 1.10)
    precompile_errors: tuple[str, ...]
    stale: tuple[tuple[str, str], ...]  # (name, kind): package, "extension of P", app
    loaded: tuple[tuple[str, str], ...]  # (name, absolute path of the .ji Base would load; "" if unknown)
    checked: int

    @classmethod
    def parse(cls, text: str) -> CacheCheck:
        rows = [line.split("\t") for line in text.splitlines() if "\t" in line]
        by_kind: dict[str, list[list[str]]] = defaultdict(list)
        for kind, *fields in rows:
            by_kind[kind].append(fields)
        skipped = by_kind["skipped"][0][0] if by_kind["skipped"] else None
        counts = [int(fields[0]) for fields in by_kind["checked"]]
        return cls(
            skipped=skipped,
            precompile_errors=tuple(fields[0] for fields in by_kind["precompile-error"]),
            stale=tuple((fields[0], fields[1]) for fields in by_kind["stale"]),
            loaded=tuple((fields[0], fields[1] if len(fields) > 1 else "") for fields in by_kind["cache"]),
            checked=counts[0] if counts else 0,
        )


def cache_check_failure(check: CacheCheck) -> BuildFailed | None:
    """The one-line error for a failed check (None when every cache is valid or nothing was checked)."""
    if not check.stale and not check.precompile_errors:
        return None
    names = [name if kind == "package" else f"{name} ({'your app' if kind == 'app' else kind})" for name, kind in check.stale]
    if names:
        what = f"{len(names)} of {check.checked} would compile again on Kaggle (no valid cache): {', '.join(names)}"
    else:
        what = f"Pkg.precompile(strict=true) failed: {check.precompile_errors[0]}"
    return BuildFailed(
        what,
        fix="see the precompile error above: a package that needs a GPU, the network or a build step at precompile time "
        "must be fixed or configured (e.g. CUDA_Runtime_jll's version in LocalPreferences.toml), or removed from the project",
        details="\n".join(check.precompile_errors),
    )


# --------------------------------------------------------------------------- stale cache files


@dataclass(frozen=True)
class CacheFile:
    relpath: str  # under compiled/vX.Y: "<Name>/<slug>_<hash>.ji"
    mtime: float


def _stem(name: str) -> str | None:
    for suffix in CACHE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _kept_stem(files: list[CacheFile], in_use: str | None) -> str | None:
    """The stem to keep in one package folder; None keeps the whole folder."""
    if in_use is not None:
        return _stem(in_use)
    images = [f for f in files if f.relpath.endswith(".ji")]
    newest = max((f.mtime for f in images), default=None)
    candidates = [f for f in images if f.mtime == newest]
    if len(candidates) != 1:
        return None  # no .ji, or a tie (the build's mtime fix gives old caches one mtime): cannot tell
    return _stem(PurePosixPath(candidates[0].relpath).name)


def stale_cache_files(files: Iterable[CacheFile], *, in_use: Mapping[str, str] | None) -> list[str]:
    """The cache files (relpaths) to delete before packing.

    ``in_use`` maps a package folder to the ``.ji`` file name Base would load there (check_caches.jl on
    1.10+); folders it does not name are left whole. Without it (before 1.10), the newest ``.ji`` of each
    folder is taken as the one in use, as Base tries the newest first; a folder whose newest mtime is
    shared is left whole. Files other than ``.ji``/``.so`` (lock files) and files directly in
    ``compiled/vX.Y`` are never deleted.
    """
    folders: dict[str, list[CacheFile]] = defaultdict(list)
    for file in files:
        parts = PurePosixPath(file.relpath).parts
        if len(parts) == 2 and _stem(parts[1]) is not None:
            folders[parts[0]].append(file)
    doomed = []
    for folder, members in folders.items():
        if in_use is not None and folder not in in_use:
            continue
        keep = _kept_stem(members, in_use.get(folder) if in_use is not None else None)
        if keep is not None:
            doomed += [f.relpath for f in members if _stem(PurePosixPath(f.relpath).name) != keep]
    return sorted(doomed)


def in_use_under(check: CacheCheck, compiled_dir: str) -> dict[str, str]:
    """Package folder -> file name of each loaded cache that lies in ``compiled_dir`` (a container path
    like /root/.julia/compiled/v1.11): the ``in_use`` of `stale_cache_files` for that depot."""
    base = PurePosixPath(compiled_dir)
    found = {}
    for _, path in check.loaded:
        candidate = PurePosixPath(path)
        if path and candidate.parent.parent == base:
            found[candidate.parent.name] = candidate.name
    return found


def list_cache_files(compiled_dir: Path) -> list[CacheFile]:
    """Every file one or two levels under ``compiled_dir``, as `stale_cache_files` takes them."""
    listing = []
    for root, _, names in os.walk(compiled_dir):
        for name in names:
            path = Path(root) / name
            listing.append(CacheFile(path.relative_to(compiled_dir).as_posix(), path.stat().st_mtime))
    return listing


def remove_stale_caches(compiled_dir: Path, *, in_use: Mapping[str, str] | None) -> list[str]:
    """Delete what `stale_cache_files` names under ``compiled_dir``; returns the relpaths removed."""
    doomed = stale_cache_files(list_cache_files(compiled_dir), in_use=in_use) if compiled_dir.is_dir() else []
    for relpath in doomed:
        (compiled_dir / relpath).unlink()
    return doomed


# --------------------------------------------------------------------------- the rehearsal


def rehearsal_julia_flags(version: tuple[int, int, int]) -> list[list[str]]:
    """The Julia flags of each rehearsal pass (one run of the notebook's Julia command per list).

    From 1.11 ``--compiled-modules=strict`` turns a missing or rejected cache into an error naming the
    package instead of a silent recompile. From 1.9 (native code in package images) a second pass runs
    with ``-C generic``: the rehearsal machine is the build machine, so a cache without a generic clone
    passes the first pass here and is rejected on Kaggle's CPU; the official sysimage has a generic
    clone, so this pass rejects such a cache here. Before 1.11 a rejection shows only as a changed
    compiled/ folder, which the rehearsal already compares.
    """
    strict = ["--compiled-modules=strict"] if version[:2] >= (1, 11) else []
    if version[:2] < (1, 9):
        return [strict]
    return [strict, [*strict, "-C", "generic"]]
