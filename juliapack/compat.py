"""Project.toml's ``[compat]`` entries, read as Pkg reads them, to tell which Manifest versions they exclude.

Pkg's rules: ``1.2.3`` and ``^1.2.3`` keep the first non-zero component (``[1.2.3, 2)``, ``0.2`` is
``[0.2, 0.3)``); ``~1.2.3`` keeps major and minor (``[1.2.3, 1.3)``); ``=1.2.3`` is that version; ``>= 1.2``,
``< 2`` and ``≥``/``≤`` are inequalities; ``1.2 - 1.5`` is a hyphen range whose upper bound takes every
version it prefixes; commas join alternatives. An entry juliapack cannot read is not judged: Pkg itself
refuses a malformed one at instantiate, with its own message.
"""

from __future__ import annotations

import re

Version = tuple[int, int, int]
Interval = tuple[Version, Version]  # [lower, upper)

_NUMBER = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_INEQUALITY = re.compile(r"^(>=|<=|>|<|≥|≤)\s*(.+)$")
_HYPHEN = re.compile(r"^(\S+)\s+-\s+(\S+)$")
_INFINITY: Version = (1 << 62, 0, 0)


def version_tuple(text: str) -> Version | None:
    """``1.2.3`` (a prerelease or build suffix dropped) as a tuple, or None."""
    match = _NUMBER.match(re.split(r"[-+]", text.strip(), maxsplit=1)[0])
    return None if match is None else _padded(match)


def allows(spec: str, version: str) -> bool | None:
    """Whether a [compat] entry allows ``version``; None when either cannot be read."""
    intervals = _intervals(spec)
    at = version_tuple(version)
    if intervals is None or at is None:
        return None
    return any(lower <= at < upper for lower, upper in intervals)


def _intervals(spec: str) -> list[Interval] | None:
    parts = [part.strip() for part in spec.split(",")]
    intervals = [_interval(part) for part in parts if part]
    return None if not intervals or None in intervals else intervals  # type: ignore[return-value]


def _interval(part: str) -> Interval | None:
    hyphen = _HYPHEN.match(part)
    if hyphen:
        lower, upper = _parts(hyphen.group(1)), _parts(hyphen.group(2))
        return None if lower is None or upper is None else (_pad(lower), _bump(upper, len(upper) - 1))
    inequality = _INEQUALITY.match(part)
    if inequality:
        return _inequality(inequality.group(1), inequality.group(2))
    for prefix, rule in (("^", _caret), ("~", _tilde), ("=", _exact)):
        if part.startswith(prefix):
            parsed = _parts(part[1:].strip())
            return None if parsed is None else rule(parsed)
    parsed = _parts(part)
    return None if parsed is None else _caret(parsed)


def _inequality(operator: str, text: str) -> Interval | None:
    parsed = _parts(text.strip())
    if parsed is None:
        return None
    at = _pad(parsed)
    return {
        ">=": (at, _INFINITY), "≥": (at, _INFINITY), ">": (_bump(parsed, len(parsed) - 1), _INFINITY),
        "<": ((0, 0, 0), at), "<=": ((0, 0, 0), _bump(parsed, len(parsed) - 1)), "≤": ((0, 0, 0), _bump(parsed, len(parsed) - 1)),
    }[operator]  # fmt: skip


def _caret(parts: tuple[int, ...]) -> Interval:
    first_nonzero = next((index for index, number in enumerate(parts) if number != 0), len(parts) - 1)
    return _pad(parts), _bump(parts, first_nonzero)


def _tilde(parts: tuple[int, ...]) -> Interval:
    if len(parts) == 1 or parts[0] == 0:
        return _caret(parts)
    return _pad(parts), _bump(parts, 1)


def _exact(parts: tuple[int, ...]) -> Interval:
    return _pad(parts), _bump(parts, len(parts) - 1)


def _parts(text: str) -> tuple[int, ...] | None:
    match = _NUMBER.match(text)
    return None if match is None else tuple(int(group) for group in match.groups() if group is not None)


def _padded(match: re.Match) -> Version:
    major, minor, patch = (int(group) if group is not None else 0 for group in match.groups())
    return major, minor, patch


def _pad(parts: tuple[int, ...]) -> Version:
    return (*parts, 0, 0)[:3]  # type: ignore[return-value]


def _bump(parts: tuple[int, ...], index: int) -> Version:
    """The first version past every one that starts with ``parts[: index + 1]``."""
    kept = list(parts[: index + 1])
    kept[-1] += 1
    return _pad(tuple(kept))
