"""A small, deterministic TOML writer for preference files (tomllib only reads).

Handles what a LocalPreferences.toml holds: tables of strings, booleans, integers, floats, dates and
arrays of those, nested tables, arrays of tables (written inline). Keys are sorted, so the same
preferences always give the same bytes: their hash is part of every package cache's validity.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, Mapping

from juliapack.errors import InputError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _float(number: float) -> str:
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(number)


def _value(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in sorted(value.items())) + "}"
    raise InputError(f"cannot write {type(value).__name__} value {value!r} as TOML", fix="use strings, numbers, booleans, arrays or tables")


def _table(path: tuple[str, ...], table: Mapping[str, Any], out: list[str]) -> None:
    scalars = [(k, v) for k, v in sorted(table.items()) if not isinstance(v, Mapping)]
    subtables = [(k, v) for k, v in sorted(table.items()) if isinstance(v, Mapping)]
    if path and (scalars or not subtables):
        out.append(("\n" if out else "") + "[" + ".".join(_key(part) for part in path) + "]")
    out.extend(f"{_key(key)} = {_value(value)}" for key, value in scalars)
    for key, value in subtables:
        _table((*path, key), value, out)


def dumps(document: Mapping[str, Any]) -> str:
    """``document`` as TOML text; ``tomllib.loads(dumps(d)) == d`` for what this module handles."""
    out: list[str] = []
    _table((), document, out)
    return "\n".join(out) + "\n" if out else ""
