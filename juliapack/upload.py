"""`juliapack upload`: the packed layers (and the model) to private Kaggle datasets, only what changed.

Only a build whose offline rehearsal passed is sent (`workflow.gate`, --skip-verify to override). For
each dataset `workflow.names` names (the ones the notebook mounts), Kaggle may already hold exactly
this content: its description names the content hash (or the lock's upload record does), and the
current version's file list agrees. Then nothing is sent. Otherwise every file is uploaded first, and only when all of
them made it is the dataset created or versioned; then upload waits until Kaggle has processed the
version and checks its file list against what was sent. The lock records each dataset with the
version number Kaggle gave it: push checks the notebook attaches exactly these.

Before a byte of a file leaves the machine, the files that will be sent are checked against the lock
(sha256) and searched for credentials packed by mistake; names Kaggle would unpack and more than 50
files per dataset are refused while planning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from juliapack import __version__, secret_scan
from juliapack.config import UploadConfig
from juliapack.errors import ConfigError, InputError, KaggleError
from juliapack.kaggle_api import TITLE_IN_USE_FIX, KaggleClient, NotFound
from juliapack.mutex import held, mutex_file
from juliapack.workflow.gate import require_rehearsed
from juliapack.workflow.lock import Lock, check_dist, layer_problem, read_lock, update_lock
from juliapack.workflow.names import DatasetPlan, decide_owner, model_file, plan_datasets, with_recorded_names
from juliapack.workflow.records import UploadedDataset
from juliapack.workflow.uploads import content_in, describe
from juliapack.project import project_name
from juliapack.report import NullReporter, Reporter, human_size

READY_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Waiter:
    """Waits for Kaggle to process a dataset's latest version."""

    client: KaggleClient
    timeout: float
    reporter: Reporter

    def until_processed(self, plan: DatasetPlan, status: str | None) -> str:
        return self.client.datasets.until_processed(plan.owner, plan.slug, status=status, timeout=self.timeout, reporter=self.reporter)


@dataclass(frozen=True)
class DatasetOutcome:
    plan: DatasetPlan
    action: str  # "created", "versioned" or "unchanged"
    version: int | None
    url: str
    bytes_sent: int


@dataclass(frozen=True)
class UploadResult:
    datasets: tuple[DatasetOutcome, ...]

    @property
    def bytes_sent(self) -> int:
        return sum(outcome.bytes_sent for outcome in self.datasets)

    @property
    def full_bytes(self) -> int:
        """What uploading every dataset from scratch would send."""
        return sum(outcome.plan.size for outcome in self.datasets)


def upload(
    cfg: UploadConfig,
    *,
    client: KaggleClient | None = None,
    reporter: Reporter = NullReporter(),
    sleep: Callable[[float], None] = time.sleep,
    ready_timeout: float = READY_TIMEOUT,
) -> UploadResult:
    lock = read_lock(cfg.dist, project=project_name(cfg.project))
    require_rehearsed(lock, skip=cfg.skip_verify, command="upload")
    check_dist(cfg.dist, lock, hashed=False)  # hashed below, for the files that will be sent
    model = _model(cfg, lock)
    client = client or KaggleClient.from_environment(sleep=sleep, reporter=reporter)
    plans = _plans(cfg, lock, model, owner=decide_owner(cfg.naming.identity.owner, lock, signed_in=None) or client.username)
    _warn_if_the_notebook_mounts_others(lock, plans, reporter)
    sources = {(plan.role, file.name): (model if plan.role == "model" else cfg.dist / file.name) for plan in plans for file in plan.files}
    waiter = Waiter(client, ready_timeout, reporter)
    with held(mutex_file(cfg.cache_dir, "upload", str(cfg.dist)), what=f"the upload of {cfg.dist}", reporter=reporter):
        reporter.step(f"Comparing {len(plans)} datasets with Kaggle")
        actions = {plan.role: _action(client, plan, lock.uploads.get(plan.role), waiter, reporter) for plan in plans}
        changed = [plan for plan in plans if actions[plan.role] != "unchanged"]
        creates = [plan for plan in changed if actions[plan.role] == "create"]
        _check_own(creates, client.username)
        _check_titles(creates, client)
        _check_before_sending(changed, sources, lock)
        outcomes = tuple(_upload_one(client, plan, actions[plan.role], sources, cfg, lock, waiter, reporter) for plan in plans)
    return UploadResult(outcomes)


def _model(cfg: UploadConfig, lock: Lock) -> Path | None:
    """The local model file to upload: the settings', else the one the notebook was written with."""
    model = cfg.naming.model
    if model is not None:
        return model.path  # None for a model already on Kaggle: nothing to upload
    if cfg.naming.model_dataset:
        raise ConfigError("a model dataset is named but no model file is given", fix="pass the model file with --model")
    recorded = lock.notebook.model_source if lock.notebook else None
    if recorded and not Path(recorded).is_file():
        raise InputError(f"the notebook was written with the model {recorded}, which is gone", fix="pass the model file with --model")
    return Path(recorded) if recorded else None


def _plans(cfg: UploadConfig, lock: Lock, model: Path | None, *, owner: str) -> tuple[DatasetPlan, ...]:
    naming = cfg.naming
    plans = plan_datasets(
        lock, owner=owner, identity=naming.identity, overrides=naming.datasets,
        model=model_file(model) if model else None, model_dataset=naming.model_dataset,
    )  # fmt: skip
    return plans if naming.explicit else with_recorded_names(plans, lock)


def _warn_if_the_notebook_mounts_others(lock: Lock, plans: tuple[DatasetPlan, ...], reporter: Reporter) -> None:
    mounted = lock.notebook.datasets if lock.notebook else {}
    for plan in plans:
        if plan.role in mounted and mounted[plan.role] != plan.ref:
            reporter.warn(f"the notebook mounts {mounted[plan.role]}, not {plan.ref}: write it again after this upload (juliapack notebook)")


def _upload_one(client, plan: DatasetPlan, action: str, sources, cfg: UploadConfig, lock: Lock, waiter, reporter: Reporter) -> DatasetOutcome:  # noqa: PLR0913
    """Send one dataset (one at a time per dataset, whichever dist/ it comes from) and record what Kaggle holds."""
    with held(mutex_file(cfg.cache_dir, "dataset", plan.ref), what=f"the dataset {plan.ref}", reporter=reporter) as waited:
        if waited and action != "unchanged":  # an upload from another dist/ may have just sent this content
            action = _action(client, plan, lock.uploads.get(plan.role), waiter, reporter)
        if action == "unchanged":
            outcome = _unchanged(client, plan, reporter)
        else:
            outcome = _send(client, plan, action, sources, cfg, lock, waiter, reporter)
    record = UploadedDataset(plan.role, plan.ref, plan.content, outcome.version, outcome.url, plan.files)
    update_lock(cfg.dist, lambda current: replace(current, uploads={**current.uploads, plan.role: record}), cache_dir=cfg.cache_dir)
    return outcome


# --------------------------------------------------------------------------- local checks


def _check_own(plans: list[DatasetPlan], username: str) -> None:
    """Kaggle creates datasets only in the signed-in user's name: say so before uploading anything."""
    for plan in plans:
        if plan.owner.lower() != username.lower():
            raise ConfigError(
                f"cannot create dataset {plan.ref}: you are signed in to Kaggle as {username}",
                fix=f"create it under your own name: --dataset {username}/SLUG (or owner = \"{username}\" in juliapack.toml)",
            )


def _check_titles(plans: list[DatasetPlan], client: KaggleClient) -> None:
    """Kaggle refuses a new dataset whose title another of the user's datasets has, after its files are sent."""
    in_use = client.datasets.titles(client.username) if plans else {}
    for plan in plans:
        holder = in_use.get(plan.title.lower())
        if holder and holder != plan.ref:
            raise ConfigError(
                f"cannot create dataset {plan.ref}: its title '{plan.title}' is already that of your dataset {holder} (Kaggle wants titles distinct)",
                fix=TITLE_IN_USE_FIX,
            )


def _check_before_sending(plans: list[DatasetPlan], sources: dict[tuple[str, str], Path], lock: Lock) -> None:
    """The files are what the lock says, and hold nothing that looks like a credential, judged by the
    rule the build applied (`secret_scan`), with the files the build allowed (recorded in the lock)."""
    layers = {layer.file: layer for layer in lock.layers}
    findings: list[secret_scan.Finding] = []
    for plan in plans:
        for file in plan.files:
            path = sources[(plan.role, file.name)]
            if plan.role == "model":  # hashed a moment ago, and not a tarball
                reason = secret_scan.name_reason(file.name, kind=secret_scan.OWN)
                findings += [secret_scan.Finding(file.name, reason, role="model")] if reason else []
                continue
            problem = layer_problem(path.parent, layers[file.name])
            if problem:
                raise InputError(problem, fix="rebuild with 'juliapack build'")
            findings += secret_scan.scan_tarball(path, role=plan.role)
    allowed = secret_scan.Allowlist(lock.allowed_secrets)
    secret_scan.raise_if_found(allowed.filter(findings), where="what would be uploaded", allow=secret_scan.ALLOW_OPTION)


# --------------------------------------------------------------------------- deciding


def _action(client: KaggleClient, plan: DatasetPlan, record: UploadedDataset | None, waiter: Waiter, reporter: Reporter) -> str:
    """create, version or unchanged."""
    status = client.datasets.status(plan.owner, plan.slug)
    if status is None:
        return "create"
    claimed = content_in(client.datasets.description(plan.owner, plan.slug))
    if claimed != plan.content and not (record and record.holds(plan)):
        return "version"
    if status != "READY":
        status = waiter.until_processed(plan, status)
    if status == "READY" and not _differences(client, plan):
        return "unchanged"
    reporter.warn(f"{plan.ref} should hold this content but its current version does not; uploading a new version")
    return "version"


def _differences(client: KaggleClient, plan: DatasetPlan) -> list[str]:
    """How the dataset's current files differ from the plan's, by name and size (empty if they match)."""
    remote = {file.name: file.size for file in client.datasets.files(plan.owner, plan.slug)}
    wanted = {file.name: file.size for file in plan.files}
    problems = [f"{name} is missing" for name in sorted(wanted.keys() - remote.keys())]
    problems += [f"{name} is extra" for name in sorted(remote.keys() - wanted.keys())]
    problems += [
        f"{name} has {remote[name]} bytes, not {size}" for name, size in sorted(wanted.items()) if name in remote and remote[name] != size
    ]
    return problems


# --------------------------------------------------------------------------- sending


def _unchanged(client: KaggleClient, plan: DatasetPlan, reporter: Reporter) -> DatasetOutcome:
    summary = client.datasets.summary(plan.owner, plan.slug)
    reporter.info(f"{plan.ref}: unchanged (version {summary.version}), nothing sent")
    return DatasetOutcome(plan, "unchanged", summary.version, summary.url, 0)


def _send(
    client: KaggleClient,
    plan: DatasetPlan,
    action: str,
    sources: dict[tuple[str, str], Path],
    cfg: UploadConfig,
    lock: Lock,
    waiter: Waiter,
    reporter: Reporter,
) -> DatasetOutcome:
    reporter.step(f"{'Creating' if action == 'create' else 'Versioning'} {plan.ref} ({human_size(plan.size)})")
    description = describe(plan, project=lock.project_name, version=__version__)
    sent = 0
    with client.datasets.blob_uploads() as uploads:
        tokens = []
        for file in plan.files:
            with reporter.progress(file.name, total=file.size) as bar:
                blob = uploads.send(sources[(plan.role, file.name)], on_bytes=bar.advance)
            if blob.from_earlier_run:
                reporter.info(f"{file.name}: uploaded by an earlier run, not sent again")
            tokens.append(blob.token)
            sent += blob.bytes_sent
        # Every file is uploaded; only now may the version exist. A retried create checks first whether
        # the lost try got through, so a retry never makes a second version.
        already_done = lambda: _holds_content(client, plan)  # noqa: E731
        if action == "create":
            client.datasets.create(
                plan.owner, plan.slug, title=plan.title, description=description, tokens=tokens, private=not cfg.public, already_done=already_done
            )
        else:
            client.datasets.create_version(plan.owner, plan.slug, notes=cfg.message, description=description, tokens=tokens, already_done=already_done)
    if waiter.until_processed(plan, None) == "FAILED":
        raise KaggleError(f"Kaggle failed to process the new version of {plan.ref}", fix="run juliapack upload again; it uploads a new version")
    problems = _differences(client, plan)
    if problems:
        raise KaggleError(
            f"the new version of {plan.ref} does not hold what was sent: {'; '.join(problems)}",
            fix="run juliapack upload again; it uploads a new version",
        )
    summary = client.datasets.summary(plan.owner, plan.slug)
    done = "created" if action == "create" else "versioned"
    reporter.info(f"{plan.ref}: {done}, version {summary.version}, {human_size(sent)} sent")
    return DatasetOutcome(plan, done, summary.version, summary.url, sent)


def _holds_content(client: KaggleClient, plan: DatasetPlan) -> bool:
    try:
        return content_in(client.datasets.description(plan.owner, plan.slug)) == plan.content
    except NotFound:
        return False
