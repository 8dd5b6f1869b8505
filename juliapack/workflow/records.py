"""What the commands after the build record in the lock: the notebook written, its rehearsal's verdict,
and the datasets uploaded (with the version numbers Kaggle gave them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DatasetFile:
    name: str  # the file's name in dist/ and on Kaggle
    sha256: str
    size: int


@dataclass(frozen=True)
class UploadedDataset:
    """What upload last put into one dataset, read back from Kaggle."""

    role: str
    ref: str
    content: str
    version: int | None
    url: str
    files: tuple[DatasetFile, ...]

    def holds(self, plan: Any) -> bool:
        """Whether this is the dataset a DatasetPlan names, holding the content it plans."""
        return self.ref == plan.ref and self.content == plan.content

    @classmethod
    def from_json(cls, role: str, data: dict[str, Any]) -> UploadedDataset:
        files = tuple(DatasetFile(**file) for file in data["files"])
        return cls(role, data["ref"], data["content"], data["version"], data["url"], files)


@dataclass(frozen=True)
class NotebookRecord:
    """The notebook `juliapack notebook` wrote: where, for which kernel, with which datasets, exactly which bytes."""

    folder: str  # absolute path of the folder push sends
    kernel: str  # owner/slug
    code_file: str
    sha256: str  # of the .ipynb as written
    metadata_sha256: str  # of kernel-metadata.json as written
    datasets: dict[str, str]  # role -> owner/slug attached to the kernel
    accelerator: str
    model_source: str | None = None  # the local model file the rehearsal mounts
    model_sha256: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NotebookRecord:
        return cls(**data)


@dataclass(frozen=True)
class RehearsalRecord:
    """The verdict of the last offline rehearsal of this build, and exactly which notebook it ran."""

    passed: bool
    problems: tuple[str, ...]
    folder: str
    notebook_sha256: str
    metadata_sha256: str
    model_sha256: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RehearsalRecord:
        return cls(**{**data, "problems": tuple(data["problems"])})
