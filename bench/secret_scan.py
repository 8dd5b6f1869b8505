"""Speed of juliapack's secret scan on the generated depot, against reading the same bytes in the same run.

    .venv/bin/python bench/secret_scan.py [--scale 1.0] [--runs 3] [--detect-secrets-files 300]

The depot is bench/gen_depot.py's (seed 1; --scale 1.0 is ~3.8 GB in ~37,000 files, made on first use,
from the test bed's Julia tarball). The file list is walked once, as build walks it; every timed pass
then handles the same entries:

  read all        the baseline: every byte of every file read (1 MiB reads), as packing reads them
  secret_scan     juliapack.secret_scan.scan_entries(role="depot"): what build and upload will run.
                  Runs just before and just after each baseline; the ratio is the median over runs of
                  their mean / the baseline (the machine's speed drifts over minutes). Then the text
                  files and the binaries apart, each against reading just those files
  every byte      the token rules over every byte, binaries too: what sniffing binaries saves
  detect-secrets  its default plugins, one process, on a sample of the depot's text files,
                  extrapolated to all of its text bytes (skipped when detect-secrets is not installed)

All passes run on a warm page cache (one untimed read first): the figures are CPU cost, not disk speed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import gen_depot  # noqa: E402
from juliapack import archive, secret_rules, secret_scan  # noqa: E402
from testbed.cache import cache_root, read_env_file  # noqa: E402

BUFFER = 1 << 20


def julia_tarball() -> Path:
    mirror = Path(read_env_file(cache_root() / "testbed.env")["JULIAPACK_TESTBED_JULIA_MIRROR"])
    return next(mirror.glob("bin/linux/x64/*/julia-*-linux-x86_64.tar.gz"))


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def read_all(files: list[archive.Entry]) -> None:
    buffer = bytearray(BUFFER)
    for entry in files:
        with open(entry.path, "rb", buffering=0) as stream:
            while stream.readinto(buffer):
                pass


def secret_scan_pass(files: list[archive.Entry]) -> None:
    found = secret_scan.scan_entries(files, role="depot")
    assert not found, found  # the generated depot holds no secrets: a finding is a false positive


def every_byte_pass(files: list[archive.Entry]) -> None:
    checks = secret_rules.checks_for(own=False, text=True)
    for entry in files:
        with open(entry.path, "rb") as stream:
            for piece, _line in secret_scan._pieces(stream.read(secret_scan.SNIFF), stream):
                secret_rules.first_hit(piece, checks)


def text_files(files: list[archive.Entry]) -> list[archive.Entry]:
    text = []
    for entry in files:
        with open(entry.path, "rb") as stream:
            if b"\0" not in stream.read(secret_scan.SNIFF):
                text.append(entry)
    return text


def detect_secrets_rate(text: list[archive.Entry], sample: int) -> float | None:
    """detect-secrets' bytes per second, one process, default plugins, on a seeded sample of text files."""
    try:
        from detect_secrets.core.scan import scan_file
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    chosen = random.Random(1).sample(text, min(sample, len(text)))
    with default_settings():
        seconds = timed(lambda: [list(scan_file(entry.path)) for entry in chosen])
    return sum(entry.size for entry in chosen) / seconds


def bracketed_ratio(files: list[archive.Entry], runs: int) -> tuple[float, float, float]:
    """(ours, baseline, ratio): medians; each run times ours just before and after the baseline."""
    ours, baselines, ratios = [], [], []
    for _ in range(runs):
        before = timed(lambda: secret_scan_pass(files))
        baseline = timed(lambda: read_all(files))
        after = timed(lambda: secret_scan_pass(files))
        ours.append((before + after) / 2)
        baselines.append(baseline)
        ratios.append(ours[-1] / baseline)
    return statistics.median(ours), statistics.median(baselines), statistics.median(ratios)


def row(name: str, seconds: float, total: int, baseline: float, note: str = "") -> str:
    return f"{name:<16} {seconds:>9.2f} s {total / seconds / 1e6:>9.0f} MB/s {seconds / baseline:>8.3f}  {note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size of the generated depot (1.0: ~3.8 GB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--detect-secrets-files", type=int, default=300, help="text files in detect-secrets' sample")
    args = parser.parse_args()
    generated = args.work / ("generated" if args.scale == 1.0 else f"generated-scale-{args.scale:g}")
    gen_depot.ensure(generated, julia_tarball=julia_tarball(), scale=args.scale)
    started = time.perf_counter()
    files = [e for e in archive.collect(generated / "depot", prefix=".julia").entries if e.kind == "file"]
    walk = time.perf_counter() - started
    total = sum(entry.size for entry in files)
    text = text_files(files)
    text_bytes = sum(entry.size for entry in text)
    print(f"depot: {len(files):,} files, {total / 1e9:.2f} GB; text: {len(text):,} files, {text_bytes / 1e6:.0f} MB; walk {walk:.2f} s (not timed below)")
    read_all(files)  # warm the page cache
    ours, baseline, ratio = bracketed_ratio(files, args.runs)
    print(f"{'pass':<16} {'time':>11} {'throughput':>14} {'vs read':>8}")
    print(row("read all", baseline, total, baseline, "baseline"))
    print(row("secret_scan", ours, total, baseline, f"ratio {ratio:.3f} (median of per-run ratios, {args.runs} runs)"))
    text_paths = {entry.path for entry in text}
    for label, part in (("  text files", text), ("  binaries", [e for e in files if e.path not in text_paths])):
        part_read = min(timed(lambda: read_all(part)) for _ in range(args.runs))
        part_scan = min(timed(lambda: secret_scan_pass(part)) for _ in range(args.runs))
        part_bytes = sum(entry.size for entry in part)
        print(row(label, part_scan, part_bytes, part_read, f"their read: {part_read:.2f} s ({part_bytes / 1e6:.0f} MB; best of {args.runs})"))
    print(row("every byte", timed(lambda: every_byte_pass(files)), total, baseline, "token rules over binaries too"))
    rate = detect_secrets_rate(text, args.detect_secrets_files)
    if rate is not None:
        estimate = text_bytes / rate
        print(row("detect-secrets", estimate, total, baseline, f"estimate: {rate / 1e6:.2f} MB/s on {args.detect_secrets_files} text files, x {text_bytes / 1e6:.0f} MB of text"))


if __name__ == "__main__":
    main()
