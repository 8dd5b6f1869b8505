"""Inference-server competitions: the bridge the app layer carries.

The competition's gateway calls a Python ``predict`` batch by batch through its ``kaggle_evaluation``
server; juliapack's bridge (templates/serve) forwards each call to one Julia worker, which loaded the
app from its package image. The bridge's files travel in the app layer, so a notebook written with
``--serve`` needs no other dataset and no rebuild.
"""

from __future__ import annotations

from pathlib import Path

from juliapack.project import JuliaProject
from juliapack.resources import templates_root

BRIDGE_DIR = ".juliapack-serve"  # in the app folder, beside the app's own compiled cache
BRIDGE_FILES = ("worker.jl", "juliapack_bridge.py", "juliapack_wire.py", "juliapack_columns.py")


def bridge_dir(project: JuliaProject) -> str:
    """The bridge's folder in the app layer; "" for a project that is not a package, since the worker
    loads the app with ``using Name``."""
    return BRIDGE_DIR if project.is_package else ""


def staged_bridge(project: JuliaProject) -> dict[str, Path]:
    """The bridge's files by their path in the app layer."""
    folder = bridge_dir(project)
    if not folder:
        return {}
    return {f"{folder}/{name}": templates_root() / "serve" / name for name in BRIDGE_FILES}
