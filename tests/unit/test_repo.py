"""Promises about the repository itself: CI runs the README's test command; no mirror host names; no
dependency on notes outside the repo."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## This repository", 1)[1]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_gives_exactly_two_commands_and_ci_runs_the_test_one():
    demo, tests = readme_commands()[:2]
    assert demo == "bash testbed/demo.sh" and (ROOT / "testbed" / "demo.sh").is_file()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines


def tracked_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in names if (ROOT / name).is_file()]


def test_no_package_mirror_host_names_and_no_outside_notes_in_the_repo():
    # Assembled here so this file does not itself contain them.
    forbidden = ["deb." + "debian.org", "pypi" + ".org", "files.python" + "hosted", "pkg." + "julialang.org", "../" + "shared/", "/work/" + "shared", "testbed" + "-facts"]
    for path in tracked_files():
        text = path.read_bytes().decode("utf-8", "replace")
        for name in forbidden:
            assert name not in text, f"{path.relative_to(ROOT)} mentions {name}"
