"""Official Julia binaries: resolve a version in versions.json, download it once, keep it verified in the cache.

The only side effect is the cache under ``cache_dir/julia/``:

    versions/<hash of the URL>.json       the last versions.json read from that URL (reused for ten
                                          minutes, and as the fallback when offline)
    <sha256>/<filename>                   a tarball whose sha256 matched versions.json
    <sha256>/<filename>.partial           an unfinished download, resumed with an HTTP Range request
    <sha256>/.lock                        held while one process downloads into that folder

A tarball only ever reaches its final name through ``os.replace`` after its sha256 matched, and only the
process holding the folder's lock writes the ``.partial`` file, so concurrent runs never see half a file.

Also here: the facts the build needs about a Julia version (its official ``JULIA_CPU_TARGET``, the name
of its ``compiled/`` folder, how it validates package caches).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator, Mapping

from juliapack import __version__
from juliapack.config import OFFICIAL_JULIA_BASE, OFFICIAL_VERSIONS_URL
from juliapack.errors import ChecksumMismatch, ConfigError, InputError, RemoteError
from juliapack.fsutil import atomic_output, map_disk_full, sha256_file
from juliapack.report import NullReporter, Reporter

if TYPE_CHECKING:
    import httpx  # imported where a request is made: a rebuild answered from the caches never needs it

TRIPLET = "x86_64-linux-gnu"  # musl builds also say os = "linux": the triplet tells them apart
KIND = "archive"
EXTENSION = "tar.gz"

DEFAULT_RETRIES = 5  # download attempts after the first
VERSIONS_RETRIES = 1  # versions.json: fall back to the cached copy quickly when offline
BACKOFF_BASE = 1.0  # seconds; doubled per failed attempt
BACKOFF_MAX = 30.0
# How long a cached versions.json answers a spec like "1.10" without asking again, as pip's index cache
# does (PyPI says max-age=600): back-to-back builds skip the request, a new patch shows within minutes.
VERSIONS_MAX_AGE = 600.0
CHUNK = 1 << 16

Sleep = Callable[[float], None]

# --------------------------------------------------------------------------- versions


_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+)(?:-([0-9A-Za-z.]+))?)?$")


@dataclass(frozen=True, order=True)
class Version:
    """A Julia version number; orders like semver (1.11.0-rc2 < 1.11.0). ``patch`` is None in a spec like 1.10."""

    key: tuple[Any, ...]
    text: str

    @property
    def major(self) -> int:
        return self.key[0]

    @property
    def minor(self) -> int:
        return self.key[1]

    @property
    def patch(self) -> int | None:
        return self.key[2] if self.key[2] >= 0 else None

    @property
    def prerelease(self) -> bool:
        return self.key[3][0] == 0

    @property
    def series(self) -> tuple[int, int]:
        return self.major, self.minor


def parse_version(text: str) -> Version | None:
    """``1.10``, ``1.10.5``, ``v1.10.5`` or ``1.11.0-rc2``, or None when it is none of those."""
    match = _VERSION.match(text.strip())
    if not match:
        return None
    major, minor, patch, pre = match.groups()
    if pre is None:
        pre_key: tuple[Any, ...] = (1,)  # a release sorts after its prereleases
    else:
        pre_key = (0, *((0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|[A-Za-z]+", pre)))
    normalized = f"{major}.{minor}" + (f".{patch}" if patch is not None else "") + (f"-{pre}" if pre else "")
    key = (int(major), int(minor), int(patch) if patch is not None else -1, pre_key)
    return Version(key=key, text=normalized)


def _spec_or_fail(spec: str) -> Version:
    version = parse_version(spec)
    if version is None:
        raise ConfigError(
            f"'{spec}' is not a Julia version",
            fix="give MAJOR.MINOR for the latest patch (1.10), MAJOR.MINOR.PATCH (1.10.5) or a prerelease (1.11.0-rc2)",
        )
    return version


def _version_or_fail(version: str) -> Version:
    parsed = _spec_or_fail(version)
    if parsed.patch is None:
        raise ConfigError(f"'{version}' is a version series, not a Julia version", fix="give MAJOR.MINOR.PATCH, e.g. 1.10.5")
    return parsed


# --------------------------------------------------------------------------- facts about a version

_CPU_TARGET_OLD = "generic;sandybridge,-xsaveopt,clone_all;haswell,-rdrnd,base(1)"
_CPU_TARGET_V4 = f"{_CPU_TARGET_OLD};x86-64-v4,-rdrnd,base(1)"
# The official builds follow julia-buildkite's utilities/build_envs.sh. x86-64-v4 was added there on
# 2024-03-08 (JuliaCI/julia-buildkite fe8b26e, #341); release-1.10 built with julia-buildkite `main` until
# JuliaLang/julia#59761 (2025), so 1.10.3 (2024-04-30) is the first 1.10 release built with it and 1.10.2
# (2024-03-01) the last without. 1.13 added JULIA_CPU_TARGET=sysimage (JuliaLang/julia#58970).
_FIRST_1_10_WITH_V4 = 3


def official_cpu_target(version: str) -> str:
    """The JULIA_CPU_TARGET the official x86_64 binaries of ``version`` were built with.

    Package images compiled with it load on any x86_64 CPU the sysimage supports (Kaggle's included),
    instead of only on the build machine's CPU.
    """
    parsed = _version_or_fail(version)
    if parsed.series >= (1, 13):
        return "sysimage"  # 1.13+: whatever targets the sysimage was built for
    if parsed.series >= (1, 11) or (parsed.series == (1, 10) and parsed.key[:3] >= (1, 10, _FIRST_1_10_WITH_V4)):
        return _CPU_TARGET_V4
    return _CPU_TARGET_OLD


def compiled_dir_name(version: str) -> str:
    """The folder under ``depot/compiled/`` that ``version`` writes its caches to: ``v1.10``."""
    parsed = _version_or_fail(version)
    return f"v{parsed.major}.{parsed.minor}"


def validates_caches_by_mtime(version: str) -> bool:
    """True up to 1.10: a cache is stale when a source file's mtime changed (and paths are absolute).

    From 1.11 caches record sources by size and checksum, relative to ``@depot``.
    """
    return _version_or_fail(version).series <= (1, 10)


# --------------------------------------------------------------------------- release entries


@dataclass(frozen=True)
class JuliaRelease:
    """One linux x86_64 tarball of versions.json; ``url`` already points at the mirror, if any."""

    version: str
    url: str
    sha256: str
    size: int
    filename: str
    published_url: str = ""  # the URL versions.json gives (url may point at a mirror instead)


@dataclass(frozen=True)
class JuliaDist:
    """A release and the verified tarball in the cache."""

    release: JuliaRelease
    path: Path

    @property
    def version(self) -> str:
        return self.release.version


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _linux_archive(version: str, entry: Any) -> JuliaRelease | None:
    """The x86_64-linux-gnu tar.gz of one versions.json entry, or None (other platforms, malformed files)."""
    files = entry.get("files") if isinstance(entry, dict) else None
    for file in files if isinstance(files, list) else []:
        if not isinstance(file, dict):
            continue
        if (file.get("triplet"), file.get("kind"), file.get("extension")) != (TRIPLET, KIND, EXTENSION):
            continue
        url, sha256, size = file.get("url"), str(file.get("sha256", "")).lower(), file.get("size")
        if not isinstance(url, str) or not _SHA256.match(sha256) or not isinstance(size, int) or size <= 0:
            continue  # the sha256 names a cache folder: never trust it unchecked
        return JuliaRelease(version=version, url=url, sha256=sha256, size=size, filename=_filename(url, version))
    return None


def _filename(url: str, version: str) -> str:
    name = PurePosixPath(urllib.parse.urlparse(url).path).name
    if not name or name.startswith(".") or not name.endswith(f".{EXTENSION}"):
        name = f"julia-{version}-linux-x86_64.{EXTENSION}"
    return name


@dataclass(frozen=True)
class _Available:
    version: Version
    release: JuliaRelease
    stable: bool


def _available(versions: Mapping[str, Any]) -> list[_Available]:
    """Every version with a linux x86_64 tarball, oldest first."""
    found = []
    for text, entry in versions.items():
        version = parse_version(text)
        release = _linux_archive(version.text, entry) if version and version.patch is not None else None
        if release is not None:
            stable = bool(entry.get("stable", not version.prerelease)) and not version.prerelease
            found.append(_Available(version, release, stable))
    return sorted(found, key=lambda item: item.version)


def pick_release(versions: Mapping[str, Any], spec: str, *, source: str = "versions.json") -> JuliaRelease:
    """The release ``spec`` names: ``1.10`` → the latest stable 1.10.x; ``1.10.5`` or ``1.11.0-rc2`` exactly."""
    wanted = _spec_or_fail(spec)
    available = _available(versions)
    if wanted.patch is not None:
        for item in available:
            if item.version.key == wanted.key:
                return item.release
        raise _unknown(wanted, available, source)
    series = [item for item in available if item.version.series == wanted.series]
    stable = [item for item in series if item.stable]
    if stable:
        return stable[-1].release
    if series:
        listed = ", ".join(item.version.text for item in series[-4:])
        raise ConfigError(
            f"Julia {wanted.text} has no stable release in {source}, only prereleases ({listed})",
            fix=f"ask for a prerelease exactly (e.g. {series[-1].version.text}) or for an earlier series",
        )
    raise _unknown(wanted, available, source)


def _unknown(wanted: Version, available: list[_Available], source: str) -> ConfigError:
    nearest = _nearest(wanted, available)
    what = f"Julia {wanted.text}" + ("" if wanted.patch is not None else ".x")
    listed = f"; nearest: {', '.join(nearest)}" if nearest else ""
    return ConfigError(
        f"{what} has no linux x86_64 tarball in {source}{listed}",
        fix="ask for one of the available versions (MAJOR.MINOR picks the latest patch)",
    )


def _nearest(wanted: Version, available: list[_Available], count: int = 4) -> list[str]:
    pool = [item for item in available if item.stable or wanted.prerelease]
    patch = wanted.patch if wanted.patch is not None else 10**6

    def distance(item: _Available) -> tuple[int, ...]:
        version = item.version
        return abs(version.major - wanted.major), abs(version.minor - wanted.minor), abs(version.key[2] - patch)

    closest = sorted(pool, key=distance)[:count]
    return [item.version.text for item in sorted(closest, key=lambda item: item.version)]


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
    wanted: str | None = None,
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


def _cache_answers(cached: dict[str, Any], cache: Path, wanted: str | None, *, max_age: float) -> bool:
    exact = parse_version(wanted) if wanted else None
    if exact is not None and exact.patch is not None:
        return exact.text in cached  # one named exactly but missing may have been published since
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


class _Transient(Exception):
    """A failure worth another attempt: connection, timeout, 5xx, a body cut short."""


_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _check_status(response: httpx.Response, url: str) -> None:
    if response.status_code in _TRANSIENT_STATUS:
        raise _Transient(f"the server answered HTTP {response.status_code}")
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
        raise _Transient(_describe(error)) from error
    _check_status(response, url)
    return response.content


def _retrying(action: Callable[[], Any], *, what: str, retries: int, reporter: Reporter, sleep: Sleep) -> Any:
    """``action()``, tried ``retries`` more times on a transient failure, with doubling pauses between."""
    for attempt in range(retries + 1):
        try:
            return action()
        except _Transient as error:
            if attempt == retries:
                raise RemoteError(
                    f"could not get {what} after {attempt + 1} attempt(s): {error}",
                    fix="check the network, proxy or mirror (--julia-mirror) and run again; downloads resume where they stopped",
                ) from error
            delay = min(BACKOFF_BASE * 2**attempt, BACKOFF_MAX)
            reporter.warn(f"{what}: {error}; retrying in {delay:g}s (attempt {attempt + 2} of {retries + 1})")
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


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
    with _folder_lock(entry.parent, reporter), map_disk_full(entry):
        if _is_verified(entry, release):
            return entry  # another process finished it while we waited
        if entry.exists():
            reporter.warn(f"the cached {entry} is damaged (sha256 differs); downloading it again")
            entry.unlink()
        partial = entry.with_name(entry.name + ".partial")
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
    """One GET, resuming from ``partial`` with a Range request; raises _Transient when it stops short."""
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
        raise _Transient(_describe(error)) from error
    if not fits:
        _refuse(partial, release, f"more than the {release.size} bytes versions.json lists")
    received = partial.stat().st_size
    if received < release.size:
        raise _Transient(f"the connection ended after {received} of {release.size} bytes")


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
        raise _Transient(f"the server refused to resume at byte {offset} (HTTP 416); starting over")
    _check_status(response, release.url)
    if response.status_code == 206:
        start = _content_range_start(response.headers.get("Content-Range", ""))
        if start != offset:
            partial.unlink(missing_ok=True)
            raise _Transient(f"the server sent a different range than asked ({response.headers.get('Content-Range')!r})")
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


# --------------------------------------------------------------------------- one downloader per folder


@contextmanager
def _folder_lock(folder: Path, reporter: Reporter) -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively (an OS lock: released when the process dies)."""
    with open(folder / ".lock", "a+b") as handle:
        if not _try_lock(handle):
            reporter.info(f"waiting for another juliapack process downloading into {folder}")
            _lock(handle)
        try:
            yield
        finally:
            _unlock(handle)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: BinaryIO) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _lock(handle: BinaryIO) -> None:
        while not _try_lock(handle):
            time.sleep(0.5)

    def _unlock(handle: BinaryIO) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: BinaryIO) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _lock(handle: BinaryIO) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def _unlock(handle: BinaryIO) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
    spec: str,
    *,
    cache_dir: Path,
    client: httpx.Client,
    versions_url: str | None = None,
    mirror: str | None = None,
    reporter: Reporter = NullReporter(),
    sleep: Sleep = time.sleep,
) -> JuliaRelease:
    """The linux x86_64 release ``spec`` names, with its URL pointing at ``mirror`` when given."""
    _spec_or_fail(spec)
    url = versions_url_for(versions_url, mirror)
    versions = load_versions(url, cache_dir=cache_dir, client=client, reporter=reporter, sleep=sleep, wanted=spec)
    release = pick_release(versions, spec, source=url)
    download_url = mirrored_url(release.url, mirror)
    if mirror is not None and download_url == release.url:
        reporter.warn(f"{release.url} is not under {OFFICIAL_JULIA_BASE}, so --julia-mirror does not apply to it")
    return dataclasses.replace(release, url=download_url, published_url=release.url)


def fetch_julia(
    spec: str,
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
