"""The build's output: the four layers and the lock, written into dist/ all or nothing."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import Iterator

from juliapack import __version__, archive, secret_scan
from juliapack.project import JuliaProject
from juliapack.serve import bridge_dir
from juliapack.build.depot import IN_COMPILED_LAYER, DepotReport, app_filter, compiled_caches, depot_filter, refuse_secrets_in_depot, split_compiled
from juliapack.build.plan import APP_PARENT, DEPOT, DEPOT_PARENT, BuildPlan
from juliapack.build.julia_layer import copy_layer
from juliapack.build.work import WorkDirs, commit, forget_depot, staging, stamps_file, write_stamps
from juliapack.config import BuildConfig
from juliapack.container import ImageInfo
from juliapack.errors import InputError
from juliapack.julia_dist import JuliaDist
from juliapack.report import Reporter
from juliapack.workflow.lock import LayerFile, Lock, write_lock

DEPOT_NAME = PurePosixPath(DEPOT).name  # .julia: the depot's folder in its layers


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
    entry_mode: str


def pack(cfg: BuildConfig, plan: BuildPlan, facts: BuildFacts, work: WorkDirs, *, reporter: Reporter) -> tuple[Lock, dict[str, int]]:
    """Write the four layers and the lock into dist/; returns the lock and what was pruned (reason -> bytes)."""
    compiled = facts.julia.version.compiled_dir()
    project = facts.project
    depot_drop = depot_filter(DepotReport.read(work.report), compiled=compiled, project_name=project.name, keep_registries=cfg.keep_registries)
    without_compiled, only_compiled = split_compiled(depot_drop)
    (work.depot / "compiled").mkdir(exist_ok=True)
    with staging(cfg.out) as stage:
        reporter.step("Packing")
        copy_layer(plan.julia_layer, stage / cfg.names.julia)
        pack_tree = partial(archive.pack_tree, codec=plan.codec, mtime=cfg.source_date_epoch, reporter=reporter)
        with _forgotten_if_refused(work):
            depot_written, depot_collected = pack_tree(work.depot, stage / cfg.names.depot, prefix=DEPOT_NAME, drop=without_compiled)
            compiled_written, compiled_collected = pack_tree(
                work.depot / "compiled", stage / cfg.names.compiled, prefix=f"{DEPOT_NAME}/compiled", drop=only_compiled
            )
            refuse_secrets_in_depot(_entries(depot_collected, compiled_collected), allow=facts.allow)
        app_written, _ = pack_tree(work.app_parent / project.name, stage / cfg.names.app, prefix=project.name, drop=app_filter(compiled=compiled))
        layers = _layer_files(cfg, plan, {"depot": depot_written, "compiled": compiled_written, "app": app_written})
        lock = _lock(plan, facts, layers, compiled=compiled_caches(work, project.name, compiled), allowed=facts.allow.used)
        for unused in facts.allow.unused():
            reporter.warn(f"allow_secrets entry '{unused}' allowed nothing: remove it, so it cannot allow a later file unseen")
        commit(stage, cfg.out, [layer.file for layer in layers])
        write_lock(cfg.out, lock)
        write_stamps(stamps_file(cfg), cfg.out, layers)
    pruned = {**depot_collected.dropped, **compiled_collected.dropped}
    pruned.pop(IN_COMPILED_LAYER, None)
    return lock, dict(sorted(pruned.items()))


@contextmanager
def _forgotten_if_refused(work: WorkDirs) -> Iterator[None]:
    """What the depot layer refuses (a link out of it, a secret) stays refused: the next build starts from
    an empty depot, so the cache cannot keep it after its cause is gone."""
    try:
        yield
    except InputError as error:
        forget_depot(work)
        raise type(error)(error.what, fix=f"{error.fix} (the next build starts from an empty depot)", details=error.details) from error


def _entries(*collected: archive.Collected) -> archive.Collected:
    return archive.Collected(entries=[entry for part in collected for entry in part.entries])


def _layer_files(cfg: BuildConfig, plan: BuildPlan, written: dict[str, archive.Written]) -> tuple[LayerFile, ...]:
    julia, codec, decompressor = plan.julia_layer, plan.codec, plan.decompressor
    packed = {role: LayerFile(role, getattr(cfg.names, role), w.sha256, w.size, codec, decompressor, APP_PARENT if role == "app" else DEPOT_PARENT) for role, w in written.items()}
    return (
        LayerFile("julia", cfg.names.julia, julia.sha256, julia.size, julia.codec, julia.decompressor, plan.layout.julia_prefix, strip_components=1),
        packed["depot"],
        packed["compiled"],
        packed["app"],
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
        entry_mode=facts.entry_mode,
        bridge=bridge_dir(facts.project),
        layers=layers,
        layout=plan.layout,
        compiled=compiled,
        allowed_secrets=dict(sorted(allowed.items())),
        juliapack_version=__version__,
    )
