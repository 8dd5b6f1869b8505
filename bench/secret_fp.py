"""False positives of juliapack's secret scan on real Julia package trees (and, for comparison, detect-secrets').

    .venv/bin/python bench/secret_fp.py TREE... [--julia-tarball PATH] [--detect-secrets] [--list]

Each TREE is a package's source (a git checkout or `git archive` of it): it is scanned as it would be in
a depot's packages/ (third-party rules, what build and upload apply) and, for reference, as if it were the
user's own project (own-file rules). Real packages hold no live credentials, so every finding in the
third-party column is a false positive; the own column shows how noisy the strict rules would be there.
--julia-tarball scans a Julia distribution tarball as the julia layer. --detect-secrets runs
`detect-secrets scan --all-files` (its default plugins) on each tree too, and counts files and secrets.
Needs fetched code, so it is a bench, not a unit test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from juliapack import secret_scan  # noqa: E402


def tree_files(tree: Path):
    for folder, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(tree).as_posix(), path


def findings(tree: Path, kind: str) -> list[secret_scan.Finding]:
    found = []
    for relpath, path in tree_files(tree):
        finding = secret_scan.scan(relpath, lambda: open(path, "rb"), path.stat().st_size, kind)
        if finding:
            found.append(finding)
    return found


def detect_secrets(tree: Path) -> tuple[int, int, float]:
    """(files, secrets, seconds) of detect-secrets' default scan; -1s when it is not installed."""
    started = time.monotonic()
    # From inside the tree: run from a git work tree, detect-secrets ignores paths outside it.
    result = subprocess.run([sys.executable, "-m", "detect_secrets", "scan", "--all-files", "."], cwd=tree, capture_output=True, text=True)
    if result.returncode:
        return -1, -1, 0.0
    results = json.loads(result.stdout)["results"]
    return len(results), sum(len(v) for v in results.values()), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", type=Path, nargs="*")
    parser.add_argument("--julia-tarball", type=Path)
    parser.add_argument("--detect-secrets", action="store_true")
    parser.add_argument("--list", action="store_true", help="print every finding (redacted, as the error would)")
    args = parser.parse_args()
    header = f"{'tree':<34} {'files':>6} {'MB':>6} {'third-party':>11} {'as own':>7}" + ("  detect-secrets files/secrets (s)" if args.detect_secrets else "")
    print(header)
    totals = [0, 0]
    for tree in args.trees:
        files = list(tree_files(tree))
        size = sum(path.stat().st_size for _, path in files)
        third, own = findings(tree, secret_scan.THIRD_PARTY), findings(tree, secret_scan.OWN)
        totals[0] += len(third)
        totals[1] += len(own)
        row = f"{tree.name:<34} {len(files):>6} {size / 1e6:>6.1f} {len(third):>11} {len(own):>7}"
        if args.detect_secrets:
            ds_files, ds_secrets, seconds = detect_secrets(tree)
            row += f"  {ds_files:>5} / {ds_secrets:<5} ({seconds:.1f})"
        print(row, flush=True)
        if args.list:
            for finding in third:
                print(f"    third-party: {finding}")
            for finding in own:
                print(f"    own:         {finding}")
    if args.julia_tarball:
        found = secret_scan.scan_tarball(args.julia_tarball, role="julia")
        totals[0] += len(found)
        print(f"{args.julia_tarball.name:<34} {'':>6} {args.julia_tarball.stat().st_size / 1e6:>6.1f} {len(found):>11} {'':>7}")
        for finding in found if args.list else ():
            print(f"    julia layer: {finding}")
    print(f"{'total':<34} {'':>6} {'':>6} {totals[0]:>11} {totals[1]:>7}")


if __name__ == "__main__":
    main()
