"""Settings for every command: defaults < juliapack.toml < JULIAPACK_* environment < flags.

All validation happens here, so the stages receive frozen dataclasses they can trust. Each error names
where the bad value came from (the flag, the variable, or the juliapack.toml line/field) and how to fix it.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from juliapack.errors import ConfigError, InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_NAME = "juliapack.toml"
OFFICIAL_JULIA_BASE = "https://julialang-s3.julialang.org"
OFFICIAL_VERSIONS_URL = f"{OFFICIAL_JULIA_BASE}/bin/versions.json"
KAGGLE_GPU_IMAGE = "gcr.io/kaggle-gpu-images/python:latest"
KAGGLE_CPU_IMAGE = "gcr.io/kaggle-images/python:latest"
# Fixed before precompiling and stored in every archive entry: Julia <= 1.10 validates caches by source mtime.
DEFAULT_SOURCE_DATE_EPOCH = 1577836800  # 2020-01-01T00:00:00Z
# Kaggle unpacks uploads with these endings into folders, so no file we upload may end with one.
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst", ".zip", ".gz", ".7z")

PULL_POLICIES = ("missing", "always", "never")
NETWORK_MODES = ("bridge", "host", "none")
CODECS = ("auto", "zstd", "gzip")


# --------------------------------------------------------------------------- reading the layers


@dataclass(frozen=True)
class Source:
    """Where a value came from: named in error messages; relative paths in it are relative to ``base``."""

    label: str
    base: Path = Path(".")

    def __str__(self) -> str:
        return self.label


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}", fix="check the path and its permissions") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text (byte {error.start})", fix="save it as UTF-8") from error
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}", fix="fix the line it names") from error


def has_section(section: str, *, cwd: Path | None = None, config_path: Path | None = None) -> bool:
    """Whether the juliapack.toml in use has a ``[section]`` table (e.g. a notebook to verify after a build)."""
    path = find_config(config_path, search=[(cwd or Path.cwd())])
    return bool(path) and isinstance(read_toml(path).get(section), dict)


def find_config(explicit: Path | None, *, search: Sequence[Path]) -> Path | None:
    """The juliapack.toml to use: --config if given, else the first that exists in ``search`` dirs."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist", fix="pass an existing file to --config")
        return explicit
    for folder in search:
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def check_known_keys(table: Mapping[str, Any], known: Sequence[str], *, where: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(sorted(known))}"
            raise ConfigError(f"unknown field '{key}' in {where}", fix=hint)


@dataclass(frozen=True)
class Layers:
    """The values for one command, each tagged with where it came from; flags win over env over toml."""

    toml: Mapping[str, Any]
    toml_where: str
    toml_dir: Path
    env: Mapping[str, str]
    flags: Mapping[str, Any]
    cwd: Path

    def get(self, name: str, *, env: str | None = None) -> tuple[Any, Source] | None:
        flag_value = self.flags.get(name)
        if flag_value is not None and flag_value != () and flag_value != []:
            return flag_value, Source(f"--{name.replace('_', '-')}", self.cwd)
        if env and self.env.get(env) not in (None, ""):
            return self.env[env], Source(f"${env}", self.cwd)
        if name in self.toml:
            return self.toml[name], Source(f"{self.toml_where} field '{name}'", self.toml_dir)
        return None


def layers_for(
    section: str,
    *,
    known: Sequence[str],
    config_path: Path | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    cwd: Path,
) -> Layers:
    """Read ``[section]`` (plus top-level shared keys) of juliapack.toml into a Layers."""
    data = read_toml(config_path) if config_path else {}
    shared = {k: v for k, v in data.items() if not isinstance(v, dict)}
    check_known_keys(shared, SHARED_KEYS, where=f"{config_path} (top level)")
    sections = {k for k, v in data.items() if isinstance(v, dict)}
    check_known_keys({s: None for s in sections}, SECTIONS, where=f"{config_path}")
    table = dict(data.get(section, {}))
    where = f"{config_path} [{section}]"
    check_known_keys(table, known, where=where)
    merged = {**{k: v for k, v in shared.items() if k in known}, **table}
    toml_dir = config_path.resolve().parent if config_path else cwd
    return Layers(toml=merged, toml_where=where, toml_dir=toml_dir, env=env, flags=flags, cwd=cwd)


SECTIONS = ("build", "notebook", "verify", "upload", "kaggle")
# Top-level keys apply to every command that knows them.
SHARED_KEYS = ("julia", "project", "dist", "slug", "owner")


# --------------------------------------------------------------------------- value parsers


def as_str(value: Any, where: Source) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string, got {value!r}", fix="give a text value")
    return value.strip()


def as_bool(value: Any, where: Source) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.lower() in ("1", "true", "yes", "on")
    raise ConfigError(f"{where} must be true or false, got {value!r}", fix="use true/false (or 1/0 in the environment)")


def as_int(value: Any, where: Source, *, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a whole number, got {value!r}", fix="give a number") from None
    if number < minimum:
        raise ConfigError(f"{where} must be at least {minimum}, got {number}", fix=f"give a number >= {minimum}")
    return number


def as_choice(choices: Sequence[str]) -> Callable[[Any, Source], str]:
    def parse(value: Any, where: Source) -> str:
        text = as_str(value, where).lower()
        if text not in choices:
            raise ConfigError(f"{where} is '{value}', not one of {', '.join(choices)}", fix=f"use one of: {', '.join(choices)}")
        return text

    return parse


def as_str_list(value: Any, where: Source) -> tuple[str, ...]:
    """A list from TOML, a tuple of repeated flags, or a whitespace/comma separated env value."""
    if isinstance(value, str):
        items = [item for item in re.split(r"[,\s]+", value) if item]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(f"{where} must be a list, got {value!r}", fix="give a list of strings")
    return tuple(as_str(item, where) for item in items)


def as_args(value: Any, where: Source) -> tuple[str, ...]:
    """Command-line arguments: a shell-quoted string or a list of strings."""
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as error:
            raise ConfigError(f"{where} cannot be split into arguments: {error}", fix="check the quoting") from None
    return as_str_list(value, where)


JULIA_VERSION_SPEC = re.compile(r"^\d+\.\d+(\.\d+(-[0-9A-Za-z.]+)?)?$")


def as_julia_version(value: Any, where: Source) -> str:
    text = as_str(value, where).removeprefix("v")
    if not JULIA_VERSION_SPEC.match(text):
        raise ConfigError(
            f"{where} is '{value}', which is not a Julia version",
            fix="give MAJOR.MINOR for the latest patch (e.g. 1.10) or an exact MAJOR.MINOR.PATCH (e.g. 1.10.5)",
        )
    return text


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def as_env_pairs(value: Any, where: Source) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        items = [f"{k}={v}" for k, v in value.items()]
    else:
        items = list(as_str_list(value, where)) if not isinstance(value, (list, tuple)) else list(value)
    pairs = []
    for item in items:
        key, sep, val = str(item).partition("=")
        if not sep or not ENV_NAME.match(key):
            raise ConfigError(f"{where} has '{item}', not KEY=VALUE", fix="write each as NAME=value, e.g. --env JULIA_NUM_THREADS=2")
        pairs.append((key, val))
    return tuple(pairs)


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True

    def spec(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


def as_mounts(value: Any, where: Source) -> tuple[Mount, ...]:
    mounts = []
    for item in as_str_list(value, where) if not isinstance(value, (list, tuple)) else value:
        parts = str(item).split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise ConfigError(f"{where} has '{item}', not SRC:DST[:ro|rw]", fix="write it as /host/path:/container/path[:ro]")
        source = (where.base / parts[0]).expanduser().resolve()
        if not source.exists():
            raise ConfigError(f"{where}: mount source {source} does not exist", fix="create it or fix the path")
        if not parts[1].startswith("/"):
            raise ConfigError(f"{where}: mount target '{parts[1]}' is not absolute", fix="give an absolute path inside the container")
        mounts.append(Mount(source, parts[1], read_only=(parts[2] != "rw") if len(parts) == 3 else True))
    return tuple(mounts)


def as_registries(value: Any, where: Source) -> tuple[str, ...]:
    """Registry git URLs as given, or local folders (made absolute; the build mounts them)."""
    registries = []
    for item in as_str_list(value, where):
        if "://" in item or item.startswith("git@"):
            registries.append(item)
            continue
        folder = (where.base / item).expanduser().resolve()
        if not (folder / "Registry.toml").is_file():
            raise ConfigError(f"{where}: {folder} is not a registry (no Registry.toml)", fix="give a registry's git URL or its local clone")
        registries.append(str(folder))
    return tuple(registries)


def check_upload_name(name: str, where: Source) -> str:
    if "/" in name or name in (".", "..") or not name.strip():
        raise ConfigError(f"{where} '{name}' is not a plain file name", fix="use a name without slashes")
    if name.lower().endswith(ARCHIVE_SUFFIXES):
        raise ConfigError(
            f"{where} '{name}' ends like an archive, and Kaggle would unpack it on upload",
            fix="drop the extension (juliapack's notebook unpacks the file itself)",
        )
    return name


# --------------------------------------------------------------------------- build


@dataclass(frozen=True)
class LayerNames:
    """File names of the packed layers in dist/: stripped of archive extensions (Kaggle unpacks those)."""

    julia: str = "julia"
    depot: str = "dotjulia"
    app: str = "inference"


@dataclass(frozen=True)
class BuildConfig:
    project: Path
    out: Path
    julia: str | None  # None: take the Manifest's julia_version
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
    keep_registries: bool
    keep_container: bool
    fresh: bool
    verify: bool
    cache_dir: Path


BUILD_KEYS = (
    "project", "out", "dist", "julia", "versions_url", "julia_mirror", "image", "cpu", "pull", "registries", "env",
    "mounts", "network", "cpu_target", "smoke", "entry", "names", "exclude", "codec", "source_date_epoch",
    "keep_registries", "keep_container", "fresh", "verify",
)  # fmt: skip


def default_cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("JULIAPACK_CACHE_DIR"):
        return Path(env["JULIAPACK_CACHE_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("juliapack"))


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
        from juliapack.errors import ProjectError

        raise ProjectError(f"project directory {project} does not exist", fix="pass the folder that holds Project.toml")
    check_build_env(read.get("env", as_env_pairs, ()))
    cpu = read.get("cpu", as_bool, False)
    image = read.get("image", as_str, KAGGLE_CPU_IMAGE if cpu else KAGGLE_GPU_IMAGE, env="JULIAPACK_IMAGE")
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
        mounts=read.get("mounts", as_mounts, ()),
        network=read.get("network", as_choice(NETWORK_MODES), "bridge", env="JULIAPACK_NETWORK"),
        cpu_target=read.get("cpu_target", as_str, None, env="JULIAPACK_CPU_TARGET"),
        smoke=read.get("smoke", as_args, None),
        entry=read.get("entry", as_str, None),
        names=read.get("names", as_layer_names, LayerNames()),
        exclude=read.get("exclude", as_str_list, ()),
        codec=read.get("codec", as_choice(CODECS), "auto", env="JULIAPACK_CODEC"),
        source_date_epoch=read.get("source_date_epoch", as_int, DEFAULT_SOURCE_DATE_EPOCH, env="SOURCE_DATE_EPOCH"),
        keep_registries=read.get("keep_registries", as_bool, False),
        keep_container=read.get("keep_container", as_bool, False),
        fresh=read.get("fresh", as_bool, False),
        verify=read.get("verify", as_bool, True),
        cache_dir=default_cache_dir(read.layers.env),
    )


# Set by juliapack itself in the build container; overriding them would make the lock describe another build.
RESERVED_BUILD_ENV = {
    "JULIA_DEPOT_PATH": "the depot layout is fixed so that the notebook finds the caches",
    "JULIA_CPU_TARGET": "use --cpu-target (or cpu_target in juliapack.toml)",
    "JULIA_PKG_PRECOMPILE_AUTO": "juliapack precompiles after fixing source mtimes",
    "JULIA_PROJECT": "the project is the one passed to juliapack build",
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
    check_known_keys(value, ("julia", "depot", "app"), where=str(where))
    names = {key: check_upload_name(as_str(val, where), where) for key, val in value.items()}
    result = LayerNames(**names)
    if len({result.julia, result.depot, result.app}) != 3:
        raise ConfigError(f"{where} gives two layers the same name", fix="use three different names")
    return result


# --------------------------------------------------------------------------- shared by later commands

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def slugify(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")



def as_slug(value: Any, where: Source) -> str:
    text = as_str(value, where)
    if not SLUG.match(text) or not 3 <= len(text) <= 50:
        raise ConfigError(
            f"{where} '{text}' is not a valid Kaggle slug",
            fix="use 3-50 lowercase letters, digits and dashes, starting and ending with a letter or digit",
        )
    return text


def as_owner(value: Any, where: Source) -> str:
    text = as_str(value, where)
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", text):
        raise ConfigError(f"{where} '{text}' is not a Kaggle user name", fix="give your Kaggle user name (kaggle.com/<name>)")
    return text


def as_dataset_ref(value: Any, where: Source) -> str:
    """owner/slug of a Kaggle dataset."""
    text = as_str(value, where)
    owner, sep, slug = text.partition("/")
    if not sep:
        raise ConfigError(f"{where} '{text}' is not OWNER/SLUG", fix="write it as owner/dataset-slug")
    return f"{as_owner(owner, where)}/{as_slug(slug, where)}"


class Reader:
    """Typed access to one command's layers: ``get`` parses a value (or returns the default)."""

    def __init__(self, layers: Layers) -> None:
        self.layers = layers

    def get(self, name: str, parse: Callable[[Any, Source], Any], default: Any, *, env: str | None = None) -> Any:
        found = self.layers.get(name, env=env)
        return default if found is None else parse(*found)

    def path(self, name: str, default: str | None, *, env: str | None = None, folder: bool = False) -> Path | None:
        """A path setting; with ``folder``, one juliapack writes into, so it must not be a file."""
        found = self.layers.get(name, env=env)
        path = as_path(*found) if found else (self.layers.cwd / default).resolve() if default is not None else None
        if folder and path is not None and path.exists() and not path.is_dir():
            where = found[1] if found else Source(f"the default {name} folder")
            raise ConfigError(f"{where}: {path} exists and is not a folder", fix="pass a folder (or a path that does not exist yet)")
        return path


def reader_for(
    section: str, known: Sequence[str], flags: Mapping[str, Any], *, env, cwd: Path | None, config_path: Path | None, also_search=()
) -> Reader:
    """The layers of one command: juliapack.toml found in ``cwd`` (then ``also_search``), env, flags."""
    env = os.environ if env is None else env
    cwd = (cwd or Path.cwd()).resolve()
    path = find_config(config_path, search=[cwd, *also_search])
    return Reader(layers_for(section, known=known, config_path=path, env=env, flags=flags, cwd=cwd))


def as_path(value: Any, where: Source) -> Path:
    return (where.base / as_str(value, where)).expanduser().resolve()


@dataclass(frozen=True)
class KaggleIdentity:
    """Names on Kaggle shared by upload, notebook and push. None: decided later (credentials, lock)."""

    owner: str | None  # None: the authenticated user
    slug: str | None  # base slug; None: the project name, slugified
    title: str | None


IDENTITY_KEYS = ("owner", "slug", "title")


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


def as_dataset_overrides(value: Any, where: Source) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table like {{app = \"my-app\"}}", fix="give a TOML table of role = slug")
    check_known_keys(value, ("julia", "depot", "app", "model"), where=str(where))
    return {role: as_slug(slug, where) for role, slug in value.items()}


# --------------------------------------------------------------------------- notebook and verify


@dataclass(frozen=True)
class ModelRef:
    """The model the notebook passes to the entry point: a local file (uploaded as its own dataset by
    `upload`) or a file of a dataset already on Kaggle (``owner/dataset/file``)."""

    path: Path | None = None
    dataset: str | None = None  # owner/slug, when already on Kaggle
    file: str | None = None

    @property
    def name(self) -> str:
        return self.path.name if self.path else str(self.file)


def as_model(value: Any, where: Source) -> ModelRef:
    text = as_str(value, where)
    local = (where.base / text).expanduser()
    first = text.split("/")[0]
    if not local.exists() and first not in ("", ".", "..", "~") and (where.base / first).is_dir():  # a mistyped path
        raise InputError(f"{where}: the model {local} does not exist", fix="check the path of your model file")
    if local.exists():
        if not local.is_file():
            raise InputError(f"{where}: the model {local} is a directory", fix="pass the model file itself")
        check_upload_name(local.name, where)
        return ModelRef(path=local.resolve())
    parts = text.split("/")
    if len(parts) == 3 and not text.startswith((".", "/", "~")):
        owner, slug, name = parts
        return ModelRef(dataset=as_dataset_ref(f"{owner}/{slug}", where), file=check_upload_name(name, where))
    raise InputError(
        f"{where}: the model {text} is neither a file nor OWNER/DATASET/FILE",
        fix="pass the path of your model file, or owner/dataset-slug/file for one already on Kaggle",
    )


def as_kernel_title(value: Any, where: Source) -> str:
    title = as_str(value, where)
    if not 5 <= len(title) <= 50:
        raise ConfigError(f"{where} '{title}' has {len(title)} characters; Kaggle wants 5-50", fix="choose a title of 5-50 characters")
    return title


def as_kernel_slug(value: Any, where: Source) -> str:
    slug = as_slug(value, where)
    if len(slug) < 5:
        raise ConfigError(f"{where} '{slug}' is shorter than Kaggle's 5 characters", fix="choose a slug of 5-50 characters")
    return slug


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


def as_kernel_ref(value: Any, where: Source) -> str:
    """owner/slug of a Kaggle notebook."""
    text = as_str(value, where)
    owner, sep, slug = text.partition("/")
    if not sep or not owner or not SLUG.match(slug) or len(slug) > 50:
        raise ConfigError(f"{where} '{text}' is not OWNER/SLUG of a notebook", fix="write it as owner/notebook-slug, e.g. alice/my-inference")
    return f"{as_owner(owner, where)}/{slug}"


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def as_duration(value: Any, where: Source) -> float:
    """Seconds, from a number or text like 90, 90s, 30m, 2h."""
    found = DURATION.match(str(value)) if not isinstance(value, bool) else None
    if not found or float(found.group(1)) <= 0:
        raise ConfigError(f"{where} is '{value}', not a duration", fix="give seconds, or a number with s, m or h (e.g. 30m, 2h)")
    return float(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[found.group(2)]
