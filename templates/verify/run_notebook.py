"""Execute a notebook the way Kaggle does, inside the image, and write what happened as JSON.

Runs with the image's own python3 (needs nbformat, nbclient and ipykernel, as Kaggle's image has).
Usage: run_notebook.py NOTEBOOK EXECUTED RESULT_JSON CELL_TIMEOUT [DEPOT=LABEL ...]

Every HTTP(S) request is sent to a local trap through the proxy variables, answered 403 and
recorded with its target, so a download attempt is named even though the network is off. After the
run, the compiled caches of each DEPOT are hashed (name -> sha256) for juliapack to compare with
what the build shipped.
"""

import hashlib
import json
import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

WORKING = Path("/kaggle/working")


def start_trap(attempts):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(32)

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # the trap was closed
                return
            with connection:
                try:
                    connection.settimeout(5)
                    request = connection.recv(8192).decode("latin-1")
                    attempts.append(request.split("\r\n", 1)[0])
                    connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return server


# Loopback is not the network: an inference-server competition's gateway reaches its server over
# localhost (gRPC honours the proxy variables too), as it does on Kaggle with the internet off.
LOOPBACK = "localhost,127.0.0.1,::1"


def trap_the_network(attempts):
    """Send every request that leaves the machine to the trap, through the proxy variables; returns the trap."""
    trap = start_trap(attempts)
    proxy = f"http://127.0.0.1:{trap.getsockname()[1]}"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        os.environ[name] = proxy
    os.environ["no_proxy"] = os.environ["NO_PROXY"] = LOOPBACK
    return trap


def hash_caches(depots):
    caches = {}
    for spec in depots:
        folder, _, label = spec.partition("=")
        compiled = Path(folder) / "compiled"
        if compiled.is_dir():
            for path in sorted(p for p in compiled.rglob("*") if p.is_file()):
                name = label + path.relative_to(folder).as_posix()
                caches[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return caches


def outputs_text(cell):
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") == "error":
            parts.append("\n".join(output.get("traceback", [])))
        elif "text/plain" in output.get("data", {}):
            parts.append(output["data"]["text/plain"])
    return "".join(parts)


def main(notebook_path, executed_path, result_path, cell_timeout, *depots):
    # Imported here so juliapack's tests can load hash_caches on a host without a Jupyter stack.
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    attempts = []
    trap_the_network(attempts)
    os.environ["JULIA_DEBUG"] = "loading"  # names the reason when a cache is rejected
    WORKING.mkdir(parents=True, exist_ok=True)

    notebook = nbformat.read(notebook_path, as_version=4)
    client = NotebookClient(notebook, timeout=int(cell_timeout), kernel_name="python3", resources={"metadata": {"path": str(WORKING)}})
    started = time.monotonic()
    failed_cell, error = None, None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc)
    except Exception as exc:  # a kernel death or a timeout is a failure of the run, reported the same way
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - started
    for index, cell in enumerate(notebook.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            failed_cell = index
            break
    nbformat.write(notebook, executed_path)
    submission = Path(os.environ.get("JULIAPACK_SUBMISSION", WORKING / "submission.csv"))
    copied = None
    if submission.is_file():
        copied = str(Path(result_path).parent / submission.name)
        shutil.copyfile(submission, copied)
    result = {
        "passed": error is None,
        "error": error,
        "failed_cell": failed_cell,
        "failed_cell_source": notebook.cells[failed_cell].source if failed_cell is not None else None,
        "failed_cell_output": outputs_text(notebook.cells[failed_cell]) if failed_cell is not None else None,
        "outputs": [outputs_text(cell) for cell in notebook.cells],
        "network_attempts": attempts,
        "caches": hash_caches(depots),
        "seconds": seconds,
        "submission": copied,
    }
    Path(result_path).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
