"""Settings of `juliapack notebook` and `juliapack verify` (the [notebook] section)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from juliapack.accelerators import as_accelerator
from juliapack.config.layers import KNOWN_KEYS, Reader, default_cache_dir, reader_for
from juliapack.config.values import (
    ModelRef,
    as_args,
    as_bool,
    as_choice,
    as_dataset_overrides,
    as_dataset_ref,
    as_duration,
    as_kernel_slug,
    as_kernel_title,
    as_model,
    as_mounts,
    as_owner,
    as_server,
    as_slug,
    as_str,
    as_str_list,
)
from juliapack.container import Mount
from juliapack.errors import ConfigError
from juliapack.workflow.names import KaggleIdentity

PINNING = ("original", "latest")
DEFAULT_DEADLINE = 300.0  # seconds: what most inference-server competitions give each call after the first
SUBMISSION_CSV = "/kaggle/working/submission.csv"
SUBMISSION_PARQUET = "/kaggle/working/submission.parquet"  # the competition's gateway writes it in the working folder


@dataclass(frozen=True)
class Naming:
    """What decides the names on Kaggle; shared by upload and notebook (see config.layers.WORKFLOW_KEYS)."""

    identity: KaggleIdentity
    datasets: Mapping[str, str]  # role -> slug overrides
    model: ModelRef | None
    model_dataset: str | None  # owner/slug for a local model's dataset

    @property
    def explicit(self) -> bool:
        """Whether any setting names the datasets (else the names earlier commands recorded stand)."""
        return bool(self.identity.owner or self.identity.slug or self.datasets or self.model_dataset)


@dataclass(frozen=True)
class NotebookConfig:
    dist: Path
    project: Path | None  # when juliapack.toml names it, dist/ must be its build
    out: Path  # the folder for <slug>.ipynb and kernel-metadata.json
    naming: Naming
    model_arg: str  # the flag the entry point takes the model path with
    args: tuple[str, ...]  # further arguments for the entry point
    competition: str | None
    title: str | None  # kernel title; None: "<Project> submission"
    kernel_slug: str | None  # None: the title, slugified
    accelerator: str | None  # None: the one the build image is for (a GPU image: t4x2; else none)
    image_pinning: str  # docker_image_pinning_type: original keeps the image the kernel was rehearsed in
    public: bool
    kernel_sources: tuple[str, ...]
    submission: str  # where the entry point (or the competition's gateway) writes the submission
    serve: bool  # an inference-server competition: a Julia worker answers the competition's predict
    deadline: float  # serve: seconds each predict call after the first may take before the worker is killed
    server: str | None  # serve: the InferenceServer as module:Class; None: the one *_inference_server.py
    inputs: tuple[Mount, ...]  # verify: host folders mounted under /kaggle/input (competition data)
    timeout: float  # verify: seconds a cell may run
    cache_dir: Path

    @property
    def identity(self) -> KaggleIdentity:
        return self.naming.identity

    @property
    def model(self) -> ModelRef | None:
        return self.naming.model


NAMING_KEYS = ("owner", "slug", "dataset", "datasets", "model", "model_dataset")
NOTEBOOK_KEYS = (
    *NAMING_KEYS, "title", "project", "dist", "out", "model_arg", "args", "competition", "kernel_slug", "accelerator",
    "image_pinning", "public", "kernel_sources", "submission", "inputs", "timeout", "serve", "deadline", "server",
)  # fmt: skip
KNOWN_KEYS["notebook"] = NOTEBOOK_KEYS


def read_naming(read: Reader, *, title: str | None = None) -> Naming:
    owner = read.get("owner", as_owner, None, env="JULIAPACK_OWNER")
    slug = read.get("slug", as_slug, None, env="JULIAPACK_SLUG")
    dataset = read.get("dataset", as_dataset_ref, None, env="JULIAPACK_DATASET")
    if dataset is not None:
        owner, slug = _agreeing(dataset, owner, slug)
    return Naming(
        identity=KaggleIdentity(owner=owner, slug=slug, title=title),
        datasets=read.get("datasets", as_dataset_overrides, {}),
        model=read.get("model", as_model, None, env="JULIAPACK_MODEL"),
        model_dataset=read.get("model_dataset", as_dataset_ref, None),
    )


def _agreeing(dataset: str, owner: str | None, slug: str | None) -> tuple[str, str]:
    dataset_owner, _, dataset_slug = dataset.partition("/")
    for what, given, implied in (("owner", owner, dataset_owner), ("slug", slug, dataset_slug)):
        if given is not None and given != implied:
            raise ConfigError(f"dataset '{dataset}' and {what} '{given}' disagree", fix="give one of them (dataset = OWNER/SLUG sets both)")
    return dataset_owner, dataset_slug


def load_notebook(flags: Mapping[str, Any], *, env=None, cwd: Path | None = None, config_path: Path | None = None) -> NotebookConfig:
    read = reader_for("notebook", NOTEBOOK_KEYS, flags, env=env, cwd=cwd, config_path=config_path)
    inputs = read.get("inputs", as_mounts, ())
    for mount in inputs:
        if not mount.target.startswith("/kaggle/input/"):
            raise ConfigError(f"input {mount.spec()} is not mounted under /kaggle/input/", fix="use SRC:/kaggle/input/<name>")
    serve = read.get("serve", as_bool, False, env="JULIAPACK_SERVE")
    competition = read.get("competition", as_slug, None, env="JULIAPACK_COMPETITION")
    if serve and competition is None:
        raise ConfigError(
            "serve needs the competition: its kaggle_evaluation package comes with the competition's data",
            fix="pass --competition SLUG (or set competition in [notebook])",
        )
    return NotebookConfig(
        dist=read.path("dist", "dist", env="JULIAPACK_OUT"),
        project=read.path("project", None),
        out=read.path("out", "notebook", folder=True),
        naming=read_naming(read),  # dataset titles do not change where the notebook finds their files
        model_arg=read.get("model_arg", as_str, "--model"),
        args=read.get("args", as_args, ()),
        competition=competition,
        title=read.get("title", as_kernel_title, None),
        kernel_slug=read.get("kernel_slug", as_kernel_slug, None),
        accelerator=read.get("accelerator", as_accelerator, None, env="JULIAPACK_ACCELERATOR"),
        image_pinning=read.get("image_pinning", as_choice(PINNING), "original"),
        public=read.get("public", as_bool, False),
        kernel_sources=read.get("kernel_sources", as_str_list, ()),
        submission=read.get("submission", as_str, SUBMISSION_PARQUET if serve else SUBMISSION_CSV),
        serve=serve,
        deadline=read.get("deadline", as_duration, DEFAULT_DEADLINE),
        server=read.get("server", as_server, None),
        inputs=inputs,
        timeout=read.get("timeout", as_duration, 3600.0),
        cache_dir=default_cache_dir(read.layers.env),
    )

