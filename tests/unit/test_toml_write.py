"""The preference-file TOML writer: round trips through tomllib, sorted and byte-stable."""

from __future__ import annotations

import datetime
import sys

import pytest

from juliapack.errors import InputError
from juliapack.toml_write import dumps

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOCUMENT = {
    "top": "level",
    "CUDA_Runtime_jll": {"version": "12.8", "local": "true"},
    "Odd Name.jl": {"key with space": 'quote " and \\ and \t tab\n', "ctrl": "\x01\x7f", "empty": ""},
    "Numbers": {"int": -3, "float": 0.1, "big": 1e300, "inf": float("inf"), "ninf": float("-inf"), "yes": True, "no": False},
    "Arrays": {"mixed": [1, [2, 3], "x"], "tables": [{"b": 1, "a": {"c": "d"}}], "none": []},
    "Nested": {"inner": {"deeper": {"v": 1}}, "sibling": 2},
    "OnlyTables": {"a": {"x": 1}, "b": {"y": 2}},
    "Empty": {},
    "Dates": {"day": datetime.date(2024, 1, 2), "at": datetime.datetime(2024, 1, 2, 3, 4, 5)},
}


def test_round_trip():
    assert tomllib.loads(dumps(DOCUMENT)) == DOCUMENT


def test_nan_is_written_as_nan():
    value = tomllib.loads(dumps({"T": {"nan": float("nan")}}))["T"]["nan"]
    assert value != value


def test_keys_are_sorted_so_order_of_input_does_not_matter():
    reordered = {key: DOCUMENT[key] for key in reversed(list(DOCUMENT))}
    assert dumps(reordered) == dumps(DOCUMENT)


def test_the_shape_a_preferences_file_has():
    text = dumps({"B": {"z": 1, "a": "x"}, "A": {"v": True}})
    assert text == '[A]\nv = true\n\n[B]\na = "x"\nz = 1\n'


def test_empty_document_is_empty_text():
    assert dumps({}) == ""


def test_unsupported_values_are_input_errors():
    with pytest.raises(InputError, match="cannot write set value"):
        dumps({"T": {"s": {1, 2}}})
