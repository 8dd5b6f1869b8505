"""The only module that talks to Docker: images, and a container that is always removed afterwards.

`running()` starts an idle container and yields a `Container` whose `run()` executes one shell
script at a time, streaming each output line to the reporter and keeping the last lines for the
error message. Every docker error becomes a JuliapackError with a fix.
"""

from __future__ import annotations

import collections
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from juliapack.errors import BuildFailed, DockerUnavailable, EnvironmentProblem, JuliapackError, RemoteError
from juliapack.report import NullReporter, Reporter

LABEL = "juliapack"
TAIL_LINES = 40
KILL_SETTLE = 3.0  # seconds to wait for the engine to report a killed container


@dataclass(frozen=True)
class Mount:
    """A bind mount: a host path seen at ``target`` inside a container."""

    source: Path
    target: str
    read_only: bool = True

    def spec(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


@dataclass(frozen=True)
class ImageInfo:
    name: str
    id: str
    digest: str | None  # repo digest when the image came from a registry; None for local builds


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    tail: tuple[str, ...]


def connect(client=None):
    """A docker client that has answered a ping."""
    import docker

    try:
        client = client or docker.from_env()
        client.ping()
        return client
    except docker.errors.DockerException as error:
        raise _unavailable(error) from error


def _unavailable(error: Exception) -> DockerUnavailable:
    text = str(error)
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if "Permission denied" in text or "permission denied" in text:
        return DockerUnavailable(
            f"permission denied on the Docker socket ({where})",
            fix="add your user to the 'docker' group (then log in again), or run with sudo",
        )
    return DockerUnavailable(
        f"cannot reach the Docker engine at {where} ({_cause(error)})",
        fix="start Docker (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at a running engine",
    )


_API_URL = re.compile(r"(?:for url|url): \S+|\bhttp\+docker://\S+|\bhttps?://localhost/v[\d.]+/\S+")


def _cause(error: Exception) -> str:
    """The first line of a docker SDK error, without the engine API URLs it quotes."""
    text = (str(error).splitlines() or [type(error).__name__])[0]
    for known, said in (("FileNotFoundError", "no socket there"), ("ConnectionRefusedError", "connection refused"), ("Read timed out", "no answer")):
        if known in text:
            return said
    return " ".join(_API_URL.sub("", text).split()) or type(error).__name__


def ensure_image(client, name: str, *, pull: str, reporter: Reporter = NullReporter(), missing_fix: str | None = None) -> ImageInfo:
    """The image, pulled according to the policy: missing (only if absent), always, never."""
    import docker

    image = None
    if pull != "always":
        try:
            image = client.images.get(name)
        except docker.errors.ImageNotFound:
            if pull == "never":
                raise EnvironmentProblem(
                    f"image {name} is not present" + ("" if missing_fix else " and --pull is never"),
                    fix=missing_fix or f"run `docker pull {name}`, or use --pull missing",
                ) from None
        except docker.errors.DockerException as error:
            raise _unavailable(error) from error
    if image is None:
        image = _pull(client, name, reporter)
    digests = image.attrs.get("RepoDigests") or []
    return ImageInfo(name=name, id=image.id, digest=digests[0] if digests else None)


def _pull(client, name: str, reporter: Reporter):
    import docker

    repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
    reporter.step(f"Pulling {name}")
    try:
        layers: dict[str, tuple[int, int]] = {}
        with reporter.progress(f"pull {name}", total=None) as bar:
            for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise docker.errors.APIError(event["error"])
                done, total = _pull_progress(event, layers)
                if done:
                    bar.advance(done)
        return client.images.get(name)
    except docker.errors.DockerException as error:
        raise RemoteError(
            f"cannot pull {name}: {_cause(error)}",
            fix="check the image name and your network (or `docker login`), or build/pull it yourself and use --pull never",
        ) from error


def _pull_progress(event: Mapping, layers: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """Bytes newly downloaded according to one pull event (per-layer counters are cumulative)."""
    detail = event.get("progressDetail") or {}
    layer = event.get("id")
    if not layer or "current" not in detail or event.get("status") != "Downloading":
        return 0, 0
    before, _ = layers.get(layer, (0, 0))
    layers[layer] = (detail["current"], detail.get("total", 0))
    return max(0, detail["current"] - before), detail.get("total", 0)


class Container:
    """A running container; `run` executes a bash script in it and fails loudly."""

    def __init__(self, client, container, reporter: Reporter) -> None:
        self.client = client
        self.container = container
        self.reporter = reporter

    @property
    def id(self) -> str:
        return self.container.id

    def exec(self, script: str, *, env: Mapping[str, str] | None = None, workdir: str | None = None, quiet: bool = False) -> ExecResult:
        """Run ``script`` with bash; its output goes to the reporter line by line unless ``quiet``."""
        import docker

        api = self.client.api
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        try:
            handle = api.exec_create(
                self.container.id,
                ["bash", "-o", "pipefail", "-ec", script],
                environment=dict(env or {}),
                workdir=workdir,
                stdout=True,
                stderr=True,
            )
            for line in _lines(api.exec_start(handle["Id"], stream=True)):
                tail.append(line)
                if not quiet:
                    self.reporter.log(line)
            exit_code = api.exec_inspect(handle["Id"]).get("ExitCode")
        except docker.errors.DockerException as error:
            if self._still_running():
                raise EnvironmentProblem(
                    f"Docker failed to run a step in the container: {_cause(error)}",
                    fix="check the engine (`docker info`) and run the command again",
                ) from error
            raise self._died(tuple(tail)) from error
        if exit_code is None or not self._still_running():
            raise self._died(tuple(tail))
        return ExecResult(exit_code, tuple(tail))

    def run(self, script: str, *, what: str, env: Mapping[str, str] | None = None, workdir: str | None = None, fix: str = "") -> ExecResult:
        result = self.exec(script, env=env, workdir=workdir)
        if result.exit_code >= 128 and self._stops_within(KILL_SETTLE):
            raise self._died(result.tail)  # killed with the container (docker kill, OOM): not the user's code
        if result.exit_code != 0:
            raise BuildFailed(
                f"{what} failed in the build container (exit code {result.exit_code})",
                fix=fix or "read the output above; run with --keep-container to look inside",
                details="\n".join(result.tail),
            )
        return result

    def _stops_within(self, seconds: float) -> bool:
        """Whether the container is seen stopped within ``seconds``: the engine reports a kill a moment
        after the killed process's exit code."""
        deadline = time.monotonic() + seconds
        while self._still_running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _still_running(self) -> bool:
        import docker

        try:
            self.container.reload()
        except docker.errors.NotFound:
            self.container.attrs["State"] = {"Running": False, "ExitCode": None}
            return False
        return bool(self.container.attrs["State"].get("Running"))

    def _died(self, tail: tuple[str, ...]) -> JuliapackError:
        state = self.container.attrs["State"]
        if state.get("OOMKilled"):
            return EnvironmentProblem(
                "the build container ran out of memory",
                fix="give Docker more memory (Docker Desktop: Settings → Resources) or close other containers",
                details="\n".join(tail),
            )
        return EnvironmentProblem(
            f"the build container stopped unexpectedly (exit code {state.get('ExitCode')}; killed?)",
            fix="check `docker events`/the engine's log, then run the command again",
            details="\n".join(tail),
        )


def _lines(chunks) -> Iterator[str]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            yield raw.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace")


@dataclass(frozen=True)
class ContainerSpec:
    """What a container is started with; a build plan or a rehearsal names exactly this."""

    image: str
    mounts: tuple[Mount, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    network: str = "bridge"
    purpose: str = "build"  # the juliapack=<purpose> label
    project: str = ""  # the juliapack.project label: find a kept container by its project folder


@contextmanager
def running(client, spec: ContainerSpec, *, keep: bool = False, reporter: Reporter = NullReporter()) -> Iterator[Container]:
    """An idle container as ``spec`` says; removed on exit (also on errors and Ctrl-C) unless ``keep``."""
    import docker

    try:
        container = client.containers.create(
            spec.image,
            command=["sleep", "infinity"],
            mounts=[docker.types.Mount(m.target, str(m.source), type="bind", read_only=m.read_only) for m in spec.mounts],
            environment=dict(spec.env),
            network_mode=spec.network,
            labels={LABEL: spec.purpose, f"{LABEL}.project": spec.project},
            working_dir="/",
        )
    except docker.errors.ImageNotFound as error:
        raise EnvironmentProblem(f"image {spec.image} is not present", fix=f"run `docker pull {spec.image}` or use --pull missing") from error
    except docker.errors.DockerException as error:
        raise _cannot_start(spec.image, error) from error
    try:  # from here on the container exists, so it is removed whatever happens
        try:
            container.start()
        except docker.errors.DockerException as error:
            raise _cannot_start(spec.image, error) from error
        yield Container(client, container, reporter)
    finally:
        if keep:
            reporter.info(f"kept container {container.short_id}: `docker exec -it {container.short_id} bash`, then `docker rm -f {container.short_id}`")
        else:
            _remove(container)


def _cannot_start(image: str, error: Exception) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"cannot start a container of {image}: {_cause(error)}",
        fix="check the image, the mount paths and that Docker has room (`docker system df`)",
    )


def _remove(container) -> None:
    import docker

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass


def host_user() -> str:
    """uid:gid of the user running juliapack, so files made in bind mounts end up theirs."""
    return f"{os.getuid()}:{os.getgid()}"
