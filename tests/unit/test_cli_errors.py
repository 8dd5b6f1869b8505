"""The CLI's contract for errors: one line `error: <what> — <fix>` on stderr, the class's exit code, no traceback
(unless --debug). Runs `python -m juliapack` in a subprocess, in a temp folder, with none of this machine's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from juliapack import __version__
from juliapack.errors import ExitCode, JuliapackError, RunFailed
from tests.unit.helpers import write_project


def broken_toml(folder: Path) -> None:
    (folder / "juliapack.toml").write_text('[build]\njulia = "1.10"\ncodec = zstd\n')


def no_manifest(folder: Path) -> None:
    (write_project(folder / "Inference") / "Manifest.toml").unlink()


# name -> (setup of the temp folder, arguments); all run at once (each in its own folder) to keep this file fast
CASES = {
    "bad-pull": (None, ["build", "--pull", "sometimes"]),
    "missing-project": (None, ["build", "nothere"]),
    "debug": (None, ["--debug", "build", "nothere"]),
    "debug-after-the-command": (None, ["build", "nothere", "--debug"]),
    "debug-from-the-environment": (None, ["build", "nothere"]),  # JULIAPACK_DEBUG=1, below
    "help-h": (None, ["-h"]),
    "build-help-h": (None, ["build", "-h"]),
    "bogus-option": (None, ["build", "--bogus"]),
    "broken-toml": (broken_toml, ["build"]),
    "no-manifest": (no_manifest, ["build", "Inference"]),
    "notebook-without-build": (None, ["notebook", "--dataset", "alice/inference"]),
    "version": (None, ["--version"]),
    "help": (None, ["--help"]),
}


@dataclass
class Ran:
    folder: Path
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict[str, Ran]:
    started = {}
    for name, (setup, args) in CASES.items():
        folder = tmp_path_factory.mktemp(name)
        (folder / "home").mkdir()
        if setup:
            setup(folder)
        env = {"PATH": os.environ["PATH"], "HOME": str(folder / "home"), "COLUMNS": "80" if name.endswith("help-h") else "40",
               "LANG": "C.UTF-8", "JULIAPACK_CACHE_DIR": str(folder / "cache"), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # fmt: skip
        if name == "debug-from-the-environment":
            env["JULIAPACK_DEBUG"] = "1"
        command = [sys.executable, "-m", "juliapack", *args]
        started[name] = (folder, subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = {}
    for name, (folder, process) in started.items():
        stdout, stderr = process.communicate(timeout=120)
        results[name] = Ran(folder, process.returncode, stdout, stderr)
    return results


def error_line(done: Ran, code: int) -> str:
    """The last line of stderr, which must be the only error line; progress lines (==> ...) may come before it."""
    assert done.returncode == code, done.stderr
    *before, last = done.stderr.splitlines()
    assert all(line.startswith(("==> ", "    ")) for line in before), done.stderr  # no traceback, no wrapping (COLUMNS=40)
    assert last.startswith("error: ") and " — " in last, last
    assert "Traceback" not in done.stderr
    return last


def one_error_line(done: Ran, code: int) -> str:
    assert len(done.stderr.splitlines()) == 1, done.stderr
    return error_line(done, code)


def test_an_invalid_option_value(ran) -> None:
    line = one_error_line(ran["bad-pull"], ExitCode.USAGE)
    assert line == "error: --pull is 'sometimes', not one of missing, always, never — use one of: missing, always, never"


def test_a_missing_project_folder(ran) -> None:
    done = ran["missing-project"]
    line = one_error_line(done, ExitCode.INPUT)
    assert line == f"error: project directory {done.folder.resolve() / 'nothere'} does not exist — pass the folder that holds Project.toml"


def test_debug_adds_the_traceback_and_keeps_the_line_and_the_code(ran) -> None:
    done = ran["debug"]
    assert done.returncode == ExitCode.INPUT
    assert done.stderr.startswith("Traceback (most recent call last):") and "ProjectError" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: project directory ")


@pytest.mark.parametrize("name", ["debug-after-the-command", "debug-from-the-environment"])
def test_debug_may_come_after_the_command_or_from_the_environment(ran, name: str) -> None:
    done = ran[name]
    assert done.returncode == ExitCode.INPUT and done.stderr.startswith("Traceback (most recent call last):")
    assert done.stderr.splitlines()[-1].startswith("error: project directory ")


def test_the_help_answers_to_h_fits_80_columns_and_cuts_no_summary(ran) -> None:
    for name in ("help-h", "build-help-h"):
        done = ran[name]
        assert done.returncode == 0 and done.stdout.startswith("Usage: juliapack"), done.stderr
        assert max(len(line) for line in done.stdout.splitlines()) <= 80
    commands = ran["help-h"].stdout.split("Commands:", 1)[1]
    assert "..." not in commands and all(line.rstrip().endswith(".") for line in commands.strip().splitlines())
    build_help = ran["build-help-h"].stdout
    for metavar in ("PATH", "KEY=VALUE", "SRC:DST[:ro|rw]", "PATH=REASON", "VERSION", "URL", "NAME"):
        assert metavar in build_help, metavar
    assert "<str>" not in build_help and "<list" not in build_help and "TEXT" not in build_help.replace("CONTEXT", "")


def test_an_unknown_option(ran) -> None:
    line = one_error_line(ran["bogus-option"], ExitCode.USAGE)
    assert line.startswith("error: No such option: --bogus") and line.endswith("see 'juliapack build --help'")


def test_a_broken_juliapack_toml_names_the_line(ran) -> None:
    line = one_error_line(ran["broken-toml"], ExitCode.USAGE)
    assert "juliapack.toml is not valid TOML" in line and "line 3" in line


def test_a_project_without_manifest_fails_before_docker(ran) -> None:
    line = error_line(ran["no-manifest"], ExitCode.INPUT)
    assert "has no Manifest.toml" in line and "Pkg.instantiate()" in line


def test_notebook_without_a_build(ran) -> None:
    line = one_error_line(ran["notebook-without-build"], ExitCode.INPUT)
    assert "no juliapack.lock.json in" in line and "juliapack build" in line


def test_version(ran) -> None:
    done = ran["version"]
    assert (done.returncode, done.stdout, done.stderr) == (0, f"juliapack {__version__}\n", "")


def test_help_lists_the_commands_and_exit_codes(ran) -> None:
    done = ran["help"]
    assert done.returncode == 0 and done.stderr == ""
    for command in ("build", "notebook", "verify", "upload", "push", "status", "fetch"):
        assert f"juliapack {command}" in done.stdout or f" {command} " in done.stdout, command
    assert "2 usage, 3 input, 4 environment, 5 remote, 6 your code failed" in " ".join(done.stdout.split())


def test_fail_prints_details_above_the_line(capsys) -> None:
    from juliapack.cli import fail

    with pytest.raises(SystemExit) as exited:
        fail(RunFailed("the step failed", fix="read the log", details="log line 1\n[not markup] log line 2"))
    assert exited.value.code == ExitCode.FAILED
    assert capsys.readouterr().err == "log line 1\n[not markup] log line 2\nerror: the step failed — read the log\n"


def test_fail_without_details(capsys) -> None:
    from juliapack.cli import fail

    with pytest.raises(SystemExit) as exited:
        fail(JuliapackError("x [b]bold[/b]", fix="y"))
    assert exited.value.code == ExitCode.INPUT and capsys.readouterr().err == "error: x [b]bold[/b] — y\n"
