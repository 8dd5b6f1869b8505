"""The `juliapack` command: the only package that prints, exits or draws progress.

Every command parses its flags into plain values, lets `config` layer and validate them, runs the
stage modules with a rich Reporter, and turns a JuliapackError into one line on stderr plus the
error class's exit code. `app` holds the global options and the error handling, `console` the
output, and one module per family holds the commands.
"""

from juliapack.cli import build_commands, kaggle_commands  # noqa: F401 - registers the commands
from juliapack.cli.app import app, main
from juliapack.cli.console import ConsoleReporter, fail

__all__ = ["ConsoleReporter", "app", "fail", "main"]
