"""The README's Quickstart, run exactly as written: its command lines are read from README.md.

Only what the commands cannot say is given around them, as a user's machine would: the test bed's
image, Julia mirror and registry in juliapack.toml, and the fake Kaggle and the user's credentials in
the environment. `pip install .` is checked to be the first line (tests/packaging builds and installs the
wheel); `cd my-solution` is where the rest runs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testbed import workspace
from testbed.fake_kaggle import FakeKaggle

ROOT = Path(__file__).resolve().parents[2]
USER, KEY = "alice", "quickstart-key-3b9d"
KERNEL = f"{USER}/inference-submission"


def quickstart_commands() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(shlex.join(words))
    return commands


def test_the_quickstart_block_is_what_this_test_runs() -> None:
    commands = quickstart_commands()
    assert commands[:2] == ["pip install .", "cd my-solution"]
    assert [command.split()[1] for command in commands[2:]] == ["build", "notebook", "verify", "upload", "push", "status", "fetch"]


@pytest.fixture
def solution(tmp_path: Path, testbed, julia_mirror_url: str, juliapack_cache: Path) -> Path:
    """A user's folder as the Quickstart describes it, with a juliapack.toml pointing at the test bed."""
    folder = tmp_path / "my-solution"
    workspace.make(folder, image=testbed.image, repos=testbed.repos, model=testbed.model, mirror_url=julia_mirror_url, notebook=False)
    shutil.copyfile(testbed.model, folder / "model.jls")
    shutil.copytree(workspace.EXAMPLES / "data", folder / "data")
    return folder


def test_the_quickstart_runs_as_written(solution: Path, juliapack_cache: Path, tmp_path: Path) -> None:
    fake = FakeKaggle(tmp_path / "fake", users={USER: KEY}, ready_after=0)
    fake.start()
    expected = (workspace.EXAMPLES / "data" / "expected_submission.csv").read_bytes()
    fake.kernel_run(KERNEL, steps=("QUEUED", "RUNNING"), outputs={"submission.csv": expected}, log='[{"data": "ok"}]')
    env = _user_environment(tmp_path, juliapack_cache, fake)
    try:
        for command in quickstart_commands()[2:]:
            done = subprocess.run(["bash", "-c", command], cwd=solution, env=env, capture_output=True, text=True, timeout=1200)
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    finally:
        fake.stop()
    assert (solution / "notebook" / "verify" / "submission.csv").read_bytes() == expected  # the rehearsal's own answer
    assert (solution / "kaggle-output" / "submission.csv").read_bytes() == expected
    saved = fake.saved_kernel(KERNEL)
    assert saved["datasetDataSources"] == [f"{USER}/inference-{role}" for role in ("julia", "depot", "compiled", "app", "model")]
    assert (saved["competitionDataSources"], saved["enableInternet"], saved["dockerImagePinningType"]) == (["my-competition"], False, "original")
    assert sorted(fake.state["datasets"]) == sorted(saved["datasetDataSources"])  # upload made exactly what the notebook mounts


def _user_environment(tmp_path: Path, cache: Path, fake: FakeKaggle) -> dict[str, str]:
    unset = ("KAGGLE_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
    env = {name: value for name, value in os.environ.items() if not name.startswith(unset)}
    (tmp_path / "home").mkdir()
    (tmp_path / "kaggle").mkdir()
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",  # where `pip install .` puts the juliapack command
        "HOME": str(tmp_path / "home"),
        "KAGGLE_CONFIG_DIR": str(tmp_path / "kaggle"),
        "JULIAPACK_CACHE_DIR": str(cache),
        "KAGGLE_USERNAME": USER,
        "KAGGLE_KEY": KEY,
        **fake.client_env(),
        # The kaggle client reaches the fake as a proxy for "localhost"; the Julia mirror on 127.0.0.1 is reached directly.
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
