"""Official Julia binaries: resolve a version in versions.json, download it once, keep it verified in the cache.

The only side effect is the cache under ``cache_dir/julia/``:

    versions/<hash of the URL>.json       the last versions.json read from that URL (reused for ten
                                          minutes, and as the fallback when offline)
    <sha256>/<filename>                   a tarball whose sha256 matched versions.json
    <sha256>/<filename>.partial           an unfinished download, resumed with an HTTP Range request
    <sha256>/.mutex                       held while one process downloads into that folder

A tarball only ever reaches its final name through ``os.replace`` after its sha256 matched, and only the
process holding the folder's mutex writes the ``.partial`` file, so concurrent runs never see half a file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from juliapack import __version__
from juliapack.errors import ChecksumMismatch, InputError, RemoteError
from juliapack.fsutil import atomic_output, map_disk_full, sha256_file
from juliapack.mutex import held
from juliapack.julia_releases import JuliaDist, JuliaRelease, pick_release
from juliapack.julia_version import JuliaVersion
from juliapack.report import NullReporter, Reporter
from juliapack.retry import Backoff, Sleep, Transient, retrying

if TYPE_CHECKING:
    import httpx  # imported where a request is made: a rebuild answered from the caches never needs it

OFFICIAL_JULIA_BASE = "https://julialang-s3.julialang.org"
OFFICIAL_VERSIONS_URL = f"{OFFICIAL_JULIA_BASE}/bin/versions.json"

DEFAULT_RETRIES = 5  # download attempts after the first
VERSIONS_RETRIES = 1  # versions.json: fall back to the cached copy quickly when offline
BACKOFF_BASE = 1.0  # seconds; doubled per failed attempt
BACKOFF_MAX = 30.0
# How long a cached versions.json answers a spec like "1.10" without asking again, as pip's index cache
# does (PyPI says max-age=600): back-to-back builds skip the request, a new patch shows within minutes.
VERSIONS_MAX_AGE = 600.0
CHUNK = 1 << 16



# --------------------------------------------------------------------------- URLs and mirrors


def mirrored_url(url: str, mirror: str | None) -> str:
    """``url`` with the official prefix (https://julialang-s3.julialang.org) replaced by ``mirror``."""
    if mirror is None or not url.startswith(OFFICIAL_JULIA_BASE + "/"):
        return url
    return mirror.rstrip("/") + url[len(OFFICIAL_JULIA_BASE) :]


def versions_url_for(versions_url: str | None, mirror: str | None) -> str:
    """Where to read versions.json: an explicit URL wins, then the mirror's ``bin/versions.json``.

    The official URL counts as "not given" when a mirror is set (the config default is that URL).
    """
    if versions_url and (versions_url != OFFICIAL_VERSIONS_URL or mirror is None):
        return versions_url
    return mirrored_url(OFFICIAL_VERSIONS_URL, mirror)


def _local_path(url: str) -> Path | None:
    """The file a ``file://`` URL or a plain path names; None for http(s) URLs."""
    if url.startswith("file://"):
        parsed = urllib.parse.urlparse(url)
        return Path(urllib.request.url2pathname(parsed.path))
    if "://" not in url:
        return Path(url).expanduser()
    return None


# --------------------------------------------------------------------------- versions.json


def load_versions(
    url: str,
    *,
    cache_dir: Path,
    client: httpx.Client,
    reporter: Reporter = NullReporter(),
    sleep: Sleep = time.sleep,
    wanted: JuliaVersion | None = None,
    max_age: float = VERSIONS_MAX_AGE,
) -> dict[str, Any]:
    """versions.json from ``url`` (a local path or file:// URL is read as is).

    An http(s) copy is cached per URL. The cache answers without network when ``wanted`` is an exact
    version it lists (published releases never change), or, for any other ``wanted``, when it is younger
    than ``max_age`` seconds. Otherwise the URL is read again, and if that fails the cached copy is used
    with a warning.
    """
    local = _local_path(url)
    if local is not None:
        return _parse_versions(_read_local(local, what="versions.json"), source=str(local))
    cache = _versions_cache_path(cache_dir, url)
    cached = _read_cached_versions(cache)
    if cached is not None and _cache_answers(cached, cache, wanted, max_age=max_age):
        return cached
    try:
        fetch = functools.partial(_get_bytes, client, url)
        raw = _retrying(fetch, what=f"versions.json from {url}", retries=VERSIONS_RETRIES, reporter=reporter, sleep=sleep)
        data = _parse_versions(raw, source=url)
    except RemoteError as error:
        if cached is None:
            raise
        stamp = datetime.fromtimestamp(cache.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        reporter.warn(f"cannot read {url} ({error.what}); using the copy cached on {stamp}, which may miss newer releases")
        return cached
    with atomic_output(cache) as stream:
        stream.write(raw)
    return data


def _cache_answers(cached: dict[str, Any], cache: Path, wanted: JuliaVersion | None, *, max_age: float) -> bool:
    if wanted is not None and wanted.is_exact:
        return wanted.text in cached  # one named exactly but missing may have been published since
    try:
        age = time.time() - cache.stat().st_mtime
    except OSError:
        return False
    return 0 <= age < max_age


def _versions_cache_path(cache_dir: Path, url: str) -> Path:
    return cache_dir / "julia" / "versions" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.json"


def _read_cached_versions(path: Path) -> dict[str, Any] | None:
    try:
        return _parse_versions(path.read_bytes(), source=str(path))
    except (OSError, RemoteError):
        return None  # absent or damaged: read the URL again


def _parse_versions(raw: bytes, *, source: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise RemoteError(f"{source} is not valid JSON ({error})", fix="check --versions-url / --julia-mirror") from None
    if not isinstance(data, dict) or not all(isinstance(entry, dict) for entry in data.values()):
        raise RemoteError(f"{source} is not a Julia versions.json", fix="check --versions-url / --julia-mirror")
    return data


def _read_local(path: Path, *, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {what} at {path}: {error.strerror}", fix="check the local mirror path") from None


# --------------------------------------------------------------------------- HTTP with retries


_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _check_status(response: httpx.Response, url: str) -> None:
    if response.status_code in _TRANSIENT_STATUS:
        raise Transient(f"the server answered HTTP {response.status_code}")
    if response.status_code >= 400:
        raise RemoteError(
            f"{url} answered HTTP {response.status_code}",
            fix="check the URL (--versions-url / --julia-mirror) and that the mirror has this file",
        )


def _get_bytes(client: httpx.Client, url: str) -> bytes:
    import httpx

    try:
        response = client.get(url)
    except httpx.TransportError as error:
        raise Transient(_describe(error)) from error
    _check_status(response, url)
    return response.content


def _retrying(action: Callable[[], Any], *, what: str, retries: int, reporter: Reporter, sleep: Sleep) -> Any:
    """``action()``, tried ``retries`` more times on a transient failure, with doubling pauses between."""

    def give_up(problem: Transient, tries: int) -> RemoteError:
        return RemoteError(
            f"could not get {what} after {tries} attempt(s): {problem}",
            fix="check the network, proxy or mirror (--julia-mirror) and run again; downloads resume where they stopped",
        )

    def say(problem: Transient, delay: float, next_try: int) -> None:
        reporter.warn(f"{what}: {problem}; retrying in {delay:g}s (attempt {next_try} of {retries + 1})")

    backoff = Backoff(attempts=retries + 1, first_delay=BACKOFF_BASE, max_delay=BACKOFF_MAX)
    return retrying(action, backoff=backoff, sleep=sleep, give_up=give_up, on_retry=say)


# --------------------------------------------------------------------------- the tarball


def cache_entry(cache_dir: Path, release: JuliaRelease) -> Path:
    return cache_dir / "julia" / release.sha256 / release.filename


def download_release(
    release: JuliaRelease,
    *,
    cache_dir: Path,
    client: httpx.Client,
    reporter: Reporter = NullReporter(),
    sleep: Sleep = time.sleep,
    retries: int = DEFAULT_RETRIES,
) -> Path:
    """The verified tarball of ``release`` in the cache, downloaded (or resumed) only when needed."""
    entry = cache_entry(cache_dir, release)
    if _is_verified(entry, release):
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    with held(entry.parent / ".mutex", what=f"the download folder {entry.parent}", reporter=reporter), map_disk_full(entry):
        if _is_verified(entry, release):
            return entry  # another process finished it while we waited
        if entry.exists():
            reporter.warn(f"the cached {entry} is damaged (sha256 differs); downloading it again")
            entry.unlink()
        partial = entry.with_name(entry.name + ".partial")
        reporter.step(f"Fetching Julia {release.version} from {release.url}")
        local = _local_path(release.url)
        if local is not None:
            _copy_local(local, partial, release, reporter)
        else:
            attempt = functools.partial(_download_once, release, partial, client=client, reporter=reporter)
            what = f"Julia {release.version} from {release.url}"
            _retrying(attempt, what=what, retries=retries, reporter=reporter, sleep=sleep)
        _install_verified(partial, entry, release)
    return entry


def _is_verified(path: Path, release: JuliaRelease) -> bool:
    try:
        if path.stat().st_size != release.size:
            return False
    except FileNotFoundError:
        return False
    return sha256_file(path) == release.sha256


def _download_once(release: JuliaRelease, partial: Path, *, client: httpx.Client, reporter: Reporter) -> None:
    """One GET, resuming from ``partial`` with a Range request; raises Transient when it stops short."""
    import httpx

    offset = _resume_offset(partial, release.size)
    if offset == release.size:
        return  # complete already (a run stopped before verifying); the checksum decides
    headers = {"Accept-Encoding": "identity"}  # bytes as stored: ranges and sha256 refer to them
    if offset:
        headers["Range"] = f"bytes={offset}-"
        reporter.info(f"resuming {release.filename} at {offset / 2**20:.1f} MiB of {release.size / 2**20:.1f} MiB")
    try:
        with client.stream("GET", release.url, headers=headers) as response:
            start = _start_of_body(response, offset, partial, release, reporter)
            fits = _write_body(response, partial, start, release, reporter)
    except httpx.TransportError as error:
        raise Transient(_describe(error)) from error
    if not fits:
        _refuse(partial, release, f"more than the {release.size} bytes versions.json lists")
    received = partial.stat().st_size
    if received < release.size:
        raise Transient(f"the connection ended after {received} of {release.size} bytes")


def _resume_offset(partial: Path, size: int) -> int:
    try:
        have = partial.stat().st_size
    except FileNotFoundError:
        return 0
    if have > size:
        partial.unlink()
        return 0
    return have


def _start_of_body(response: httpx.Response, offset: int, partial: Path, release: JuliaRelease, reporter: Reporter) -> int:
    """Where the response body goes in ``partial``: ``offset`` for a matching 206, 0 for a 200."""
    if response.status_code == 416:
        partial.unlink(missing_ok=True)
        raise Transient(f"the server refused to resume at byte {offset} (HTTP 416); starting over")
    _check_status(response, release.url)
    if response.status_code == 206:
        start = _content_range_start(response.headers.get("Content-Range", ""))
        if start != offset:
            partial.unlink(missing_ok=True)
            raise Transient(f"the server sent a different range than asked ({response.headers.get('Content-Range')!r})")
        return offset
    if offset:
        reporter.warn(f"the server ignored the resume request for {release.filename}; downloading it from the start")
    return 0


def _content_range_start(header: str) -> int | None:
    match = re.match(r"^\s*bytes\s+(\d+)-\d+/(?:\d+|\*)\s*$", header)
    return int(match.group(1)) if match else None


def _write_body(response: httpx.Response, partial: Path, start: int, release: JuliaRelease, reporter: Reporter) -> bool:
    """Append the body to ``partial`` from ``start``; False (and stop reading) once it exceeds the size."""
    with open(partial, "r+b" if start else "wb") as out, reporter.progress(
        f"Julia {release.version}", total=release.size, done=start
    ) as bar:
        out.seek(start)
        out.truncate()
        for chunk in response.iter_raw():  # as received: a cut connection loses nothing already read
            if out.tell() + len(chunk) > release.size:
                return False
            out.write(chunk)
            bar.advance(len(chunk))
    return True


def _copy_local(source: Path, partial: Path, release: JuliaRelease, reporter: Reporter) -> None:
    try:
        src = open(source, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise InputError(
            f"Julia {release.version} is not at {source} ({error.strerror})",
            fix="check that the local mirror (--julia-mirror) holds the file versions.json names",
        ) from None
    with src, open(partial, "wb") as out, reporter.progress(
        f"Julia {release.version}", total=release.size
    ) as bar:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            out.write(chunk)
            bar.advance(len(chunk))


def _install_verified(partial: Path, entry: Path, release: JuliaRelease) -> None:
    """Move ``partial`` to ``entry`` if its sha256 is the published one; otherwise delete it and refuse."""
    actual = sha256_file(partial)
    if actual != release.sha256:
        _refuse(partial, release, f"sha256 {actual}")
    with open(partial, "rb") as stream:
        os.fsync(stream.fileno())
    os.replace(partial, entry)


def _refuse(partial: Path, release: JuliaRelease, got: str) -> None:
    partial.unlink(missing_ok=True)
    raise ChecksumMismatch(
        f"{release.filename} from {release.url} does not match versions.json: expected sha256 {release.sha256} "
        f"({release.size} bytes), got {got}",
        fix="run again to download it afresh; if it fails again, the mirror serves another file than versions.json lists",
    )


# --------------------------------------------------------------------------- entry point


def new_client() -> httpx.Client:
    """The production HTTP client: follows redirects, honours proxy variables, patient reads."""
    import httpx

    return httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(60.0, connect=15.0),
        headers={"User-Agent": f"juliapack/{__version__}"},
    )


def resolve_release(
    spec: JuliaVersion,
    *,
    cache_dir: Path,
    client: httpx.Client,
    versions_url: str | None = None,
    mirror: str | None = None,
    reporter: Reporter = NullReporter(),
    sleep: Sleep = time.sleep,
) -> JuliaRelease:
    """The linux x86_64 release ``spec`` names, with its URL pointing at ``mirror`` when given."""
    url = versions_url_for(versions_url, mirror)
    versions = load_versions(url, cache_dir=cache_dir, client=client, reporter=reporter, sleep=sleep, wanted=spec)
    release = pick_release(versions, spec, source=url)
    download_url = mirrored_url(release.url, mirror)
    if mirror is not None and download_url == release.url:
        reporter.warn(f"{release.url} is not under {OFFICIAL_JULIA_BASE}, so --julia-mirror does not apply to it")
    return dataclasses.replace(release, url=download_url, published_url=release.url)


def fetch_julia(
    spec: JuliaVersion,
    *,
    cache_dir: Path,
    versions_url: str | None = None,
    mirror: str | None = None,
    reporter: Reporter = NullReporter(),
    client: httpx.Client | None = None,
    sleep: Sleep = time.sleep,
    retries: int = DEFAULT_RETRIES,
) -> JuliaDist:
    """Resolve ``spec`` (``1.10``, ``1.10.5``, ``1.11.0-rc2``) and return its verified tarball from the cache.

    ``versions_url`` / ``mirror`` may be http(s) URLs, ``file://`` URLs or local paths. A client passed in
    stays open; one made here is closed before returning.
    """
    if client is None:
        with new_client() as own:
            return fetch_julia(spec, cache_dir=cache_dir, versions_url=versions_url, mirror=mirror,
                               reporter=reporter, client=own, sleep=sleep, retries=retries)  # fmt: skip
    release = resolve_release(spec, cache_dir=cache_dir, client=client, versions_url=versions_url, mirror=mirror,
                              reporter=reporter, sleep=sleep)  # fmt: skip
    reporter.info(f"Julia {release.version} (linux x86_64) from {release.url}")
    path = download_release(release, cache_dir=cache_dir, client=client, reporter=reporter, sleep=sleep, retries=retries)
    return JuliaDist(release=release, path=path)
