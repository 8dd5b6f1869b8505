"""The build as a pure plan: which image, network and mounts, which environment, which typed steps.

`plan_build` decides everything before a container exists; `juliapack.build` then starts exactly the
container the plan names and runs exactly its steps, in order.

Order matters for Julia <= 1.10, which validates caches by the mtimes of their sources: instantiate
without precompiling, set every mtime to the fixed epoch the archives also carry, then precompile.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePosixPath

from juliapack import archive
from juliapack.project import JuliaProject, entry_point
from juliapack.build.julia_layer import JuliaLayer
from juliapack.build.work import WorkDirs
from juliapack.config import BuildConfig
from juliapack.container import ContainerSpec, Mount
from juliapack.errors import ConfigError
from juliapack.julia_call import LOAD_PATH, SCRIPT, call, entry_command, julia
from juliapack.julia_dist import JuliaDist
from juliapack.workflow.lock import APP_DEPOT, Layout

TEMPLATES_BUILD = "build"
JULIA_PREFIX = "/opt/juliapack/julia"  # juliapack's own: never over, nor before on PATH, a Julia the image has
DEPOT = "/root/.julia"
APP_PARENT = "/tmp"
IN = "/juliapack"  # read-only inputs: the Julia tarball and juliapack's scripts
WORK = "/juliapack/work"  # the host work folder (the pruning report lands here)
CACHE_REPORT = f"{WORK}/caches.tsv"  # what check_caches.jl found
PKG_FIX = "fix the project's dependencies (see Pkg's message above), or pass --registry for a private registry"


class StepKind(Enum):
    INSTALL_JULIA = "install Julia"
    ADD_REGISTRY = "add a registry"
    INSTANTIATE = "instantiate"
    ARTIFACTS = "fetch artifacts"
    FIX_MTIMES = "fix mtimes"
    PRECOMPILE = "precompile"
    PRECOMPILE_APP = "precompile the app"
    SMOKE = "smoke run"
    CHECK_CACHES = "check the caches"
    HAND_BACK = "hand the files back"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    title: str
    script: str
    env: tuple[tuple[str, str], ...] = ()
    fix: str = ""
    registry: str = ""  # ADD_REGISTRY: the registry it adds (recorded in the work state once added)


@dataclass(frozen=True)
class BuildPlan:
    image: str
    network: str
    mounts: tuple[Mount, ...]
    env: tuple[tuple[str, str], ...]
    steps: tuple[Step, ...]
    layout: Layout
    julia_layer: JuliaLayer
    codec: str  # of the depot and app layers
    decompressor: str
    image_cuda: str | None = None

    def container(self, *, project: str) -> ContainerSpec:
        """The build container: the plan's image, network and mounts. Steps bring their environment."""
        return ContainerSpec(self.image, mounts=self.mounts, network=self.network, purpose="build", project=project)


def layout_for(project_name: str) -> Layout:
    app_dir = f"{APP_PARENT}/{project_name}"
    system_depots = (f"{JULIA_PREFIX}/local/share/julia", f"{JULIA_PREFIX}/share/julia")
    return Layout(
        julia_prefix=JULIA_PREFIX,
        depot=DEPOT,
        app_dir=app_dir,
        # The writable depot first (new caches and logs go there), then the app's own cache, then the
        # depots bundled with Julia (stdlib caches of 1.9+), named explicitly for every version.
        depot_path=(DEPOT, f"{app_dir}/{APP_DEPOT}", *system_depots),
    )


def build_mounts(cfg: BuildConfig, project_name: str, julia: JuliaDist, *, work: WorkDirs, templates: Path) -> tuple[Mount, ...]:
    """What the build container sees; the Julia release's cache folder holds every form of its layer."""
    own = (
        Mount(julia.path.parent, f"{IN}/julia", read_only=True),
        Mount(templates / TEMPLATES_BUILD, f"{IN}/scripts", read_only=True),
        Mount(work.root, WORK, read_only=False),
        Mount(work.depot, DEPOT, read_only=False),
        Mount(work.app_parent / project_name, layout_for(project_name).app_dir, read_only=False),
        *(Mount(Path(local), target, read_only=True) for local, target in _local_registries(cfg.registries)),
    )
    taken = {mount.target for mount in own}
    for mount in cfg.mounts:
        if posixpath.normpath(mount.target) in taken:
            raise ConfigError(
                f"the volume {mount.spec()} is mounted at {mount.target}, where juliapack mounts its own folder",
                fix="mount it at another path (one below it is fine)",
            )
    return (*own, *cfg.mounts)


def _local_registries(registries: tuple[str, ...]) -> list[tuple[str, str]]:
    """(host folder, path in the container) of each registry given as a local folder rather than a URL."""
    return [(r, f"{IN}/registries/{i}") for i, r in enumerate(registries) if not ("://" in r or r.startswith("git@"))]


def registry_url(registry: str, registries: tuple[str, ...]) -> str:
    """What Pkg.Registry.add gets inside the container: the URL, or the mounted local folder as file://."""
    mounted = dict(_local_registries(registries))
    return f"file://{mounted[registry]}" if registry in mounted else registry


@dataclass(frozen=True)
class PlanInputs:
    """What the plan is made from, besides the settings: all decided before any container runs."""

    project: JuliaProject
    julia: JuliaDist
    julia_layer: JuliaLayer
    codec: str
    decompressor: str
    cpu_target: str
    registries_to_add: tuple[str, ...]
    host_user: str
    image_cuda: str | None = None  # what the image probe found
    entry_mode: str = SCRIPT  # how the notebook (and the smoke run) start the app


def plan_build(cfg: BuildConfig, inputs: PlanInputs, *, work: WorkDirs, templates: Path) -> BuildPlan:
    layout = layout_for(inputs.project.name)
    env = {
        **dict(cfg.env),
        "HOME": "/root",
        "JULIA_DEPOT_PATH": ":".join(layout.depot_path),
        "JULIA_LOAD_PATH": LOAD_PATH,
        "JULIA_CPU_TARGET": inputs.cpu_target,
        "JULIA_PKG_PRECOMPILE_AUTO": "0",  # precompile only after the mtimes are fixed
    }
    steps = [_install_julia(inputs, layout), *_add_registries(cfg, inputs, layout), *_instantiate_and_precompile(cfg, inputs, layout)]
    if cfg.smoke is not None:
        steps += _smoke_run(cfg, inputs, layout)
    steps.append(_check_caches(layout))
    if inputs.host_user != "0:0":
        steps.append(hand_back(inputs.host_user, (DEPOT, layout.app_dir, WORK), skip=mounted_within(cfg.mounts, (DEPOT, layout.app_dir, WORK))))
    return BuildPlan(
        image=cfg.image,
        network=cfg.network,
        mounts=build_mounts(cfg, inputs.project.name, inputs.julia, work=work, templates=templates),
        env=tuple(sorted(env.items())),
        steps=tuple(steps),
        layout=layout,
        julia_layer=inputs.julia_layer,
        codec=inputs.codec,
        decompressor=inputs.decompressor,
        image_cuda=inputs.image_cuda,
    )


def _install_julia(inputs: PlanInputs, layout: Layout) -> Step:
    layer, release = inputs.julia_layer, inputs.julia
    install = archive.unpack_command(
        codec=layer.codec,
        decompressor=layer.decompressor,
        archive=_sh(f"{IN}/julia/{layer.path.relative_to(release.path.parent).as_posix()}"),
        dest=JULIA_PREFIX,
        strip_components=1,
    )
    expected = f"julia version {release.version}"
    check = f'found=$({_sh(julia(layout))} --version); [ "$found" = {_sh(expected)} ] || {{ echo "expected {expected}, found $found"; exit 1; }}'
    return Step(
        StepKind.INSTALL_JULIA, f"Install Julia {release.version} as the notebook will", f"mkdir -p {JULIA_PREFIX}\n{install}\n{check}",
        fix="the Julia tarball is not the version versions.json names: run the build again with --fresh",
    )


def _add_registries(cfg: BuildConfig, inputs: PlanInputs, layout: Layout) -> list[Step]:
    # Pkg.Registry.add builds a Context, which needs an active project; with @v#.# off the load path an
    # empty throwaway one keeps the app's Project.toml out of it.
    add = _shell(call(layout, "--project=/tmp/juliapack-registry-env", "-e", "using Pkg; Pkg.Registry.add(Pkg.RegistrySpec(url=ARGS[1]))"))
    return [
        Step(
            StepKind.ADD_REGISTRY,
            f"Add registry {url}",
            f"{add} {_sh(registry_url(url, cfg.registries))}",
            fix="check the registry URL and that the build container can reach it (--network, --volume)",
            registry=url,
        )
        for url in inputs.registries_to_add
    ]


def _instantiate_and_precompile(cfg: BuildConfig, inputs: PlanInputs, layout: Layout) -> list[Step]:
    app, project = layout.app_dir, inputs.project
    julia_project = f"--project={app}"
    instantiate = _shell(call(layout, julia_project, "-e", "using Pkg; Pkg.instantiate()"))
    steps = [
        Step(StepKind.INSTANTIATE, "Instantiate", f"cd {app}\n{instantiate}", fix=PKG_FIX),
        Step(
            StepKind.ARTIFACTS,
            "Make every artifact present (lazy ones too)",
            _shell(call(layout, julia_project, f"{IN}/scripts/artifacts.jl", f"{WORK}/report.tsv")),
            fix="an artifact could not be fetched: check its URL and the build container's network",
        ),
        fix_mtimes(cfg.source_date_epoch, (DEPOT, app), skip=mounted_within(cfg.mounts, (DEPOT, app))),
        _precompile("Precompile", layout),
    ]
    if project.is_package:
        steps.append(_precompile_app(project.name, layout, inputs.julia.version.compiled_dir()))
    return steps


def _smoke_run(cfg: BuildConfig, inputs: PlanInputs, layout: Layout) -> list[Step]:
    app, project = layout.app_dir, inputs.project
    entry = entry_point(project, cfg.entry)
    command = _shell(entry_command(layout, name=project.name, entry=entry, mode=inputs.entry_mode, arguments=list(cfg.smoke or ())))
    return [
        Step(
            StepKind.SMOKE,
            "Smoke run of the entry point",
            f"mkdir -p /kaggle/working\ncd /kaggle/working\n{command}",
            fix="the entry point failed on the --smoke arguments",
        ),
        fix_mtimes(cfg.source_date_epoch, (DEPOT, app), skip=mounted_within(cfg.mounts, (DEPOT, app))),
        _precompile("Precompile what the smoke run added", layout),
    ]


def _check_caches(layout: Layout) -> Step:
    # After the last precompile, with the notebook's depot path: what Kaggle would load. The verdict is
    # read from the report afterwards (the step itself cannot fail), so it names every package at once.
    check = _shell(call(layout, f"--project={layout.app_dir}", f"{IN}/scripts/check_caches.jl", CACHE_REPORT))
    return Step(StepKind.CHECK_CACHES, "Check that every compiled cache will load as it is", f"cd {layout.app_dir}\n{check} || true")


def _precompile(title: str, layout: Layout) -> Step:
    precompile = _shell(call(layout, f"--project={layout.app_dir}", "-e", "using Pkg; Pkg.precompile()"))
    return Step(StepKind.PRECOMPILE, title, f"cd {layout.app_dir}\n{precompile}", fix=PKG_FIX)


def _sh(text: str) -> str:
    return shlex.quote(text)


def _shell(command: list[str]) -> str:
    return " ".join(_sh(arg) for arg in command)


def mounted_within(mounts: tuple[Mount, ...], folders: tuple[str, ...]) -> tuple[str, ...]:
    """The targets of the user's mounts inside ``folders``: host files, which the build must never change."""
    targets = (posixpath.normpath(mount.target) for mount in mounts)
    return tuple(sorted({t for t in targets if any(t == f or t.startswith(f + "/") for f in folders)}))


def _pruned(skip: tuple[str, ...]) -> str:
    """find's test that leaves out each path in ``skip`` and all below it."""
    return "".join(f"-path {_sh(_literal(path))} -prune -o " for path in skip)


def _literal(path: str) -> str:
    """A path as a find -path pattern that matches it alone: its glob characters escaped."""
    return re.sub(r"([][*?\\])", r"\\\1", path)


def fix_mtimes(epoch: int, folders: tuple[str, ...], *, skip: tuple[str, ...] = ()) -> Step:
    # Only files whose mtime differs are touched, so unchanged trees keep their ctimes; ".999999999"
    # catches fractional mtimes just below the epoch too.
    where = " ".join(folders)
    return Step(
        StepKind.FIX_MTIMES,
        "Fix source mtimes before precompiling",
        f"find {where} {_pruned(skip)}\\( -newermt @{epoch} -o ! -newermt @{epoch - 1}.999999999 \\) -exec touch -h -d @{epoch} {{}} +",
        fix=f"juliapack could not set the mtimes under {where}: run the build again with --fresh; if it persists, report it with the --debug output",
    )


def hand_back(user: str, folders: tuple[str, ...], *, skip: tuple[str, ...] = ()) -> Step:
    # -h: a link is handed back itself, never what it points to.
    return Step(
        StepKind.HAND_BACK,
        "Hand the files back to you",
        f"find {' '.join(folders)} {_pruned(skip)}-exec chown -h {user} {{}} +",
        fix="juliapack could not hand the build's files back to you: run the build again with --fresh",
    )


def _precompile_app(name: str, layout: Layout, compiled: str) -> Step:
    # The project's own cache goes to the app layer, so a code change leaves the depot layer unchanged.
    app_depot = f"{layout.app_dir}/{APP_DEPOT}"
    depot_path = ":".join((app_depot, *(d for d in layout.depot_path if d != app_depot)))
    script = "\n".join(
        (
            f"mkdir -p {app_depot}/compiled/{compiled}",
            f"if [ -d {DEPOT}/compiled/{compiled}/{name} ]; then rm -rf {app_depot}/compiled/{compiled}/{name}; "
            f"mv {DEPOT}/compiled/{compiled}/{name} {app_depot}/compiled/{compiled}/; fi",
            f"cd {layout.app_dir}",
            f"JULIA_DEPOT_PATH={depot_path} {_shell(call(layout, f'--project={layout.app_dir}', '-e', f'using {name}'))}",
        )
    )
    return Step(StepKind.PRECOMPILE_APP, f"Precompile {name} into the app layer", script, fix="loading your package failed: see the error above")


DEPOT_PARENT = str(PurePosixPath(DEPOT).parent)
