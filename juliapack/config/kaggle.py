"""Settings of the commands that talk to Kaggle: `upload`, `push`, `status`, `fetch`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from juliapack.config.layers import Reader, reader_for
from juliapack.config.notebook import IDENTITY_KEYS
from juliapack.config.values import (
    Source,
    as_bool,
    as_dataset_overrides,
    as_dataset_ref,
    as_duration,
    as_kernel_ref,
    as_owner,
    as_slug,
    as_str,
)
from juliapack.errors import ConfigError, InputError
from juliapack.workflow.names import KaggleIdentity


def _identity(read: Reader) -> KaggleIdentity:
    return KaggleIdentity(
        owner=read.get("owner", as_owner, None, env="JULIAPACK_OWNER"),
        slug=read.get("slug", as_slug, None, env="JULIAPACK_SLUG"),
        title=read.get("title", as_str, None),
    )


@dataclass(frozen=True)
class UploadConfig:
    dist: Path
    project: Path | None  # when juliapack.toml names it, dist/ must be its build
    identity: KaggleIdentity
    datasets: Mapping[str, str]  # role -> slug overrides (julia, depot, app, model)
    model: Path | None
    model_dataset: str | None  # owner/slug
    public: bool
    message: str


UPLOAD_KEYS = (*IDENTITY_KEYS, "project", "out", "dist", "datasets", "model", "model_dataset", "public", "message")


def load_upload(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> UploadConfig:
    read = reader_for("upload", UPLOAD_KEYS, flags, env=env, cwd=cwd, config_path=config_path)
    dist = read.path("dist", None, env="JULIAPACK_OUT") or read.path("out", "dist")
    model = read.path("model", None)
    if model is not None and not model.is_file():
        raise InputError(f"model file {model} does not exist or is not a file", fix="pass the path of your model file to --model")
    return UploadConfig(
        dist=dist,
        project=read.path("project", None),
        identity=_identity(read),
        datasets=read.get("datasets", as_dataset_overrides, {}),
        model=model,
        model_dataset=read.get("model_dataset", as_dataset_ref, None),
        public=read.get("public", as_bool, False),
        message=read.get("message", as_str, "juliapack upload"),
    )



# --------------------------------------------------------------------------- kaggle commands (push, status, fetch)

KAGGLE_KEYS = ("notebook", "public", "wait", "timeout")
DEFAULT_WAIT = 12 * 3600.0  # Kaggle stops a notebook session after 12 hours


@dataclass(frozen=True)
class PushConfig:
    folder: Path  # holds kernel-metadata.json and the notebook `juliapack notebook` wrote
    public: bool
    wait: bool
    timeout: float  # seconds `push --wait` waits for the run to finish


@dataclass(frozen=True)
class StatusConfig:
    kernel: str  # owner/slug


@dataclass(frozen=True)
class FetchConfig:
    kernel: str  # owner/slug
    out: Path
    force: bool  # fetch even if the run has not finished


def load_push(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> PushConfig:
    reader = reader_for("kaggle", KAGGLE_KEYS, flags, env=env, cwd=cwd, config_path=config_path)
    folder = reader.path("notebook", "notebook")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InputError(f"notebook folder {folder} {what}", fix="write it with 'juliapack notebook', or pass its path")
    return PushConfig(
        folder=folder,
        public=reader.get("public", as_bool, False),
        wait=reader.get("wait", as_bool, False),
        timeout=reader.get("timeout", as_duration, DEFAULT_WAIT),
    )


def load_status(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> StatusConfig:
    reader_for("kaggle", KAGGLE_KEYS, flags, env=env, cwd=cwd, config_path=config_path)  # a broken juliapack.toml fails here too
    return StatusConfig(kernel=_kernel_flag(flags))


def load_fetch(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> FetchConfig:
    reader = reader_for("kaggle", KAGGLE_KEYS, flags, env=env, cwd=cwd, config_path=config_path)
    return FetchConfig(kernel=_kernel_flag(flags), out=reader.path("out", "kaggle-output", folder=True), force=bool(flags.get("force")))


def _kernel_flag(flags: Mapping[str, Any]) -> str:
    if not flags.get("kernel"):
        raise ConfigError("no notebook given", fix="name it as OWNER/SLUG (the id in kernel-metadata.json)")
    return as_kernel_ref(flags["kernel"], Source("the notebook argument"))


