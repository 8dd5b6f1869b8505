"""`juliapack verify`: run the submission notebook offline, in the build's image, as Kaggle would.

A fresh container of the image the build used gets the dist files and the model bind-mounted
read-only at /kaggle/input/<dataset>/<file> (the stripped names the notebook expects), no network
at all, and executes the notebook with a real Jupyter kernel. The rehearsal fails on a failing cell,
on any attempt to reach the network, and on any compiled cache that had to be rebuilt.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from juliapack import archive, container
from juliapack import notebook as notebooks
from juliapack.config import NotebookConfig
from juliapack.container import Mount
from juliapack.errors import InputError, VerifyFailed
from juliapack.fsutil import write_json_atomic
from juliapack.workflow.lock import APP_DEPOT, Lock, read_lock
from juliapack.workflow.lock import check_dist as check_layer_files
from juliapack.project import project_name
from juliapack.report import NullReporter, Reporter
from juliapack.resources import templates_root

RUNNER = "verify/run_notebook.py"
SUMMARY = "verify.json"
INSIDE = "/juliapack/verify"
UNPACKED = re.compile(r"juliapack: unpacked (\w+) in ([0-9.]+) s")
FIRST_OUTPUT = re.compile(r"juliapack: first output after ([0-9.]+) s")
# What Julia, Pkg, curl and libgit2 print when the network is gone.
NETWORK_SIGNS = re.compile(
    r"Could not resolve host|Couldn't resolve host|failed to resolve address|Temporary failure in name resolution"
    r"|Name or service not known|Network is unreachable|getaddrinfo|DNSError|Downloading artifact"
    r"|Installing known registries|Updating registry|curl: \(\d+\)|failed to download",
    re.IGNORECASE,
)
REJECTED = re.compile(r"Rejecting (?:stale )?cache file.*", re.IGNORECASE)


@dataclass
class Rehearsal:
    passed: bool
    failure: str | None
    failed_cell_output: str | None
    network_attempts: list[str]
    recompiled: list[str]
    rejected: list[str]
    unpack_seconds: dict[str, float]
    first_output_seconds: float | None
    seconds: float
    submission: Path | None
    executed: Path
    problems: list[str] = field(default_factory=list)


def check_dist(dist: Path, lock: Lock) -> None:
    """The dist files are those the lock describes, and none could unpack outside its folder."""
    check_layer_files(dist, lock)
    for layer in lock.layers:
        archive.check_safe(dist / layer.file, strip_components=layer.strip_components)


def mounts_for(plan: notebooks.NotebookPlan, cfg: NotebookConfig, work: Path) -> list[Mount]:
    mounts = [Mount(work, INSIDE, read_only=False), *cfg.inputs]
    for mounted in plan.mounts:
        if mounted.source is None:
            raise InputError(
                f"the model {mounted.dataset}/{mounted.file} is only on Kaggle",
                fix="pass the local model file to --model for the rehearsal",
            )
        mounts.append(Mount(mounted.source.resolve(), f"/kaggle/input/{mounted.dataset}/{mounted.file}", read_only=True))
    return mounts


def verify(
    cfg: NotebookConfig,
    *,
    owner: str,
    out: Path,
    reporter: Reporter = NullReporter(),
    docker_client=None,
) -> Rehearsal:
    lock = read_lock(cfg.dist, project=project_name(cfg.project))
    reporter.step("Checking dist/ against the lock")
    check_dist(cfg.dist, lock)
    plan = notebooks.plan_notebook(cfg, lock, owner=owner, dist=cfg.dist)
    notebook = notebooks.render(plan)
    client = container.connect(docker_client)
    image = container.ensure_image(
        client, lock.image, pull="never", reporter=reporter, missing_fix=f"run `docker pull {lock.image}` (or build again, which pulls it)"
    )
    if image.id != lock.image_id:
        reporter.warn(f"{lock.image} is now {image.id[:19]}, the build used {lock.image_id[:19]}: rebuild to rehearse the same image")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="juliapack-verify-") as temp:
        work = Path(temp)
        work.chmod(0o777)  # the container's user writes its results here
        nbformat.write(notebook, work / "notebook.ipynb")
        shutil.copyfile(templates_root() / RUNNER, work / "run_notebook.py")
        depots = [f"{lock.layout.depot}=", f"{lock.layout.app_dir}/{APP_DEPOT}={APP_DEPOT}/"]
        script = " ".join(
            [f"python3 {INSIDE}/run_notebook.py {INSIDE}/notebook.ipynb {INSIDE}/executed.ipynb {INSIDE}/result.json", str(cfg.timeout), *depots]
        )
        reporter.step(f"Running the notebook offline in {lock.image}")
        spec = container.ContainerSpec(
            lock.image, mounts=tuple(mounts_for(plan, cfg, work)), network="none", purpose="verify",
            env=(("JULIAPACK_SUBMISSION", cfg.submission), ("PYDEVD_DISABLE_FILE_VALIDATION", "1")),
        )  # fmt: skip
        with container.running(client, spec, reporter=reporter) as box:
            box.run(f"cd /kaggle/working && {script}", what="the notebook runner", fix="the image needs python3 with nbclient and ipykernel")
        result = json.loads((work / "result.json").read_text())
        executed = out / f"{plan.kernel_slug}.executed.ipynb"
        shutil.copyfile(work / "executed.ipynb", executed)
        submission = None
        if result["submission"]:
            submission = out / "submission.csv"
            shutil.copyfile(work / "submission.csv", submission)
    rehearsal = judge(result, lock, executed=executed, submission=submission)
    write_json_atomic(out / SUMMARY, {**_summary(rehearsal), "fingerprint": lock.fingerprint})
    return rehearsal


def passed_before(out: Path, fingerprint: str) -> bool:
    """Whether the last rehearsal written to ``out`` passed for the build with this fingerprint."""
    try:
        summary = json.loads((out / SUMMARY).read_text())
    except (OSError, ValueError):
        return False
    return summary.get("passed") is True and summary.get("fingerprint") == fingerprint


def judge(result: dict, lock: Lock, *, executed: Path, submission: Path | None) -> Rehearsal:
    text = "\n".join(result["outputs"])
    attempts = [f"request to {line}" for line in result["network_attempts"]]
    attempts += sorted({match.group(0) for match in NETWORK_SIGNS.finditer(text)})
    recompiled = sorted(name for name, digest in result["caches"].items() if lock.compiled.get(name) != digest)
    rehearsal = Rehearsal(
        passed=False,
        failure=result["error"],
        failed_cell_output=result["failed_cell_output"],
        network_attempts=attempts,
        recompiled=recompiled,
        rejected=sorted(set(REJECTED.findall(text))),
        unpack_seconds={role: float(seconds) for role, seconds in UNPACKED.findall(text)},
        first_output_seconds=float(FIRST_OUTPUT.search(text).group(1)) if FIRST_OUTPUT.search(text) else None,
        seconds=result["seconds"],
        submission=submission,
        executed=executed,
    )
    if result["error"]:
        rehearsal.problems.append(f"cell {result['failed_cell']} failed")
    if attempts:
        rehearsal.problems.append(f"network access attempted ({attempts[0]})")
    if recompiled:
        rehearsal.problems.append(f"{len(recompiled)} compiled cache(s) rebuilt at load time ({recompiled[0]})")
    rehearsal.passed = not rehearsal.problems
    return rehearsal


def _summary(rehearsal: Rehearsal) -> dict:
    return {
        "passed": rehearsal.passed,
        "problems": rehearsal.problems,
        "network_attempts": rehearsal.network_attempts,
        "recompiled": rehearsal.recompiled,
        "unpack_seconds": rehearsal.unpack_seconds,
        "first_output_seconds": rehearsal.first_output_seconds,
        "seconds": rehearsal.seconds,
        "submission": str(rehearsal.submission) if rehearsal.submission else None,
    }


def raise_if_failed(rehearsal: Rehearsal) -> None:
    if rehearsal.passed:
        return
    details = rehearsal.failed_cell_output or ""
    if rehearsal.rejected:
        details += "\n" + "\n".join(rehearsal.rejected[:10])
    raise VerifyFailed(
        "the offline rehearsal failed: " + "; ".join(rehearsal.problems),
        fix=_fix_for(rehearsal),
        details=details.strip()[-4000:],
    )


def _fix_for(rehearsal: Rehearsal) -> str:
    if rehearsal.network_attempts:
        return "make everything it downloads part of the build (artifacts are fetched at build time; use --smoke to run code paths that download), then build again"
    if rehearsal.recompiled:
        return "rebuild with 'juliapack build --fresh'; if it persists, the image or JULIA_CPU_TARGET differs from Kaggle's"
    return f"read the failing cell's output above (executed notebook: {rehearsal.executed})"
