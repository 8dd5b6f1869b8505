"""Value parsers: a raw value from a flag, the environment or juliapack.toml, checked and typed.

Each takes the value and its `Source` and raises a ConfigError naming that source and the fix.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from juliapack.container import Mount
from juliapack.errors import ConfigError, InputError
from juliapack.julia_version import JuliaVersion, version_spec
from juliapack.workflow.names import OWNER, SLUG, file_name_problem


@dataclass(frozen=True)
class Source:
    """Where a value came from: named in error messages; relative paths in it are relative to ``base``."""

    label: str
    base: Path = Path(".")

    def __str__(self) -> str:
        return self.label



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


def as_allowed_secrets(value: Any, where: Source) -> tuple[tuple[str, str], ...]:
    """PATH -> REASON: a TOML table, or PATH=REASON items (repeated flags)."""
    if isinstance(value, dict):
        items = list(value.items())
    else:
        pairs = [str(item).partition("=") for item in (value if isinstance(value, (list, tuple)) else [value])]
        if any(not sep for _, sep, _ in pairs):
            raise ConfigError(f"{where} has an entry without =REASON", fix="write each as PATH=why it may ship, e.g. --allow-secret test/fixture.pem='test key'")
        items = [(path, reason) for path, _, reason in pairs]
    from juliapack.secret_scan import Allowlist

    Allowlist(dict(items), option=str(where))  # the same checks the scan applies
    return tuple(sorted((str(path), str(reason).strip()) for path, reason in items))


def as_julia_version(value: Any, where: Source) -> JuliaVersion:
    return version_spec(as_str(value, where), where=str(where))


def as_args(value: Any, where: Source) -> tuple[str, ...]:
    """Command-line arguments: a shell-quoted string or a list of strings."""
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as error:
            raise ConfigError(f"{where} cannot be split into arguments: {error}", fix="check the quoting") from None
    return as_str_list(value, where)

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


# A Docker image reference: [host[:port]/]path[:tag][@digest], path components lowercase (distribution/reference).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(
    rf"^(?:(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)


def as_image(value: Any, where: Source) -> str:
    text = as_str(value, where)
    if not IMAGE_REFERENCE.match(text) or len(text) > 255:
        raise ConfigError(
            f"{where} is '{text}', not a Docker image name",
            fix="give NAME[:TAG] in lowercase, e.g. gcr.io/kaggle-gpu-images/python:latest",
        )
    return text


def as_mounts(value: Any, where: Source) -> tuple[Mount, ...]:
    mounts = []
    for item in as_str_list(value, where) if not isinstance(value, (list, tuple)) else value:
        parts = str(item).split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise ConfigError(f"{where} has '{item}', not SRC:DST[:ro|rw]", fix="write it as /host/path:/container/path[:ro], as docker -v takes it")
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
    problem = file_name_problem(name)
    if problem:
        raise ConfigError(f"{where} '{name}' {problem}", fix="use a plain file name without an archive extension (juliapack's notebook unpacks the file itself)")
    return name


RENAMED = {"mounts": "volumes", "gpu": "accelerator", "keep_registries": "prune_registries"}  # settings of earlier versions: say what they became


def check_known_keys(table: Mapping[str, Any], known: Sequence[str], *, where: str) -> None:
    for key in table:
        if key not in known:
            close = [RENAMED[key]] if RENAMED.get(key) in known else difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(sorted(known))}"
            raise ConfigError(f"unknown field '{key}' in {where}", fix=hint)


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
    if not OWNER.match(text):
        raise ConfigError(f"{where} '{text}' is not a Kaggle user name", fix="give your Kaggle user name (kaggle.com/<name>)")
    return text


def as_dataset_ref(value: Any, where: Source) -> str:
    """owner/slug of a Kaggle dataset."""
    text = as_str(value, where)
    owner, sep, slug = text.partition("/")
    if not sep:
        raise ConfigError(f"{where} '{text}' is not OWNER/SLUG", fix="write it as owner/dataset-slug")
    return f"{as_owner(owner, where)}/{as_slug(slug, where)}"


def as_path(value: Any, where: Source) -> Path:
    return (where.base / as_str(value, where)).expanduser().resolve()


def as_dataset_overrides(value: Any, where: Source) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table like {{app = \"my-app\"}}", fix="give a TOML table of role = slug")
    check_known_keys(value, ("julia", "depot", "compiled", "app", "model"), where=str(where))
    return {role: as_slug(slug, where) for role, slug in value.items()}


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


SERVER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def as_server(value: Any, where: Source) -> str:
    """The competition's InferenceServer named as module:Class (e.g. jane_street_inference_server:JSInferenceServer)."""
    text = as_str(value, where)
    if not SERVER.match(text):
        raise ConfigError(f"{where} '{text}' is not MODULE:CLASS", fix="name the module and the class, e.g. tiny_inference_server:TinyInferenceServer")
    return text
