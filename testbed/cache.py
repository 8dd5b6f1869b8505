"""Where the test bed keeps what it builds, and the testbed.env that setup.sh writes there last."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    default = Path.home() / ".cache" / "juliapack-testbed"
    return Path(os.environ.get("JULIAPACK_TESTBED_CACHE", default))


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments are skipped."""
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[key.strip()] = value.strip()
    return values
