"""The build's output: the three layers and the lock, written into dist/ all or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from juliapack import __version__, archive, secret_scan
from juliapack.project import JuliaProject
from juliapack.build.depot import DepotReport, app_filter, compiled_caches, depot_filter, refuse_secrets_in_depot
from juliapack.build.plan import APP_PARENT, DEPOT, DEPOT_PARENT, BuildPlan
from juliapack.build.work import WorkDirs, commit, copy_file, staging, stamps_file, write_stamps
from juliapack.config import BuildConfig
from juliapack.container import ImageInfo
from juliapack.julia_dist import JuliaDist
from juliapack.report import Reporter
from juliapack.workflow.lock import LayerFile, Lock, write_lock


@dataclass(frozen=True)
class BuildFacts:
    """What the lock records besides the layers."""

    fingerprint: str
    project: JuliaProject
    entry: str
    julia: JuliaDist
    image: ImageInfo
    cpu_target: str
    allow: secret_scan.Allowlist  # the files the user allowed to ship; the app's already checked against it


def pack(cfg: BuildConfig, plan: BuildPlan, facts: BuildFacts, work: WorkDirs, *, reporter: Reporter) -> tuple[Lock, dict[str, int]]:
    """Write the three layers and the lock into dist/; returns the lock and what was pruned (reason -> bytes)."""
    compiled = facts.julia.version.compiled_dir()
    project = facts.project
    with staging(cfg.out) as stage:
        reporter.step("Packing")
        copy_file(plan.julia_layer.path, stage / cfg.names.julia)
        depot_written, depot_collected = archive.pack_tree(
            work.depot,
            stage / cfg.names.depot,
            codec=plan.codec,
            mtime=cfg.source_date_epoch,
            prefix=PurePosixPath(DEPOT).name,
            drop=depot_filter(DepotReport.read(work.report), compiled=compiled, project_name=project.name, keep_registries=cfg.keep_registries),
            reporter=reporter,
        )
        refuse_secrets_in_depot(depot_collected, allow=facts.allow)
        app_written, _ = archive.pack_tree(
            work.app_parent / project.name,
            stage / cfg.names.app,
            codec=plan.codec,
            mtime=cfg.source_date_epoch,
            prefix=project.name,
            drop=app_filter(compiled=compiled),
            reporter=reporter,
        )
        layers = _layer_files(cfg, plan, depot_written, app_written)
        lock = _lock(plan, facts, layers, compiled=compiled_caches(work, project.name, compiled), allowed=facts.allow.used)
        for unused in facts.allow.unused():
            reporter.warn(f"allow_secrets entry '{unused}' allowed nothing: remove it, so it cannot allow a later file unseen")
        commit(stage, cfg.out, [layer.file for layer in layers])
        write_lock(cfg.out, lock)
        write_stamps(stamps_file(cfg), cfg.out, layers)
    return lock, dict(sorted(depot_collected.dropped.items()))


def _layer_files(cfg: BuildConfig, plan: BuildPlan, depot: archive.Written, app: archive.Written) -> tuple[LayerFile, ...]:
    julia, codec, decompressor = plan.julia_layer, plan.codec, plan.decompressor
    return (
        LayerFile("julia", cfg.names.julia, julia.sha256, julia.size, julia.codec, julia.decompressor, plan.layout.julia_prefix, strip_components=1),
        LayerFile("depot", cfg.names.depot, depot.sha256, depot.size, codec, decompressor, DEPOT_PARENT),
        LayerFile("app", cfg.names.app, app.sha256, app.size, codec, decompressor, APP_PARENT),
    )


def _lock(plan: BuildPlan, facts: BuildFacts, layers: tuple[LayerFile, ...], *, compiled: dict[str, str], allowed: dict[str, str]) -> Lock:
    release = facts.julia.release
    return Lock(
        fingerprint=facts.fingerprint,
        project_name=facts.project.name,
        project_dir=str(facts.project.root),
        entry=facts.entry,
        julia_version=release.version,
        julia_sha256=release.sha256,
        julia_url=release.published_url or release.url,
        cpu_target=facts.cpu_target,
        image=facts.image.name,
        image_id=facts.image.id,
        image_digest=facts.image.digest,
        codec=plan.codec,
        image_cuda=plan.image_cuda,
        layers=layers,
        layout=plan.layout,
        compiled=compiled,
        allowed_secrets=dict(sorted(allowed.items())),
        juliapack_version=__version__,
    )
