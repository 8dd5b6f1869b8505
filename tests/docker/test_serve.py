"""An inference-server competition end to end, offline: build the Forecast example, write the notebook
with --serve, rehearse it against the clean-room tiny-serve competition's own kaggle_evaluation, and
compare the gateway's submission.parquet with the expected answers."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from testbed import workspace
from tests.docker.conftest import Workspace

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EXPECTED = pl.read_csv(workspace.SERVE_DATA / "expected_submission.csv", schema={"row_id": pl.Int64, "prediction": pl.Float64})


def readme_serve_commands() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Inference-server competitions", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [shlex.join(words) for words in map(shlex.split, block.replace("\\\n", " ").splitlines()) if words]


@pytest.fixture(scope="module")
def serving(tmp_path_factory, testbed, julia_mirror_url, juliapack_cache) -> Workspace:
    root = tmp_path_factory.mktemp("serve") / "ws"
    workspace.make_serving(root, image=testbed.image, repos=testbed.repos, model=testbed.model, mirror_url=julia_mirror_url)
    env = {**os.environ, "JULIAPACK_CACHE_DIR": str(juliapack_cache), "HOME": str(root / "home"), "KAGGLE_CONFIG_DIR": str(root / "kaggle")}
    ws = Workspace(root, env)
    ws.juliapack("build", "--no-verify", timeout=1800)
    return ws


def test_build_notebook_serve_verify_answers_the_gateway_as_expected(serving):
    serving.juliapack("notebook", "--serve", "--competition", "tiny-serve", "--deadline", "60")
    result = serving.juliapack("verify", timeout=1800)

    out = serving.root / "notebook" / "verify"
    assert pl.read_parquet(out / "submission.parquet").equals(EXPECTED)
    summary = json.loads((out / "verify.json").read_text())
    assert summary["passed"] and summary["network_attempts"] == [] and summary["recompiled"] == []
    served = summary["served"]
    assert served["calls"] == 12 and served["entered_seconds"] <= 5  # 12 batches: 3 days x 4 time steps
    assert served["first_answer_seconds"] >= served["entered_seconds"] and 0 < served["p50_ms"] <= served["p99_ms"]
    assert "12 predict calls; per call after the first p50" in result.stdout
    executed = (out / "forecast-submission.executed.ipynb").read_text()
    assert "Forecast: loaded 2 weights" in executed  # the app's own output reached the notebook
    metadata = json.loads((serving.root / "notebook" / "kernel-metadata.json").read_text())
    assert metadata["competition_sources"] == ["tiny-serve"] and metadata["enable_internet"] is False


def test_verify_refuses_a_serve_notebook_without_the_competition_data(serving):
    settings = serving.root / "no-inputs.toml"
    settings.write_text("\n".join(line for line in (serving.root / "juliapack.toml").read_text().splitlines() if not line.startswith("inputs")))
    serving.juliapack("notebook", "--config", str(settings))  # serve = true in juliapack.toml
    result = serving.juliapack("verify", "--config", str(settings), check=False)
    assert result.returncode != 0
    assert "none is mounted at /kaggle/input/tiny-serve" in result.stderr


def test_the_readme_serve_commands_run_as_written(tmp_path, testbed, julia_mirror_url, juliapack_cache) -> None:
    """The README's three lines, in a folder laid out as they say: the app, its model, the competition's data
    (the clean-room tiny-serve competition under the README's competition name). Only the test bed's image,
    mirror and registry come from juliapack.toml, and the user's name from the environment."""
    commands = readme_serve_commands()
    assert [command.split()[1] for command in commands] == ["build", "notebook", "verify"]
    folder = tmp_path / "solution"
    folder.mkdir()
    shutil.copytree(workspace.EXAMPLES / "Forecast", folder / "Forecast")
    shutil.copyfile(testbed.model, folder / "model.jls")
    shutil.copytree(workspace.SERVE_DATA, folder / "comp-data")
    config = workspace.config_text(image=testbed.image, repos=testbed.repos, model=testbed.model, mirror_url=julia_mirror_url, notebook=False)
    (folder / "juliapack.toml").write_text(config.replace('project = "Inference"\n', ""))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "JULIAPACK_CACHE_DIR": str(juliapack_cache),
           "HOME": str(tmp_path / "home"), "KAGGLE_CONFIG_DIR": str(tmp_path / "kaggle"), "KAGGLE_USERNAME": "alice"}
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert pl.read_parquet(folder / "notebook" / "verify" / "submission.parquet").equals(EXPECTED)
    assert json.loads((folder / "notebook" / "verify" / "verify.json").read_text())["served"]["calls"] == 12
