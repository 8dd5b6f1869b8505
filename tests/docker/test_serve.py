"""An inference-server competition end to end, offline: build the Forecast example, write the notebook
with --serve, rehearse it against the clean-room tiny-serve competition's own kaggle_evaluation, and
compare the gateway's submission.parquet with the expected answers."""

from __future__ import annotations

import json
import os

import polars as pl
import pytest

from testbed import workspace
from tests.docker.conftest import Workspace

pytestmark = pytest.mark.slow


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
    expected = pl.read_csv(workspace.SERVE_DATA / "expected_submission.csv", schema={"row_id": pl.Int64, "prediction": pl.Float64})
    assert pl.read_parquet(out / "submission.parquet").equals(expected)
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
