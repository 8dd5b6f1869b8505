"""juliapack's bridge: a competition's Python `predict` answered by a persistent Julia worker.

    worker = start_worker("/usr/local/bin/julia", project="/tmp/Forecast", module="Forecast",
                          args=["--model", "/kaggle/input/models/model.jld2"], env={...})
    enter_server(worker.as_predict())   # finds the competition's InferenceServer, serves or runs the gateway

`start_worker` returns at once: Julia starts in the background (its setup may take minutes) and the
first predict call waits for it to say READY, with no deadline, as the gateway's first call has none.
Every later call has a deadline; past it the worker is killed and TimeoutError is raised. Julia's
exceptions raise JuliaError, a worker that dies raises WorkerDied: each with a one-line message, the
line the gateway reports. Frames travel on two dedicated pipes (juliapack_wire.py describes them); the
worker's stdout and stderr are forwarded live to sys.stdout/sys.stderr, and their tails kept for errors.
"""

from __future__ import annotations

import collections
import gc
import importlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from juliapack_columns import library_of
from juliapack_wire import ERROR, FRAME_KINDS, HEADER, PROTOCOL, READY, RESULT, WireError, parse_error, parse_header, parse_ready, parse_result, request

WORKER_SCRIPT = Path(__file__).resolve().with_name("worker.jl")
DEFAULT_DEADLINE = 300.0
SHUTDOWN_WAIT = 5.0  # seconds a worker gets to exit after its request pipe closes, before SIGTERM
POLL_SLICE = 0.5  # seconds between checks that the worker still runs while waiting without a deadline
TAIL_LINES = 40


class JuliaError(RuntimeError):
    """An exception in the Julia worker; the message is one line: `JuliaError: <type>: <message> (in ...)`."""


class WorkerDied(RuntimeError):
    """The Julia worker exited, was killed, or broke the wire format; the message names the exit code."""


def start_worker(julia, *, project, module, args=(), env=None, deadline=DEFAULT_DEADLINE, freeze_gc=True, julia_flags=(), script=WORKER_SCRIPT):
    """Start the Julia worker in the background and return it at once (a JuliaWorker).

    julia: the ABSOLUTE path of the julia binary to run (never one found on PATH); project: the app's
    folder (--project); module: the app module that defines predict (and optionally setup, warmup);
    args: the entry arguments given to setup(args); env: variables set over os.environ (JULIA_DEPOT_PATH,
    JULIA_LOAD_PATH, JULIA_PKG_OFFLINE, JULIA_NUM_THREADS, ...); deadline: seconds for each call after
    the first; freeze_gc: at the first call, gc.freeze() what exists then (the imported libraries), so
    that Python's full collections, which otherwise scan it all (10-20 ms with polars, pandas and pyarrow
    loaded), cost microseconds during the calls; frozen objects are never freed; julia_flags: more of
    Julia's own options (-t auto, --compiled-modules=strict), before the worker script."""
    if not Path(julia).is_absolute():
        raise ValueError(f"julia must be the absolute path of the unpacked julia binary, not {julia!r}: "
                         "a julia found on PATH may be another version (Kaggle's image ships its own)")
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    command = [str(julia), "--startup-file=no", *map(str, julia_flags), f"--project={project}", str(script), "--module", module,
               "--request-fd", str(request_read), "--reply-fd", str(reply_write), *map(str, args)]
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})}, pass_fds=(request_read, reply_write), start_new_session=True,
        )
    finally:
        os.close(request_read)
        os.close(reply_write)
    os.set_blocking(request_write, False)
    os.set_blocking(reply_read, False)
    return JuliaWorker(process, request_write, reply_read, deadline=deadline, freeze_gc=freeze_gc)


class StreamTee:
    """Forwards a worker's output stream to ours as it comes, and keeps its last lines."""

    def __init__(self, pipe, target_name: str) -> None:
        self.lines = collections.deque(maxlen=TAIL_LINES)
        self.thread = threading.Thread(target=self._pump, args=(pipe, target_name), daemon=True)
        self.thread.start()

    def _pump(self, pipe, target_name: str) -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                line = raw.decode(errors="replace")
                self.lines.append(line.rstrip("\n"))
                target = getattr(sys, target_name)  # looked up each time: Jupyter replaces sys.stdout
                target.write(line)
                target.flush()

    def tail(self, count: int = 6) -> str:
        self.thread.join(timeout=1.0)  # let the last lines of a dead worker arrive
        lines = [line for line in list(self.lines) if line.strip()][-count:]
        return " | ".join(lines)[-1500:]


class WorkerProcess:
    """The process and pipe ends of one worker; shuts it down at most once (also at interpreter exit)."""

    def __init__(self, process, request_fd: int, reply_fd: int) -> None:
        self.process, self.request_fd, self.reply_fd = process, request_fd, reply_fd
        self.closed = False

    def kill(self) -> None:
        """SIGKILL the worker's whole session (it runs in its own, so its children go too)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def shutdown(self) -> None:
        """Close the request pipe (the worker exits at EOF), wait, then SIGTERM and SIGKILL."""
        if self.closed:
            return
        self.closed = True
        os.close(self.request_fd)
        try:
            self.process.wait(timeout=SHUTDOWN_WAIT)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=2.0)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()
        os.close(self.reply_fd)


def exit_description(code) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class JuliaWorker:
    """A running worker.jl; calling it sends one predict call (thread-safe, one call at a time)."""

    def __init__(self, process, request_fd: int, reply_fd: int, *, deadline: float, freeze_gc: bool = False) -> None:
        self.deadline, self.freeze_gc = deadline, freeze_gc
        self.julia_version: str | None = None
        self._proc = WorkerProcess(process, request_fd, reply_fd)
        self._stdout = StreamTee(process.stdout, "stdout")
        self._stderr = StreamTee(process.stderr, "stderr")
        self._lock = threading.Lock()
        self._batches = 0
        self._failure: str | None = None
        self._poller = select.poll()
        self._poller.register(reply_fd, select.POLLIN)
        self._finalizer = weakref.finalize(self, self._proc.shutdown)

    @property
    def pid(self) -> int:
        return self._proc.process.pid

    @property
    def returncode(self):
        return self._proc.process.poll()

    def as_predict(self):
        """A function named `predict` (the relay finds endpoints by __name__) that calls this worker."""
        worker = self

        def predict(*args):
            return worker(*args)

        return predict

    def wait_ready(self) -> str:
        """Wait (without a deadline) for the worker's READY; returns its Julia version."""
        with self._lock:
            self._ensure_ready()
            return self.julia_version

    def __call__(self, *args):
        with self._lock:
            if self._failure:
                raise WorkerDied(f"julia worker is not running: {self._failure}")
            batch = self._batches + 1
            frame = request(batch, args)  # a value the bridge cannot carry fails here, worker untouched
            library = library_of(args) or "polars"
            first = self._batches == 0
            if first and self.freeze_gc:
                gc.freeze()
            self._ensure_ready()
            self._batches = batch
            limit = None if first else time.monotonic() + self.deadline
            self._write(frame, limit, batch)
            kind, body = self._read_frame(limit, batch)
            if kind == ERROR:
                failed, message = parse_error(body)
                if failed != batch:  # the worker itself failed (it exits after saying why)
                    self._fail(batch, f"failed: {message}")
                raise JuliaError("JuliaError: " + message)
            if kind != RESULT:
                self._fail(batch, f"sent a {FRAME_KINDS[kind]} frame in reply to a request", WireError)
            got, answer = self._parse(body, library, batch)
            if got != batch:
                self._fail(batch, f"answered batch {got} instead", WireError)
            return answer

    def close(self) -> None:
        """End the worker: close its request pipe, wait up to 5 s, then terminate it."""
        with self._lock:
            self._failure = self._failure or "it was closed (JuliaWorker.close)"
            self._finalizer()

    # --- internals --------------------------------------------------------------------------------

    def _ensure_ready(self) -> None:
        if self.julia_version is not None:
            return
        kind, body = self._read_frame(None, 0)
        if kind == ERROR:  # loading the app failed; the worker exits after saying why
            message = "JuliaError: " + parse_error(body)[1]
            self._failure = message
            self._reap()
            raise JuliaError(message)
        if kind != READY:
            self._fail(0, f"sent a {FRAME_KINDS[kind]} frame before READY", WireError)
        protocol, version = parse_ready(body)
        if protocol != PROTOCOL:
            self._fail(0, f"speaks bridge protocol {protocol}, this bridge {PROTOCOL}: ship worker.jl and "
                          "juliapack_bridge.py from the same juliapack", WireError)
        self.julia_version = version

    def _parse(self, body, library: str, batch: int):
        try:
            return parse_result(body, library)
        except WireError as error:
            self._fail(batch, f"sent a bad answer ({error})", WireError)

    def _read_frame(self, limit, batch: int):
        header = self._read_exactly(HEADER.size, limit, batch, "frame header")
        try:
            kind, length = parse_header(bytes(header))
        except WireError as error:
            self._fail(batch, str(error), WireError)
        return kind, self._read_exactly(length, limit, batch, f"{length}-byte frame body")

    def _read_exactly(self, n: int, limit, batch: int, what: str) -> bytearray:
        buffer = bytearray(n)
        view, pos = memoryview(buffer), 0
        while pos < n:
            self._wait_readable(limit, batch)
            try:
                got = os.readv(self._proc.reply_fd, [view[pos:]])
            except BlockingIOError:
                continue
            if got == 0:
                self._fail(batch, f"closed its reply pipe after {pos} of {n} bytes of a {what}" if pos or n != HEADER.size else "stopped without answering")
            pos += got
        return buffer

    def _wait_readable(self, limit, batch: int) -> None:
        while True:
            wait = POLL_SLICE if limit is None else min(POLL_SLICE, limit - time.monotonic())
            if wait <= 0:
                self._time_out(batch)
            if self._poller.poll(wait * 1000):
                return
            if self._proc.process.poll() is not None:
                self._fail(batch, "stopped without answering")

    def _write(self, data: bytes, limit, batch: int) -> None:
        view, poller = memoryview(data), select.poll()
        poller.register(self._proc.request_fd, select.POLLOUT)
        while view:
            try:
                view = view[os.write(self._proc.request_fd, view):]
                continue
            except BlockingIOError:
                pass
            except BrokenPipeError:
                self._fail(batch, "closed its request pipe")
            wait = POLL_SLICE if limit is None else min(POLL_SLICE, limit - time.monotonic())
            if wait <= 0:
                self._time_out(batch)
            if not poller.poll(wait * 1000) and self._proc.process.poll() is not None:
                self._fail(batch, "stopped reading requests")

    def _time_out(self, batch: int):
        self._proc.kill()
        message = f"julia worker exceeded {self.deadline:g} s on batch {batch}"
        self._failure = message + " and was killed"
        raise TimeoutError(message)

    def _reap(self, wait: float = SHUTDOWN_WAIT) -> None:
        """Let a worker that is exiting on its own finish (its exit code says why), else kill it."""
        try:
            self._proc.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self._proc.kill()

    def _fail(self, batch: int, what: str, kind=WorkerDied):
        """The worker is unusable: kill it (if it still runs) and raise one line saying why."""
        self._reap(wait=0.5)
        where = f"on batch {batch}" if batch else "before READY"
        tail = self._stderr.tail()
        message = f"julia worker {what} {where}; it {exit_description(self.returncode)}"
        message += f"; its stderr ends: {tail}" if tail else "; its stderr was empty"
        self._failure = message
        raise kind(message)


# --- the competition's InferenceServer ------------------------------------------------------------


def enter_server(predict, *, competition_dir=None, server=None, data_paths=None):
    """Serve `predict` with the competition's InferenceServer: serve() on Kaggle's rerun
    (KAGGLE_IS_COMPETITION_RERUN set), else run_local_gateway(data_paths). Returns the server object.

    competition_dir: the folder holding kaggle_evaluation/ (default: the one under /kaggle/input);
    server: "module:Class" to name the server class instead of finding the one *_inference_server.py."""
    inference_server = server_class(competition_dir=competition_dir, server=server)(predict)
    if os.environ.get("KAGGLE_IS_COMPETITION_RERUN") is not None:
        inference_server.serve()
    elif data_paths is None:
        inference_server.run_local_gateway()
    else:
        inference_server.run_local_gateway(data_paths)
    return inference_server


def find_competition_dir(input_root=Path("/kaggle/input")) -> Path:
    """The one folder under input_root (or one level deeper) that holds a kaggle_evaluation package."""
    root = Path(input_root)
    found = sorted({p.parent for pattern in ("*/kaggle_evaluation", "*/*/kaggle_evaluation") for p in root.glob(pattern) if p.is_dir()})
    if len(found) != 1:
        what = "none" if not found else "several: " + ", ".join(map(str, found))
        raise FileNotFoundError(f"looked for the competition's kaggle_evaluation package under {root} and found {what}: "
                                "attach the competition's data to the notebook, or pass competition_dir=")
    return found[0]


def server_class(*, competition_dir=None, server=None) -> type:
    """The competition's InferenceServer subclass, imported from the competition's own kaggle_evaluation."""
    folder = Path(competition_dir) if competition_dir is not None else find_competition_dir()
    use_competition(folder)
    if server:
        module_name, _, class_name = server.partition(":")
        if not class_name:
            raise ValueError(f'server={server!r}: name it as "module:Class", e.g. "jane_street_inference_server:JSInferenceServer"')
        return getattr(import_server_module(module_name), class_name)
    modules = sorted((folder / "kaggle_evaluation").glob("*_inference_server.py"))
    if len(modules) != 1:
        raise FileNotFoundError(f"{folder / 'kaggle_evaluation'} holds {len(modules)} *_inference_server.py modules "
                                f"({', '.join(m.name for m in modules) or 'none'}): pass server=\"module:Class\"")
    module = import_server_module(modules[0].stem)
    base = importlib.import_module("kaggle_evaluation.core.templates").InferenceServer
    classes = [value for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, base) and value is not base and value.__module__ == module.__name__]
    if len(classes) != 1:
        raise LookupError(f"{modules[0]} defines {len(classes)} InferenceServer subclasses "
                          f"({', '.join(c.__name__ for c in classes) or 'none'}): pass server=\"module:Class\"")
    return classes[0]


def import_server_module(name: str):
    """A module of the competition: `name` itself, or kaggle_evaluation.<name>."""
    try:
        return importlib.import_module(name if name.startswith("kaggle_evaluation") else f"kaggle_evaluation.{name}")
    except ModuleNotFoundError as error:
        if error.name not in (name, f"kaggle_evaluation.{name}"):
            raise
        return importlib.import_module(name)


def use_competition(folder: Path) -> None:
    """Put the competition folder first on sys.path, forgetting a kaggle_evaluation imported from elsewhere."""
    package = folder / "kaggle_evaluation"
    if not (package / "__init__.py").is_file() and not (package / "core").is_dir():
        raise FileNotFoundError(f"{folder} has no kaggle_evaluation package: pass the competition's data folder")
    loaded = sys.modules.get("kaggle_evaluation")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve().parent != package.resolve():
        for name in [n for n in sys.modules if n == "kaggle_evaluation" or n.startswith("kaggle_evaluation.")]:
            del sys.modules[name]
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
