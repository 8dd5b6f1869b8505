"""The tiny-serve competition's gateway: one predict(test, lags) call per (date_id, time_id), Jane Street
style: `lags` (the previous day's responder per symbol) comes with a day's first time step, else None.
The answer must carry the batch's row_id column unchanged and a numeric `prediction` column."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kaggle_evaluation.core import templates
from kaggle_evaluation.core.base_gateway import invalid

TEST_SCHEMA = {"row_id": pl.Int64, "date_id": pl.Int16, "time_id": pl.Int16, "symbol_id": pl.Int8,
               "x1": pl.Float32, "x2": pl.Float32, "venue": pl.String}
LAGS_SCHEMA = {"date_id": pl.Int16, "symbol_id": pl.Int8, "responder_lag": pl.Float32}
DEADLINE_SECONDS = 60


class TinyGateway(templates.Gateway):
    def __init__(self, data_paths=None, file_share_dir=None):
        super().__init__(data_paths, file_share_dir, target_column_name="prediction", row_id_column_name="row_id")
        self.set_response_timeout_seconds(DEADLINE_SECONDS)

    def unpack_data_paths(self) -> None:
        folder = Path(__file__).resolve().parent.parent
        self.test_path, self.lags_path = self.data_paths or (folder / "test.csv", folder / "lags.csv")

    def generate_data_batches(self):
        test = pl.read_csv(self.test_path, schema=TEST_SCHEMA)
        lags = pl.read_csv(self.lags_path, schema=LAGS_SCHEMA)
        for (date_id, time_id), batch in test.group_by(["date_id", "time_id"], maintain_order=True):
            day_lags = lags.filter(pl.col("date_id") == date_id) if time_id == 0 else None
            yield (batch, day_lags), batch.select("row_id")

    def competition_specific_validation(self, prediction, row_ids, data_batch) -> None:
        if type(prediction).__module__.startswith("pandas"):
            prediction = pl.from_pandas(prediction)
        if not isinstance(prediction, pl.DataFrame) or "prediction" not in prediction.columns:
            raise invalid(f"predict returned {type(prediction).__name__}: return a DataFrame with row_id and prediction columns")
        if "row_id" not in prediction.columns or not prediction["row_id"].equals(row_ids["row_id"], check_names=False, check_dtypes=False):
            raise invalid("predict's row_id column differs from the batch's row ids")
        if not prediction["prediction"].dtype.is_numeric() or prediction["prediction"].null_count():
            raise invalid("predict's prediction column must be numbers without nulls")
