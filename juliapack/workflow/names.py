"""Kaggle's naming rules, and the names juliapack derives for the datasets and the kernel.

The layers change at very different rates (Julia rarely, the depot when the Manifest changes, the app
on every edit, the model on every training run), so each goes to its own dataset: ``<slug>-julia``,
``<slug>-depot``, ``<slug>-app`` and ``<slug>-model``. `plan_datasets` is the single source of those
names: `upload` creates exactly these datasets and the notebook mounts exactly these.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from juliapack.errors import ConfigError, InputError
from juliapack.fsutil import sha256_file
from juliapack.workflow.lock import ROLES as LAYER_ROLES
from juliapack.workflow.lock import Lock
from juliapack.workflow.records import DatasetFile

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# Kaggle unpacks uploads with these endings into folders, so no file we upload may end with one.
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst", ".zip", ".gz", ".7z")
DATASET_ROLES = (*LAYER_ROLES, "model")
ROLE_LABELS = {"julia": "Julia", "depot": "Julia depot", "compiled": "compiled caches", "app": "app", "model": "model"}
MOUNT_ROOT = "/kaggle/input"
KERNEL_METADATA = "kernel-metadata.json"  # what the kaggle client reads a kernel folder by
MAX_FILES = 50  # Kaggle takes at most 50 top-level files per dataset
SLUG_LENGTH = (6, 50)  # Kaggle's limits for dataset slugs and titles
TITLE_LENGTH = (6, 50)
KERNEL_LENGTH = (5, 50)  # kernel titles and slugs


def slugify(text: str) -> str:
    """The slug Kaggle (and its client) makes of a title: the one slugifier juliapack uses."""
    from slugify import slugify as python_slugify

    return python_slugify(text)


def file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a file of a Kaggle dataset as is, or None."""
    if "/" in name or name in ("", ".", "..") or not name.strip():
        return "is not a plain file name"
    if name.lower().endswith(ARCHIVE_SUFFIXES):
        return "ends like an archive, and Kaggle would unpack it on upload"
    return None


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class KaggleIdentity:
    """Names on Kaggle shared by upload, notebook and push. None: decided later (credentials, lock)."""

    owner: str | None  # None: the authenticated user
    slug: str | None  # base slug; None: the project name, slugified
    title: str | None


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
    roles = [role for role in LAYER_ROLES if role != "compiled" or any(layer.role == role for layer in lock.layers)]  # locks before 0.2 have none
    plans = [_plan(role, owner, *_slug_for(role, base, identity, overrides), base_title, layer_files(lock, role)) for role in roles]
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


def layer_files(lock: Lock, role: str) -> tuple[DatasetFile, ...]:
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
        problem = file_name_problem(name)
        if problem:
            raise InputError(
                f"the {role} dataset's file '{name}' {problem}",
                fix="rename it without the extension (juliapack's notebook unpacks it itself), or rebuild with 'juliapack build'",
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


# --------------------------------------------------------------------------- the kernel


def kernel_identity(*, title: str | None, kernel_slug: str | None, project_name: str) -> tuple[str, str]:
    """(title, slug) of the kernel, checked as Kaggle checks them: the title must resolve to the slug."""
    title = title or (kernel_slug.replace("-", " ") if kernel_slug else f"{project_name} submission")
    slug = kernel_slug or slugify(title)
    if slugify(title) != slug:
        raise ConfigError(
            f"the kernel title '{title}' resolves to the slug '{slugify(title)}', not '{slug}'",
            fix="make the title match the slug (Kaggle derives the notebook's URL from the title), or drop kernel_slug",
        )
    low, high = KERNEL_LENGTH
    if not low <= len(slug) <= high or not low <= len(title) <= high:
        raise ConfigError(f"the kernel title '{title}' (slug '{slug}') must have {low}-{high} characters", fix="choose another title")
    return title, slug


# --------------------------------------------------------------------------- names the record decides


def recorded_refs(lock: Lock) -> dict[str, str]:
    """role -> owner/slug the earlier commands settled on: what upload made, else what the notebook mounts."""
    if lock.uploads:
        return {role: record.ref for role, record in lock.uploads.items()}
    return dict(lock.notebook.datasets) if lock.notebook else {}


def decide_owner(given: str | None, lock: Lock, *, signed_in: str | None) -> str | None:
    """Who owns the datasets and the kernel: the settings' owner, else the record's, else the Kaggle user."""
    if given:
        return given
    recorded = {ref.partition("/")[0] for ref in recorded_refs(lock).values()}
    return next(iter(sorted(recorded)), None) if recorded else signed_in


def with_recorded_names(plans: tuple[DatasetPlan, ...], lock: Lock) -> tuple[DatasetPlan, ...]:
    """The plans, named as the record names them (used when no setting names the datasets)."""
    recorded = recorded_refs(lock)
    renamed = []
    for plan in plans:
        ref = recorded.get(plan.role)
        owner, _, slug = ref.partition("/") if ref else (plan.owner, "", plan.slug)
        renamed.append(DatasetPlan(plan.role, owner, slug, plan.title, plan.files))
    return tuple(renamed)
