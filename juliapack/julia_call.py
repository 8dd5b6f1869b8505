"""How juliapack runs Julia, in the build container and in the notebook alike.

Always the Julia juliapack unpacked, by absolute path (the image may have its own, Kaggle's does:
1.12.6), with ``--startup-file=no`` and ``JULIA_LOAD_PATH=@:@stdlib``, so that neither a startup file
nor an ``environments/v1.x`` of the image joins package loading or the preferences' hash. An app that
is a package with a ``main`` runs from its package image (``using Name; Name.main(ARGS)``); a script
(``--entry``) is included into ``Main``, where no cache of it can be used.
"""

from __future__ import annotations

import re
from pathlib import Path

from juliapack.workflow.lock import Layout

LOAD_PATH = "@:@stdlib"
STARTUP = "--startup-file=no"
PACKAGE, SCRIPT = "package", "script"
_MAIN = re.compile(r"^\s*(?:function\s+main\s*\(|main\s*\([^)]*\)\s*=)", re.MULTILINE)


def julia(layout: Layout) -> str:
    return f"{layout.julia_prefix}/bin/julia"


def call(layout: Layout, *args: str) -> list[str]:
    """A Julia command line: our Julia, no startup file, then ``args``."""
    return [julia(layout), STARTUP, *args]


def entry_mode(*, is_package: bool, explicit_entry: bool, source: Path) -> str:
    """package when the project is a package whose module file defines ``main`` and no script is named."""
    if explicit_entry or not is_package or not source.is_file():
        return SCRIPT
    return PACKAGE if _MAIN.search(source.read_text(encoding="utf-8", errors="replace")) else SCRIPT


def entry_command(layout: Layout, *, name: str, entry: str, mode: str, arguments: list[str]) -> list[str]:
    """The app's command line: ``--`` keeps Julia from reading the app's own options (--model ...)."""
    project = f"--project={layout.app_dir}"
    if mode == PACKAGE:
        return call(layout, "-t", "auto", project, "-e", f"using {name}; {name}.main(ARGS)", "--", *arguments)
    return call(layout, "-t", "auto", project, f"{layout.app_dir}/{entry}", *arguments)
