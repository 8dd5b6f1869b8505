"""A Julia version number, parsed once, and the facts juliapack needs about each version.

Everything that depends on the Julia being packed is decided here, from a `JuliaVersion`:
the JULIA_CPU_TARGET the official binaries were built with, the folder its caches go to, how it
validates package caches, and which of Julia's and Pkg's newer features it has. Each fact is one small
named method, so the version-specific paths of the build and the notebook stay visible and tested.
"""

from __future__ import annotations

import re
from functools import total_ordering
from typing import Any

from juliapack.errors import ConfigError

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+)(?:-([0-9A-Za-z.]+))?)?$")
SPEC_FIX = "give MAJOR.MINOR for the latest patch (1.10), MAJOR.MINOR.PATCH (1.10.5) or a prerelease (1.11.0-rc2)"

_CPU_TARGET_OLD = "generic;sandybridge,-xsaveopt,clone_all;haswell,-rdrnd,base(1)"
_CPU_TARGET_V4 = f"{_CPU_TARGET_OLD};x86-64-v4,-rdrnd,base(1)"
# The official builds follow julia-buildkite's utilities/build_envs.sh. x86-64-v4 was added there on
# 2024-03-08 (JuliaCI/julia-buildkite fe8b26e, #341); release-1.10 built with julia-buildkite `main` until
# JuliaLang/julia#59761 (2025), so 1.10.3 (2024-04-30) is the first 1.10 release built with it and 1.10.2
# (2024-03-01) the last without. 1.13 added JULIA_CPU_TARGET=sysimage (JuliaLang/julia#58970).
_FIRST_1_10_WITH_V4 = 3


@total_ordering
class JuliaVersion:
    """``1.10``, ``1.10.5`` or ``1.11.0-rc2``; orders like semver (1.11.0-rc2 < 1.11.0).

    ``patch`` is None for a series (``1.10``: "its latest patch"). Equal to its text, so a version
    compares with the string a user or a file wrote.
    """

    __slots__ = ("key", "text")

    def __init__(self, key: tuple[Any, ...], text: str) -> None:
        self.key = key
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"JuliaVersion({self.text!r})"

    def __hash__(self) -> int:
        return hash(self.text)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.text == other
        return isinstance(other, JuliaVersion) and self.key == other.key

    def __lt__(self, other: JuliaVersion) -> bool:
        return self.key < other.key

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

    @property
    def is_exact(self) -> bool:
        return self.patch is not None

    # ------------------------------------------------------------------ facts about a released version

    def official_cpu_target(self) -> str:
        """The JULIA_CPU_TARGET the official x86_64 binaries were built with.

        Package images compiled with it load on any x86_64 CPU the sysimage supports (Kaggle's
        included), instead of only on the build machine's CPU.
        """
        self._require_exact()
        if self.series >= (1, 13):
            return "sysimage"  # 1.13+: whatever targets the sysimage was built for
        if self.series >= (1, 11) or (self.series == (1, 10) and self.key[:3] >= (1, 10, _FIRST_1_10_WITH_V4)):
            return _CPU_TARGET_V4
        return _CPU_TARGET_OLD

    def compiled_dir(self) -> str:
        """The folder under ``depot/compiled/`` this version writes its caches to: ``v1.10``."""
        self._require_exact()
        return f"v{self.major}.{self.minor}"

    def validates_caches_by_mtime(self) -> bool:
        """True up to 1.10: a cache is stale when a source file's mtime changed (and paths are absolute).

        From 1.11 caches record sources by size and checksum, relative to ``@depot``.
        """
        self._require_exact()
        return self.series <= (1, 10)

    def _require_exact(self) -> None:
        if not self.is_exact:
            raise ConfigError(f"'{self.text}' is a version series, not a Julia version", fix="give MAJOR.MINOR.PATCH, e.g. 1.10.5")


def parse_version(text: str) -> JuliaVersion | None:
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
    return JuliaVersion(key, normalized)


def version_spec(text: str, *, where: str = "") -> JuliaVersion:
    """A version or a series, or a ConfigError naming ``where`` it came from."""
    version = parse_version(text) if isinstance(text, str) else None
    if version is None:
        prefix = f"{where} is '{text}', which" if where else f"'{text}'"
        raise ConfigError(f"{prefix} is not a Julia version", fix=SPEC_FIX)
    return version


def exact_version(text: str) -> JuliaVersion:
    """A released version (with its patch number), as versions.json and the lock write it."""
    version = version_spec(text)
    version._require_exact()
    return version
