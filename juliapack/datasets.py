"""The Kaggle datasets juliapack uploads, planned from the lock, and what was last uploaded to them.

The layers change at very different rates (Julia rarely, the depot when the Manifest changes, the app
on every edit, the model on every training run), so each goes to its own dataset: ``<slug>-julia``,
``<slug>-depot``, ``<slug>-app`` and ``<slug>-model``. `plan_datasets` is the single source of those
names: `upload` creates exactly these datasets and the notebook command mounts exactly these.

A dataset's content is named by one hash over its files' names, sizes and sha256s. Upload writes it
into the dataset's description (a line ``juliapack-content: sha256:<hex>``), so any clone can tell
whether Kaggle already holds that content, and into ``dist/juliapack.uploaded.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from juliapack.config import ARCHIVE_SUFFIXES, SLUG, KaggleIdentity, slugify
from juliapack.errors import ConfigError, InputError
from juliapack.fsutil import sha256_file, write_json_atomic
from juliapack.lockfile import ROLES as LAYER_ROLES
from juliapack.lockfile import Lock

DATASET_ROLES = (*LAYER_ROLES, "model")
ROLE_LABELS = {"julia": "Julia", "depot": "Julia depot", "app": "app", "model": "model"}
MOUNT_ROOT = "/kaggle/input"
MAX_FILES = 50  # Kaggle takes at most 50 top-level files per dataset
SLUG_LENGTH = (6, 50)  # Kaggle's limits for dataset slugs and titles
TITLE_LENGTH = (6, 50)
CONTENT_PREFIX = "juliapack-content: "
CONTENT_LINE = re.compile(r"^juliapack-content: (sha256:[0-9a-f]{64})\s*$", re.MULTILINE)
STATE_NAME = "juliapack.uploaded.json"
STATE_SCHEMA = 1


@dataclass(frozen=True)
class DatasetFile:
    name: str  # the file's name in dist/ and on Kaggle
    sha256: str
    size: int


@dataclass(frozen=True)
class DatasetPlan:
    role: str  # julia, depot, app or model
    owner: str
    slug: str
    title: str
    files: tuple[DatasetFile, ...]

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.slug}"

    @property
    def mount(self) -> str:
        """Where a notebook with this dataset attached finds its files."""
        return f"{MOUNT_ROOT}/{self.slug}"

    @property
    def content(self) -> str:
        return content_hash(self.files)

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)


def content_hash(files: tuple[DatasetFile, ...]) -> str:
    """One name for a dataset's content: equal exactly when names, sizes and sha256s are."""
    canonical = sorted([file.name, file.size, file.sha256] for file in files)
    return "sha256:" + hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


def model_file(path: Path) -> DatasetFile:
    """The model file as a dataset file (hashes it)."""
    return DatasetFile(name=path.name, sha256=sha256_file(path), size=path.stat().st_size)


def plan_datasets(
    lock: Lock,
    *,
    owner: str,
    identity: KaggleIdentity,
    overrides: Mapping[str, str] | None = None,
    model: DatasetFile | None = None,
    model_dataset: str | None = None,
) -> tuple[DatasetPlan, ...]:
    """The datasets for this build: julia, depot and app from the lock, then the model if given.

    ``owner`` is the Kaggle user that owns them (identity.owner, or the authenticated user);
    ``identity.slug`` is the base slug (default: the project name, slugified) and ``identity.title`` the
    base title (default: the project name); ``overrides`` maps a role to its own slug; ``model_dataset``
    ("owner/slug") names the model's dataset outright.
    """
    overrides = overrides or {}
    base = _base_slug(lock, identity)
    base_title = identity.title or lock.project_name
    plans = [_plan(role, owner, *_slug_for(role, base, identity, overrides), base_title, _layer_files(lock, role)) for role in LAYER_ROLES]
    if model is not None:
        model_owner, (model_slug, outright) = owner, _slug_for("model", base, identity, overrides)
        if model_dataset:
            (model_owner, _, model_slug), outright = model_dataset.partition("/"), True
        plans.append(_plan("model", model_owner, model_slug, outright, base_title, (model,)))
    _check_distinct(plans)
    return tuple(plans)


def _base_slug(lock: Lock, identity: KaggleIdentity) -> str:
    if identity.slug:
        return identity.slug
    base = slugify(lock.project_name)
    if not base:
        raise InputError(
            f"cannot make a Kaggle slug from the project name '{lock.project_name}'",
            fix="set one: --dataset OWNER/SLUG, or slug = \"my-project\" in juliapack.toml",
        )
    return base


def _slug_for(role: str, base: str, identity: KaggleIdentity, overrides: Mapping[str, str]) -> tuple[str, bool]:
    """The role's slug, and whether it was named outright (not made from the base slug)."""
    if role in overrides:
        return overrides[role], True
    suffix = f"-{role}"
    if identity.slug is None:  # derived from the project name: shorten it to fit
        base = base[: SLUG_LENGTH[1] - len(suffix)].rstrip("-")
    return base + suffix, False


def _layer_files(lock: Lock, role: str) -> tuple[DatasetFile, ...]:
    files = tuple(DatasetFile(layer.file, layer.sha256, layer.size) for layer in lock.layers if layer.role == role)
    if not files:
        lock.layer(role)  # raises the lock's own "no such layer" error
    return files


def _plan(role: str, owner: str, slug: str, outright: bool, base_title: str, files: tuple[DatasetFile, ...]) -> DatasetPlan:
    _check_slug(role, slug)
    _check_files(role, files)
    # A slug named outright names the title too: Kaggle wants titles distinct among a user's datasets.
    return DatasetPlan(role=role, owner=owner, slug=slug, title=_title(slug if outright else base_title, role), files=files)


def _title(base_title: str, role: str) -> str:
    suffix = f" ({ROLE_LABELS[role]})"
    room = TITLE_LENGTH[1] - len(suffix)
    # the suffix alone meets Kaggle's 6-character minimum
    return base_title.strip()[:room].rstrip() + suffix


def _check_slug(role: str, slug: str) -> None:
    low, high = SLUG_LENGTH
    if not SLUG.match(slug) or not low <= len(slug) <= high:
        raise ConfigError(
            f"the {role} dataset's slug '{slug}' is not valid on Kaggle",
            fix=f"use {low}-{high} lowercase letters, digits and dashes (set slug, or [upload] datasets = {{{role} = \"...\"}})",
        )


def _check_files(role: str, files: tuple[DatasetFile, ...]) -> None:
    if len(files) > MAX_FILES:
        raise InputError(
            f"the {role} dataset would have {len(files)} files; Kaggle takes at most {MAX_FILES} per dataset",
            fix="pack the layer into fewer files (rebuild with 'juliapack build')",
        )
    names = [file.name for file in files]
    for name in names:
        if "/" in name or name in ("", ".", ".."):
            raise InputError(f"the {role} layer's file name '{name}' is not a plain file name", fix="rebuild with 'juliapack build'")
        if name.lower().endswith(ARCHIVE_SUFFIXES):
            raise InputError(
                f"the {role} dataset's file '{name}' ends like an archive, and Kaggle would unpack it on upload",
                fix="rename it without the extension (juliapack's notebook unpacks it itself)",
            )
    if len(set(names)) != len(names):
        raise InputError(f"the {role} dataset lists a file name twice", fix="rebuild with 'juliapack build'")


def _check_distinct(plans: list[DatasetPlan]) -> None:
    seen: dict[str, str] = {}
    for plan in plans:
        if plan.ref in seen:
            raise ConfigError(
                f"the {seen[plan.ref]} and {plan.role} layers would both go to dataset {plan.ref}",
                fix="give each role its own slug in [upload] datasets",
            )
        seen[plan.ref] = plan.role


# --------------------------------------------------------------------------- the description on Kaggle


def describe(plan: DatasetPlan, *, project: str, version: str) -> str:
    """The dataset description: what it is, and the content line upload reads back later."""
    names = ", ".join(file.name for file in plan.files)
    return (
        f"The {ROLE_LABELS[plan.role]} layer of the Julia project {project}, packed by juliapack {version} "
        f"for an offline Kaggle notebook. Files: {names}.\n\n{CONTENT_PREFIX}{plan.content}\n"
    )


def content_in(description: str | None) -> str | None:
    """The content hash a description declares, or None."""
    found = CONTENT_LINE.search(description or "")
    return found.group(1) if found else None


# --------------------------------------------------------------------------- dist/juliapack.uploaded.json


@dataclass(frozen=True)
class UploadedDataset:
    """What upload last put into one dataset (and checked that Kaggle holds)."""

    role: str
    ref: str
    content: str
    version: int | None
    url: str
    files: tuple[DatasetFile, ...]

    @property
    def mount(self) -> str:
        return f"{MOUNT_ROOT}/{self.ref.partition('/')[2]}"

    def holds(self, plan: DatasetPlan) -> bool:
        return self.ref == plan.ref and self.content == plan.content


def state_path(dist: Path) -> Path:
    return dist / STATE_NAME


def read_upload_state(dist: Path) -> dict[str, UploadedDataset]:
    """role -> what was last uploaded for it from this dist/ (empty if nothing was)."""
    path = state_path(dist)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != STATE_SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}, expected {STATE_SCHEMA}")
        return {role: _record(role, entry) for role, entry in data["datasets"].items()}
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise InputError(f"{path} is unreadable ({error})", fix=f"delete {path}; the next upload rebuilds it from Kaggle") from error


def _record(role: str, entry: dict) -> UploadedDataset:
    files = tuple(DatasetFile(**file) for file in entry["files"])
    return UploadedDataset(role=role, ref=entry["ref"], content=entry["content"], version=entry["version"], url=entry["url"], files=files)


def write_upload_state(dist: Path, records: Mapping[str, UploadedDataset]) -> None:
    datasets = {
        role: {
            "ref": record.ref,
            "content": record.content,
            "version": record.version,
            "url": record.url,
            "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in record.files],
        }
        for role, record in sorted(records.items())
    }
    write_json_atomic(state_path(dist), {"schema": STATE_SCHEMA, "datasets": datasets})
