"""The releases of versions.json: which linux x86_64 tarball a version or a series names.

Pure: `pick_release` reads a parsed versions.json (see JuliaLang/VersionsJSONUtil.jl's schema) and
returns the release, or a ConfigError listing the nearest versions there are.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from juliapack.errors import ConfigError
from juliapack.julia_version import JuliaVersion, parse_version

TRIPLET = "x86_64-linux-gnu"  # musl builds also say os = "linux": the triplet tells them apart
KIND = "archive"
EXTENSION = "tar.gz"


@dataclass(frozen=True)
class JuliaRelease:
    """One linux x86_64 tarball of versions.json; ``url`` already points at the mirror, if any."""

    version: JuliaVersion
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
    def version(self) -> JuliaVersion:
        return self.release.version


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _linux_archive(version: JuliaVersion, entry: Any) -> JuliaRelease | None:
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


def _filename(url: str, version: JuliaVersion) -> str:
    name = PurePosixPath(urllib.parse.urlparse(url).path).name
    if not name or name.startswith(".") or not name.endswith(f".{EXTENSION}"):
        name = f"julia-{version}-linux-x86_64.{EXTENSION}"
    return name


@dataclass(frozen=True)
class _Available:
    version: JuliaVersion
    release: JuliaRelease
    stable: bool


def _available(versions: Mapping[str, Any]) -> list[_Available]:
    """Every version with a linux x86_64 tarball, oldest first."""
    found = []
    for text, entry in versions.items():
        version = parse_version(text)
        release = _linux_archive(version, entry) if version and version.is_exact else None
        if release is not None:
            stable = bool(entry.get("stable", not version.prerelease)) and not version.prerelease
            found.append(_Available(version, release, stable))
    return sorted(found, key=lambda item: item.version)


def pick_release(versions: Mapping[str, Any], wanted: JuliaVersion, *, source: str = "versions.json") -> JuliaRelease:
    """The release ``wanted`` names: ``1.10`` → the latest stable 1.10.x; ``1.10.5`` or ``1.11.0-rc2`` exactly."""
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


def _unknown(wanted: JuliaVersion, available: list[_Available], source: str) -> ConfigError:
    nearest = _nearest(wanted, available)
    what = f"Julia {wanted.text}" + ("" if wanted.patch is not None else ".x")
    listed = f"; nearest: {', '.join(nearest)}" if nearest else ""
    return ConfigError(
        f"{what} has no linux x86_64 tarball in {source}{listed}",
        fix="ask for one of the available versions (MAJOR.MINOR picks the latest patch)",
    )


def _nearest(wanted: JuliaVersion, available: list[_Available], count: int = 4) -> list[str]:
    pool = [item for item in available if item.stable or wanted.prerelease]
    patch = wanted.patch if wanted.patch is not None else 10**6

    def distance(item: _Available) -> tuple[int, ...]:
        version = item.version
        return abs(version.major - wanted.major), abs(version.minor - wanted.minor), abs(version.key[2] - patch)

    closest = sorted(pool, key=distance)[:count]
    return [item.version.text for item in sorted(closest, key=lambda item: item.version)]
