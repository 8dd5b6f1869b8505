"""Faults during a build (and a verify): signals, a killed container, two builds at once. Nothing half-written survives,
the previous dist/ stays intact, no container is left behind, and the next run recovers."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from juliapack.workflow.lock import read_lock
from tests.docker.conftest import make_workspace


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


@pytest.fixture
def start():
    """Starts juliapack in the background; whatever is still running at teardown is killed."""
    processes: list[subprocess.Popen] = []

    def juliapack(ws, *args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "juliapack", *args], cwd=ws.root, env=ws.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        processes.append(process)
        return process

    yield juliapack
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate()


def wait_for(condition, *, timeout: float = 240, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def build_containers(docker_client, ws, **filters) -> list[str]:
    """Ids of the workspace's build containers (the raw listing: no per-container inspect that could race a removal)."""
    labels = ["juliapack=build", f"juliapack.project={ws.project}"]
    return [container["Id"] for container in docker_client.api.containers(all=True, filters={"label": labels, **filters})]


def running_build(docker_client, ws):
    return lambda: build_containers(docker_client, ws, status="running")


@pytest.fixture
def rebuilt(workspace):
    """A workspace with a finished build, whose app then changes so the next build has work to do."""
    workspace.juliapack("build", "--no-verify")
    before = snapshot(workspace.dist)
    source = workspace.project / "src" / "Inference.jl"
    source.write_text(source.read_text() + "\n# changed\n")
    return workspace, before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_container_runs_removes_it_and_keeps_dist(rebuilt, start, docker_client, signum):
    ws, before = rebuilt
    process = start(ws, "build", "--no-verify")
    wait_for(running_build(docker_client, ws), what="the build container")
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted")
    assert build_containers(docker_client, ws) == []
    assert snapshot(ws.dist) == before
    assert not list(ws.dist.glob(".staging-*"))
    ws.juliapack("build", "--no-verify")  # the next run recovers
    assert snapshot(ws.dist)["inference"] != before["inference"]


def test_a_signal_while_packing_leaves_no_partial_files(rebuilt, start, docker_client):
    ws, before = rebuilt
    with open(ws.project / "weights.txt", "w") as big:  # big enough that packing takes a few seconds
        for _ in range(80):
            big.write(os.urandom(4 << 20).hex())
    process = start(ws, "build", "--no-verify")
    wait_for(lambda: list(ws.dist.glob(".staging-*")), what="packing to start")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert snapshot(ws.dist) == before
    assert not list(ws.dist.glob(".staging-*")) and not list(ws.dist.glob(".*.partial"))
    assert build_containers(docker_client, ws) == []


def test_a_signal_during_verify_is_one_line_and_leaves_no_container(tmp_path, testbed, julia_mirror_url, juliapack_cache, start, docker_client):
    workspace = make_workspace(tmp_path / "ws", testbed, julia_mirror_url, juliapack_cache)  # with [notebook]
    workspace.juliapack("build", "--no-verify")  # dist/ was just rebuilt: the message must not say it is as before
    workspace.juliapack("notebook")
    process = start(workspace, "verify")
    rehearsals = lambda **filters: docker_client.api.containers(all=True, filters={"label": ["juliapack=verify"], **filters})  # noqa: E731
    wait_for(lambda: rehearsals(status="running"), what="the verify container")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: interrupted") and "as before" not in last
    assert rehearsals() == []


def test_a_killed_build_container_is_one_clear_error(rebuilt, start, docker_client):
    ws, before = rebuilt
    process = start(ws, "build", "--no-verify")
    wait_for(running_build(docker_client, ws), what="the build container")
    docker_client.api.kill(build_containers(docker_client, ws, status="running")[0])
    _, err = process.communicate(timeout=120)
    assert process.returncode == 4, err
    assert "the build container stopped unexpectedly" in err.strip().splitlines()[-1]
    assert snapshot(ws.dist) == before
    assert build_containers(docker_client, ws) == []


def test_two_builds_into_one_dist_run_one_after_the_other(rebuilt, start, docker_client):
    ws, _ = rebuilt
    first = start(ws, "build", "--no-verify")
    wait_for(running_build(docker_client, ws), what="the first build container")
    second = start(ws, "build", "--no-verify")
    out1, err1 = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 0), err1 + err2
    assert "waiting for another juliapack process using" in err2
    assert "up to date" in out2  # the second saw the first's finished dist, not a mix


def flip_a_byte(path: Path, *, at: int = 4096) -> None:
    with open(path, "r+b") as stream:  # in place: same size, same inode
        stream.seek(at)
        old = stream.read(1)
        stream.seek(at)
        stream.write(bytes([old[0] ^ 0xFF]))


def test_writes_into_dist_julia_or_its_cache_entry_are_healed_by_the_next_build(workspace):
    """dist/julia is a copy of its own (a write to it never reaches the cache), and a damaged cache entry is made again."""
    workspace.juliapack("build", "--no-verify")
    layer = read_lock(workspace.dist).layer("julia")
    cache = Path(workspace.env["JULIAPACK_CACHE_DIR"])
    cached = [p for p in cache.glob("julia/*/**/julia-*") if p.is_file() and p.stat().st_size == layer.size and sha256(p) == layer.sha256]
    assert len(cached) == 1, cached
    shipped = workspace.dist / "julia"
    assert shipped.stat().st_ino != cached[0].stat().st_ino and shipped.stat().st_nlink == 1

    flip_a_byte(shipped)
    workspace.juliapack("build", "--no-verify")
    assert sha256(shipped) == layer.sha256 == sha256(cached[0])

    flip_a_byte(cached[0])
    result = workspace.juliapack("build", "--no-verify", "--force")
    assert "is damaged" in result.stderr, result.stderr
    assert sha256(shipped) == layer.sha256 == read_lock(workspace.dist).layer("julia").sha256
