"""The Typer app: global options, and how an error becomes one line and an exit code."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Optional

import typer

from juliapack import __version__
from juliapack.cli.console import fail, stderr, stdout
from juliapack.errors import ExitCode, JuliapackError

HELP = """\
Pack a Julia pipeline for a Kaggle code competition, where the internet is off.

\b
  build ./Inference   Julia, depot and app, built in the Kaggle image
  notebook            the notebook that unpacks them and runs your app
  verify              that notebook, rehearsed offline in the same image
  upload              the layers to private datasets (only what changed)
  push --wait         the rehearsed notebook to Kaggle; then status, fetch

Settings: defaults < juliapack.toml < JULIAPACK_* environment < flags.
Exit codes: 2 usage, 3 input, 4 environment, 5 remote, 6 your code failed,
130 interrupted. --debug (or JULIAPACK_DEBUG=1) shows tracebacks.
"""

app = typer.Typer(
    help=HELP, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)  # fmt: skip


@dataclass
class _State:
    debug: bool = False


state = _State()


def _version(value: bool) -> None:
    if value:
        stdout.print(f"juliapack {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors (anywhere on the line)."),
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    state.debug = state.debug or debug
    if ctx.invoked_subcommand is None:
        stdout.print(ctx.get_help(), markup=False)


def flags(**values: object) -> dict[str, object]:
    """Flag values for config: None (not given) lets juliapack.toml and the environment decide."""
    return {key: value for key, value in values.items() if value is not None}


def _without_debug(argv: list[str]) -> tuple[list[str], bool]:
    """``--debug`` may come anywhere before a ``--``; it is taken out before the command parses its options."""
    end = argv.index("--") if "--" in argv else len(argv)
    head = [arg for arg in argv[:end] if arg != "--debug"]
    return head + argv[end:], len(head) != end


def _sigterm_interrupts() -> None:
    """SIGTERM unwinds like Ctrl-C, so containers, temp files and locks are cleaned up on the way out."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _usage_error(error: typer.TyperException) -> None:
    command = getattr(getattr(error, "ctx", None), "command_path", "") or "juliapack"
    stderr.print(f"error: {error.format_message()} — see '{command} --help'", markup=False, soft_wrap=True)
    raise SystemExit(error.exit_code)


def main(argv: list[str] | None = None) -> None:
    _sigterm_interrupts()
    args, debug = _without_debug(list(sys.argv[1:] if argv is None else argv))
    state.debug = debug or os.environ.get("JULIAPACK_DEBUG", "") not in ("", "0")
    try:
        result = app(args=args, standalone_mode=False, prog_name="juliapack")
    except JuliapackError as error:
        if state.debug:
            traceback.print_exc()
        fail(error)
    except typer.TyperException as error:
        _usage_error(error)
    except typer.Abort:
        stderr.print("error: aborted — nothing was changed", markup=False)
        raise SystemExit(int(ExitCode.INTERRUPTED))
    if result == ExitCode.INTERRUPTED:  # Ctrl-C or SIGTERM: typer turns KeyboardInterrupt into exit code 130
        stderr.print("error: interrupted — nothing half-written was kept; run the command again", markup=False)
    sys.exit(result if isinstance(result, int) else 0)
