"""julia_dist: version resolution, versions.json caching, resumable verified downloads, per-version facts.

Downloads run over real HTTP against a small server on 127.0.0.1 that can cut connections, ignore Range,
answer errors or hang; ``sleep`` is a recorder, so retries cost no time.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from juliapack.errors import ChecksumMismatch, ConfigError, ExitCode, InputError, RemoteError
from juliapack.julia_dist import (
    OFFICIAL_JULIA_BASE,
    OFFICIAL_VERSIONS_URL,
    VERSIONS_MAX_AGE,
    JuliaRelease,
    cache_entry,
    download_release,
    fetch_julia,
    load_versions,
    mirrored_url,
    pick_release,
    resolve_release,
    versions_url_for,
)
from juliapack.julia_version import exact_version, parse_version
from juliapack.julia_version import version_spec as V
from juliapack.report import RecordingReporter
from tests.unit.helpers import closed_port_url

FIXTURE = Path(__file__).parent / "fixtures" / "versions.json"
VERSIONS = json.loads(FIXTURE.read_text())
PAYLOAD = hashlib.sha256(b"seed").digest() * 10_000  # 320,000 bytes standing in for a Julia tarball
TARBALL_PATH = "/bin/linux/x64/1.5/julia-1.5.3-linux-x86_64.tar.gz"
OLD_TARGET = "generic;sandybridge,-xsaveopt,clone_all;haswell,-rdrnd,base(1)"
V4_TARGET = OLD_TARGET + ";x86-64-v4,-rdrnd,base(1)"


# --------------------------------------------------------------------------- a scriptable HTTP server


@dataclass
class Hit:
    path: str
    range: str | None
    sent: int = 0


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, list] = field(default_factory=dict)  # path -> faults, one used per request
    hits: list[Hit] = field(default_factory=list)
    chunk_delay: float = 0.0  # seconds between 16 KiB chunks (a slow server)
    got_request: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)

    def hits_for(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # a safety net: an idle keep-alive connection never blocks a thread for long
    server: TestServer

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass

    def do_GET(self):  # noqa: N802 - name fixed by the base class
        state = self.server.state
        hit = Hit(self.path, self.headers.get("Range"))
        state.hits.append(hit)
        state.got_request.set()
        queue = state.faults.get(self.path) or []
        fault = queue.pop(0) if queue else None
        body = state.files.get(self.path)
        if isinstance(fault, tuple) and fault[0] == "status":
            return self._reply_empty(fault[1])
        if isinstance(fault, tuple) and fault[0] == "hang":
            state.stopping.wait(fault[1])
            self.close_connection = True
            return None
        if body is None:
            return self._reply_empty(404)
        start = self._range_start() if fault != "ignore-range" else None
        if start is not None and start >= len(body):
            return self._reply_empty(416)
        payload = body[start or 0 :]
        if isinstance(fault, tuple) and fault[0] == "short":
            payload = payload[: fault[1]]  # a complete response that is simply too short
        self.send_response(206 if start is not None else 200)
        if start is not None:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if isinstance(fault, tuple) and fault[0] == "cut":
            payload = payload[: fault[1]]  # then close: fewer bytes than Content-Length said
            self.close_connection = True
        self._send(payload, hit)

    def _range_start(self) -> int | None:
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        return int(match.group(1)) if match else None

    def _reply_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, payload: bytes, hit: Hit) -> None:
        for index in range(0, len(payload), 1 << 14):
            if self.server.state.chunk_delay:
                time.sleep(self.server.state.chunk_delay)
            part = payload[index : index + (1 << 14)]
            self.wfile.write(part)
            hit.sent += len(part)
        self.wfile.flush()


class TestServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    __test__ = False  # not a pytest test class
    daemon_threads = False
    block_on_close = True  # server_close joins the handler threads: no socket outlives a test

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = ServerState()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()
        self._stopped = False
        self._connections: list[socket.socket] = []

    def process_request(self, request, client_address):
        self._connections.append(request)
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # clients that hang up mid-body are part of the tests

    def stop(self) -> None:
        """Stop serving and end every connection (clients keep idle ones open): the port refuses from now on."""
        if not self._stopped:
            self._stopped = True
            self.state.stopping.set()
            self.shutdown()
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by its handler
            self.server_close()
            self._thread.join()


@pytest.fixture
def server():
    srv = TestServer()
    yield srv
    srv.stop()


@pytest.fixture
def client():
    with httpx.Client(timeout=5.0) as http:
        yield http


@pytest.fixture
def offline_client():
    """A client that fails the test if anything tries the network."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected network request: {request.method} {request.url}")

    with httpx.Client(transport=httpx.MockTransport(refuse)) as http:
        yield http


class ProgressRecorder(RecordingReporter):
    def __init__(self) -> None:
        super().__init__()
        self.bars: list[Bar] = []

    def progress(self, label, *, total, done=0):
        bar = Bar(label, total, done)
        self.bars.append(bar)
        return bar


@dataclass
class Bar:
    label: str
    total: int | None
    done: int

    def advance(self, amount: int) -> None:
        self.done += amount

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def release_for(url: str, payload: bytes = PAYLOAD, version: str = "1.5.3") -> JuliaRelease:
    return JuliaRelease(
        version=exact_version(version),
        url=url,
        sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload),
        filename=url.rsplit("/", 1)[-1],
    )


def versions_for(payload: bytes = PAYLOAD, version: str = "1.5.3") -> dict:
    """A versions.json like the official one, listing ``payload`` at its official URL."""
    url = f"{OFFICIAL_JULIA_BASE}/bin/linux/x64/1.5/julia-{version}-linux-x86_64.tar.gz"
    entry = {
        "url": url, "triplet": "x86_64-linux-gnu", "kind": "archive", "arch": "x86_64",
        "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload), "version": version,
        "os": "linux", "extension": "tar.gz",
    }  # fmt: skip
    return {version: {"files": [entry], "stable": True}}


def serve_versions(srv: TestServer, data: dict) -> str:
    srv.state.files["/bin/versions.json"] = json.dumps(data).encode()
    return f"{srv.url}/bin/versions.json"


def fixture_entry(version: str, triplet: str = "x86_64-linux-gnu") -> dict:
    return next(f for f in VERSIONS[version]["files"] if f["triplet"] == triplet and f["kind"] == "archive")


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1.10", "1.10.5"),  # latest stable patch, not 1.10.0-rc1
        ("1.11", "1.11.1"),  # not the newer 1.11.2-rc1
        ("1.9", "1.9.4"),
        ("1.5", "1.5.3"),
        ("1.10.4", "1.10.4"),
        ("v1.10.4", "1.10.4"),
        ("1.11.0-rc2", "1.11.0-rc2"),  # a prerelease, asked for exactly
        ("1.12.0-beta1", "1.12.0-beta1"),
    ],
)
def test_spec_resolves_to_the_linux_gnu_tarball(spec, expected):
    release = pick_release(VERSIONS, V(spec))
    entry = fixture_entry(expected)
    assert release.version == expected
    assert (release.url, release.sha256, release.size) == (entry["url"], entry["sha256"], entry["size"])
    assert release.filename == f"julia-{expected}-linux-x86_64.tar.gz"


def test_musl_and_installer_entries_are_ignored_even_when_listed_first():
    files = VERSIONS["1.10.5"]["files"]
    assert files[0]["triplet"] == "x86_64-linux-musl" and files[0]["os"] == "linux"  # the trap is in the fixture
    release = pick_release(VERSIONS, V("1.10.5"))
    assert "/linux/x64/" in release.url and "musl" not in release.url

    only_others = {"1.10.5": {"stable": True, "files": [f for f in files if f["triplet"] != "x86_64-linux-gnu"]}}
    with pytest.raises(ConfigError, match="no linux x86_64 tarball"):
        pick_release(only_others, V("1.10.5"))


def test_a_version_marked_unstable_is_skipped_for_latest_patch_but_found_exactly():
    versions = copy.deepcopy(VERSIONS)
    newer = copy.deepcopy(versions["1.10.5"])
    for entry in newer["files"]:
        entry["url"] = entry["url"].replace("1.10.5", "1.10.6")
    versions["1.10.6"] = {**newer, "stable": False}
    assert pick_release(versions, V("1.10")).version == "1.10.5"
    assert pick_release(versions, V("1.10.6")).version == "1.10.6"


def test_unknown_version_lists_the_nearest_available_on_one_line():
    with pytest.raises(ConfigError) as caught:
        pick_release(VERSIONS, V("1.10.99"), source="https://example.org/versions.json")
    message = str(caught.value)
    assert "\n" not in message
    assert "Julia 1.10.99" in message and "https://example.org/versions.json" in message
    assert "nearest: 1.10.0, 1.10.2, 1.10.4, 1.10.5" in message
    assert caught.value.exit_code == ExitCode.USAGE


def test_unknown_series_lists_neighbouring_stable_releases():
    with pytest.raises(ConfigError, match=r"Julia 1\.13\.x .*nearest: .*1\.11\.1") as caught:
        pick_release(VERSIONS, V("1.13"))
    assert "beta" not in str(caught.value)  # prereleases are only suggested for a prerelease request


def test_series_with_only_prereleases_says_so():
    with pytest.raises(ConfigError, match=r"1\.12 has no stable release .*only prereleases \(1\.12\.0-beta1\)"):
        pick_release(VERSIONS, V("1.12"))


def test_prerelease_is_not_guessed_from_a_partial_prerelease():
    with pytest.raises(ConfigError, match="1.11.0-rc9"):
        pick_release(VERSIONS, V("1.11.0-rc9"))


def test_version_without_a_linux_tarball_is_unknown():
    assert "1.4.0-rc1" in VERSIONS
    with pytest.raises(ConfigError, match="1.4.0-rc1 has no linux x86_64 tarball"):
        pick_release(VERSIONS, V("1.4.0-rc1"))


@pytest.mark.parametrize("spec", ["1", "latest", "1.x", "", "1.10.5.1", "1.10-rc1", "julia-1.10"])
def test_malformed_spec_is_a_config_error_before_any_network(spec, tmp_path, offline_client):
    with pytest.raises(ConfigError, match="not a Julia version"):
        V(spec)  # parsed once, where the setting is read: pick_release and resolve_release take a JuliaVersion


def test_versions_order_like_semver():
    texts = ["1.11.0", "1.11.0-rc10", "1.11.0-alpha1", "1.11.0-rc2", "1.10.10", "1.10.9", "1.11.0-beta2"]
    ordered = sorted(texts, key=parse_version)
    assert ordered == ["1.10.9", "1.10.10", "1.11.0-alpha1", "1.11.0-beta2", "1.11.0-rc2", "1.11.0-rc10", "1.11.0"]


# --------------------------------------------------------------------------- mirrors


def test_mirror_replaces_the_official_prefix():
    url = f"{OFFICIAL_JULIA_BASE}/bin/linux/x64/1.10/julia-1.10.5-linux-x86_64.tar.gz"
    rest = "/bin/linux/x64/1.10/julia-1.10.5-linux-x86_64.tar.gz"
    assert mirrored_url(url, "http://127.0.0.1:8080/") == "http://127.0.0.1:8080" + rest
    assert mirrored_url(url, "https://mirror.example/julia") == "https://mirror.example/julia" + rest
    assert mirrored_url(url, "/srv/mirror") == "/srv/mirror" + rest
    assert mirrored_url(url, None) == url
    assert mirrored_url("https://elsewhere.example/julia.tar.gz", "http://m") == "https://elsewhere.example/julia.tar.gz"


def test_versions_url_follows_the_mirror_unless_given_explicitly():
    assert versions_url_for(None, None) == OFFICIAL_VERSIONS_URL
    assert versions_url_for(OFFICIAL_VERSIONS_URL, None) == OFFICIAL_VERSIONS_URL
    assert versions_url_for(None, "http://m:1/") == "http://m:1/bin/versions.json"
    assert versions_url_for(OFFICIAL_VERSIONS_URL, "http://m:1") == "http://m:1/bin/versions.json"  # the config default
    assert versions_url_for("http://other/v.json", "http://m:1") == "http://other/v.json"
    assert versions_url_for(None, "file:///srv/m") == "file:///srv/m/bin/versions.json"


def test_release_urls_point_at_the_mirror(server, client, tmp_path):
    serve_versions(server, VERSIONS)
    release = resolve_release(V("1.10"), cache_dir=tmp_path, client=client, mirror=server.url)
    assert release.url == f"{server.url}/bin/linux/x64/1.10/julia-1.10.5-linux-x86_64.tar.gz"
    assert [hit.path for hit in server.state.hits] == ["/bin/versions.json"]


def test_fetch_from_an_http_mirror_laid_out_like_the_official_server(server, client, tmp_path):
    serve_versions(server, versions_for())
    server.state.files[TARBALL_PATH] = PAYLOAD
    reporter = ProgressRecorder()
    dist = fetch_julia(V("1.5"), cache_dir=tmp_path, mirror=server.url, client=client, reporter=reporter)
    assert dist.version == "1.5.3"
    assert dist.release.url == server.url + TARBALL_PATH
    assert dist.path == tmp_path / "julia" / hashlib.sha256(PAYLOAD).hexdigest() / "julia-1.5.3-linux-x86_64.tar.gz"
    assert dist.path.read_bytes() == PAYLOAD
    assert [hit.path for hit in server.state.hits] == ["/bin/versions.json", TARBALL_PATH]
    assert [(bar.total, bar.done) for bar in reporter.bars] == [(len(PAYLOAD), len(PAYLOAD))]


@pytest.mark.parametrize("as_url", [False, True], ids=["plain-path", "file-url"])
def test_fetch_from_a_local_mirror_folder_needs_no_network(tmp_path, offline_client, as_url):
    mirror = tmp_path / "mirror"
    (mirror / "bin/linux/x64/1.5").mkdir(parents=True)
    (mirror / "bin/versions.json").write_text(json.dumps(versions_for()))
    (mirror / TARBALL_PATH.lstrip("/")).write_bytes(PAYLOAD)
    base = mirror.as_uri() if as_url else str(mirror)
    dist = fetch_julia(V("1.5.3"), cache_dir=tmp_path / "cache", mirror=base, client=offline_client)
    assert dist.path.read_bytes() == PAYLOAD
    assert dist.path.is_relative_to(tmp_path / "cache")


def test_local_mirror_missing_the_tarball_is_an_input_error(tmp_path, offline_client):
    mirror = tmp_path / "mirror"
    (mirror / "bin").mkdir(parents=True)
    (mirror / "bin/versions.json").write_text(json.dumps(versions_for()))
    with pytest.raises(InputError, match="not at .*julia-1.5.3-linux-x86_64.tar.gz"):
        fetch_julia(V("1.5.3"), cache_dir=tmp_path / "cache", mirror=str(mirror), client=offline_client)


def test_local_versions_json_that_does_not_exist_is_an_input_error(tmp_path, offline_client):
    with pytest.raises(InputError, match="cannot read versions.json"):
        resolve_release(V("1.10"), cache_dir=tmp_path, client=offline_client, versions_url=str(tmp_path / "nope.json"))


# --------------------------------------------------------------------------- versions.json cache


def age_cached_versions(cache_dir: Path, seconds: float) -> None:
    [cached] = (cache_dir / "julia" / "versions").iterdir()
    then = time.time() - seconds
    os.utime(cached, (then, then))


def test_versions_json_is_cached_and_reused_with_a_warning_when_the_server_is_gone(server, client, tmp_path):
    url = serve_versions(server, VERSIONS)
    assert resolve_release(V("1.10"), cache_dir=tmp_path, client=client, versions_url=url).version == "1.10.5"
    age_cached_versions(tmp_path, VERSIONS_MAX_AGE + 1)
    server.stop()
    reporter, sleeps = RecordingReporter(), []
    release = resolve_release(V("1.10"), cache_dir=tmp_path, client=client, versions_url=url, reporter=reporter, sleep=sleeps.append)
    assert release.version == "1.10.5"
    assert sleeps == [1.0]  # one more try, then the cached copy
    [warning] = [text for text in reporter.texts("warn") if "using the copy cached" in text]
    assert url in warning


def test_exact_version_in_the_cached_copy_needs_no_request(server, client, tmp_path):
    url = serve_versions(server, VERSIONS)
    load_versions(url, cache_dir=tmp_path, client=client, wanted=V("1.10"))
    assert len(server.state.hits) == 1
    release = resolve_release(V("1.10.4"), cache_dir=tmp_path, client=client, versions_url=url)
    assert release.version == "1.10.4"
    assert len(server.state.hits) == 1


def test_a_cached_copy_younger_than_max_age_answers_a_minor_spec_without_a_request(server, client, tmp_path):
    url = serve_versions(server, VERSIONS)
    assert resolve_release(V("1.11"), cache_dir=tmp_path, client=client, versions_url=url).version == "1.11.1"
    serve_versions(server, {**VERSIONS, "1.11.2": VERSIONS["1.11.1"]})
    age_cached_versions(tmp_path, VERSIONS_MAX_AGE - 60)
    assert resolve_release(V("1.11"), cache_dir=tmp_path, client=client, versions_url=url).version == "1.11.1"
    assert len(server.state.hits) == 1
    age_cached_versions(tmp_path, VERSIONS_MAX_AGE + 1)  # the patch released meanwhile shows once it is stale
    assert resolve_release(V("1.11"), cache_dir=tmp_path, client=client, versions_url=url).version == "1.11.2"
    assert len(server.state.hits) == 2
    assert resolve_release(V("1.11"), cache_dir=tmp_path, client=client, versions_url=url).version == "1.11.2"
    assert len(server.state.hits) == 2  # the new copy is fresh again


def test_a_cached_copy_dated_in_the_future_is_read_again(server, client, tmp_path):
    url = serve_versions(server, VERSIONS)
    load_versions(url, cache_dir=tmp_path, client=client, wanted=V("1.10"))
    age_cached_versions(tmp_path, -3600)  # a clock set back since: its age says nothing
    load_versions(url, cache_dir=tmp_path, client=client, wanted=V("1.10"))
    assert len(server.state.hits) == 2


def test_version_missing_from_the_cached_copy_refreshes_it(server, client, tmp_path):
    older = {key: value for key, value in VERSIONS.items() if key != "1.11.1"}
    url = serve_versions(server, older)
    assert resolve_release(V("1.11.0"), cache_dir=tmp_path, client=client, versions_url=url).version == "1.11.0"
    serve_versions(server, VERSIONS)
    assert resolve_release(V("1.11.1"), cache_dir=tmp_path, client=client, versions_url=url).version == "1.11.1"
    assert len(server.state.hits) == 2
    assert resolve_release(V("1.11.1"), cache_dir=tmp_path, client=client, versions_url=url).version == "1.11.1"
    assert len(server.state.hits) == 2  # the refreshed copy was cached


def test_unreachable_server_without_a_cached_copy_is_a_remote_error(tmp_path, client):
    sleeps = []
    with pytest.raises(RemoteError, match=r"could not get versions.json .* after 2 attempt\(s\): ConnectError") as caught:
        url = closed_port_url() + "/v.json"
        resolve_release(V("1.10"), cache_dir=tmp_path, client=client, versions_url=url, sleep=sleeps.append)
    assert caught.value.exit_code == ExitCode.REMOTE
    assert sleeps == [1.0]


def test_a_non_json_answer_falls_back_to_the_cache_or_fails_clearly(server, client, tmp_path):
    url = serve_versions(server, VERSIONS)
    load_versions(url, cache_dir=tmp_path / "warm", client=client, wanted=V("1.10"))
    age_cached_versions(tmp_path / "warm", VERSIONS_MAX_AGE + 1)
    server.state.files["/bin/versions.json"] = b"<html>captive portal</html>"
    reporter = RecordingReporter()
    data = load_versions(url, cache_dir=tmp_path / "warm", client=client, reporter=reporter, wanted=V("1.10"))
    assert "1.10.5" in data
    assert any("not valid JSON" in text for text in reporter.texts("warn"))
    with pytest.raises(RemoteError, match="not valid JSON"):
        load_versions(url, cache_dir=tmp_path / "cold", client=client, wanted=V("1.10"))


def test_a_damaged_cached_copy_is_read_again(server, client, tmp_path):
    url = serve_versions(server, VERSIONS)
    load_versions(url, cache_dir=tmp_path, client=client, wanted=V("1.10"))
    [cached] = (tmp_path / "julia" / "versions").iterdir()
    cached.write_text("{ truncated")
    assert "1.10.4" in load_versions(url, cache_dir=tmp_path, client=client, wanted=V("1.10.4"))
    assert len(server.state.hits) == 2
    assert json.loads(cached.read_text()) == VERSIONS


@pytest.mark.parametrize("as_url", [False, True], ids=["plain-path", "file-url"])
def test_local_versions_json(tmp_path, offline_client, as_url):
    path = tmp_path / "versions.json"
    path.write_text(FIXTURE.read_text())
    url = path.as_uri() if as_url else str(path)
    assert resolve_release(V("1.11"), cache_dir=tmp_path, client=offline_client, versions_url=url).version == "1.11.1"
    assert not (tmp_path / "julia").exists()  # a local file is not copied into the cache


# --------------------------------------------------------------------------- downloads


def test_download_verifies_and_caches(server, client, tmp_path):
    server.state.files[TARBALL_PATH] = PAYLOAD
    release = release_for(server.url + TARBALL_PATH)
    reporter = ProgressRecorder()
    path = download_release(release, cache_dir=tmp_path, client=client, reporter=reporter)
    assert path == cache_entry(tmp_path, release)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == release.sha256
    assert sorted(p.name for p in path.parent.iterdir()) == [".mutex", release.filename]  # no partial left
    assert server.state.hits[0].range is None
    assert reporter.bars[0].done == len(PAYLOAD)


def test_a_verified_cache_entry_is_reused_without_network(server, client, offline_client, tmp_path):
    server.state.files[TARBALL_PATH] = PAYLOAD
    release = release_for(server.url + TARBALL_PATH)
    first = download_release(release, cache_dir=tmp_path, client=client)
    assert download_release(release, cache_dir=tmp_path, client=offline_client) == first


def test_connection_cut_midway_resumes_with_a_range_request(server, client, tmp_path):
    cut = 100_000
    server.state.files[TARBALL_PATH] = PAYLOAD
    server.state.faults[TARBALL_PATH] = [("cut", cut)]
    release = release_for(server.url + TARBALL_PATH)
    reporter, sleeps = ProgressRecorder(), []
    path = download_release(release, cache_dir=tmp_path, client=client, reporter=reporter, sleep=sleeps.append)
    assert path.read_bytes() == PAYLOAD
    first, second = server.state.hits_for(TARBALL_PATH)
    assert (first.range, first.sent) == (None, cut)
    assert (second.range, second.sent) == (f"bytes={cut}-", len(PAYLOAD) - cut)
    assert sleeps == [1.0]
    assert [bar.done for bar in reporter.bars] == [cut, len(PAYLOAD)]  # the second bar starts at the cut
    assert any("retrying in 1s (attempt 2 of 6)" in text for text in reporter.texts("warn"))


def test_an_interrupted_run_leaves_a_partial_the_next_run_resumes(server, client, tmp_path):
    cut = 70_000
    server.state.files[TARBALL_PATH] = PAYLOAD
    server.state.faults[TARBALL_PATH] = [("cut", cut)]
    release = release_for(server.url + TARBALL_PATH)
    with pytest.raises(RemoteError, match=r"after 1 attempt\(s\): RemoteProtocolError: .*received 70000 bytes"):
        download_release(release, cache_dir=tmp_path, client=client, retries=0)
    partial = cache_entry(tmp_path, release).with_name(release.filename + ".partial")
    assert partial.stat().st_size == cut
    path = download_release(release, cache_dir=tmp_path, client=client)
    assert path.read_bytes() == PAYLOAD and not partial.exists()
    assert [hit.range for hit in server.state.hits] == [None, f"bytes={cut}-"]
    assert sum(hit.sent for hit in server.state.hits) == len(PAYLOAD)


def test_a_complete_but_short_response_is_resumed(server, client, tmp_path):
    server.state.files[TARBALL_PATH] = PAYLOAD
    server.state.faults[TARBALL_PATH] = [("short", 4096)]
    reporter, sleeps = RecordingReporter(), []
    release = release_for(server.url + TARBALL_PATH)
    path = download_release(release, cache_dir=tmp_path, client=client, reporter=reporter, sleep=sleeps.append)
    assert path.read_bytes() == PAYLOAD
    assert [hit.range for hit in server.state.hits] == [None, "bytes=4096-"]
    assert any("the connection ended after 4096 of 320000 bytes" in text for text in reporter.texts("warn"))


def test_server_ignoring_range_restarts_from_zero(server, client, tmp_path):
    release = release_for(server.url + TARBALL_PATH)
    partial = cache_entry(tmp_path, release).with_name(release.filename + ".partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\0" * 50_000)  # not even the right bytes: they must all be replaced
    server.state.files[TARBALL_PATH] = PAYLOAD
    server.state.faults[TARBALL_PATH] = ["ignore-range"]
    reporter = RecordingReporter()
    path = download_release(release, cache_dir=tmp_path, client=client, reporter=reporter)
    assert path.read_bytes() == PAYLOAD
    [hit] = server.state.hits
    assert (hit.range, hit.sent) == ("bytes=50000-", len(PAYLOAD))
    assert any("ignored the resume request" in text for text in reporter.texts("warn"))


def test_range_not_satisfiable_starts_over(server, client, tmp_path):
    release = release_for(server.url + TARBALL_PATH)
    partial = cache_entry(tmp_path, release).with_name(release.filename + ".partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(PAYLOAD[:1000])
    server.state.files[TARBALL_PATH] = PAYLOAD
    server.state.faults[TARBALL_PATH] = [("status", 416)]
    sleeps = []
    path = download_release(release, cache_dir=tmp_path, client=client, sleep=sleeps.append)
    assert path.read_bytes() == PAYLOAD
    assert [hit.range for hit in server.state.hits] == ["bytes=1000-", None]
    assert sleeps == [1.0]


def test_bad_checksum_is_refused_and_nothing_is_kept(server, client, tmp_path):
    server.state.files[TARBALL_PATH] = bytes(reversed(PAYLOAD))  # same size, other bytes
    release = release_for(server.url + TARBALL_PATH)
    sleeps = []
    with pytest.raises(ChecksumMismatch) as caught:
        download_release(release, cache_dir=tmp_path, client=client, sleep=sleeps.append)
    message = str(caught.value)
    assert f"expected sha256 {release.sha256}" in message
    assert f"got sha256 {hashlib.sha256(bytes(reversed(PAYLOAD))).hexdigest()}" in message
    assert "run again" in caught.value.fix and "mirror" in caught.value.fix
    assert [p.name for p in cache_entry(tmp_path, release).parent.iterdir()] == [".mutex"]
    assert sleeps == [] and len(server.state.hits) == 1  # a wrong file is not retried


def test_a_body_longer_than_listed_is_refused(server, client, tmp_path):
    server.state.files[TARBALL_PATH] = PAYLOAD + b"trailing junk" * 10_000
    release = release_for(server.url + TARBALL_PATH)
    with pytest.raises(ChecksumMismatch, match="more than the 320000 bytes"):
        download_release(release, cache_dir=tmp_path, client=client)
    assert [p.name for p in cache_entry(tmp_path, release).parent.iterdir()] == [".mutex"]


def test_a_corrupted_cache_entry_is_detected_and_fetched_again(server, client, tmp_path):
    server.state.files[TARBALL_PATH] = PAYLOAD
    release = release_for(server.url + TARBALL_PATH)
    path = download_release(release, cache_dir=tmp_path, client=client)
    damaged = bytearray(PAYLOAD)
    damaged[12345] ^= 0xFF
    path.write_bytes(bytes(damaged))
    reporter = RecordingReporter()
    assert download_release(release, cache_dir=tmp_path, client=client, reporter=reporter) == path
    assert path.read_bytes() == PAYLOAD
    assert len(server.state.hits) == 2
    assert any("damaged" in text for text in reporter.texts("warn"))


def test_transient_server_errors_are_retried(server, client, tmp_path):
    server.state.files[TARBALL_PATH] = PAYLOAD
    server.state.faults[TARBALL_PATH] = [("status", 503), ("status", 500)]
    sleeps = []
    path = download_release(release_for(server.url + TARBALL_PATH), cache_dir=tmp_path, client=client, sleep=sleeps.append)
    assert path.read_bytes() == PAYLOAD
    assert sleeps == [1.0, 2.0]


def test_a_read_timeout_is_retried(server, tmp_path):
    server.state.files[TARBALL_PATH] = PAYLOAD
    server.state.faults[TARBALL_PATH] = [("hang", 5.0)]
    sleeps = []
    with httpx.Client(timeout=0.3) as impatient:
        path = download_release(release_for(server.url + TARBALL_PATH), cache_dir=tmp_path, client=impatient, sleep=sleeps.append)
    assert path.read_bytes() == PAYLOAD
    assert sleeps == [1.0]


def test_retries_are_bounded_with_capped_backoff_then_a_remote_error(tmp_path, client):
    release = release_for(closed_port_url() + TARBALL_PATH)
    sleeps = []
    with pytest.raises(RemoteError, match=r"after 8 attempt\(s\): ConnectError") as caught:
        download_release(release, cache_dir=tmp_path, client=client, sleep=sleeps.append, retries=7)
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert "resume" in caught.value.fix
    assert not isinstance(caught.value, ChecksumMismatch)


def test_missing_file_on_the_server_is_not_retried(server, client, tmp_path):
    sleeps = []
    with pytest.raises(RemoteError, match="answered HTTP 404"):
        download_release(release_for(server.url + TARBALL_PATH), cache_dir=tmp_path, client=client, sleep=sleeps.append)
    assert sleeps == []


def test_concurrent_downloads_of_one_release_share_a_single_transfer(server, tmp_path):
    server.state.files[TARBALL_PATH] = PAYLOAD
    server.state.chunk_delay = 0.02  # ~0.4 s for the whole body
    release = release_for(server.url + TARBALL_PATH)
    results: dict[str, object] = {}
    reporters = {"first": RecordingReporter(), "second": RecordingReporter()}

    def run(name: str) -> None:
        with httpx.Client(timeout=5.0) as own:
            try:
                results[name] = download_release(release, cache_dir=tmp_path, client=own, reporter=reporters[name])
            except Exception as error:  # reported through results, asserted below
                results[name] = error

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert server.state.got_request.wait(5)  # the first download is under way
    second = threading.Thread(target=run, args=("second",))
    second.start()
    first.join()
    second.join()
    assert results["first"] == results["second"] == cache_entry(tmp_path, release)
    assert cache_entry(tmp_path, release).read_bytes() == PAYLOAD
    assert len(server.state.hits) == 1
    assert any("waiting for another juliapack process" in text for text in reporters["second"].texts("info"))


def test_fetch_julia_closes_the_client_it_makes(server, tmp_path):
    url = serve_versions(server, versions_for())
    server.state.files[TARBALL_PATH] = PAYLOAD
    dist = fetch_julia(V("1.5.3"), cache_dir=tmp_path, versions_url=url, mirror=server.url)
    assert dist.path.read_bytes() == PAYLOAD  # filterwarnings=error turns an unclosed client into a failure


# --------------------------------------------------------------------------- facts about versions


@pytest.mark.parametrize(
    ("version", "target"),
    [
        ("1.5.3", OLD_TARGET),
        ("1.6.7", OLD_TARGET),
        ("1.9.4", OLD_TARGET),
        ("1.10.0-rc1", OLD_TARGET),
        ("1.10.0", OLD_TARGET),
        ("1.10.2", OLD_TARGET),
        ("1.10.3", V4_TARGET),
        ("1.10.5", V4_TARGET),
        ("1.11.0-rc2", V4_TARGET),
        ("1.11.1", V4_TARGET),
        ("1.12.0", V4_TARGET),
        ("1.13.0-alpha1", "sysimage"),
        ("1.13.1", "sysimage"),
        ("2.0.0", "sysimage"),
    ],
)
def test_official_cpu_target(version, target):
    assert exact_version(version).official_cpu_target() == target


@pytest.mark.parametrize(
    ("version", "compiled", "by_mtime"),
    [("1.5.3", "v1.5", True), ("1.10.5", "v1.10", True), ("1.11.0-rc2", "v1.11", False), ("1.12.0", "v1.12", False)],
)
def test_compiled_dir_and_cache_validation(version, compiled, by_mtime):
    assert exact_version(version).compiled_dir() == compiled
    assert exact_version(version).validates_caches_by_mtime() is by_mtime


@pytest.mark.parametrize("fact", ["official_cpu_target", "compiled_dir", "validates_caches_by_mtime"])
def test_version_facts_need_a_full_version(fact):
    with pytest.raises(ConfigError):
        getattr(V("1.10"), fact)()


def test_no_import_time_client():
    import juliapack.julia_dist as module

    assert not any(isinstance(value, httpx.Client) for value in vars(module).values())


def test_httpx_is_imported_only_when_a_request_is_made():
    """A rebuild answered from the caches never loads it (a sixth of a no-op rebuild's time)."""
    script = "import sys, juliapack.cli, juliapack.build; print('httpx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False"]
