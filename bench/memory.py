"""Peak memory of a rebuild's host side with a large data file in the project, against a tiny project.

    .venv/bin/python bench/memory.py [--gib 2] [--work bench/results/memory]

No Docker: what build does on the host before and after the container, for one project, in a fresh
process whose peak resident memory (VmHWM) is the figure. Three builds in a row, each one reading
the project, scanning it for secrets, hashing its files and staging them into the work folder:

  first     the work folder is empty: every file is copied
  rebuild   a source file changed: the data file is compared with its staged copy, byte for byte
  changed   the data file's last byte changed: compared, then copied again

The data file is sparse (the disk holds none of it), so a 2 GiB one costs seconds, not disk space.
The baseline is the same three builds of the same project with a 1 KiB data file: what the
interpreter and juliapack cost on their own. The ratio is the large project's peak over it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = "data/weights.bin"
SOURCE = "src/Inference.jl"
EPOCH = 1577836800


def make_project(root: Path, *, data_bytes: int) -> Path:
    """A small Julia project with a sparse data file of ``data_bytes`` bytes (zeros) in data/."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "Project.toml").write_text('name = "Inference"\n')
    (root / "Manifest.toml").write_text('julia_version = "1.10.5"\nmanifest_format = "2.0"\nproject_hash = "abc"\n')
    (root / SOURCE).write_text("module Inference\nend\n")
    with open(root / DATA, "wb") as data:
        data.truncate(data_bytes)
    return root


def staging_peak_mb(project: Path, work: Path, *, scan: bool = True) -> float:
    """The peak resident memory, in MB, of a fresh process running the three builds' host side
    (without the secret scan when ``scan`` is False: at 60 MB/s over binaries, it is most of the time)."""
    command = [sys.executable, __file__, "--child", str(project), str(work), "scan" if scan else "no-scan"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["peak_mb"]


def _host_side(project_root: Path, work: Path, *, scan: bool) -> dict[str, str]:
    """What build does on the host for the app, in the order it does it (no container between);
    returns the files' identities, which the fingerprint hashes."""
    from juliapack.build import _file_identity
    from juliapack.build.work import WorkDirs, stage_app
    from juliapack.project import app_files, read_project

    project = read_project(project_root)
    files = app_files(project).files if scan else tuple(sorted(p.relative_to(project.root).as_posix() for p in project.root.rglob("*") if p.is_file()))
    identities = {relpath: _file_identity(project.root / relpath) for relpath in files}
    stage_app(project, files, WorkDirs(work), epoch=EPOCH)
    return identities


def _child(project: Path, work: Path, *, scan: bool) -> None:
    first = _host_side(project, work, scan=scan)
    (project / SOURCE).write_text("module Inference\n# changed\nend\n")
    second = _host_side(project, work, scan=scan)
    with open(project / DATA, "r+b") as data:
        data.seek(-1, 2)
        data.write(b"\1")
    third = _host_side(project, work, scan=scan)
    assert first[SOURCE] != second[SOURCE] and second[DATA] != third[DATA]
    # VmHWM, not ru_maxrss: Linux carries the parent's peak across fork and exec into ru_maxrss.
    peak_kb = int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))
    print(json.dumps({"peak_mb": peak_kb / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="size of the large data file, GiB")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "results" / "memory")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    peaks = {}
    for name, size in (("tiny", 1024), ("large", int(args.gib * 2**30))):
        peaks[name] = staging_peak_mb(make_project(args.work / name / "Inference", data_bytes=size), args.work / name / "work")
        shutil.rmtree(args.work / name)
    print(f"peak memory, rebuild staging: {args.gib:g} GiB data file {peaks['large']:.0f} MB, 1 KiB data file {peaks['tiny']:.0f} MB (baseline); ratio {peaks['large'] / peaks['tiny']:.2f}; target <= 200 MB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.path.insert(0, str(ROOT))
        _child(Path(sys.argv[2]), Path(sys.argv[3]), scan=sys.argv[4] == "scan")
    else:
        main()
