"""`juliapack push`, `status` and `fetch`: the notebook on Kaggle.

push sends the folder `juliapack notebook` wrote (kernel-metadata.json + the .ipynb) as a new version,
private unless asked otherwise and always with the internet off, as code competitions require; Kaggle
then runs it. status names the run's state; fetch downloads its output files and log.
"""

from __future__ import annotations

import json
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from juliapack.config import FetchConfig, PushConfig, Source
from juliapack.config.values import as_kernel_ref
from juliapack.errors import ConfigError, InputError, KaggleError, RunFailed
from juliapack.fsutil import write_text_atomic
from juliapack.kaggle_api import KaggleClient, KernelPush, SavedKernel
from juliapack.report import NullReporter, Reporter
from juliapack.workflow.gate import contradictions, notebook_files, require_rehearsed_notebook
from juliapack.workflow.lock import Lock, read_lock
from juliapack.workflow.names import KERNEL_METADATA as METADATA_NAME
from juliapack.workflow.names import slugify

FIRST_POLL = 2.0  # a run is often queued for seconds only
MAX_POLL = 60.0


@dataclass(frozen=True)
class KernelState:
    name: str  # Kaggle's: QUEUED, RUNNING, COMPLETE, ERROR, CANCEL_REQUESTED, CANCEL_ACKNOWLEDGED, NEW_SCRIPT
    label: str  # for people
    finished: bool
    succeeded: bool
    failure_message: str = ""


# name -> (label, finished, succeeded); Kaggle's KernelWorkerStatus, every value
STATES = {
    "QUEUED": ("queued, waiting for a machine", False, False),
    "RUNNING": ("running", False, False),
    "NEW_SCRIPT": ("saved, not started yet", False, False),
    "CANCEL_REQUESTED": ("being cancelled", False, False),
    "COMPLETE": ("complete", True, True),
    "ERROR": ("failed", True, False),
    "CANCEL_ACKNOWLEDGED": ("cancelled", True, False),
}


def kernel_state(name: str, failure_message: str = "") -> KernelState:
    label, finished, succeeded = STATES.get(name, (name.lower().replace("_", " "), False, False))
    return KernelState(name, label, finished, succeeded, failure_message)


def check_outcome(ref: str, state: KernelState) -> None:
    """Raise if a finished run did not succeed."""
    if state.name == "ERROR":
        reason = f": {state.failure_message}" if state.failure_message else ""
        raise RunFailed(f"notebook {ref} failed on Kaggle{reason}", fix=f"read its log: juliapack fetch {ref} ./out")
    if state.finished and not state.succeeded:
        raise KaggleError(f"the run of notebook {ref} was {state.label}", fix="push it again: juliapack push")


# --------------------------------------------------------------------------- the notebook folder


@dataclass(frozen=True)
class KernelFolder:
    ref: str  # owner/slug
    title: str
    text: str  # the notebook (or script) as Kaggle wants it
    language: str
    kernel_type: str
    gpu: bool
    internet: bool
    private: bool  # what the metadata asks for; push decides with --public
    dataset_sources: list[str]
    competition_sources: list[str]
    kernel_sources: list[str]
    model_sources: list[str]
    machine_shape: str | None
    docker_image_pinning_type: str | None


def read_kernel_folder(folder: Path) -> KernelFolder:
    meta_path = folder / METADATA_NAME
    meta = _read_json(meta_path)
    ref = _checked(lambda: as_kernel_ref(meta.get("id"), Source(f"{meta_path} field 'id'")))
    title = meta.get("title") or ""
    if not isinstance(title, str) or len(title.strip()) < 5:
        raise InputError(f"{meta_path}: the title must have at least 5 characters", fix="set 'title', or rewrite the folder with 'juliapack notebook'")
    language, kernel_type = meta.get("language"), meta.get("kernel_type")
    if language != "python" or kernel_type not in ("notebook", "script"):
        raise InputError(
            f"{meta_path}: language '{language}' / kernel_type '{kernel_type}' cannot be pushed",
            fix="use language \"python\" (the notebook runs Julia from Python) and kernel_type \"notebook\"",
        )
    code = folder / str(meta.get("code_file") or "")
    if not meta.get("code_file") or not code.is_file():
        raise InputError(f"{meta_path}: code_file '{meta.get('code_file')}' is not a file in {folder}", fix="rewrite the folder with 'juliapack notebook'")
    return KernelFolder(
        ref=ref,
        title=title.strip(),
        text=_kernel_text(code, kernel_type),
        language=language,
        kernel_type=kernel_type,
        gpu=_flag(meta, "enable_gpu", meta_path),
        internet=_flag(meta, "enable_internet", meta_path),
        private=meta.get("is_private", True) is not False,
        dataset_sources=_refs(meta, "dataset_sources", meta_path),
        competition_sources=_names(meta, "competition_sources", meta_path),
        kernel_sources=_refs(meta, "kernel_sources", meta_path),
        model_sources=_names(meta, "model_sources", meta_path),
        machine_shape=_optional_text(meta, "machine_shape", meta_path),
        docker_image_pinning_type=_pinning(meta, meta_path),
    )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"no {path.name} in {path.parent}", fix="write the notebook folder with 'juliapack notebook'")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError(f"{path} is not valid JSON ({error})", fix="rewrite it with 'juliapack notebook'") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a JSON object", fix="rewrite it with 'juliapack notebook'")
    return data


def _checked(parse: Callable[[], str]) -> str:
    try:
        return parse()
    except ConfigError as error:  # a bad value in a file of the user's: an input error, not a usage one
        raise InputError(error.what, fix=error.fix) from None


def _flag(meta: dict[str, Any], key: str, path: Path) -> bool:
    value = meta.get(key, False)
    if not isinstance(value, bool):
        raise InputError(f"{path}: '{key}' must be true or false", fix="fix the value")
    return value


def _optional_text(meta: dict[str, Any], key: str, path: Path) -> str | None:
    value = meta.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InputError(f"{path}: '{key}' must be a non-empty string", fix="fix the value, or rewrite the folder with 'juliapack notebook'")
    return value


def _pinning(meta: dict[str, Any], path: Path) -> str | None:
    value = _optional_text(meta, "docker_image_pinning_type", path)
    if value is not None and value not in ("original", "latest"):
        raise InputError(f"{path}: docker_image_pinning_type '{value}' is not original or latest", fix="use \"original\" (the image it was first run with) or \"latest\"")
    return value


def _names(meta: dict[str, Any], key: str, path: Path) -> list[str]:
    value = meta.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise InputError(f"{path}: '{key}' must be a list of names", fix="fix the list")
    return value


def _refs(meta: dict[str, Any], key: str, path: Path) -> list[str]:
    names = _names(meta, key, path)
    for name in names:
        if name.count("/") != 1:
            raise InputError(f"{path}: '{key}' has '{name}', not OWNER/SLUG", fix="write each source as owner/slug")
    return names


def _kernel_text(code: Path, kernel_type: str) -> str:
    """The source as Kaggle takes it: a notebook without outputs, each cell's source one string."""
    text = code.read_text(encoding="utf-8")
    if kernel_type != "notebook":
        return text
    try:
        notebook = json.loads(text)
    except ValueError as error:
        raise InputError(f"{code} is not a notebook ({error})", fix="rewrite it with 'juliapack notebook'") from None
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return json.dumps(notebook)


# --------------------------------------------------------------------------- push, status, wait


def push(cfg: PushConfig, *, client: KaggleClient | None = None, reporter: Reporter = NullReporter()) -> SavedKernel:
    """Send a new version of the notebook; Kaggle queues its run. Waiting is `wait_for_run`'s job.

    Only what was rehearsed leaves: the notebook's bytes are the ones the last passing rehearsal ran,
    and every dataset it attaches is the one upload made from this build, READY on Kaggle at the
    version upload recorded.
    """
    kernel = read_kernel_folder(cfg.folder)
    lock = None if cfg.skip_verify else read_lock(cfg.dist)
    if lock is not None:
        require_rehearsed_notebook(lock, notebook_files(cfg.folder), skip=False)
    _warn_about_metadata(kernel, cfg, reporter)
    client = client or KaggleClient.from_environment(reporter=reporter)
    if lock is not None:
        _check_datasets(kernel, lock, client, reporter)
    reporter.step(f"Pushing {kernel.ref} ({'public' if cfg.public else 'private'}, internet off)")
    push = KernelPush(
        ref=kernel.ref,
        title=kernel.title,
        text=kernel.text,
        language=kernel.language,
        kernel_type=kernel.kernel_type,
        private=not cfg.public,
        gpu=kernel.gpu,
        internet=False,
        dataset_sources=tuple(kernel.dataset_sources),
        competition_sources=tuple(kernel.competition_sources),
        kernel_sources=tuple(kernel.kernel_sources),
        model_sources=tuple(kernel.model_sources),
        machine_shape=kernel.machine_shape,
        docker_image_pinning_type=kernel.docker_image_pinning_type,
    )
    return client.kernels.save(push)


def _warn_about_metadata(kernel: KernelFolder, cfg: PushConfig, reporter: Reporter) -> None:
    if kernel.internet:
        reporter.warn(f"{METADATA_NAME} turns the internet on; pushing with it off, as code competitions require")
    if not kernel.private and not cfg.public:
        reporter.warn(f"{METADATA_NAME} asks for a public notebook; pushing it private (pass --public to publish it)")
    if slugify(kernel.title) != kernel.ref.partition("/")[2]:
        reporter.warn(f"the title '{kernel.title}' does not make the slug of {kernel.ref}; Kaggle may name a new notebook after the title")


def _check_datasets(kernel: KernelFolder, lock: Lock, client: KaggleClient, reporter: Reporter) -> None:
    """The datasets juliapack makes are the ones upload made from this build, READY at the version it
    recorded; every other attached dataset is READY."""
    problems = contradictions(lock, _made_by_juliapack(lock, kernel))
    if problems:
        raise InputError(f"the notebook and the uploaded datasets disagree: {problems[0]}", fix=SYNC_FIX)
    reporter.step(f"Checking the {len(kernel.dataset_sources)} datasets the notebook attaches on Kaggle")
    recorded = {record.ref: record for record in lock.uploads.values()}
    for ref in kernel.dataset_sources:
        owner, _, slug = ref.partition("/")
        if client.datasets.until_processed(owner, slug, timeout=READY_TIMEOUT, reporter=reporter) != "READY":
            raise KaggleError(f"Kaggle failed to process dataset {ref}", fix="run juliapack upload again; it uploads a new version")
        if ref in recorded and (version := client.datasets.summary(owner, slug).version) != recorded[ref].version:
            raise KaggleError(f"dataset {ref} is at version {version} on Kaggle, but upload recorded version {recorded[ref].version}", fix=SYNC_FIX)


def _made_by_juliapack(lock: Lock, kernel: KernelFolder) -> dict[str, str]:
    """role -> ref of the attached datasets upload makes: every layer, and the model when it is a local file."""
    record = lock.notebook
    if record is None:
        return {role: ref for role, ref in ((r.role, r.ref) for r in lock.uploads.values()) if ref in kernel.dataset_sources}
    return {role: ref for role, ref in record.datasets.items() if role != "model" or record.model_source}


SYNC_FIX = "run juliapack upload, then juliapack notebook and juliapack verify, and push again"
READY_TIMEOUT = 3600.0


def chosen_kernel(kernel: str | None, folder: Path) -> str:
    """The kernel a command is about: the one named, else the one in the notebook folder's metadata."""
    if kernel:
        return kernel
    if not (folder / METADATA_NAME).is_file():
        raise ConfigError(
            f"no notebook named, and no {METADATA_NAME} in {folder}",
            fix="name it as OWNER/SLUG, or run the command where 'juliapack notebook' wrote notebook/",
        )
    return read_kernel_folder(folder).ref


def status(ref: str, *, client: KaggleClient | None = None) -> KernelState:
    client = client or KaggleClient.from_environment()
    owner, _, slug = ref.partition("/")
    answer = client.kernels.status(owner, slug)
    return kernel_state(answer.state, answer.failure_message)


def wait_for_run(
    ref: str,
    *,
    timeout: float,
    client: KaggleClient | None = None,
    reporter: Reporter = NullReporter(),
    sleep: Callable[[float], None] = time.sleep,
) -> KernelState:
    """Poll the run's state with backoff until it finishes; KaggleError after ``timeout`` seconds."""
    client = client or KaggleClient.from_environment(sleep=sleep, reporter=reporter)
    waited, delay, shown = 0.0, FIRST_POLL, ""
    while True:
        state = status(ref, client=client)
        if state.finished:
            return state  # the caller says how it ended
        if state.name != shown:
            reporter.info(f"{ref}: {state.label}")
            shown = state.name
        if waited >= timeout:
            raise KaggleError(
                f"notebook {ref} is still {state.label} after {waited / 60:.0f} min",
                fix=f"check again later: juliapack status {ref}",
            )
        sleep(delay)
        waited, delay = waited + delay, min(delay * 2, MAX_POLL)


# --------------------------------------------------------------------------- fetch


@dataclass(frozen=True)
class FetchResult:
    kernel: str
    state: KernelState
    files: tuple[Path, ...]
    log: Path | None
    bytes_received: int


def fetch(cfg: FetchConfig, *, client: KaggleClient | None = None, reporter: Reporter = NullReporter()) -> FetchResult:
    """Download the output files and the log of the notebook's latest run into ``cfg.out``."""
    client = client or KaggleClient.from_environment(reporter=reporter)
    ref = chosen_kernel(cfg.kernel, cfg.folder)
    owner, _, slug = ref.partition("/")
    state = status(ref, client=client)
    if not state.finished and not cfg.force:
        raise KaggleError(
            f"notebook {ref} has not finished (it is {state.label})",
            fix="wait for it (juliapack status), or pass --force to fetch what is there now",
        )
    output = client.kernels.output(owner, slug)
    reporter.step(f"Fetching {len(output.files)} output files of {ref} into {cfg.out}")
    cfg.out.mkdir(parents=True, exist_ok=True)
    files, total = [], 0
    for item in output.files:
        if not _safe_name(item.name):
            reporter.warn(f"skipping output file with an unsafe name: {item.name!r}")
            continue
        target = cfg.out / item.name
        with reporter.progress(item.name, total=None) as bar:
            total += client.kernels.download(item.url, target, on_bytes=bar.advance)
        files.append(target)
    log = None
    if output.log:
        log = cfg.out / f"{slug}.log"
        write_text_atomic(log, output.log)
    return FetchResult(ref, state, tuple(files), log, total)


def _safe_name(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not posixpath.isabs(name) and "\\" not in name and all(part not in ("", ".", "..") for part in parts)
