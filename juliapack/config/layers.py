"""The layers every setting comes from: defaults < juliapack.toml < JULIAPACK_* environment < flags.

`Reader` gives a command typed access to its settings; each value is tagged with where it came from
(the flag, the variable, or the juliapack.toml field), so every error names the place to fix.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from juliapack.config.values import Source, as_path, check_known_keys
from juliapack.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_NAME = "juliapack.toml"
# The flag of a setting whose juliapack.toml name is a plural list: the flag is given once per item.
FLAG_NAMES = {
    "volumes": "--volume", "registries": "--registry", "allow_secrets": "--allow-secret", "inputs": "--input",
    "kernel_sources": "--kernel-source",
}  # fmt: skip
SECTIONS = ("build", "notebook", "upload", "kaggle")
# Top-level keys apply to every command that knows them.
SHARED_KEYS = ("julia", "project", "dist", "slug", "owner")



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
            return flag_value, Source(FLAG_NAMES.get(name, f"--{name.replace('_', '-')}"), self.cwd)
        if env and self.env.get(env) not in (None, ""):
            return self.env[env], Source(f"${env}", self.cwd)
        if name in self.toml:
            return self.toml[name], Source(f"{self.toml_where} field '{name}'", self.toml_dir)
        return None

    def both(self, name: str) -> list[tuple[Any, Source]]:
        """The value of juliapack.toml, then the flag's: for a setting whose flag adds to the file's list."""
        found = [(self.toml[name], Source(f"{self.toml_where} field '{name}'", self.toml_dir))] if name in self.toml else []
        flag_value = self.flags.get(name)
        if flag_value not in (None, (), []):
            found.append((flag_value, Source(FLAG_NAMES.get(name, f"--{name.replace('_', '-')}"), self.cwd)))
        return found


# Settings that name what the workflow makes: `upload` and `notebook` (and so `verify`) must agree on
# them, so each reads them from both sections; a value given twice must be the same value.
WORKFLOW_KEYS = ("owner", "slug", "dataset", "datasets", "model", "model_dataset")
# section -> (other section, the keys it reads from there too): the build pins CUDA for the notebook's accelerator.
SHARED_WITH = {
    "upload": (("notebook", WORKFLOW_KEYS),),
    "notebook": (("upload", WORKFLOW_KEYS), ("build", ("accelerator",))),
    "build": (("notebook", ("accelerator",)),),
}
# Each command's module registers the keys of its section here, so every section is checked by every command.
KNOWN_KEYS: dict[str, Sequence[str]] = {}


def layers_for(
    section: str,
    *,
    known: Sequence[str],
    config_path: Path | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    cwd: Path,
) -> Layers:
    """Read ``[section]`` (plus top-level shared keys, plus the workflow keys of the sections it shares
    them with) of juliapack.toml into a Layers."""
    data = read_toml(config_path) if config_path else {}
    shared = {k: v for k, v in data.items() if not isinstance(v, dict)}
    check_known_keys(shared, SHARED_KEYS, where=f"{config_path} (top level)")
    sections = {k for k, v in data.items() if isinstance(v, dict)}
    check_known_keys({s: None for s in sections}, SECTIONS, where=f"{config_path}")
    for name in sorted(sections):
        check_known_keys(data[name], KNOWN_KEYS.get(name, known if name == section else ()), where=f"{config_path} [{name}]")
    table = _with_shared_workflow_keys(data, section, where=str(config_path))
    merged = {**{k: v for k, v in shared.items() if k in known}, **table}
    toml_dir = config_path.resolve().parent if config_path else cwd
    return Layers(toml=merged, toml_where=f"{config_path} [{section}]", toml_dir=toml_dir, env=env, flags=flags, cwd=cwd)


def _with_shared_workflow_keys(data: Mapping[str, Any], section: str, *, where: str) -> dict[str, Any]:
    table = dict(data.get(section, {}))
    for other, keys in SHARED_WITH.get(section, ()):
        for key, value in data.get(other, {}).items():
            if key not in keys:
                continue
            if key in table and table[key] != value:
                raise ConfigError(
                    f"{where} gives {key} twice: [{section}] {key} = {table[key]!r} and [{other}] {key} = {value!r}",
                    fix=f"keep one of them: upload makes exactly the datasets the notebook mounts, so both read {key}",
                )
            table[key] = value
    return table


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


def default_cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("JULIAPACK_CACHE_DIR"):
        return Path(env["JULIAPACK_CACHE_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("juliapack"))

