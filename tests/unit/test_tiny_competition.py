"""The test bed's clean-room competition (testbed/competition/tiny-serve) with a Python predict: its gRPC
relay, its gateway's batches and checks, and data that its generator reproduces."""

from __future__ import annotations

import importlib.util
import threading

import polars as pl
import pytest

from tests.unit.bridge_helpers import ROOT, TINY_SERVE, clean_imports_fixture  # noqa: F401 - the clean_imports fixture

import juliapack_bridge as bridge  # noqa: E402

BONUS = {"A": 1.0, "B": -1.0, "Zürich-Ost": 0.5}


def python_forecast(calls: list):
    """The Forecast example's model in Python; records (rows, lags or None, thread) of each call."""
    lags_of_day = {}

    def predict(test, lags):
        calls.append((test.height, None if lags is None else lags.height, threading.current_thread().name))
        if lags is not None:
            lags_of_day.clear()
            lags_of_day.update(zip(lags["symbol_id"].to_list(), lags["responder_lag"].to_list()))
        scores = [1.5 * (row["x1"] or 0.0) - 0.75 * row["x2"] + 0.25 + lags_of_day.get(row["symbol_id"], 0.0) + BONUS.get(row["venue"], 0.0)
                  for row in test.iter_rows(named=True)]
        return pl.DataFrame({"row_id": test["row_id"], "prediction": scores})

    return predict


def expected() -> pl.DataFrame:
    return pl.read_csv(TINY_SERVE / "expected_submission.csv", schema={"row_id": pl.Int64, "prediction": pl.Float64})


def test_the_local_gateway_writes_the_expected_submission(tmp_path, monkeypatch, clean_imports):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KAGGLE_IS_COMPETITION_RERUN", raising=False)
    calls: list = []
    bridge.enter_server(python_forecast(calls), competition_dir=TINY_SERVE)
    assert pl.read_parquet(tmp_path / "submission.parquet").equals(expected())
    assert len(calls) == 12 and sum(rows for rows, _, _ in calls) == expected().height
    assert [lags is not None for _, lags, _ in calls] == [True, False, False, False] * 3
    assert len({thread for _, _, thread in calls}) == 1  # one server worker thread, not the caller's
    assert calls[0][2] != threading.current_thread().name


def test_a_wrong_row_count_is_an_invalid_submission(tmp_path, monkeypatch, clean_imports):
    monkeypatch.chdir(tmp_path)

    def predict(test, lags):
        return pl.DataFrame({"row_id": test["row_id"][1:], "prediction": [0.0] * (test.height - 1)})

    with pytest.raises(Exception, match=r"INVALID_SUBMISSION: predict returned \d+ rows for a batch of \d+ row ids"):
        bridge.enter_server(predict, competition_dir=TINY_SERVE)
    assert not (tmp_path / "submission.parquet").exists()


def test_an_exception_in_predict_reaches_the_gateway_as_one_line(tmp_path, monkeypatch, clean_imports):
    monkeypatch.chdir(tmp_path)

    def predict(test, lags):
        raise bridge.JuliaError("JuliaError: DomainError: bad (in predict, batch 1)")

    with pytest.raises(Exception, match=r"^SERVER_RAISED_EXCEPTION: JuliaError: DomainError: bad \(in predict, batch 1\)$"):
        bridge.enter_server(predict, competition_dir=TINY_SERVE)


def test_the_relay_refuses_unnamed_endpoints(clean_imports):
    server_class = bridge.server_class(competition_dir=TINY_SERVE)
    with pytest.raises(ValueError, match="must be named"):
        server_class(lambda test, lags: None)


def test_the_generator_writes_the_committed_data(tmp_path):
    spec = importlib.util.spec_from_file_location("make_tiny_serve", ROOT / "testbed" / "competition" / "make_tiny_serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("test.csv", "lags.csv", "expected_submission.csv"):
        assert (tmp_path / name).read_bytes() == (TINY_SERVE / name).read_bytes(), name
    test = pl.read_csv(TINY_SERVE / "test.csv")
    assert test["x1"].null_count() and test["venue"].null_count() and "Zürich-Ost" in test["venue"].to_list()
