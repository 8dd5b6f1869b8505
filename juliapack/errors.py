"""Errors users can act on: each names what went wrong and how to fix it, and maps to an exit code.

The CLI prints ``error: <what> — <fix>`` on one line and exits with the class's code; tracebacks only
with ``--debug``. The exit code tells scripts which kind of thing to fix.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    USAGE = 2  # a flag, option value or juliapack.toml setting is wrong (click's code for usage errors)
    INPUT = 3  # the user's files: project, Manifest, model, dist, notebook
    ENVIRONMENT = 4  # this machine: Docker, disk, cache, credentials
    REMOTE = 5  # a server: Julia downloads, Kaggle
    FAILED = 6  # the user's Julia code failed while juliapack ran it (Pkg, build, smoke, verify)
    INTERRUPTED = 130


class JuliapackError(Exception):
    """Base of every error juliapack expects; ``fix`` says what the user can do about it."""

    exit_code: ExitCode = ExitCode.INPUT

    def __init__(self, what: str, *, fix: str, details: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix
        self.details = details  # extra lines (a log tail), shown above the one-line message

    def __str__(self) -> str:
        return f"{self.what} — {self.fix}"


class UsageError(JuliapackError):
    exit_code = ExitCode.USAGE


class InputError(JuliapackError):
    exit_code = ExitCode.INPUT


class EnvironmentProblem(JuliapackError):
    exit_code = ExitCode.ENVIRONMENT


class RemoteError(JuliapackError):
    exit_code = ExitCode.REMOTE


class RunFailed(JuliapackError):
    exit_code = ExitCode.FAILED


class Interrupted(JuliapackError):
    exit_code = ExitCode.INTERRUPTED


# Named errors raised in more than one module live here; the rest are raised from the base classes.


class ProjectError(InputError):
    """The Julia project (Project.toml, Manifest.toml, files) is missing or unusable."""


class ConfigError(UsageError):
    """An option value or a juliapack.toml field is invalid."""


class ChecksumMismatch(RemoteError):
    """A download does not match its published sha256."""


class DockerUnavailable(EnvironmentProblem):
    """The Docker engine cannot be reached or refuses us."""


class DiskFull(EnvironmentProblem):
    """No space left where juliapack writes."""


class SecretsFound(InputError):
    """Files that look like credentials would leave the machine."""


class CredentialsError(EnvironmentProblem):
    """Kaggle credentials are missing, malformed or rejected."""


class KaggleError(RemoteError):
    """Kaggle answered with an error, or not at all."""


class BuildFailed(RunFailed):
    """A step inside the build container failed."""


class VerifyFailed(RunFailed):
    """The offline rehearsal of the notebook failed."""
