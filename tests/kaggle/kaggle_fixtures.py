"""Helpers for the tests against the fake Kaggle: users, the fake itself, dist/ folders written by hand."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import random
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from juliapack.fsutil import sha256_file
from juliapack.julia_version import exact_version
from juliapack.kaggle_api import RetryPolicy
from juliapack.workflow.lock import LayerFile, Layout, Lock, write_lock
from juliapack.workflow.records import RehearsalRecord

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "testbed"))
from fake_kaggle import FakeKaggle  # noqa: E402,F401 - re-exported for the tests

USER, KEY = "alice", "alice-secret-key-5f3e"
OTHER, OTHER_KEY = "bob", "bob-secret-key-9a1c"
TOKEN = "KGAT_alice_token_0c4b2e"
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")
ROLES = ("julia", "depot", "compiled", "app")  # what a build writes
LAYER_NAMES = {"julia": "julia", "depot": "dotjulia", "compiled": "compiled", "app": "inference"}
FAST = RetryPolicy(attempts=4, call_timeout=5.0, transfer_timeout=10.0)


def write_kaggle_json(folder: Path, user: str, key: str, *, mode: int = 0o600) -> Path:
    path = folder / "kaggle.json"
    path.write_text(json.dumps({"username": user, "key": key}))
    path.chmod(mode)
    return path


# --------------------------------------------------------------------------- dist/ by hand


def tarball(members: dict[str, bytes]) -> bytes:
    """A deterministic gzip tarball: same members, same bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1577836800, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def noise(size: int, seed: int) -> bytes:
    """Incompressible bytes, the same for the same seed."""
    return random.Random(seed).randbytes(size)


def app_source(line: str = 'println("hello")') -> dict[str, bytes]:
    return {
        "Inference/Project.toml": b'name = "Inference"\n',
        "Inference/src/Inference.jl": f"module Inference\nmain() = {line}\nend\n".encode(),
        "Inference/data/weights.bin": noise(150_000, 3),
    }


DEFAULT_MEMBERS = {
    "julia": {"julia-1.5.3/bin/julia": noise(1_500_000, 1), "julia-1.5.3/share/julia/cert.pem": b"-----BEGIN CERTIFICATE-----\n"},
    "depot": {"packages/Foo/abc/src/Foo.jl": noise(2_000_000, 2), "servers/readme.txt": b"no tokens here\n"},
    "compiled": {"compiled/v1.5/Foo/a.ji": noise(500_000, 3)},
    "app": app_source(),
}


@dataclass(frozen=True)
class Dist:
    path: Path
    lock: Lock

    def layer_size(self, role: str) -> int:
        return sum(layer.size for layer in self.lock.layers if layer.role == role)

    @property
    def total(self) -> int:
        return sum(layer.size for layer in self.lock.layers)


def make_dist(
    path: Path, members: dict[str, dict[str, bytes]] | None = None, *, project: str = "Inference", names: dict[str, str] | None = None, rehearsed: bool | None = True
) -> Dist:
    """Write dist/ with one gzip tarball per layer and the lock describing them (rewrites in place).

    ``rehearsed``: the lock records a passing (True) or failing (False) rehearsal, or none (None):
    upload sends only a build whose rehearsal passed."""
    members = {**DEFAULT_MEMBERS, **(members or {})}
    names = {**LAYER_NAMES, **(names or {})}
    path.mkdir(parents=True, exist_ok=True)
    layers = []
    for role in ROLES:
        file = path / names[role]
        file.write_bytes(tarball(members[role]))
        layers.append(layer_file(role, file))
    lock = make_lock(project, tuple(layers))
    if rehearsed is not None:
        problems = () if rehearsed else ("cell 7 failed",)
        lock = dataclasses.replace(lock, rehearsal=RehearsalRecord(rehearsed, problems, str(path.parent / "notebook"), "a" * 64, "b" * 64))
    write_lock(path, lock)
    return Dist(path, lock)


def layer_file(role: str, file: Path) -> LayerFile:
    """The lock's entry for a gzip tarball in dist/."""
    return _placeholders(LayerFile, role=role, file=file.name, sha256=sha256_file(file), size=file.stat().st_size, codec="gzip", dest=f"/kaggle/working/{role}")


def make_lock(project: str, layers: tuple[LayerFile, ...]) -> Lock:
    """A Lock with these layers; fields this test does not care about get placeholders."""
    layout = _placeholders(Layout, depot_path=("/kaggle/working/depot",))
    return _placeholders(Lock, project_name=project, layers=layers, layout=layout, image_digest=None, julia_version=exact_version("1.10.5"))


def _placeholders(cls, **given):  # noqa: ANN001, ANN202 - any dataclass
    values = {f.name: "x" for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    return cls(**{**values, **given})
