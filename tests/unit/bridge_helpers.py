"""Shared by the bridge's unit tests: the bridge modules on sys.path, a fake worker, a clean kaggle_evaluation."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "templates" / "serve"
TINY_SERVE = ROOT / "testbed" / "competition" / "tiny-serve"
if str(SERVE) not in sys.path:
    sys.path.insert(0, str(SERVE))

# A stand-in for `julia` that speaks the wire format badly on purpose: it ignores Julia's flags, finds
# --reply-fd, and does what its MODE says. READY is a correct frame, so the first call gets past it.
FAKE_JULIA = """\
#!{python}
import os, struct, sys, time
args = sys.argv[1:]
reply = int(args[args.index("--reply-fd") + 1])
request = int(args[args.index("--request-fd") + 1])
mode = os.environ["FAKE_MODE"]
def frame(kind, body):
    os.write(reply, b"JPB1" + bytes([kind, 0, 0, 0]) + struct.pack("<Q", len(body)) + body)
def wait_request():
    data = b""
    while len(data) < 16:
        chunk = os.read(request, 16 - len(data))
        if not chunk:  # the bridge closed the request pipe: exit as worker.jl does
            sys.exit(0)
        data += chunk
    length = struct.unpack("<Q", data[8:])[0]
    while length:
        length -= len(os.read(request, min(length, 65536)))
    return data
if mode == "garbled-ready":
    os.write(reply, b"NOPE" + bytes(12))
    time.sleep(60)
frame(2, struct.pack("<I", 1) + b"1.99.0-fake")
if mode == "deaf":  # like a Julia still busy in setup: it does not see its request pipe close
    time.sleep(60)
wait_request()
if mode == "garbled":
    os.write(reply, b"XXXX" + bytes(12))
elif mode == "short-header":
    os.write(reply, b"JPB1\\x03")
    os.close(reply)
elif mode == "short-body":
    os.write(reply, b"JPB1" + bytes([3, 0, 0, 0]) + struct.pack("<Q", 100) + bytes(10))
    os.close(reply)
elif mode == "eof":
    print("fake worker gives up", file=sys.stderr, flush=True)
    sys.exit(3)
elif mode == "silent-hang":
    time.sleep(60)
elif mode == "wrong-batch":
    frame(3, struct.pack("<Q", 99) + bytes([0]))
elif mode == "huge":
    os.write(reply, b"JPB1" + bytes([3, 0, 0, 0]) + struct.pack("<Q", 1 << 62))
time.sleep(60)
"""


def fake_julia(folder: Path) -> Path:
    path = folder / "julia"
    path.write_text(textwrap.dedent(FAKE_JULIA.format(python=sys.executable)))
    path.chmod(0o755)
    return path


def forget_kaggle_evaluation() -> None:
    for name in [n for n in sys.modules if n == "kaggle_evaluation" or n.startswith("kaggle_evaluation.")]:
        del sys.modules[name]


@pytest.fixture(name="clean_imports")
def clean_imports_fixture():
    """Each test imports its own kaggle_evaluation: forget it (and its sys.path entry) afterwards."""
    path = list(sys.path)
    forget_kaggle_evaluation()
    yield
    forget_kaggle_evaluation()
    sys.path[:] = path
