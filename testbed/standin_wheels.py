"""Download the stand-in image's Python wheels (testbed/standin-wheels.txt) on the host, where PyPI answers.

    CACHE/wheels-<hash>/*.whl    <hash> covers the pinned list (names, versions, sha256) and this script

Containers cannot reach PyPI, so the wheels go into the stand-in's build context (testbed/standin-image.sh)
and Dockerfile.test installs them with --no-index. pip checks every file against its pinned sha256.
Idempotent: a complete folder is reused. Prints the folder on stdout.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from cache import cache_root  # run as a script: its folder is on sys.path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "standin-wheels.txt"
# The stand-in's Python (Debian bookworm's 3.11) on x86_64; manylinux tags that its glibc 2.36 accepts.
TARGET = ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"]
PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_24_x86_64", "manylinux_2_27_x86_64", "manylinux_2_28_x86_64"]


def input_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes() + REQUIREMENTS.read_bytes()).hexdigest()[:12]


def pinned_count() -> int:
    return sum(1 for line in REQUIREMENTS.read_text().splitlines() if line.strip() and not line.startswith("#"))


def download(target: Path) -> None:
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    with tempfile.TemporaryDirectory(prefix="wheels-tmp-", dir=target.parent) as staging:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--require-hashes",
             *TARGET, *platforms, "--dest", staging, "--requirement", str(REQUIREMENTS)],
            check=True, stdout=sys.stderr,
        )
        wheels = sorted(Path(staging).glob("*.whl"))
        if len(wheels) != pinned_count():
            raise SystemExit(f"standin_wheels: pip brought {len(wheels)} wheels for {pinned_count()} pins in {REQUIREMENTS}")
        Path(staging).chmod(0o755)
        Path(staging).rename(target)


def main() -> None:
    target = cache_root() / f"wheels-{input_hash()}"
    if target.is_dir():
        print(f"standin_wheels: {target} already made", file=sys.stderr)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        download(target)
        print(f"standin_wheels: downloaded {pinned_count()} wheels into {target}", file=sys.stderr)
    print(target)


if __name__ == "__main__":
    main()
