"""`juliapack verify`: run the notebook push will send, offline, in the build's image, as Kaggle would.

The notebook in notebook/ is rehearsed as written, byte for byte; one written for another build, or
attaching other datasets than upload made, is refused. A fresh container of the image the build used
gets the dist files and the model bind-mounted read-only at /kaggle/input/<dataset>/<file> (the
stripped names the notebook expects), no network at all, and executes the notebook with a real
Jupyter kernel. The rehearsal fails on a failing cell, on any attempt to reach the network, and on any
compiled cache that had to be rebuilt. Its verdict goes into the lock, for upload's and push's gate.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import nbformat

from juliapack import archive, container
from juliapack.notebook import config_of
from juliapack.caches import rehearsal_julia_flags
from juliapack.config import NotebookConfig
from juliapack.container import Mount
from juliapack.errors import InputError, VerifyFailed
from juliapack.fsutil import sha256_file, write_json_atomic
from juliapack.project import project_name
from juliapack.report import NullReporter, Reporter
from juliapack.resources import templates_root
from juliapack.workflow.gate import METADATA_NAME, NotebookFiles, notebook_files
from juliapack.workflow.lock import APP_DEPOT, Lock, check_dist, read_lock, update_lock
from juliapack.workflow.records import RehearsalRecord

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
ENTERED = re.compile(r"juliapack: entering the competition server \(.*\) ([0-9.]+) s after the cell started")
SERVED = re.compile(r"juliapack: served (\d+) calls; per call after the first p50 ([0-9.na]+) ms, p99 ([0-9.na]+) ms; first answer ([0-9.na]+) s")
REJECTED = re.compile(r"Rejecting (?:stale )?cache file.*", re.IGNORECASE)


@dataclass(frozen=True)
class Served:
    """What a serve notebook's rehearsal measured: the competition's gateway against the Julia worker."""

    entered_seconds: float  # cell start -> the competition's server entered
    calls: int
    p50_ms: float  # per predict call after the first (the first waits for the app's setup)
    p99_ms: float
    first_answer_seconds: float  # cell start -> the first answer


def served_from(text: str) -> Served | None:
    """The serve figures the notebook printed; None for a script notebook (or one that never served)."""
    entered, served = ENTERED.search(text), SERVED.search(text)
    if not entered or not served:
        return None
    calls, p50, p99, first = served.groups()
    return Served(float(entered.group(1)), int(calls), float(p50), float(p99), float(first))


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
    served: Served | None = None  # a serve notebook: the gateway's calls
    problems: list[str] = field(default_factory=list)


def check_layers(dist: Path, lock: Lock) -> None:
    """The dist files are those the lock describes, and none could unpack outside its folder."""
    check_dist(dist, lock)
    for layer in lock.layers:
        archive.check_safe(dist / layer.file, strip_components=layer.strip_components)


@dataclass(frozen=True)
class Rehearsed:
    """The notebook a rehearsal runs: the files push would send, and what its config cell says."""

    files: NotebookFiles
    notebook: nbformat.NotebookNode
    config: dict
    model_source: Path | None  # the local file of the model dataset; None without a model


def read_notebook(folder: Path, lock: Lock, *, fallback_model: Path | None) -> Rehearsed:
    """The notebook in ``folder``, refused when it was written for another build or other datasets."""
    files = notebook_files(folder)
    notebook = nbformat.reads(files.code_file.read_text(encoding="utf-8"), as_version=4)
    config = config_of(notebook)
    written_for = (config.get("juliapack") or {}).get("build")
    if written_for != lock.fingerprint:
        raise InputError(
            f"{files.code_file} was written for another build than the one in dist/ ({lock.project_name}, built since)",
            fix="write it again for this build: juliapack notebook",
        )
    _refuse_other_datasets(folder, lock)
    return Rehearsed(files, notebook, config, _model_source(config, lock, files, fallback_model))


def _refuse_other_datasets(folder: Path, lock: Lock) -> None:
    attached = set(json.loads((folder / METADATA_NAME).read_text(encoding="utf-8")).get("dataset_sources") or [])
    for role, uploaded in sorted(lock.uploads.items()):
        if uploaded.ref not in attached:
            raise InputError(
                f"upload made {uploaded.ref} for the {role}, but the notebook in {folder} attaches {', '.join(sorted(attached))}",
                fix="write the notebook again, so it mounts what upload made: juliapack notebook",
            )


def _model_source(config: dict, lock: Lock, files: NotebookFiles, fallback: Path | None) -> Path | None:
    model = config.get("model")
    if not model:
        return None
    record = lock.notebook if lock.notebook and lock.notebook.sha256 == files.sha256 else None
    source = Path(record.model_source) if record and record.model_source else fallback
    if source is None or source.name != model["file"] or not source.is_file():
        raise InputError(
            f"the notebook mounts the model {model['dataset']}/{model['file']}, and no local copy of it is known",
            fix="name the local model file: juliapack notebook --model PATH (the rehearsal mounts it)",
        )
    if record and record.model_sha256 and sha256_file(source) != record.model_sha256:
        raise InputError(f"the model {source} changed since the notebook was written", fix="write the notebook again: juliapack notebook")
    return source


def refuse_serving_without_the_competition(config: dict, inputs: tuple[Mount, ...]) -> None:
    """A serve notebook imports the competition's own kaggle_evaluation, which comes with its data."""
    serve = config.get("serve")
    if not serve:
        return
    target = f"/kaggle/input/{serve['competition']}"
    if not any(mount.target.rstrip("/") == target for mount in inputs):
        raise InputError(
            f"the notebook serves {serve['competition']}'s inference server, whose kaggle_evaluation comes with the competition's data, and none is mounted at {target}",
            fix=f"pass the competition's data folder: juliapack verify --input PATH:{target} (or [notebook] inputs)",
        )


def mounts_for(rehearsed: Rehearsed, dist: Path, inputs: tuple[Mount, ...], work: Path) -> tuple[Mount, ...]:
    """Every file of the config cell where Kaggle would mount it, read-only; the competition data; our folder."""
    mounts = [Mount(work, INSIDE, read_only=False), *inputs]
    for layer in rehearsed.config["layers"]:
        mounts.append(Mount((dist / layer["file"]).resolve(), f"/kaggle/input/{layer['dataset']}/{layer['file']}", read_only=True))
    model = rehearsed.config.get("model")
    if model:
        mounts.append(Mount(rehearsed.model_source.resolve(), f"/kaggle/input/{model['dataset']}/{model['file']}", read_only=True))
    return tuple(mounts)


def verify(
    cfg: NotebookConfig,
    *,
    reporter: Reporter = NullReporter(),
    docker_client=None,
    write_missing: Callable[[Lock], Lock] | None = None,
) -> Rehearsal:
    """Rehearse the notebook in ``cfg.out`` byte for byte, and record the verdict in the lock.

    Where no notebook is written yet, ``write_missing`` writes one (after dist/ and Docker are checked,
    so a rehearsal that cannot run leaves nothing behind).
    """
    lock = read_lock(cfg.dist, project=project_name(cfg.project))
    reporter.step("Checking dist/ against the lock")
    check_layers(cfg.dist, lock)
    client = container.connect(docker_client)
    image = container.ensure_image(
        client, lock.image, pull="never", reporter=reporter, missing_fix=f"run `docker pull {lock.image}` (or build again, which pulls it)"
    )
    if image.id != lock.image_id:
        reporter.warn(f"{lock.image} is now {image.id[:19]}, the build used {lock.image_id[:19]}: rebuild to rehearse the same image")
    if write_missing is not None and not (cfg.out / METADATA_NAME).is_file():
        lock = write_missing(lock)
    rehearsed = read_notebook(cfg.out, lock, fallback_model=cfg.model.path if cfg.model else None)
    refuse_serving_without_the_competition(rehearsed.config, cfg.inputs)
    out = fresh_output_folder(cfg.out / "verify")
    passes = rehearsal_julia_flags(lock.julia_version.key[:3])
    with tempfile.TemporaryDirectory(prefix="juliapack-verify-") as temp:
        result = _run(client, lock, rehearsed, cfg, Path(temp), reporter, flags=passes[0])
        executed, submission = _copy_back(Path(temp), result, out, rehearsed.files.code_file)
    rehearsal = judge(result, lock, executed=executed, submission=submission)
    for flags in passes[1:]:  # Kaggle's CPU may not be the build's: the caches must load as any CPU would
        rehearsal.problems += _another_pass(client, lock, rehearsed, cfg, reporter, flags=flags, executed=executed)
    rehearsal.passed = not rehearsal.problems
    write_json_atomic(out / SUMMARY, {**_summary(rehearsal), "fingerprint": lock.fingerprint})
    verdict = RehearsalRecord(
        passed=rehearsal.passed, problems=tuple(rehearsal.problems), folder=str(rehearsed.files.folder),
        notebook_sha256=rehearsed.files.sha256, metadata_sha256=rehearsed.files.metadata_sha256,
        model_sha256=sha256_file(rehearsed.model_source) if rehearsed.model_source else None,
    )  # fmt: skip
    update_lock(cfg.dist, lambda current: replace(current, rehearsal=verdict), cache_dir=cfg.cache_dir)
    return rehearsal


def fresh_output_folder(out: Path) -> Path:
    """The rehearsal's output folder, emptied: a failed run must not leave an earlier run's files looking like its own."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


def _another_pass(client, lock: Lock, rehearsed: Rehearsed, cfg: NotebookConfig, reporter: Reporter, *, flags: list[str], executed: Path) -> list[str]:  # noqa: PLR0913
    with tempfile.TemporaryDirectory(prefix="juliapack-verify-") as temp:
        result = _run(client, lock, rehearsed, cfg, Path(temp), reporter, flags=flags)
    return [f"with julia {' '.join(flags)}: {problem}" for problem in judge(result, lock, executed=executed, submission=None).problems]


def _run(client, lock: Lock, rehearsed: Rehearsed, cfg: NotebookConfig, work: Path, reporter: Reporter, *, flags: list[str]) -> dict:  # noqa: PLR0913
    work.chmod(0o777)  # the container's user writes its results here
    shutil.copyfile(rehearsed.files.code_file, work / "notebook.ipynb")  # the bytes push sends
    shutil.copyfile(templates_root() / RUNNER, work / "run_notebook.py")
    depots = [f"{lock.layout.depot}=", f"{lock.layout.app_dir}/{APP_DEPOT}={APP_DEPOT}/"]
    script = " ".join(
        [f"python3 {INSIDE}/run_notebook.py {INSIDE}/notebook.ipynb {INSIDE}/executed.ipynb {INSIDE}/result.json", str(int(cfg.timeout)), *depots]
    )
    reporter.step(f"Running {rehearsed.files.code_file.name} offline in {lock.image}" + (f", julia {' '.join(flags)}" if flags else ""))
    env = {"JULIAPACK_SUBMISSION": rehearsed.config["submission"], "PYDEVD_DISABLE_FILE_VALIDATION": "1", "JULIAPACK_JULIA_FLAGS": shlex.join(flags)}
    spec = container.ContainerSpec(
        lock.image, mounts=mounts_for(rehearsed, cfg.dist, cfg.inputs, work), network="none", purpose="verify", env=tuple(env.items())
    )
    with container.running(client, spec, reporter=reporter) as box:
        box.run(f"cd /kaggle/working && {script}", what="the notebook runner", fix="the image needs python3 with nbclient and ipykernel")
    return json.loads((work / "result.json").read_text())


def _copy_back(work: Path, result: dict, out: Path, code_file: Path) -> tuple[Path, Path | None]:
    executed = out / f"{code_file.stem}.executed.ipynb"
    shutil.copyfile(work / "executed.ipynb", executed)
    if not result["submission"]:
        return executed, None
    submission = out / Path(result["submission"]).name
    shutil.copyfile(work / Path(result["submission"]).name, submission)
    return executed, submission


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
        served=served_from(text),
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
        "served": asdict(rehearsal.served) if rehearsal.served else None,
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
