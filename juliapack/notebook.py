"""`juliapack notebook`: the submission notebook and its kernel-metadata.json, rendered from templates/.

Pure rendering: `plan_notebook` turns the lock and the settings into a NotebookPlan (which datasets,
which unpack commands, which command line); `render` fills the template with it and builds an
nbformat v4 notebook; `write` puts both files in place atomically.

The template is a Python file in the "percent" format (``# %%`` starts a code cell, ``# %% [markdown]``
a markdown cell, ``tags=[...]`` after the marker sets cell tags) with ``{{name}}`` placeholders.
All values enter through one JSON document in the cell tagged ``juliapack-config``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from juliapack import __version__, accelerators, archive
from juliapack.accelerators import Accelerator
from juliapack.julia_call import LOAD_PATH, entry_command, julia
from juliapack.config import NotebookConfig
from juliapack.errors import InputError
from juliapack.fsutil import sha256_file, write_json_atomic, write_text_atomic
from juliapack.project import JuliaProject
from juliapack.serve import bridge_dir
from juliapack.workflow.lock import LayerFile, Lock
from juliapack.workflow.records import NotebookRecord
from juliapack.workflow.names import KERNEL_METADATA, kernel_identity, model_file, plan_datasets, with_recorded_names
from juliapack.resources import templates_root

TEMPLATE = "notebook/submission.py"  # the layers and the environment; then one of:
RUN_ENTRY = "notebook/run_entry.py"  # a competition that runs a script, which writes the submission
RUN_SERVER = "notebook/run_server.py"  # an inference-server competition: a Julia worker behind predict
CONFIG_TAG = "juliapack-config"
SOURCE_PLACEHOLDER = "{src}"  # replaced by the dataset file's path when the notebook runs
MODEL_PLACEHOLDER = "{model}"
SERVE_NEEDS_A_PACKAGE = "make the app a package (Project.toml with name and uuid, src/<Name>.jl defining predict)"


@dataclass(frozen=True)
class Mounted:
    """A file the notebook expects at /kaggle/input/<dataset>/<file>, and where it is on this machine."""

    dataset: str  # slug: the folder Kaggle mounts it in
    file: str
    source: Path | None  # None when the file is already on Kaggle only


@dataclass(frozen=True)
class NotebookPlan:
    owner: str
    kernel_slug: str
    title: str
    project: str
    julia_version: str
    entry: str
    serve: bool
    config: dict[str, Any]  # the JSON document of the config cell
    datasets: dict[str, str]  # role -> owner/slug, in the order they are attached
    mounts: tuple[Mounted, ...]
    competition: str | None
    accelerator: Accelerator
    image_pinning: str
    public: bool
    kernel_sources: tuple[str, ...]
    julia_prefix: str
    depot_parent: str
    app_parent: str

    @property
    def code_file(self) -> str:
        return f"{self.kernel_slug}.ipynb"

    @property
    def dataset_refs(self) -> tuple[str, ...]:
        return tuple(self.datasets.values())

    @property
    def model_source(self) -> Path | None:
        return next((m.source for m in self.mounts if self.config["model"] and m.file == self.config["model"]["file"]), None)


def plan_notebook(cfg: NotebookConfig, lock: Lock, *, owner: str, dist: Path, accelerator: Accelerator) -> NotebookPlan:
    datasets = _datasets(cfg, lock, owner=owner)
    title, kernel_slug = kernel_identity(title=cfg.title, kernel_slug=cfg.kernel_slug, project_name=lock.project_name)
    slug_of = {role: ref.partition("/")[2] for role, ref in datasets.items()}
    mounts = [Mounted(slug_of[layer.role], layer.file, dist / layer.file) for layer in lock.layers]
    model = None
    if cfg.model is not None:
        model = {"dataset": slug_of["model"], "file": cfg.model.name}
        mounts.append(Mounted(slug_of["model"], cfg.model.name, cfg.model.path))
    arguments = app_arguments(model_arg=cfg.model_arg if model else None, args=cfg.args)
    config = {
        "layers": [_layer_config(layer, slug_of[layer.role]) for layer in lock.layers],
        "model": model,
        "env": notebook_env(lock),
        "command": None if cfg.serve else app_command(lock, arguments=arguments),
        "serve": serve_config(cfg, lock, arguments=arguments) if cfg.serve else None,
        "julia": {"path": julia(lock.layout), "version": str(lock.julia_version)},
        "submission": cfg.submission,
        "juliapack": {"build": lock.fingerprint, "accelerator": accelerator.name, "gpu": accelerator.gpu, "gpus": accelerator.count},
    }
    return NotebookPlan(
        owner=owner,
        kernel_slug=kernel_slug,
        title=title,
        project=lock.project_name,
        julia_version=str(lock.julia_version),
        entry=lock.entry,
        serve=cfg.serve,
        config=config,
        datasets=datasets,
        mounts=tuple(mounts),
        competition=cfg.competition,
        accelerator=accelerator,
        image_pinning=cfg.image_pinning,
        public=cfg.public,
        kernel_sources=cfg.kernel_sources,
        julia_prefix=lock.layout.julia_prefix,
        depot_parent=lock.layer("depot").dest,
        app_parent=lock.layer("app").dest,
    )


def check_before_build(cfg: NotebookConfig, *, project: JuliaProject, image: str, cpu_image: bool) -> None:
    """What the settings alone decide about the notebook a build writes after it: refused before the build.

    The image's CUDA is known only once it is probed; the Kaggle CPU image is known to have none."""
    kernel_identity(title=cfg.title, kernel_slug=cfg.kernel_slug, project_name=project.name)
    if cpu_image:
        accelerators.for_build(cfg.accelerator, image=image, image_cuda=None)
    if cfg.serve and not bridge_dir(project):
        raise InputError(
            f"serve needs the app to be a package, and {project.name} is not one (its Project.toml has no uuid, or src/{project.name}.jl is missing)",
            fix=SERVE_NEEDS_A_PACKAGE,
        )


def _datasets(cfg: NotebookConfig, lock: Lock, *, owner: str) -> dict[str, str]:
    """role -> owner/slug: the names the settings give, else the ones earlier commands recorded."""
    naming = cfg.naming
    local_model = model_file(naming.model.path) if naming.model and naming.model.path else None
    plans = plan_datasets(lock, owner=owner, identity=naming.identity, overrides=naming.datasets, model=local_model, model_dataset=naming.model_dataset)
    if not naming.explicit:
        plans = with_recorded_names(plans, lock)
    datasets = {plan.role: plan.ref for plan in plans}
    if naming.model is not None and naming.model.dataset:  # already on Kaggle: attached, never uploaded
        datasets["model"] = naming.model.dataset
    return datasets


def notebook_env(lock: Lock) -> dict[str, str]:
    """Julia's environment in the notebook: the depots of the layers, only our environments, Pkg offline."""
    return {
        "JULIA_DEPOT_PATH": ":".join(lock.layout.depot_path),
        "JULIA_LOAD_PATH": LOAD_PATH,
        "JULIA_PKG_OFFLINE": "true",
        "JULIA_PKG_SERVER": "",
        "JULIA_NUM_THREADS": "auto",
    }


def app_arguments(*, model_arg: str | None, args: tuple[str, ...]) -> list[str]:
    """The app's arguments; the model's path goes in for MODEL_PLACEHOLDER at run time."""
    return [*([model_arg, MODEL_PLACEHOLDER] if model_arg is not None else []), *args]


def app_command(lock: Lock, *, arguments: list[str]) -> list[str]:
    """The app's command line (a competition that runs a script)."""
    return entry_command(lock.layout, name=lock.project_name, entry=lock.entry, mode=lock.entry_mode, arguments=arguments)


def serve_config(cfg: NotebookConfig, lock: Lock, *, arguments: list[str]) -> dict[str, Any]:
    """The Julia worker behind the competition's predict: the bridge in the app layer, the app's module,
    setup's arguments (those the script would get), the deadline of each call after the first."""
    if not lock.bridge:
        raise InputError(
            f"--serve needs the bridge in the app layer, and this build of {lock.project_name} has none (the app is not a package, or an older juliapack built it)",
            fix=SERVE_NEEDS_A_PACKAGE + ", then juliapack build",
        )
    return {
        "bridge": f"{lock.layout.app_dir}/{lock.bridge}",
        "project": lock.layout.app_dir,
        "module": lock.project_name,
        "args": arguments,
        "deadline": cfg.deadline,
        "server": cfg.server,
        "competition": cfg.competition,
        "julia_flags": ["-t", "auto"],
    }


def _layer_config(layer: LayerFile, dataset_slug: str) -> dict[str, Any]:
    command = archive.unpack_command(
        codec=layer.codec,
        decompressor=layer.decompressor,
        archive=SOURCE_PLACEHOLDER,
        dest=layer.dest,
        strip_components=layer.strip_components,
    )
    return {"role": layer.role, "dataset": dataset_slug, "file": layer.file, "dest": layer.dest, "command": command}


# --------------------------------------------------------------------------- rendering


CELL_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def fill(template: str, values: dict[str, str]) -> str:
    """Replace every ``{{name}}``; a placeholder without a value is a bug in juliapack, not the user's."""

    def value(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return PLACEHOLDER.sub(value, template)


def split_cells(text: str) -> list[tuple[str, str, list[str]]]:
    """(cell type, source, tags) for each ``# %%`` cell of a percent-format file."""
    cells: list[tuple[str, list[str], list[str]]] = []
    for line in text.splitlines():
        marker = CELL_MARKER.match(line)
        if marker:
            kind = "markdown" if marker.group("markdown") else "code"
            cells.append((kind, [], json.loads(marker.group("tags")) if marker.group("tags") else []))
        elif cells:
            kind, lines, _ = cells[-1]
            lines.append(line[2:] if kind == "markdown" and line.startswith("# ") else line.lstrip("#") if kind == "markdown" else line)
    return [(kind, "\n".join(lines).strip("\n"), tags) for kind, lines, tags in cells]


def render(plan: NotebookPlan, *, templates: Path | None = None) -> nbformat.NotebookNode:
    folder = templates or templates_root()
    template = "\n".join((folder / name).read_text(encoding="utf-8") for name in (TEMPLATE, RUN_SERVER if plan.serve else RUN_ENTRY))
    runs = (f"start a Julia worker that answers the predict calls of {plan.competition}'s inference server"
            if plan.serve else f"run the app (`{plan.entry}`)")  # fmt: skip
    text = fill(
        template,
        {
            "title": plan.title,
            "project": plan.project,
            "julia_version": plan.julia_version,
            "julia_prefix": plan.julia_prefix,
            "depot_parent": plan.depot_parent,
            "app_parent": plan.app_parent,
            "runs": runs,
            "juliapack_version": __version__,
            "config_json": json.dumps(plan.config, indent=1, sort_keys=True),
        },
    )
    cells = []
    for kind, source, tags in split_cells(text):
        metadata = {"tags": tags} if tags else {}
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cells.append(make(source, metadata=metadata))
    notebook = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"juliapack-{index:02d}"  # stable ids: the same plan renders the same bytes
    nbformat.validate(notebook)
    return notebook


def kernel_metadata(plan: NotebookPlan) -> dict[str, Any]:
    return {
        "id": f"{plan.owner}/{plan.kernel_slug}",
        "title": plan.title,
        "code_file": plan.code_file,
        "language": "python",
        "kernel_type": "notebook",
        "is_private": not plan.public,
        "enable_gpu": plan.accelerator.has_gpu,
        "enable_tpu": False,
        "enable_internet": False,
        "machine_shape": plan.accelerator.machine_shape,  # what chooses the hardware; enable_gpu alone gives a P100
        "docker_image_pinning_type": plan.image_pinning,  # original: the image the kernel was rehearsed in
        "dataset_sources": list(plan.dataset_refs),
        "competition_sources": [plan.competition] if plan.competition else [],
        "kernel_sources": list(plan.kernel_sources),
        "model_sources": [],
    }


def config_of(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """The JSON document of a rendered notebook's config cell (verify reads what will run)."""
    for cell in notebook.cells:
        if CONFIG_TAG in cell.get("metadata", {}).get("tags", []):
            match = re.search(r'json\.loads\(r"""(.*)"""\)', cell.source, re.S)
            if match:
                return json.loads(match.group(1))
    raise InputError("the notebook has no juliapack config cell", fix="regenerate it with 'juliapack notebook'")


def record_of(plan: NotebookPlan, ipynb: Path, metadata: Path) -> NotebookRecord:
    """What the lock records of a notebook written from ``plan``: exactly which files, for what."""
    model = plan.model_source
    return NotebookRecord(
        folder=str(ipynb.parent.resolve()),
        kernel=f"{plan.owner}/{plan.kernel_slug}",
        code_file=plan.code_file,
        sha256=sha256_file(ipynb),
        metadata_sha256=sha256_file(metadata),
        datasets=dict(plan.datasets),
        accelerator=plan.accelerator.name,
        model_source=str(model) if model else None,
        model_sha256=sha256_file(model) if model else None,
    )


def write(plan: NotebookPlan, out: Path, *, templates: Path | None = None) -> tuple[Path, Path]:
    notebook = render(plan, templates=templates)
    ipynb = out / plan.code_file
    write_text_atomic(ipynb, nbformat.writes(notebook) + "\n")
    metadata = out / KERNEL_METADATA
    write_json_atomic(metadata, kernel_metadata(plan))
    return ipynb, metadata

