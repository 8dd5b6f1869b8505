"""The relay: one unary gRPC method, `Send`, carrying an endpoint name and its arguments.

The bytes are this package's own (no protoc): a u32 length, a JSON description of the values, then the
binary blobs it points to. Frames travel as polars Arrow IPC streams, pandas objects as parquet, numpy
arrays as .npy; a bare Python float travels as a 32-bit float, as Kaggle's relay sends it.
"""

from __future__ import annotations

import io
import json
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import grpc

SERVICE = "kaggle_evaluation_client.KaggleEvaluationService"
METHOD = f"/{SERVICE}/Send"
PORTS = [50051, *range(60053, 60063)]  # the server binds the first free one; the client tries each
STARTUP_LIMIT_SECONDS = 900
DEFAULT_DEADLINE_SECONDS = 3600
RETRY_SECONDS = 0.2
OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


# --- values -------------------------------------------------------------------------------------


def _blob(value, blobs: list) -> int:
    import numpy as np
    import polars as pl

    buffer = io.BytesIO()
    if isinstance(value, pl.DataFrame):
        value.write_ipc_stream(buffer, compression="lz4")
    elif isinstance(value, pl.Series):
        pl.DataFrame([value]).write_ipc_stream(buffer, compression="lz4")
    elif isinstance(value, np.ndarray):
        np.save(buffer, value, allow_pickle=False)
    else:  # pandas DataFrame, or a Series as a one-column frame
        (value.to_frame() if value.ndim == 1 else value).to_parquet(buffer)
    blobs.append(buffer.getvalue())
    return len(blobs) - 1


def _library_kind(value) -> str | None:
    library = type(value).__module__.split(".", 1)[0]
    kinds = {("polars", "DataFrame"): "polars_df", ("polars", "Series"): "polars_series",
             ("pandas", "DataFrame"): "pandas_df", ("pandas", "Series"): "pandas_series", ("numpy", "ndarray"): "numpy"}
    return kinds.get((library, type(value).__name__))


def describe(value, blobs: list):
    """The JSON description of one value; blobs receives its binary parts."""
    if value is None or isinstance(value, (bool, str)):
        return {"t": "plain", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": value}
    if isinstance(value, float):
        return {"t": "float", "v": struct.unpack("<f", struct.pack("<f", value))[0]}
    if isinstance(value, (list, tuple)):
        return {"t": type(value).__name__, "items": [describe(item, blobs) for item in value]}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"t": "dict", "items": {key: describe(item, blobs) for key, item in value.items()}}
    kind = _library_kind(value)
    if kind is not None:
        return {"t": kind, "blob": _blob(value, blobs)}
    if type(value).__module__ == "numpy":  # a numpy scalar
        return {"t": "numpy_scalar", "dtype": value.dtype.str, "v": value.item()}
    raise TypeError(f"Type {type(value)} not supported for the relay")


def rebuild(description, blobs: list):
    kind = description["t"]
    if kind in ("plain", "int", "float"):
        return description["v"]
    if kind in ("list", "tuple"):
        items = [rebuild(item, blobs) for item in description["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {key: rebuild(item, blobs) for key, item in description["items"].items()}
    if kind == "numpy_scalar":
        import numpy as np

        return np.dtype(description["dtype"]).type(description["v"])
    return _unblob(kind, io.BytesIO(blobs[description["blob"]]))


def _unblob(kind: str, buffer: io.BytesIO):
    if kind in ("polars_df", "polars_series"):
        import polars as pl

        frame = pl.read_ipc_stream(buffer)
        return frame if kind == "polars_df" else frame.to_series()
    if kind == "numpy":
        import numpy as np

        return np.load(buffer, allow_pickle=False)
    import pandas as pd

    frame = pd.read_parquet(buffer)
    return frame if kind == "pandas_df" else frame[frame.columns[0]]


def pack(head: dict, blobs: list) -> bytes:
    text = json.dumps({**head, "blobs": [len(blob) for blob in blobs]}).encode()
    return struct.pack("<I", len(text)) + text + b"".join(blobs)


def unpack(data: bytes) -> tuple[dict, list]:
    (length,) = struct.unpack_from("<I", data)
    head = json.loads(data[4 : 4 + length])
    blobs, offset = [], 4 + length
    for size in head["blobs"]:
        blobs.append(data[offset : offset + size])
        offset += size
    return head, blobs


# --- server -------------------------------------------------------------------------------------


def define_server(*endpoint_listeners, host: str = "127.0.0.1") -> grpc.Server:
    """A gRPC server (not started) answering Send for each listener, found by its __name__, on ONE worker thread."""
    if not endpoint_listeners:
        raise ValueError("Must pass at least one endpoint listener, e.g. `predict`")
    for listener in endpoint_listeners:
        if not callable(listener):
            raise ValueError("Endpoint listeners passed to the server must be functions")
        if listener.__name__ == "<lambda>":
            raise ValueError("Functions passed as endpoint listeners must be named")
    listeners = {listener.__name__: listener for listener in endpoint_listeners}

    def send(request: bytes, context) -> bytes:
        head, blobs = unpack(request)
        if head["name"] not in listeners:
            raise NotImplementedError(f"No listener for {head['name']} was registered.")
        args = [rebuild(arg, blobs) for arg in head["args"]]
        kwargs = {key: rebuild(value, blobs) for key, value in head["kwargs"].items()}
        answer_blobs: list = []
        answer = describe(listeners[head["name"]](*args, **kwargs), answer_blobs)
        return pack({"value": answer}, answer_blobs)

    handler = grpc.method_handlers_generic_handler(SERVICE, {"Send": grpc.unary_unary_rpc_method_handler(send)})
    server = grpc.server(ThreadPoolExecutor(max_workers=1), handlers=[handler], options=OPTIONS)
    for port in PORTS:
        try:
            if server.add_insecure_port(f"{host}:{port}"):
                return server
        except RuntimeError:  # the port is taken
            continue
    raise RuntimeError(f"no free port among {PORTS}")


# --- client -------------------------------------------------------------------------------------


class Client:
    """Sends requests to the inference server: the first waits for it to start, later ones have a deadline."""

    def __init__(self, host: str = "localhost") -> None:
        self.host = host
        self.endpoint_deadline_seconds = DEFAULT_DEADLINE_SECONDS
        self.startup_limit_seconds = STARTUP_LIMIT_SECONDS
        self.channel = None
        self.stub = None

    def send(self, name: str, *args, **kwargs):
        blobs: list = []
        head = {"name": name, "args": [describe(arg, blobs) for arg in args],
                "kwargs": {key: describe(value, blobs) for key, value in kwargs.items()}}
        request = pack(head, blobs)
        if self.stub is None:
            response = self._first_send(request)
        else:
            response = self.stub(request, timeout=self.endpoint_deadline_seconds)
        answer, answer_blobs = unpack(response)
        return rebuild(answer["value"], answer_blobs)

    def _first_send(self, request: bytes) -> bytes:
        """Try each port until a server answers; no deadline on this call, as the server may load a model."""
        started = time.monotonic()
        while time.monotonic() - started < self.startup_limit_seconds:
            for port in PORTS:
                channel = grpc.insecure_channel(f"{self.host}:{port}", options=OPTIONS)
                stub = channel.unary_unary(METHOD)
                try:
                    response = stub(request, wait_for_ready=False)
                except grpc.RpcError as error:
                    channel.close()
                    if error.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    continue
                self.channel, self.stub = channel, stub
                return response
            time.sleep(RETRY_SECONDS)
        raise ConnectionError(f"no inference server answered on {self.host} ports {PORTS} within {self.startup_limit_seconds} s")

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
