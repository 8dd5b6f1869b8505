"""What every gateway shares: the error types, the answer checks, and writing submission.parquet."""

from __future__ import annotations

import enum
import json
import os
import re
from pathlib import Path

import grpc

from kaggle_evaluation.core import relay

IS_RERUN = os.getenv("KAGGLE_IS_COMPETITION_RERUN") is not None


class GatewayRuntimeErrorType(enum.Enum):
    SERVER_NEVER_STARTED = 0
    SERVER_CONNECTION_FAILED = 1
    SERVER_RAISED_EXCEPTION = 2
    SERVER_MISSING_ENDPOINT = 3
    GATEWAY_RAISED_EXCEPTION = 4
    INVALID_SUBMISSION = 5
    GRPC_DEADLINE_EXCEEDED = 6


class GatewayRuntimeError(Exception):
    def __init__(self, error_type: GatewayRuntimeErrorType, error_details: str | None = None) -> None:
        super().__init__(f"{error_type.name}: {error_details}")
        self.error_type, self.error_details = error_type, error_details


def invalid(details: str) -> GatewayRuntimeError:
    return GatewayRuntimeError(GatewayRuntimeErrorType.INVALID_SUBMISSION, details)


class BaseGateway:
    def __init__(self, data_paths=None, file_share_dir=None, *, target_column_name="prediction", row_id_column_name="row_id"):
        self.data_paths, self.file_share_dir = data_paths, file_share_dir
        self.target_column_name, self.row_id_column_name = target_column_name, row_id_column_name
        self.client = relay.Client("inference_server" if IS_RERUN else "localhost")
        self.server = None

    def handle_server_error(self, exception: Exception, endpoint: str):
        """Raise the gateway's error for a failed call, with the server's one-line message when there is one."""
        if isinstance(exception, grpc.RpcError):
            code, details = exception.code(), exception.details() or ""
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise GatewayRuntimeError(GatewayRuntimeErrorType.GRPC_DEADLINE_EXCEEDED, f"{endpoint} timed out") from None
            raised = re.search(r"Exception calling application: (.*)", details)
            if raised and "No listener for" in raised.group(1):
                raise GatewayRuntimeError(GatewayRuntimeErrorType.SERVER_MISSING_ENDPOINT, raised.group(1)) from None
            if raised:
                raise GatewayRuntimeError(GatewayRuntimeErrorType.SERVER_RAISED_EXCEPTION, raised.group(1)) from None
            raise GatewayRuntimeError(GatewayRuntimeErrorType.SERVER_CONNECTION_FAILED, f"{code.name}: {details}") from None
        if isinstance(exception, ConnectionError):
            raise GatewayRuntimeError(GatewayRuntimeErrorType.SERVER_NEVER_STARTED, str(exception)) from None
        raise exception

    def validate_prediction_batch(self, prediction, row_ids) -> None:
        """The agnostic checks: an answer, not a numpy array, with one row per row id."""
        if prediction is None:
            raise invalid("predict returned None")
        if type(prediction).__module__ == "numpy" and type(prediction).__name__ == "ndarray":
            raise invalid("predict returned a numpy array: return a DataFrame, a Series or a number")
        rows = 1 if isinstance(prediction, (int, float, str, bool)) else len(prediction)
        if rows != len(row_ids):
            raise invalid(f"predict returned {rows} rows for a batch of {len(row_ids)} row ids")

    def write_submission(self, predictions: list, row_ids: list) -> Path:
        """submission.parquet in the current folder: the row ids, then the predictions."""
        import polars as pl

        frames = [pl.from_pandas(p) if type(p).__module__.startswith("pandas") else p for p in predictions]
        answers = pl.concat([frame.drop(self.row_id_column_name, strict=False) for frame in frames])
        submission = pl.concat(row_ids).select(self.row_id_column_name).hstack(answers)
        path = Path.cwd() / "submission.parquet"
        submission.write_parquet(path)
        return path

    def write_result(self, error: GatewayRuntimeError | None) -> None:
        result = {"Succeeded": error is None}
        if error is not None:
            result.update(ErrorType=error.error_type.value, ErrorName=error.error_type.name, ErrorDetails=(error.error_details or "")[:8000])
        Path("result.json").write_text(json.dumps(result))
