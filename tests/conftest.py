"""Shared fixtures: the test bed made by testbed/setup.sh, found through its env file."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed import workspace
from testbed.cache import cache_root, read_env_file

# testcontainers starts a reaper image first, which no registry here can provide; we clean up ourselves.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Testbed:
    image: str  # the Kaggle stand-in (Dockerfile.test on the debootstrapped base)
    base_image: str
    julia_mirror: Path  # served over HTTP: bin/versions.json and bin/linux/x64/...
    repos: Path  # local registry, package repos and artifacts; mounted at REPOS_MOUNT in containers
    model: Path  # model.jls written by examples/train.jl

    REPOS_MOUNT = workspace.REPOS_MOUNT
    REGISTRY_URL = workspace.REGISTRY_URL



def docker_engine_or_skip():
    """The docker client, or a skip where no engine exists; CI (JULIAPACK_CI=1) fails instead."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as error:  # any failure to reach the engine means "no engine here"
        if os.environ.get("JULIAPACK_REQUIRE_DOCKER") == "1" or os.environ.get("JULIAPACK_CI") == "1":
            pytest.fail(f"CI (JULIAPACK_CI=1 or JULIAPACK_REQUIRE_DOCKER=1) but no Docker engine: {error}")
        pytest.skip(f"no Docker engine reachable ({error})")


@pytest.fixture(scope="session")
def docker_client():
    return docker_engine_or_skip()


@pytest.fixture(scope="session")
def testbed(docker_client) -> Testbed:
    env_file = cache_root() / "testbed.env"
    if not env_file.is_file():
        pytest.fail(f"test bed not set up ({env_file} missing): run bash testbed/setup.sh")
    values = read_env_file(env_file)
    bed = Testbed(
        image=values["JULIAPACK_TESTBED_IMAGE"],
        base_image=values["JULIAPACK_TESTBED_BASE_IMAGE"],
        julia_mirror=Path(values["JULIAPACK_TESTBED_JULIA_MIRROR"]),
        repos=Path(values["JULIAPACK_TESTBED_REPOS"]),
        model=Path(values["JULIAPACK_TESTBED_MODEL"]),
    )
    docker_client.images.get(bed.image)  # fails loudly if the env file is stale
    return bed


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@pytest.fixture(scope="session")
def julia_mirror_url(testbed) -> str:
    """An HTTP server on 127.0.0.1 serving the test bed's Julia mirror (versions.json + tarball)."""
    handler = functools.partial(_QuietHandler, directory=str(testbed.julia_mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
