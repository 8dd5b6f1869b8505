"""Settings of the commands that talk to Kaggle: `upload` (the [upload] section), `push`, `status`,
`fetch` (the [kaggle] section)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from juliapack.config.layers import KNOWN_KEYS, default_cache_dir, reader_for
from juliapack.config.notebook import NAMING_KEYS, Naming, read_naming
from juliapack.config.values import Source, as_bool, as_duration, as_kernel_ref, as_str



@dataclass(frozen=True)
class UploadConfig:
    dist: Path
    project: Path | None  # when juliapack.toml names it, dist/ must be its build
    naming: Naming
    public: bool
    message: str
    skip_verify: bool  # upload a build whose rehearsal failed, or that was never rehearsed
    cache_dir: Path


UPLOAD_KEYS = (*NAMING_KEYS, "title", "project", "out", "dist", "public", "message")
KNOWN_KEYS["upload"] = UPLOAD_KEYS


def load_upload(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> UploadConfig:
    read = reader_for("upload", UPLOAD_KEYS, flags, env=env, cwd=cwd, config_path=config_path)
    return UploadConfig(
        dist=read.path("dist", None, env="JULIAPACK_OUT") or read.path("out", "dist"),
        project=read.path("project", None),
        naming=read_naming(read, title=read.get("title", as_str, None)),
        public=read.get("public", as_bool, False),
        message=read.get("message", as_str, "juliapack upload"),
        skip_verify=bool(flags.get("skip_verify")),
        cache_dir=default_cache_dir(read.layers.env),
    )


# --------------------------------------------------------------------------- push, status, fetch

KAGGLE_KEYS = ("notebook", "dist", "public", "wait", "timeout")
KNOWN_KEYS["kaggle"] = KAGGLE_KEYS
DEFAULT_WAIT = 12 * 3600.0  # Kaggle stops a notebook session after 12 hours


@dataclass(frozen=True)
class PushConfig:
    folder: Path  # holds kernel-metadata.json and the notebook `juliapack notebook` wrote
    dist: Path  # the build it was written for (its lock has the rehearsal and the uploads)
    public: bool
    wait: bool
    timeout: float  # seconds `push --wait` waits for the run to finish
    skip_verify: bool  # push a notebook whose rehearsal failed, or that was never rehearsed
    cache_dir: Path


@dataclass(frozen=True)
class StatusConfig:
    kernel: str | None  # owner/slug; None: the one in the notebook folder's kernel-metadata.json
    folder: Path


@dataclass(frozen=True)
class FetchConfig:
    kernel: str | None  # owner/slug; None: the one in the notebook folder's kernel-metadata.json
    folder: Path
    out: Path
    force: bool  # fetch even if the run has not finished


def load_push(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> PushConfig:
    read = reader_for("kaggle", KAGGLE_KEYS, flags, env=env, cwd=cwd, config_path=config_path)
    return PushConfig(
        folder=read.path("notebook", "notebook"),
        dist=read.path("dist", "dist", env="JULIAPACK_OUT"),
        public=read.get("public", as_bool, False),
        wait=read.get("wait", as_bool, False),
        timeout=read.get("timeout", as_duration, DEFAULT_WAIT),
        skip_verify=bool(flags.get("skip_verify")),
        cache_dir=default_cache_dir(read.layers.env),
    )


def load_status(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> StatusConfig:
    read = reader_for("kaggle", KAGGLE_KEYS, flags, env=env, cwd=cwd, config_path=config_path)
    return StatusConfig(kernel=_kernel_flag(flags), folder=read.path("notebook", "notebook"))


def load_fetch(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> FetchConfig:
    read = reader_for("kaggle", KAGGLE_KEYS, flags, env=env, cwd=cwd, config_path=config_path)
    return FetchConfig(
        kernel=_kernel_flag(flags),
        folder=read.path("notebook", "notebook"),
        out=read.path("out", "kaggle-output", folder=True),
        force=bool(flags.get("force")),
    )


def _kernel_flag(flags: Mapping[str, Any]) -> str | None:
    if not flags.get("kernel"):
        return None
    return as_kernel_ref(flags["kernel"], Source("the notebook argument"))


