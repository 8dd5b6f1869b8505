"""[compat] entries read as Pkg reads them: which Manifest versions they allow."""

from __future__ import annotations

import pytest

from juliapack.compat import allows

ALLOWED = [
    ("1.2.3", "1.2.3"), ("1.2.3", "1.9.0"), ("1.2", "1.2.0"), ("0.2", "0.2.9"), ("0.0.3", "0.0.3"), ("0", "0.9.9"), ("0.0", "0.0.7"),
    ("^1.2", "1.3.0"), ("~1.2.3", "1.2.9"), ("~1", "1.9.0"), ("~0.2.3", "0.2.4"), ("=1.2.3", "1.2.3"), ("=1.2", "1.2.7"),
    (">= 1.2", "3.0.0"), ("≥1.2", "1.2.0"), ("< 2", "1.99.0"), ("<= 1.2", "1.2.5"), ("1.2 - 1.5", "1.5.9"), ("0.1, 0.2", "0.2.1"),
    ("1.6", "1.6.0-rc1+build"),
]  # fmt: skip
EXCLUDED = [
    ("1.2.3", "1.2.2"), ("1.2.3", "2.0.0"), ("0.2", "0.3.0"), ("0.2", "0.1.9"), ("0.0.3", "0.0.4"), ("0", "1.0.0"), ("0.0", "0.1.0"),
    ("~1.2.3", "1.3.0"), ("~0.2.3", "0.3.0"), ("=1.2.3", "1.2.4"), (">= 1.2", "1.1.9"), ("< 2", "2.0.0"), ("<= 1.2", "1.3.0"),
    ("1.2 - 1.5", "1.6.0"), ("1.2 - 1.5", "1.1.0"), ("0.1, 0.2", "0.3.0"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "version"), ALLOWED)
def test_a_version_the_entry_allows(spec: str, version: str) -> None:
    assert allows(spec, version) is True


@pytest.mark.parametrize(("spec", "version"), EXCLUDED)
def test_a_version_the_entry_excludes(spec: str, version: str) -> None:
    assert allows(spec, version) is False


@pytest.mark.parametrize(("spec", "version"), [("one.two", "1.2.3"), ("", "1.0.0"), ("1.2", "latest"), ("1.2, nonsense", "1.2.0")])
def test_what_cannot_be_read_is_not_judged(spec: str, version: str) -> None:
    assert allows(spec, version) is None
