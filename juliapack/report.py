"""How stages tell the user what is happening without printing: they call a Reporter.

The CLI passes a rich implementation; tests pass a recording one; the default says nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class Progress(Protocol):
    def advance(self, amount: int) -> None: ...


class Reporter(Protocol):
    def step(self, message: str) -> None:
        """A stage of the command begins."""

    def info(self, message: str) -> None:
        """A fact worth one line (a figure, a choice made)."""

    def warn(self, message: str) -> None:
        """Something the user should look at; the command goes on."""

    def log(self, line: str) -> None:
        """One line of output streamed from a container or a child process."""

    def progress(self, label: str, *, total: int | None, done: int = 0) -> AbstractContextManager[Progress]:
        """A byte counter for a transfer (download, pack, upload)."""


class _NullProgress:
    def advance(self, amount: int) -> None:
        pass

    def __enter__(self) -> _NullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class NullReporter:
    def step(self, message: str) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def log(self, line: str) -> None:
        pass

    def progress(self, label: str, *, total: int | None, done: int = 0) -> _NullProgress:
        return _NullProgress()


class RecordingReporter(NullReporter):
    """Keeps every message as ``(kind, text)``; for tests and for collecting a log tail."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def step(self, message: str) -> None:
        self.events.append(("step", message))

    def info(self, message: str) -> None:
        self.events.append(("info", message))

    def warn(self, message: str) -> None:
        self.events.append(("warn", message))

    def log(self, line: str) -> None:
        self.events.append(("log", line))

    def texts(self, kind: str) -> list[str]:
        return [text for k, text in self.events if k == kind]


def human_size(size: float) -> str:
    """A byte count for people: 7,242 B, 99.8 MB, 1.2 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size:,.0f} B"
