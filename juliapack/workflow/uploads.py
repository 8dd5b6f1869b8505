"""The upload record: what `upload` last put into each dataset on Kaggle (dist/juliapack.uploaded.json),
and the content line each dataset's description carries.

A dataset's content is named by one hash over its files' names, sizes and sha256s. Upload writes it
into the dataset's description (a line ``juliapack-content: sha256:<hex>``), so any clone can tell
whether Kaggle already holds that content, and into the record here, with the version number Kaggle
gave the version that holds it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from juliapack.errors import InputError
from juliapack.fsutil import write_json_atomic
from juliapack.workflow.names import MOUNT_ROOT, ROLE_LABELS, DatasetFile, DatasetPlan

CONTENT_PREFIX = "juliapack-content: "
CONTENT_LINE = re.compile(r"^juliapack-content: (sha256:[0-9a-f]{64})\s*$", re.MULTILINE)
STATE_NAME = "juliapack.uploaded.json"
STATE_SCHEMA = 1


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
