"""Print the Debian mirror this machine's apt uses, so the test bed never hard-codes one.

Order: $JULIAPACK_DEBIAN_MIRROR, then deb822 files in /etc/apt/sources.list.d/*.sources, then one-line
``deb URI SUITE ...`` entries in *.list files and /etc/apt/sources.list. Security and update suites
are skipped: debootstrap and the Julia fixture need the main archive.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APT_DIR = Path("/etc/apt")


def _deb822_entries(text: str):
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield uri, suite


def _one_line_entries(text: str):
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 3 and words[0] == "deb":
            words = [w for w in words[1:] if not w.startswith("[")]
            if len(words) >= 2:
                yield words[0], words[1]


def apt_entries(apt_dir: Path = APT_DIR):
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        yield from _deb822_entries(path.read_text())
    lists = sorted((apt_dir / "sources.list.d").glob("*.list"))
    for path in [apt_dir / "sources.list", *lists]:
        if path.is_file():
            yield from _one_line_entries(path.read_text())


def debian_mirror(apt_dir: Path = APT_DIR) -> str:
    override = os.environ.get("JULIAPACK_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    for uri, suite in apt_entries(apt_dir):
        if "-" not in suite and "security" not in uri:
            return uri.rstrip("/")
    raise SystemExit("no Debian mirror in /etc/apt sources: set JULIAPACK_DEBIAN_MIRROR=http://.../debian")


if __name__ == "__main__":
    print(debian_mirror(Path(sys.argv[1]) if len(sys.argv) > 1 else APT_DIR))
