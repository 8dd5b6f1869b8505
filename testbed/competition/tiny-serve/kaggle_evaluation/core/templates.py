"""The two classes a competition customises: its Gateway, and the InferenceServer that competitors run."""

from __future__ import annotations

import abc
import os
import traceback

from kaggle_evaluation.core import base_gateway, relay
from kaggle_evaluation.core.base_gateway import GatewayRuntimeError, GatewayRuntimeErrorType


class Gateway(base_gateway.BaseGateway, abc.ABC):
    @abc.abstractmethod
    def unpack_data_paths(self) -> None:
        """Set the competition's file paths from self.data_paths, with defaults for data_paths=None."""

    @abc.abstractmethod
    def generate_data_batches(self):
        """Yield (arguments of one predict call, the row ids its answer covers)."""

    def competition_specific_validation(self, prediction, row_ids, data_batch) -> None:
        pass

    def predict(self, *args, **kwargs):
        try:
            return self.client.send("predict", *args, **kwargs)
        except Exception as error:
            self.handle_server_error(error, "predict")

    def set_response_timeout_seconds(self, timeout_seconds: float) -> None:
        """The deadline of every call after the first (which waits for the server to start)."""
        self.client.endpoint_deadline_seconds = timeout_seconds

    def get_all_predictions(self):
        predictions, all_row_ids = [], []
        for data_batch, row_ids in self.generate_data_batches():
            prediction = self.predict(*data_batch)
            self.validate_prediction_batch(prediction, row_ids)
            self.competition_specific_validation(prediction, row_ids, data_batch)
            predictions.append(prediction)
            all_row_ids.append(row_ids)
        return predictions, all_row_ids

    def run(self) -> None:
        error = None
        try:
            self.unpack_data_paths()
            self.write_submission(*self.get_all_predictions())
        except GatewayRuntimeError as raised:
            error = raised
        except Exception:
            error = GatewayRuntimeError(GatewayRuntimeErrorType.GATEWAY_RAISED_EXCEPTION, traceback.format_exc())
        self.client.close()
        if base_gateway.IS_RERUN:
            self.write_result(error)
        elif error is not None:
            raise error


class InferenceServer(abc.ABC):
    """What competitors instantiate with their endpoint functions: XInferenceServer(predict)."""

    def __init__(self, *endpoint_listeners) -> None:
        rerun = os.getenv("KAGGLE_IS_COMPETITION_RERUN") is not None
        self.server = relay.define_server(*endpoint_listeners, host="0.0.0.0" if rerun else "127.0.0.1")
        self.gateway = None

    def serve(self) -> None:
        """Start answering; on Kaggle's rerun block here for good (the gateway ends the container)."""
        self.server.start()
        if os.getenv("KAGGLE_IS_COMPETITION_RERUN") is not None:
            self.server.wait_for_termination()

    @abc.abstractmethod
    def _get_gateway_for_test(self, data_paths=None, file_share_dir=None, *args, **kwargs):
        """The competition's gateway, reading the local copy of the data (or data_paths)."""

    def run_local_gateway(self, data_paths=None, file_share_dir=None, *args, **kwargs) -> None:
        """Run the competition's gateway in this process against this server; submission.parquet lands in the CWD."""
        self.server.start()
        try:
            self.gateway = self._get_gateway_for_test(data_paths, file_share_dir, *args, **kwargs)
            self.gateway.run()
        finally:
            self.server.stop(0)
