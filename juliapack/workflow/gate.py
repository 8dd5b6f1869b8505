"""The gate: nothing unverified leaves the machine.

`upload` sends a build only when its last offline rehearsal passed; `push` sends a notebook only
when that rehearsal ran exactly its bytes, and when the datasets it attaches are the ones upload made
from this build. Each refusal is one line that names what is wrong and the command that fixes it,
and names --skip-verify, which lets the user override it knowingly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from juliapack.errors import InputError
from juliapack.fsutil import sha256_file
from juliapack.workflow.lock import Lock
from juliapack.workflow.names import KERNEL_METADATA as METADATA_NAME
from juliapack.workflow.names import content_hash, layer_files



class NotRehearsed(InputError):
    """The build or the notebook was not rehearsed, or its rehearsal failed."""


@dataclass(frozen=True)
class NotebookFiles:
    """The two files push sends, by content."""

    folder: Path
    code_file: Path
    sha256: str
    metadata_sha256: str


def notebook_files(folder: Path) -> NotebookFiles:
    metadata = folder / METADATA_NAME
    if not metadata.is_file():
        raise InputError(f"no {METADATA_NAME} in {folder}", fix="write the notebook with 'juliapack notebook'")
    try:
        code_file = folder / str(json.loads(metadata.read_text(encoding="utf-8")).get("code_file") or "")
    except (ValueError, AttributeError) as error:
        raise InputError(f"{metadata} is not a JSON object ({error})", fix="rewrite it with 'juliapack notebook'") from None
    if not code_file.is_file():
        raise InputError(f"{metadata} names code_file {code_file.name!r}, which is not in {folder}", fix="rewrite it with 'juliapack notebook'")
    return NotebookFiles(folder.resolve(), code_file, sha256_file(code_file), sha256_file(metadata))


def require_rehearsed(lock: Lock, *, skip: bool, command: str) -> None:
    """The build in dist/ passed its last rehearsal (upload's gate)."""
    if skip:
        return
    verdict = lock.rehearsal
    if verdict is None:
        raise NotRehearsed(
            f"the build of {lock.project_name} in dist/ was never rehearsed offline",
            fix=f"run 'juliapack verify' first (or 'juliapack {command} --skip-verify' to send it anyway)",
        )
    if not verdict.passed:
        raise NotRehearsed(
            f"the last offline rehearsal of this build failed ({'; '.join(verdict.problems) or 'see notebook/verify/'})",
            fix=f"fix it and run 'juliapack verify' until it passes (or 'juliapack {command} --skip-verify' to send it anyway)",
        )


def require_rehearsed_notebook(lock: Lock, files: NotebookFiles, *, skip: bool) -> None:
    """The rehearsal passed on exactly these bytes (push's gate)."""
    require_rehearsed(lock, skip=skip, command="push")
    if skip:
        return
    verdict = lock.rehearsal
    if (verdict.notebook_sha256, verdict.metadata_sha256) != (files.sha256, files.metadata_sha256):
        raise NotRehearsed(
            f"{files.code_file.name} or {METADATA_NAME} in {files.folder} changed since the rehearsal (it ran {verdict.folder})",
            fix="run 'juliapack verify' to rehearse these files (or 'juliapack push --skip-verify' to send them anyway)",
        )


def contradictions(lock: Lock, attached: dict[str, str]) -> list[str]:
    """Where the notebook's datasets (role -> ref) and the datasets upload made disagree, each naming both."""
    found = []
    for role, ref in sorted(attached.items()):
        uploaded = lock.uploads.get(role)
        if uploaded is None:
            found.append(f"the notebook attaches {ref}, which upload has not made from this build")
        elif uploaded.ref != ref:
            found.append(f"the notebook attaches {ref} for the {role}, but upload made {uploaded.ref}")
        elif role != "model" and uploaded.content != content_hash(layer_files(lock, role)):
            found.append(f"{ref} holds an earlier build's {role} layer")
    return found

