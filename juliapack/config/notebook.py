"""Settings of `juliapack notebook` and `juliapack verify`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from juliapack.config.layers import reader_for
from juliapack.config.values import (
    ModelRef,
    as_args,
    as_bool,
    as_dataset_overrides,
    as_dataset_ref,
    as_int,
    as_kernel_slug,
    as_kernel_title,
    as_model,
    as_mounts,
    as_owner,
    as_slug,
    as_str,
    as_str_list,
)
from juliapack.container import Mount
from juliapack.errors import ConfigError
from juliapack.workflow.names import KaggleIdentity

IDENTITY_KEYS = ("owner", "slug", "title")


@dataclass(frozen=True)
class NotebookConfig:
    dist: Path
    project: Path | None  # when juliapack.toml names it, dist/ must be its build
    out: Path  # the folder for <slug>.ipynb and kernel-metadata.json
    identity: KaggleIdentity
    datasets: Mapping[str, str]  # role -> slug overrides, shared with upload
    model: ModelRef | None
    model_dataset: str | None  # owner/slug for a local model's dataset, shared with upload
    model_arg: str  # the flag the entry point takes the model path with
    args: tuple[str, ...]  # further arguments for the entry point
    competition: str | None
    title: str | None  # kernel title; None: "<Project> submission"
    kernel_slug: str | None  # None: the title, slugified
    gpu: bool
    public: bool
    kernel_sources: tuple[str, ...]
    submission: str  # where the entry point writes the submission
    inputs: tuple[Mount, ...]  # verify: host folders mounted under /kaggle/input (competition data)
    timeout: int  # verify: seconds the notebook may run


NOTEBOOK_KEYS = (
    *IDENTITY_KEYS, "project", "dist", "out", "datasets", "model", "model_dataset", "model_arg", "args", "competition",
    "kernel_slug", "gpu", "public", "kernel_sources", "submission", "inputs", "timeout",
)  # fmt: skip


def load_notebook(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> NotebookConfig:
    read = reader_for("notebook", NOTEBOOK_KEYS, flags, env=env, cwd=cwd, config_path=config_path)
    model = read.get("model", as_model, None, env="JULIAPACK_MODEL")
    inputs = read.get("inputs", as_mounts, ())
    for mount in inputs:
        if not mount.target.startswith("/kaggle/input/"):
            raise ConfigError(f"input {mount.spec()} is not mounted under /kaggle/input/", fix="use SRC:/kaggle/input/<name>")
    return NotebookConfig(
        dist=read.path("dist", "dist", env="JULIAPACK_OUT"),
        project=read.path("project", None),
        out=read.path("out", "notebook", folder=True),
        identity=KaggleIdentity(
            owner=read.get("owner", as_owner, None, env="JULIAPACK_OWNER"),
            slug=read.get("slug", as_slug, None, env="JULIAPACK_SLUG"),
            title=None,  # dataset titles do not change where the notebook finds their files
        ),
        datasets=read.get("datasets", as_dataset_overrides, {}),
        model=model,
        model_dataset=read.get("model_dataset", as_dataset_ref, None),
        model_arg=read.get("model_arg", as_str, "--model"),
        args=read.get("args", as_args, ()),
        competition=read.get("competition", as_slug, None, env="JULIAPACK_COMPETITION"),
        title=read.get("title", as_kernel_title, None),
        kernel_slug=read.get("kernel_slug", as_kernel_slug, None),
        gpu=read.get("gpu", as_bool, False),
        public=read.get("public", as_bool, False),
        kernel_sources=read.get("kernel_sources", as_str_list, ()),
        submission=read.get("submission", as_str, "/kaggle/working/submission.csv"),
        inputs=inputs,
        timeout=read.get("timeout", as_int, 3600),
    )


