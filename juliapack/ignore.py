"""gitignore-style patterns for what stays out of the app layer (.juliapackignore, --exclude).

Supported: ``*``, ``?``, ``[...]``, ``**`` across folders, a leading ``/`` (anchored to the project
root), a trailing ``/`` (folders only), ``!`` (re-include) and ``#`` comments; the last matching
pattern wins, as in git. A pattern without a slash matches at any depth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

IGNORE_FILE = ".juliapackignore"
# Never useful on Kaggle, and often large: version control, build output, editor and OS litter.
DEFAULT_PATTERNS = (
    ".git/",
    ".hg/",
    ".svn/",
    "/dist/",
    "/notebook/",
    "/.juliapack/",
    "__pycache__/",
    ".ipynb_checkpoints/",
    ".vscode/",
    ".idea/",
    ".DS_Store",
    "*.swp",
    "*~",
    IGNORE_FILE,
)


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool
    text: str


def compile_pattern(line: str) -> Pattern | None:
    text = line.rstrip("\n").rstrip()
    if not text or text.startswith("#"):
        return None
    negate = text.startswith("!")
    if negate:
        text = text[1:]
    dir_only = text.endswith("/")
    body = text.strip("/")
    # A leading slash, or a slash in the middle, anchors the pattern to the project root.
    anchored = text.startswith("/") or "/" in body
    regex = _translate(body)
    prefix = "" if anchored else "(?:.*/)?"
    return Pattern(re.compile(f"^{prefix}{regex}$"), negate, dir_only, line.strip())


def _translate(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
                i += 1
            else:
                body = glob[i + 1 : end].replace("\\", "\\\\")
                out.append(f"[{'^' + body[1:] if body.startswith('!') else body}]")
                i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


class IgnoreRules:
    """Decides, for a path relative to the project root, whether it stays out."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [p for p in (compile_pattern(line) for line in patterns) if p is not None]

    @classmethod
    def for_project(cls, root: Path, *, extra: Iterable[str] = ()) -> IgnoreRules:
        lines = list(DEFAULT_PATTERNS)
        ignore_file = root / IGNORE_FILE
        if ignore_file.is_file():
            lines += ignore_file.read_text(encoding="utf-8").splitlines()
        return cls([*lines, *extra])

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        result = False
        for pattern in self.patterns:
            if pattern.dir_only and not is_dir:
                continue
            if pattern.regex.match(relpath):
                result = not pattern.negate
        return result
