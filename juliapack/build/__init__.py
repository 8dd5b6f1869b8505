"""`juliapack build`: the project, built inside the Kaggle image, packed as three layers in dist/.

The order of a build: read the project and decide every input (Julia release, image, fingerprint);
stop if dist/ already holds that build; make the plan (`build.plan`, pure); start exactly the
container it names and run exactly its steps; pack (`build.pack`). The work folder and the no-op
check are `build.work`'s, the pruning rules `build.depot`'s, the layers' compression `build.julia_layer`'s.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from juliapack import container, julia_dist, secret_scan
from juliapack.project import AppFiles, JuliaProject, app_files, check_manifest_julia, compat_warnings, entry_point, read_project, staged_from_outside, staged_manifest_name
from juliapack.serve import staged_bridge
from juliapack.workflow.lock import APP_DEPOT
from juliapack.build.julia_layer import ImageFacts, choose_codec, image_facts, julia_layer_for
from juliapack.build.preferences import pin_cuda
from juliapack.build.pack import BuildFacts, pack
from juliapack.build.plan import BuildPlan, PlanInputs, StepKind, mounted_within, plan_build
from juliapack.caches import CacheCheck, cache_check_failure, in_use_under, remove_stale_caches
from juliapack.env_report import EnvReport, check_bundled_depots, check_manifest, empty_selections
from juliapack.build.work import (
    WorkDirs, depot_key, fingerprint, host_paths, mount_points_removed, prepare_work, stage_app, stamps_file, up_to_date, work_dirs_for,
)  # fmt: skip
from juliapack.config import BuildConfig
from juliapack.errors import BuildFailed, ProjectError
from juliapack.mutex import held, mutex_file
from juliapack.fsutil import sha256_file, write_json_atomic
from juliapack.julia_call import entry_mode
from juliapack.julia_version import JuliaVersion
from juliapack.report import NullReporter, Reporter
from juliapack.resources import templates_root
from juliapack.workflow.lock import Lock


@dataclass
class BuildResult:
    lock: Lock
    dist: Path
    noop: bool = False
    seconds: float = 0.0
    pruned: dict[str, int] = field(default_factory=dict)
    steps: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class _Read:
    """The project as read before Docker is asked anything."""

    project: JuliaProject
    entry: str
    app: AppFiles
    allow: secret_scan.Allowlist
    julia: JuliaVersion  # the version (or series) asked for
    entry_mode: str  # package or script: how the notebook starts the app


@dataclass(frozen=True)
class _Inputs:
    """Everything read and decided before anything is built."""

    project: JuliaProject
    entry: str
    app: AppFiles
    image: container.ImageInfo
    release: julia_dist.JuliaRelease
    cpu_target: str
    fingerprint: str
    allow: secret_scan.Allowlist
    entry_mode: str


def build(cfg: BuildConfig, *, reporter: Reporter = NullReporter(), docker_client=None, http_client=None, force: bool = False) -> BuildResult:
    started = time.monotonic()
    with _http(http_client) as http:
        read = _read_project(cfg, reporter)
        reporter.step(f"Image {cfg.image}")  # local checks first: Docker before the network
        client = container.connect(docker_client)
        image = container.ensure_image(client, cfg.image, pull=cfg.pull, reporter=reporter)
        reporter.info(f"image id {image.id[:19]}" + (f", digest {image.digest}" if image.digest else ""))
        inputs = _decide(cfg, read, image, http, reporter)
        with held(mutex_file(cfg.cache_dir, "dist", str(cfg.out)), what=str(cfg.out), reporter=reporter):
            current = None if force or cfg.fresh else up_to_date(cfg.out, inputs.fingerprint, stamps=stamps_file(cfg))
            if current is not None:
                reporter.step("Nothing to do: dist/ already holds this build (same inputs, files verified)")
                return BuildResult(current, cfg.out, noop=True, seconds=time.monotonic() - started)
            julia = julia_dist.JuliaDist(inputs.release, _download(inputs.release, cfg, http, reporter))
            result = _build_in_work(cfg, inputs, julia, client, reporter)
    result.seconds = time.monotonic() - started
    return result


def _read_project(cfg: BuildConfig, reporter: Reporter) -> _Read:
    reporter.step(f"Reading the project {cfg.project}")
    project = read_project(cfg.project, julia_version=cfg.julia)
    julia = _julia_spec(cfg, project)
    check_manifest_julia(project, julia)
    for warning in compat_warnings(project, julia):
        reporter.warn(warning)
    entry = entry_point(project, cfg.entry)
    out_inside = _relative_inside(cfg.out, project.root)
    allow = secret_scan.Allowlist(dict(cfg.allow_secrets))  # the depot is checked against it too, at packing
    app = app_files(project, exclude=cfg.exclude, also_ignore=(f"/{out_inside}/",) if out_inside else (), allow=allow)
    reporter.info(f"{project.name}: {len(project.packages)} packages in the Manifest, {len(app.files)} app files, entry {entry}")
    mode = entry_mode(is_package=project.is_package, explicit_entry=cfg.entry is not None, source=project.root / "src" / f"{project.name}.jl")
    return _Read(project, entry, app, allow, julia, mode)


def _julia_spec(cfg: BuildConfig, project: JuliaProject) -> JuliaVersion:
    spec = cfg.julia or project.manifest_julia_version
    if spec is None:
        raise ProjectError(
            f"{project.manifest_file.name} does not record a Julia version (format 1, Julia <= 1.6)",
            fix="pass --julia X.Y[.Z] or set julia = \"X.Y\" in juliapack.toml",
        )
    return spec


def _decide(cfg: BuildConfig, read: _Read, image: container.ImageInfo, http, reporter: Reporter) -> _Inputs:
    release = julia_dist.resolve_release(
        read.julia, cache_dir=cfg.cache_dir, client=http, versions_url=cfg.versions_url, mirror=cfg.julia_mirror, reporter=reporter
    )
    cpu_target = cfg.cpu_target or release.version.official_cpu_target()
    staged = {relpath: read.project.root / relpath for relpath in read.app.files} | _staged_extra(read.project)
    app_hashes = {relpath: _file_identity(path) for relpath, path in staged.items()}
    app_hashes |= {relpath: f"-> {link}" for relpath, link in read.app.links.items()}
    inputs_print = fingerprint(cfg, app_files=app_hashes, julia_sha256=release.sha256, image_id=image.id, cpu_target=cpu_target)
    return _Inputs(read.project, read.entry, read.app, image, release, cpu_target, inputs_print, read.allow, read.entry_mode)


def _staged_extra(project: JuliaProject) -> dict[str, Path]:
    """What the app layer carries beyond the project's files: a workspace member's Manifest, the bridge."""
    return staged_from_outside(project) | staged_bridge(project)


def _download(release: julia_dist.JuliaRelease, cfg: BuildConfig, http, reporter: Reporter) -> Path:
    return julia_dist.download_release(release, cache_dir=cfg.cache_dir, client=http, reporter=reporter)


def _build_in_work(cfg: BuildConfig, inputs: _Inputs, julia: julia_dist.JuliaDist, client, reporter: Reporter) -> BuildResult:
    work = work_dirs_for(cfg, inputs.project)
    with held(work.root.with_suffix(".mutex"), what=f"the work folder of {inputs.project.name}", reporter=reporter):
        state = prepare_work(work, key=depot_key(julia.release.sha256, inputs.image.id, inputs.cpu_target), fresh=cfg.fresh, reporter=reporter)
        facts = image_facts(client, inputs.image, cache_dir=cfg.cache_dir, reporter=reporter)
        staged = stage_app(
            inputs.project, inputs.app.files, work, epoch=cfg.source_date_epoch, extra=_staged_extra(inputs.project), links=inputs.app.links
        )
        pin_cuda(inputs.project, staged, accelerator=cfg.accelerator, image=facts, cuda_local=cfg.cuda_local, epoch=cfg.source_date_epoch, reporter=reporter)
        for report in (work.report, work.cache_report):
            report.unlink(missing_ok=True)
        plan = _plan(cfg, inputs, julia, facts, work, state, reporter)
        with mount_points_removed(_mount_points(plan, cfg, work, inputs.project.name)):
            timings = _run(plan, client, cfg, work, state, reporter, project_dir=str(inputs.project.root))
        plan = _check_environment(plan, work, inputs.project, reporter)
        _check_and_prune_caches(plan, work, inputs.project.name, julia.version.compiled_dir(), reporter)
        built = BuildFacts(inputs.fingerprint, inputs.project, inputs.entry, julia, inputs.image, inputs.cpu_target, inputs.allow, inputs.entry_mode)
        lock, pruned = pack(cfg, plan, built, work, reporter=reporter)
    return BuildResult(lock, cfg.out, pruned=pruned, steps=timings)


def _plan(cfg: BuildConfig, inputs: _Inputs, julia, facts: ImageFacts, work: WorkDirs, state: dict, reporter: Reporter) -> BuildPlan:  # noqa: PLR0913
    codec, decompressor = choose_codec(cfg.codec, facts.decompressors)
    plan_inputs = PlanInputs(
        project=inputs.project,
        julia=julia,
        julia_layer=julia_layer_for(julia, codec=codec, decompressor=decompressor, reporter=reporter),
        codec=codec,
        decompressor=decompressor,
        cpu_target=inputs.cpu_target,
        registries_to_add=tuple(url for url in cfg.registries if url not in state["registries"]),
        host_user=container.host_user(),
        image_cuda=facts.cuda,
        entry_mode=inputs.entry_mode,
    )
    return plan_build(cfg, plan_inputs, work=work, templates=templates_root())


def _mount_points(plan: BuildPlan, cfg: BuildConfig, work: WorkDirs, name: str) -> list[Path]:
    """Where the user's mounts inside the depot and the app folder land in the work folder."""
    places = {plan.layout.depot: work.depot, plan.layout.app_dir: work.app_parent / name}
    return host_paths(mounted_within(cfg.mounts, tuple(places)), places)


def _run(plan: BuildPlan, client, cfg: BuildConfig, work: WorkDirs, state: dict, reporter: Reporter, *, project_dir: str) -> list[tuple[str, float]]:  # noqa: PLR0913
    """Start the container the plan names and run its steps in order; returns each step's time."""
    timings: list[tuple[str, float]] = []
    with container.running(client, plan.container(project=project_dir), keep=cfg.keep_container, reporter=reporter) as box:
        for step in plan.steps:
            reporter.step(step.title)
            began = time.monotonic()
            try:
                box.run(step.script, what=step.title, env={**dict(plan.env), **dict(step.env)}, fix=step.fix)
            except BuildFailed as error:
                raise _with_pkg_message(error) from None
            timings.append((step.title, time.monotonic() - began))
            if step.kind is StepKind.ADD_REGISTRY:
                state["registries"].append(step.registry)
                write_json_atomic(work.state, state)
    write_json_atomic(work.state, state)
    return timings


def _check_environment(plan: BuildPlan, work: WorkDirs, project: JuliaProject, reporter: Reporter) -> BuildPlan:
    """What artifacts.jl saw is what juliapack packs: the Manifest it checked, every depot bundled with
    this Julia (read from it, they end the notebook's JULIA_DEPOT_PATH)."""
    report = EnvReport.read(work.report)
    check_manifest(report, expected=staged_manifest_name(project))
    check_bundled_depots(report, plan.layout.depot_path)
    for warning in empty_selections(report):
        reporter.warn(warning)
    if not report.bundled_depots:
        return plan
    return replace(plan, layout=replace(plan.layout, depot_path=(*plan.layout.depot_path[:2], *report.bundled_depots)))


def _check_and_prune_caches(plan: BuildPlan, work: WorkDirs, name: str, compiled: str, reporter: Reporter) -> None:
    """Refuse caches Kaggle would compile again (1.10+); keep only the cache file each package loads."""
    check = CacheCheck.parse(work.cache_report.read_text(encoding="utf-8")) if work.cache_report.is_file() else None
    if check is None:
        raise BuildFailed("the cache check left no report", fix="build again with --fresh; if it persists, report it with the --debug output")
    failure = cache_check_failure(check)
    if failure is not None:
        raise failure
    if check.skipped:
        reporter.info(f"cache check: {check.skipped}")
    for folder, inside in ((work.depot, plan.layout.depot), (work.app_parent / name / APP_DEPOT, f"{plan.layout.app_dir}/{APP_DEPOT}")):
        in_use = None if check.skipped else in_use_under(check, f"{inside}/compiled/{compiled}")
        removed = remove_stale_caches(folder / "compiled" / compiled, in_use=in_use)
        if removed:
            reporter.info(f"removed {len(removed)} stale cache files no Julia would load ({removed[0]}, ...)")


# CSI sequences (colours, cursor moves) and OSC ones (titles, links): Pkg colours its own ERROR: label.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def _with_pkg_message(error: BuildFailed) -> BuildFailed:
    """Lift Julia's own `ERROR: ...` line into the one-line message."""
    lines = _ANSI_ESCAPE.sub("", error.details).splitlines()
    message = next((line.strip() for line in lines if line.lstrip().startswith("ERROR:")), None)
    if message is None:
        return error
    return BuildFailed(f"{error.what}: {message}", fix=error.fix, details=error.details)


def _file_identity(path: Path) -> str:
    """What of an app file reaches the archive: its bytes and whether it is executable."""
    return sha256_file(path) + ("+x" if os.stat(path).st_mode & 0o111 else "")


def _relative_inside(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


@contextmanager
def _http(client) -> Iterator:
    if client is not None:
        yield client
        return
    own = _ClientOnDemand()
    try:
        yield own
    finally:
        own.close()


class _ClientOnDemand:
    """The production HTTP client, made on the first request.

    A no-op rebuild answers from the caches and needs none, and making one (its TLS context) costs
    a tenth of a second, a sixth of such a rebuild.
    """

    def __init__(self) -> None:
        self._client = None

    def _real(self):
        if self._client is None:
            self._client = julia_dist.new_client()
        return self._client

    def get(self, *args, **kwargs):
        return self._real().get(*args, **kwargs)

    def stream(self, *args, **kwargs):
        return self._real().stream(*args, **kwargs)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
