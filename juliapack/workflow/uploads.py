"""The content line each dataset's description carries.

A dataset's content is named by one hash over its files' names, sizes and sha256s. Upload writes it
into the dataset's description (a line ``juliapack-content: sha256:<hex>``), so any clone can tell
whether Kaggle already holds that content; the lock records it too, with the version number Kaggle
gave the version that holds it.
"""

from __future__ import annotations

import re

from juliapack.workflow.names import ROLE_LABELS, DatasetPlan

CONTENT_PREFIX = "juliapack-content: "
CONTENT_LINE = re.compile(r"^juliapack-content: (sha256:[0-9a-f]{64})\s*$", re.MULTILINE)


def describe(plan: DatasetPlan, *, project: str, version: str) -> str:
    """The dataset description: what it is, and the content line upload reads back later."""
    names = ", ".join(file.name for file in plan.files)
    return (
        f"The {ROLE_LABELS[plan.role]} layer of the Julia project {project}, packed by juliapack {version} "
        f"for an offline Kaggle notebook. Files: {names}.\n\n{CONTENT_PREFIX}{plan.content}\n"
    )


def content_in(description: str | None) -> str | None:
    """The content hash a description declares, or None."""
    found = CONTENT_LINE.search(description or "")
    return found.group(1) if found else None
