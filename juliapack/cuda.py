"""CUDA.jl offline on Kaggle's GPUs: which CUDA runtime the shipped LocalPreferences.toml pins.

CUDA.jl 4+ takes its toolkit from CUDA_Runtime_jll, whose ``.pkg/platform_augmentation.jl`` picks the
``cuda`` platform tag at precompile time: from the ``version`` / ``local`` preferences when set, else
by asking the driver. The build machine has no GPU, so without a preference the tag is ``"none"``, no
toolkit artifact is installed, and on Kaggle (offline) CUDA.jl sees no GPU. A pinned ``version`` skips
the driver query; ``local = "true"`` uses the image's own toolkit. Both are compile-time preferences.

Julia reads a package's preferences only when the project names it (``[deps]``, ``[extras]``,
``[weakdeps]``; loading.jl ``get_uuid_name``), which is why ``CUDA.set_runtime_version!`` adds the JLLs
to ``[extras]``: `add_project_extras` does the same to the shipped Project.toml.
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass
from typing import Any, Collection, Mapping

from juliapack import toml_write
from juliapack.accelerators import Accelerator, accelerator
from juliapack.errors import ConfigError, InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CUDA_RUNTIME = "CUDA_Runtime_jll"
CUDA_COMPILER = "CUDA_Compiler_jll"  # CUDA.jl 5.9+: ptxas & co., pinned along with the runtime
UUIDS = {CUDA_RUNTIME: "76a88914-d11a-5bdc-97e0-2f5a05c973a2", CUDA_COMPILER: "d1e2174e-dfdc-576e-b43e-73b79eb1aca8"}
KAGGLE_GPU_IMAGE_CUDA = (12, 8)  # the CUDA of Kaggle's GPU image, used when the build image reports none

Version = tuple[int, int]


# First and last CUDA toolkit supporting each capability (CUDA_Runtime_jll platform_augmentation.jl,
# cuda_cap_db); None: still supported by the newest toolkits.
_TOOLKITS: dict[Version, tuple[Version, Version | None]] = {
    (6, 0): ((8, 0), (12, 9)),
    (7, 5): ((10, 0), None),
    (8, 0): ((11, 0), None),
    (8, 9): ((11, 8), None),
    (9, 0): ((11, 8), None),
    (12, 0): ((12, 8), None),
}


@dataclass(frozen=True)
class Pin:
    version: Version | None
    local: bool | None


@dataclass(frozen=True)
class CudaPreferences:
    text: str  # the merged LocalPreferences.toml; write it only when `changed`
    messages: tuple[str, ...]
    changed: bool
    project_extras: tuple[tuple[str, str], ...] = ()  # (name, uuid) to add to [extras] of Project.toml


def _text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def parse_cuda_version(text: str, *, where: str) -> Version:
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", text.strip())
    if not match:
        raise InputError(f"{where} is {text!r}, not a CUDA version", fix='give MAJOR.MINOR, e.g. "12.8"')
    return int(match[1]), int(match[2])


def _local_flag(value: Any, *, where: str) -> bool:
    # CUDA_Runtime_jll accepts a Bool or a string Julia's tryparse(Bool, ...) reads.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip() in ("true", "false", "1", "0"):
        return value.strip() in ("true", "1")
    raise InputError(f"{where} is {value!r}, not a boolean", fix='set local = "true" or local = "false"')


def _pin(section: Mapping[str, Any], name: str) -> Pin:
    where = f"[{name}] {{}} in LocalPreferences.toml"
    version, local = section.get("version"), section.get("local")
    if version == "local":  # CUDA.jl 4's form, still read: local toolkit, version in actual_version
        actual = section.get("actual_version")
        return Pin(parse_cuda_version(str(actual), where=where.format("actual_version")) if actual else None, True)
    if version is not None and not isinstance(version, str):  # CUDA_Runtime_jll ignores a non-string pin
        raise InputError(f"{where.format('version')} is {version!r}, not a string", fix='quote it: version = "12.8"')
    parsed = parse_cuda_version(version, where=where.format("version")) if version is not None else None
    return Pin(parsed, _local_flag(local, where=where.format("local")) if local is not None else None)


def _effective(name: str, preferences: Mapping[str, Any], project_preferences: Mapping[str, Any]) -> dict[str, Any]:
    """Project.toml's [preferences.NAME] overlaid by LocalPreferences.toml's [NAME], as Julia merges them."""
    merged = dict(project_preferences.get(name) or {})
    merged.update(preferences.get(name) or {})
    return merged


def _check_supported(version: Version, gpu: Accelerator, *, source: str) -> None:
    if gpu.capability is None:
        return
    first, last = _TOOLKITS[gpu.capability]
    sm = f"sm_{gpu.capability[0]}{gpu.capability[1]}"
    if version < first:
        raise ConfigError(
            f"{source} pins CUDA {_text(version)}, older than the {gpu.gpu} ({sm}) needs (CUDA {_text(first)}+)",
            fix=f'pin CUDA {_text(first)} or newer ([{CUDA_RUNTIME}] version = "{_text(max(first, KAGGLE_GPU_IMAGE_CUDA))}")',
        )
    if last is not None and version > last:
        raise ConfigError(
            f"{source} pins CUDA {_text(version)}, but CUDA {version[0]} dropped the {gpu.gpu} ({sm}): CUDA {_text(last)} is the last for it",
            fix=f'pin CUDA {_text(last)} or older ([{CUDA_RUNTIME}] version = "{_text(min(last, KAGGLE_GPU_IMAGE_CUDA))}"), or choose another accelerator',
        )


def _local_pin(runtime: Pin, gpu: Accelerator, image: Version | None) -> Pin:
    """The image's own toolkit: its version is pinned too, so the build need not detect it."""
    if image is None:
        raise ConfigError(
            "a local CUDA toolkit is requested (local = true, or cuda_local), but the image has no CUDA",
            fix="build and run on Kaggle's GPU image, or use a CUDA runtime artifact instead (drop local / cuda_local)",
        )
    if runtime.version is not None and runtime.version != image:
        raise ConfigError(
            f"LocalPreferences.toml pins CUDA {_text(runtime.version)} from the local toolkit, but the image's toolkit is CUDA {_text(image)}",
            fix=f'set [{CUDA_RUNTIME}] version = "{_text(image)}" (or drop the version: juliapack pins the image\'s)',
        )
    _check_supported(image, gpu, source="the image's local toolkit")
    return Pin(image, True)


def _default_pin(gpu: Accelerator, image: Version | None, messages: list[str]) -> Pin:
    """No pin: the image's CUDA, capped at the newest toolkit that still supports the GPU."""
    version = image
    if version is None:
        version = KAGGLE_GPU_IMAGE_CUDA
        messages.append(f"the build image reports no CUDA: pinning CUDA {_text(version)}, the CUDA of Kaggle's GPU image")
    assert gpu.capability is not None
    first, last = _TOOLKITS[gpu.capability]
    if last is not None and version > last:
        messages.append(f"the {gpu.gpu} needs CUDA {_text(last)} or older: pinning {_text(last)} rather than the image's {_text(version)}")
        version = last
    _check_supported(version, gpu, source="the image")
    return Pin(version, None)


def _wanted(runtime: Pin, gpu: Accelerator, image: Version | None, *, cuda_local: bool, messages: list[str]) -> Pin | None:
    """The runtime pin to ship; None leaves the preferences as they are."""
    if cuda_local or runtime.local:
        return _local_pin(runtime, gpu, image)
    if runtime.version is not None:
        _check_supported(runtime.version, gpu, source="LocalPreferences.toml")
        if image is not None and runtime.version[0] > image[0]:
            messages.append(
                f"CUDA {_text(runtime.version)} is pinned but the image has CUDA {_text(image)}: "
                "its driver may be too old for that runtime (CUDA.jl then needs CUDA_Driver_jll's forward-compatible driver)"
            )
        return runtime
    if gpu.capability is None:
        messages.append("no GPU accelerator: CUDA.jl is compiled without a toolkit (cuda = \"none\") and the notebook uses the CPU only")
        return None
    return _default_pin(gpu, image, messages)


def _updates(pin: Pin, section: Mapping[str, Any], name: str) -> dict[str, str]:
    """The keys to write to one JLL's (effective) section so that it holds ``pin``; CUDA.set_runtime_version!
    stores both as strings. CUDA.jl 4's version = "local" is replaced by the explicit pair."""
    current = _pin(section, name)
    legacy = section.get("version") == "local"
    explicit_local = section.get("local") is not None and _local_flag(section["local"], where=f"[{name}] local")
    keys = {}
    if pin.version is not None and (current.version != pin.version or legacy):
        keys["version"] = _text(pin.version)
    if pin.local and not explicit_local:
        keys["local"] = "true"
    return keys


def _pin_message(name: str, keys: Mapping[str, str], current: Pin) -> str:
    if name == CUDA_RUNTIME and "version" in keys and current.version is None:
        return (
            f"pinned {name} to CUDA {keys['version']} in the shipped LocalPreferences.toml: the build machine has no GPU, "
            "so without it CUDA.jl would be compiled with no toolkit and find no GPU on Kaggle"
        )
    pairs = ", ".join(f'{key} = "{value}"' for key, value in sorted(keys.items()))
    return f"set {pairs} for {name} in the shipped LocalPreferences.toml"


def _apply(pin: Pin, *, manifest: Collection[str], project_names: Collection[str], preferences: Mapping[str, Any],
           project_preferences: Mapping[str, Any], messages: list[str]) -> CudaPreferences:  # fmt: skip
    merged = copy.deepcopy(dict(preferences))
    extras = []
    for name in (CUDA_RUNTIME, CUDA_COMPILER):
        section = _effective(name, preferences, project_preferences)
        current = _pin(section, name)
        if name not in manifest:
            continue
        own_pin = name == CUDA_COMPILER and (current.version is not None or current.local is not None)
        keys = {} if own_pin else _updates(pin, section, name)  # a compiler pinned on its own stays
        if keys:
            merged.setdefault(name, {}).update(keys)
            messages.append(_pin_message(name, keys, current))
        pinned = keys or current.version is not None or current.local is not None
        if pinned and name not in project_names:
            extras.append((name, UUIDS[name]))
            messages.append(f"added {name} to [extras] of the shipped Project.toml: Julia reads preferences only of packages the project names")
    changed = merged != dict(preferences) or bool(extras)
    return CudaPreferences(toml_write.dumps(merged), tuple(messages), changed, tuple(extras))


def cuda_preferences(
    *,
    manifest: Mapping[str, str | None],
    project_names: Collection[str],
    preferences: Mapping[str, Any],
    project_preferences: Mapping[str, Any] | None = None,
    accelerator_name: str,
    image_cuda: str | None,
    cuda_local: bool = False,
) -> CudaPreferences:
    """The preferences to ship for a notebook on ``accelerator_name``.

    ``manifest``: package name -> version of the Manifest; ``project_names``: the names in Project.toml's
    [deps], [weakdeps] and [extras]; ``preferences``: LocalPreferences.toml as read;
    ``project_preferences``: Project.toml's [preferences]; ``image_cuda``: the image's CUDA ("12.8"), None
    for a CPU image; ``cuda_local``: use the image's toolkit instead of an artifact.
    Raises ConfigError when the user's pin cannot work there, InputError for unreadable preferences.
    """
    gpu = accelerator(accelerator_name)
    image = parse_cuda_version(image_cuda, where="the image's CUDA version") if image_cuda else None
    messages: list[str] = []
    unchanged = CudaPreferences(toml_write.dumps(preferences), (), False)
    if CUDA_RUNTIME not in manifest:
        if cuda_local:
            raise ConfigError(f"cuda_local is set but the Manifest has no {CUDA_RUNTIME}", fix="drop cuda_local, or use CUDA.jl 4 or later")
        if "CUDA" in manifest:
            note = f"CUDA.jl {manifest['CUDA'] or ''} predates {CUDA_RUNTIME} (CUDA.jl < 4): it picks its toolkit at run time from its own artifacts, all of which are packed"
            return CudaPreferences(unchanged.text, (note,), False)
        return unchanged
    runtime = _pin(_effective(CUDA_RUNTIME, preferences, project_preferences or {}), CUDA_RUNTIME)
    pin = _wanted(runtime, gpu, image, cuda_local=cuda_local, messages=messages)
    if pin is None:
        return CudaPreferences(unchanged.text, tuple(messages), False)
    return _apply(pin, manifest=manifest, project_names=project_names, preferences=preferences,
                  project_preferences=project_preferences or {}, messages=messages)  # fmt: skip


def add_project_extras(project_text: str, extras: tuple[tuple[str, str], ...]) -> str:
    """Project.toml text with each (name, uuid) in [extras], the rest of the file byte for byte."""
    present = tomllib.loads(project_text).get("extras", {})
    added = [f'{name} = "{uuid}"\n' for name, uuid in extras if name not in present]
    if not added:
        return project_text
    lines = project_text.splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if re.fullmatch(r"\[extras\]\s*(#.*)?", line.strip())), None)
    if header is None:
        body = project_text if project_text.endswith("\n") or not project_text else project_text + "\n"
        return body + ("\n" if body else "") + "[extras]\n" + "".join(added)
    return "".join(lines[: header + 1] + added + lines[header + 1 :])
