"""dist/juliapack.lock.json: the record of the workflow, and the one check that the files in dist/ are
the files the lock describes.

The build writes what it produced: which files make up each layer (name, sha256, size, codec), where
the notebook unpacks them, the entry point, and the fingerprint of the build's inputs (a rebuild with
the same fingerprint is a no-op and keeps the whole record). Later commands add their part through
`update_lock`: the notebook written, its rehearsal's verdict, the datasets uploaded and their version
numbers. A new build starts a new record. It holds no secrets: environment values given to the build
are recorded only as a hash, inside the fingerprint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from juliapack.errors import InputError
from juliapack.mutex import held, mutex_file
from juliapack.fsutil import sha256_file, write_json_atomic
from juliapack.julia_version import JuliaVersion, parse_version
from juliapack.workflow.records import NotebookRecord, RehearsalRecord, UploadedDataset

LOCK_NAME = "juliapack.lock.json"
SCHEMA = 1
ROLES = ("julia", "depot", "compiled", "app")  # the order the notebook unpacks them in
APP_DEPOT = ".juliapack-depot"  # inside the app folder: a depot holding only the project's own compiled cache


@dataclass(frozen=True)
class LayerFile:
    role: str  # one of ROLES
    file: str  # its name in dist/ (and on Kaggle), without archive extensions
    sha256: str
    size: int
    codec: str  # "gzip" or "zstd"
    decompressor: str  # what the image unpacks it with (see archive.unpack_command)
    dest: str  # the folder the notebook unpacks it into
    strip_components: int = 0


@dataclass(frozen=True)
class Layout:
    """Where things live in the notebook's container (and in the build container: the same paths)."""

    julia_prefix: str  # Julia unpacked here with --strip-components 1
    depot: str  # the writable depot the depot layer unpacks to
    app_dir: str  # the project, as unpacked from the app layer
    depot_path: tuple[str, ...]  # JULIA_DEPOT_PATH, in order


@dataclass(frozen=True)
class Lock:
    fingerprint: str
    project_name: str
    project_dir: str  # the host path it was built from: tells "dist from another project" apart
    entry: str  # entry script, relative to the project
    julia_version: JuliaVersion
    julia_sha256: str
    julia_url: str
    cpu_target: str
    image: str
    image_id: str
    image_digest: str | None
    codec: str  # how the depot and app layers are compressed
    layers: tuple[LayerFile, ...]
    layout: Layout
    compiled: dict[str, str] = field(default_factory=dict)  # depot-relative cache path -> sha256
    allowed_secrets: dict[str, str] = field(default_factory=dict)  # member path -> the reason the user gave
    image_cuda: str | None = None  # the CUDA toolkit the build image has ("12.8"); None: a CPU image
    entry_mode: str = "script"  # "package": `using Name; Name.main(ARGS)`, from its package image; "script": the entry file
    bridge: str = ""  # the app-relative folder of the inference-server bridge (juliapack.serve); "": none
    notebook: NotebookRecord | None = None  # written by `juliapack notebook`
    rehearsal: RehearsalRecord | None = None  # written by `juliapack verify`
    uploads: dict[str, UploadedDataset] = field(default_factory=dict)  # written by `juliapack upload`: role -> dataset
    juliapack_version: str = ""
    schema: int = SCHEMA

    def layer(self, role: str) -> LayerFile:
        for layer in self.layers:
            if layer.role == role:
                return layer
        raise InputError(f"the lock file has no {role} layer", fix="rebuild with 'juliapack build'")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["julia_version"] = str(self.julia_version)
        return data


def lock_path(dist: Path) -> Path:
    return dist / LOCK_NAME


def write_lock(dist: Path, lock: Lock) -> None:
    write_json_atomic(lock_path(dist), lock.to_json())


def read_lock(dist: Path, *, project: str | None = None) -> Lock:
    """The lock of ``dist``; with a ``project`` name, also checks dist/ holds a build of that project."""
    lock = _read(dist)
    if project is not None and lock.project_name != project:
        raise InputError(
            f"{dist} holds a build of {lock.project_name} (from {lock.project_dir}), not of {project}",
            fix="run 'juliapack build' for this project (or point --dist at its own build)",
        )
    return lock


def _read(dist: Path) -> Lock:
    path = lock_path(dist)
    if not path.is_file():
        raise InputError(f"no {LOCK_NAME} in {dist}", fix="run 'juliapack build PROJECT' first (or pass --dist)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA}")
        layers = tuple(LayerFile(**layer) for layer in data.pop("layers"))
        layout = data.pop("layout")
        layout["depot_path"] = tuple(layout["depot_path"])
        data["julia_version"] = _released(data["julia_version"])
        data.update(_later_sections(data))
        return Lock(layers=layers, layout=Layout(**layout), **data)
    except (ValueError, TypeError, KeyError) as error:
        raise InputError(f"{path} is unreadable ({error})", fix="rebuild with 'juliapack build'") from error


def _later_sections(data: dict[str, Any]) -> dict[str, Any]:
    notebook, rehearsal = data.get("notebook"), data.get("rehearsal")
    return {
        "notebook": NotebookRecord.from_json(notebook) if notebook else None,
        "rehearsal": RehearsalRecord.from_json(rehearsal) if rehearsal else None,
        "uploads": {role: UploadedDataset.from_json(role, entry) for role, entry in data.get("uploads", {}).items()},
    }


def update_lock(dist: Path, change: Callable[[Lock], Lock], *, cache_dir: Path) -> Lock:
    """Read the lock, change it, write it back, while no other juliapack process writes to dist/."""
    with held(mutex_file(cache_dir, "dist", str(dist.resolve())), what=str(dist)):
        lock = change(read_lock(dist))
        write_lock(dist, lock)
    return lock


def _released(text: Any) -> JuliaVersion:
    version = parse_version(text) if isinstance(text, str) else None
    if version is None or not version.is_exact:
        raise ValueError(f"julia_version {text!r} is not a released Julia version")
    return version


# --------------------------------------------------------------------------- dist/ against the lock

REBUILD_FIX = "rebuild with 'juliapack build'"


def layer_problem(dist: Path, layer: LayerFile, *, hashed: bool = True) -> str | None:
    """Why ``dist/<layer file>`` is not the file the lock describes, or None. Without ``hashed`` only
    its presence and size are checked (the caller trusts stamps for the rest)."""
    path = dist / layer.file
    if not path.is_file():
        return f"{path} is missing (the lock lists it)"
    if path.stat().st_size != layer.size:
        return f"{path} does not match juliapack.lock.json: its size differs from the build's"
    if hashed and sha256_file(path) != layer.sha256:
        return f"{path} does not match juliapack.lock.json: it changed since the build (its sha256 is not the lock's)"
    return None


def check_dist(dist: Path, lock: Lock, *, hashed: bool = True) -> None:
    """Raise unless every layer file in dist/ is the one the lock describes."""
    for layer in lock.layers:
        problem = layer_problem(dist, layer, hashed=hashed)
        if problem:
            raise InputError(problem, fix=REBUILD_FIX)
