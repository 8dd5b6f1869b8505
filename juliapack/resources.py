"""Where the files shipped beside the code live: templates/ (inside the wheel as juliapack/templates)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def templates_root() -> Path:
    """The templates folder: in an installed wheel it is package data; in a source checkout, the top-level folder."""
    packaged = Path(str(resources.files("juliapack") / "templates"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"
