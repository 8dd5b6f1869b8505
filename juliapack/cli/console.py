"""What the command line shows: steps and facts on stderr, results on stdout, one line per error."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from juliapack.errors import JuliapackError

stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
stdout = Console(highlight=False, soft_wrap=True, emoji=False)


class ConsoleReporter:
    """Reporter for a terminal: steps and facts on stderr, progress bars while bytes move."""

    def __init__(self, console: Console = stderr, *, verbose: bool = True) -> None:
        self.console = console
        self.verbose = verbose

    def step(self, message: str) -> None:
        self.console.print(f"[bold cyan]==>[/] [bold]{_escape(message)}[/]")

    def info(self, message: str) -> None:
        self.console.print(f"    {message}", markup=False)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {_escape(message)}")

    def log(self, line: str) -> None:
        if self.verbose and not _progress_fragment(line):
            self.console.print(f"[dim]  | {_escape(line)}[/]")

    @contextmanager
    def progress(self, label: str, *, total: int | None, done: int = 0) -> Iterator["_Bar"]:
        columns = [TextColumn("    {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()]
        with Progress(*columns, TimeRemainingColumn(), console=self.console, transient=False) as bar:
            task = bar.add_task(label, total=total, completed=done)
            yield _Bar(bar, task)


@dataclass
class _Bar:
    bar: Progress
    task: int

    def advance(self, amount: int) -> None:
        self.bar.advance(self.task, amount)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def _progress_fragment(line: str) -> bool:
    """A line Pkg or curl drew as a progress bar for a terminal: a redraw (carriage return) or an empty frame."""
    stripped = line.strip()
    return "\r" in line or "\x1b[" in line or not stripped or stripped.startswith(("#=#", "##O", "%"))


def fail(error: JuliapackError) -> None:
    """Print an error as one line (details first, if any) and exit with its class's code."""
    if error.details:
        stderr.print(error.details, markup=False)
    stderr.print(f"error: {error}", markup=False, soft_wrap=True)
    raise SystemExit(int(error.exit_code))
