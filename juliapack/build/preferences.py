"""The preferences the app layer ships: CUDA.jl's runtime, pinned for the accelerator the notebook runs on.

The build machine has no GPU: without a pin, CUDA_Runtime_jll's caches record ``cuda = "none"`` and
CUDA.jl sees no GPU on Kaggle, offline, for good (`juliapack.cuda` decides the pin). The preferences go
into the staged app's LocalPreferences.toml, and the JLLs into its Project.toml's [extras] (Julia reads a
package's preferences only when the project names it), before anything is instantiated or precompiled.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from juliapack import accelerators, cuda
from juliapack.build.julia_layer import ImageFacts
from juliapack.errors import InputError
from juliapack.fsutil import write_text_atomic
from juliapack.project import JuliaProject
from juliapack.report import Reporter

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PREFERENCE_FILES = ("JuliaLocalPreferences.toml", "LocalPreferences.toml")


def pin_cuda(project: JuliaProject, staged: Path, *, accelerator: str | None, image: ImageFacts, cuda_local: bool, epoch: int, reporter: Reporter) -> bool:  # noqa: PLR0913
    """Write the CUDA runtime pin into the staged app when it needs one; True if anything changed."""
    name = accelerators.for_build(accelerator, image="the build image", image_cuda=image.cuda).name
    decision = cuda.cuda_preferences(
        manifest={package.name: package.version for package in project.packages},
        project_names=project.declared,
        preferences=_local_preferences(project),
        project_preferences=project.preferences,
        accelerator_name=name,
        image_cuda=image.cuda,
        cuda_local=cuda_local,
    )
    for message in decision.messages:
        reporter.info(f"CUDA: {message}")
    if not decision.changed:
        return False
    _write(staged / _preferences_name(project), decision.text, epoch)
    project_file = staged / project.project_file.name
    _write(project_file, cuda.add_project_extras(project_file.read_text(encoding="utf-8"), decision.project_extras), epoch)
    return True


def _preferences_name(project: JuliaProject) -> str:
    return next((name for name in PREFERENCE_FILES if (project.root / name).is_file()), "LocalPreferences.toml")


def _local_preferences(project: JuliaProject) -> dict:
    path = project.root / _preferences_name(project)
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not valid TOML: {error}", fix="fix the line it names") from None


def _write(path: Path, text: str, epoch: int) -> None:
    write_text_atomic(path, text)
    os.utime(path, (epoch, epoch))
