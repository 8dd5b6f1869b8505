"""Settings of `juliapack build`."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from juliapack.accelerators import as_accelerator
from juliapack.config.layers import KNOWN_KEYS, default_cache_dir, reader_for
from juliapack.config.values import (
    Source,
    as_allowed_secrets,
    as_args,
    as_bool,
    as_choice,
    as_env_pairs,
    as_image,
    as_int,
    as_julia_version,
    as_mounts,
    as_registries,
    as_str,
    as_str_list,
    check_known_keys,
    check_upload_name,
)
from juliapack.container import Mount
from juliapack.errors import ConfigError, ProjectError
from juliapack.julia_version import JuliaVersion

KAGGLE_GPU_IMAGE = "gcr.io/kaggle-gpu-images/python:latest"
KAGGLE_CPU_IMAGE = "gcr.io/kaggle-images/python:latest"
# Fixed before precompiling and stored in every archive entry: Julia <= 1.10 validates caches by source mtime.
DEFAULT_SOURCE_DATE_EPOCH = 1577836800  # 2020-01-01T00:00:00Z
PULL_POLICIES = ("missing", "always", "never")
NETWORK_MODES = ("bridge", "host", "none")
CODECS = ("auto", "zstd", "gzip")


@dataclass(frozen=True)
class LayerNames:
    """File names of the packed layers in dist/: stripped of archive extensions (Kaggle unpacks those)."""

    julia: str = "julia"
    depot: str = "dotjulia"
    compiled: str = "compiled"
    app: str = "inference"


@dataclass(frozen=True)
class BuildConfig:
    project: Path
    out: Path
    julia: JuliaVersion | None  # None: take the Manifest's julia_version
    versions_url: str | None  # None: the official one, or the mirror's
    julia_mirror: str | None
    image: str
    pull: str
    registries: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    mounts: tuple[Mount, ...]
    network: str
    cpu_target: str | None  # None: the value the official binaries of that Julia use
    smoke: tuple[str, ...] | None
    entry: str | None  # None: src/<ProjectName>.jl
    names: LayerNames
    exclude: tuple[str, ...]
    codec: str
    source_date_epoch: int
    keep_registries: bool  # offline Pkg.instantiate() installs the General registry when the depot has none
    keep_container: bool
    fresh: bool
    verify: bool
    cache_dir: Path
    allow_secrets: tuple[tuple[str, str], ...] = ()  # member path (or glob) -> why it may ship
    accelerator: str | None = None  # the notebook's (shared with [notebook]); None: the image's kind
    cuda_local: bool = False  # CUDA.jl uses the image's toolkit instead of a runtime artifact


BUILD_KEYS = (
    "project", "out", "dist", "julia", "versions_url", "julia_mirror", "image", "cpu", "pull", "registries", "env",
    "volumes", "network", "cpu_target", "smoke", "entry", "names", "exclude", "codec", "source_date_epoch",
    "prune_registries", "keep_container", "fresh", "verify", "allow_secrets", "accelerator", "cuda_local",
)  # fmt: skip
KNOWN_KEYS["build"] = BUILD_KEYS


def load_build(
    flags: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config_path: Path | None = None,
) -> BuildConfig:
    project_flag = flags.get("project")
    extra = [(cwd or Path.cwd()) / project_flag] if project_flag else []
    read = reader_for("build", BUILD_KEYS, flags, env=env, cwd=cwd, config_path=config_path, also_search=extra)
    project = read.path("project", ".")
    if not project.is_dir():
        raise ProjectError(f"project directory {project} does not exist", fix="pass the folder that holds Project.toml")
    check_build_env(read.get("env", as_env_pairs, ()))
    cpu = read.get("cpu", as_bool, False)
    image = read.get("image", as_image, KAGGLE_CPU_IMAGE if cpu else KAGGLE_GPU_IMAGE, env="JULIAPACK_IMAGE")
    return BuildConfig(
        project=project,
        out=read.path("out", None, env="JULIAPACK_OUT", folder=True) or read.path("dist", "dist", folder=True),
        julia=read.get("julia", as_julia_version, None, env="JULIAPACK_JULIA"),
        versions_url=read.get("versions_url", as_str, None, env="JULIAPACK_VERSIONS_URL"),
        julia_mirror=read.get("julia_mirror", as_str, None, env="JULIAPACK_JULIA_MIRROR"),
        image=image,
        pull=read.get("pull", as_choice(PULL_POLICIES), "missing", env="JULIAPACK_PULL"),
        registries=read.get("registries", as_registries, (), env="JULIAPACK_REGISTRIES"),
        env=read.get("env", as_env_pairs, ()),
        mounts=_volumes(read),
        network=read.get("network", as_choice(NETWORK_MODES), "bridge", env="JULIAPACK_NETWORK"),
        cpu_target=read.get("cpu_target", as_str, None, env="JULIAPACK_CPU_TARGET"),
        smoke=read.get("smoke", as_args, None),
        entry=read.get("entry", as_str, None),
        names=read.get("names", as_layer_names, LayerNames()),
        exclude=read.get("exclude", as_str_list, ()),
        codec=read.get("codec", as_choice(CODECS), "auto", env="JULIAPACK_CODEC"),
        source_date_epoch=read.get("source_date_epoch", as_int, DEFAULT_SOURCE_DATE_EPOCH, env="SOURCE_DATE_EPOCH"),
        keep_registries=not read.get("prune_registries", as_bool, False),
        keep_container=read.get("keep_container", as_bool, False),
        fresh=read.get("fresh", as_bool, False),
        verify=read.get("verify", as_bool, True),
        cache_dir=default_cache_dir(read.layers.env),
        allow_secrets=read.get("allow_secrets", as_allowed_secrets, ()),
        accelerator=read.get("accelerator", as_accelerator, None, env="JULIAPACK_ACCELERATOR"),
        cuda_local=read.get("cuda_local", as_bool, False),
    )


def _volumes(read) -> tuple[Mount, ...]:
    """juliapack.toml's volumes, then the --volume flags: a flag adds a mount, it does not replace the file's."""
    by_target: dict[str, tuple[Mount, Source]] = {}
    for value, where in read.layers.both("volumes"):
        for mount in as_mounts(value, where):
            target = posixpath.normpath(mount.target)
            if target in by_target and by_target[target][0] != mount:
                earlier, first = by_target[target]
                raise ConfigError(
                    f"{first} mounts {earlier.spec()} and {where} mounts {mount.spec()} at the same target",
                    fix="keep one of them (--volume adds to the volumes of juliapack.toml)",
                )
            by_target.setdefault(target, (mount, where))
    return tuple(mount for mount, _ in by_target.values())


# Set by juliapack itself in the build container; overriding them would make the lock describe another build.
RESERVED_BUILD_ENV = {
    "JULIA_DEPOT_PATH": "the depot layout is fixed so that the notebook finds the caches",
    "JULIA_CPU_TARGET": "use --cpu-target (or cpu_target in juliapack.toml)",
    "JULIA_PKG_PRECOMPILE_AUTO": "juliapack precompiles after fixing source mtimes",
    "JULIA_PROJECT": "the project is the one passed to juliapack build",
    "JULIA_LOAD_PATH": "juliapack pins it to @:@stdlib, so nothing of the image joins package loading",
    "HOME": "the depot is /root/.julia, as on Kaggle",
}


def check_build_env(pairs: tuple[tuple[str, str], ...]) -> None:
    for key, _ in pairs:
        if key in RESERVED_BUILD_ENV:
            raise ConfigError(f"--env {key} is set by juliapack itself", fix=RESERVED_BUILD_ENV[key])


def as_layer_names(value: Any, where: Source) -> LayerNames:
    if isinstance(value, LayerNames):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table like {{julia = \"julia\", depot = \"dotjulia\", app = \"inference\"}}", fix="give a TOML table")
    check_known_keys(value, ("julia", "depot", "compiled", "app"), where=str(where))
    names = {key: check_upload_name(as_str(val, where), where) for key, val in value.items()}
    result = LayerNames(**names)
    if len({result.julia, result.depot, result.compiled, result.app}) != 4:
        raise ConfigError(f"{where} gives two layers the same name", fix="use four different names")
    return result


