"""`juliapack build`: the project, built inside the Kaggle image, packed as three layers in dist/.

A pure plan (mounts, environment, shell steps) is made first and then run through `container`.
The build works in a per-project work folder of the cache: the depot (`/root/.julia` in the
container) and the app (`/tmp/<Name>`) are bind mounts of it, so a rebuild reuses the depot and its
compiled caches; byte-identical output comes from reusing them and from deterministic archives.

Order matters for Julia <= 1.10, which validates caches by the mtimes of their sources: instantiate
without precompiling, set every mtime to the fixed epoch the archives also carry, then precompile.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

from juliapack import __version__, archive, container, julia_dist, project as projects, secrets
from juliapack.config import BuildConfig, Mount, slugify
from juliapack.errors import BuildFailed, ConfigError, InputError, JuliapackError
from juliapack.fsutil import atomic_output, sha256_file, write_json_atomic
from juliapack.lockfile import APP_DEPOT, Layout, LayerFile, Lock, lock_path, read_lock, write_lock
from juliapack.report import NullReporter, Reporter
from juliapack.resources import templates_root

TEMPLATES_BUILD = "build"
JULIA_PREFIX = "/usr/local"
DEPOT = "/root/.julia"
APP_PARENT = "/tmp"
IN = "/juliapack"  # read-only inputs: the Julia tarball and juliapack's scripts
WORK = "/juliapack/work"  # the host work folder (the pruning report lands here)
DATASET_METADATA = "dataset-metadata.json"


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Step:
    title: str
    script: str
    env: tuple[tuple[str, str], ...] = ()
    fix: str = ""


@dataclass(frozen=True)
class WorkDirs:
    root: Path

    @property
    def depot(self) -> Path:
        return self.root / "depot"

    @property
    def app_parent(self) -> Path:
        return self.root / "app"

    @property
    def report(self) -> Path:
        return self.root / "report.tsv"

    @property
    def state(self) -> Path:
        return self.root / "state.json"


@dataclass(frozen=True)
class JuliaLayer:
    """The Julia layer as shipped: the official tarball, or the same members recompressed for the image."""

    path: Path  # in the cache, inside the release's folder (which the build container mounts)
    sha256: str
    size: int
    codec: str
    decompressor: str


TRANSCODED = "juliapack-{codec}-v1"  # folder of a recompressed tarball beside the official one


def julia_layer(julia: julia_dist.JuliaDist, *, codec: str, decompressor: str, reporter: Reporter) -> JuliaLayer:
    """The official tarball when the layers are gzip; else its members recompressed (once, cached):
    unpacking zstd takes a fraction of the time, and every notebook run pays for it."""
    if codec == "gzip":
        return JuliaLayer(julia.path, julia.release.sha256, julia.release.size, "gzip", decompressor)
    folder = julia.path.parent / TRANSCODED.format(codec=codec)
    target, stamp = folder / julia.path.name.removesuffix(".tar.gz"), folder / "sha256.json"
    if stamp.is_file() and target.is_file():
        known = json.loads(stamp.read_text())
        if known["size"] == target.stat().st_size:
            return JuliaLayer(target, known["sha256"], known["size"], codec, decompressor)
    reporter.step(f"Recompressing Julia {julia.version} with {codec} (once; unpacking it on Kaggle gets faster)")
    written = archive.transcode(julia.path, target, codec=codec, reporter=reporter)
    write_json_atomic(stamp, {"sha256": written.sha256, "size": written.size})
    return JuliaLayer(target, written.sha256, written.size, codec, decompressor)


@dataclass(frozen=True)
class BuildPlan:
    image: str
    network: str
    mounts: tuple[Mount, ...]
    env: tuple[tuple[str, str], ...]
    steps: tuple[Step, ...]
    layout: Layout


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


def build_mounts(cfg: BuildConfig, project: projects.JuliaProject, julia: julia_dist.JuliaDist, *, work: WorkDirs, templates: Path) -> tuple[Mount, ...]:
    """What the build container sees; the Julia release's cache folder holds every form of its layer."""
    return (
        Mount(julia.path.parent, f"{IN}/julia", read_only=True),
        Mount(templates / TEMPLATES_BUILD, f"{IN}/scripts", read_only=True),
        Mount(work.root, WORK, read_only=False),
        Mount(work.depot, DEPOT, read_only=False),
        Mount(work.app_parent / project.name, layout_for(project.name).app_dir, read_only=False),
        *(Mount(Path(local), target, read_only=True) for local, target in _local_registries(cfg.registries)),
        *cfg.mounts,
    )


def _local_registries(registries: tuple[str, ...]) -> list[tuple[str, str]]:
    """(host folder, path in the container) of each registry given as a local folder rather than a URL."""
    return [(r, f"{IN}/registries/{i}") for i, r in enumerate(registries) if not ("://" in r or r.startswith("git@"))]


def registry_url(registry: str, registries: tuple[str, ...]) -> str:
    """What Pkg.Registry.add gets inside the container: the URL, or the mounted local folder as file://."""
    mounted = dict(_local_registries(registries))
    return f"file://{mounted[registry]}" if registry in mounted else registry


def plan_build(
    cfg: BuildConfig,
    project: projects.JuliaProject,
    julia: julia_dist.JuliaDist,
    *,
    work: WorkDirs,
    templates: Path,
    registries_to_add: tuple[str, ...],
    cpu_target: str,
    host_user: str,
    julia_layer: JuliaLayer,
) -> BuildPlan:
    layout = layout_for(project.name)
    app = layout.app_dir
    julia_project = f"--project={app}"
    compiled = julia_dist.compiled_dir_name(julia.version)
    env = {
        **dict(cfg.env),
        "HOME": "/root",
        "JULIA_DEPOT_PATH": ":".join(layout.depot_path),
        "JULIA_CPU_TARGET": cpu_target,
        "JULIA_PKG_PRECOMPILE_AUTO": "0",  # precompile only after the mtimes are fixed
    }
    install = archive.unpack_command(
        codec=julia_layer.codec,
        decompressor=julia_layer.decompressor,
        archive=_sh(f"{IN}/julia/{julia_layer.path.relative_to(julia.path.parent).as_posix()}"),
        dest=JULIA_PREFIX,
        strip_components=1,
    )
    steps = [
        Step(f"Install Julia {julia.version} as the notebook will", f"{install}\njulia --version"),
        *[
            Step(
                f"Add registry {url}",
                f"julia -e 'using Pkg; Pkg.Registry.add(Pkg.RegistrySpec(url=ARGS[1]))' {_sh(registry_url(url, cfg.registries))}",
                fix="check the registry URL and that the build container can reach it (--network, --mount)",
            )
            for url in registries_to_add
        ],
        Step("Instantiate", f"cd {app}\njulia {julia_project} -e 'using Pkg; Pkg.instantiate()'", fix=_PKG_FIX),
        Step(
            "Make every artifact present (lazy ones too)",
            f"julia {julia_project} {IN}/scripts/artifacts.jl {WORK}/report.tsv",
            fix="an artifact could not be fetched: check its URL and the build container's network",
        ),
        _fix_mtimes(cfg.source_date_epoch, (DEPOT, app)),
        Step("Precompile", f"cd {app}\njulia {julia_project} -e 'using Pkg; Pkg.precompile()'", fix=_PKG_FIX),
    ]
    if project.is_package:
        steps.append(_precompile_app(project.name, layout, compiled, julia_project))
    if cfg.smoke is not None:
        entry = projects.entry_point(project, cfg.entry)
        command = " ".join(_sh(arg) for arg in ("julia", "-t", "auto", julia_project, f"{app}/{entry}", *cfg.smoke))
        steps += [
            Step("Smoke run of the entry point", f"mkdir -p /kaggle/working\ncd /kaggle/working\n{command}", fix="the entry point failed on the --smoke arguments"),
            _fix_mtimes(cfg.source_date_epoch, (DEPOT, app)),
            Step("Precompile what the smoke run added", f"cd {app}\njulia {julia_project} -e 'using Pkg; Pkg.precompile()'", fix=_PKG_FIX),
        ]
    if host_user != "0:0":
        steps.append(Step("Hand the files back to you", f"chown -R {host_user} {DEPOT} {app} {WORK}"))
    return BuildPlan(
        image=cfg.image,
        network=cfg.network,
        mounts=build_mounts(cfg, project, julia, work=work, templates=templates),
        env=tuple(sorted(env.items())),
        steps=tuple(steps),
        layout=layout,
    )


_PKG_FIX = "fix the project's dependencies (see Pkg's message above), or pass --registry for a private registry"


def _sh(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _fix_mtimes(epoch: int, folders: tuple[str, ...]) -> Step:
    # Only files whose mtime differs are touched, so unchanged trees keep their ctimes; ".999999999"
    # catches fractional mtimes just below the epoch too.
    where = " ".join(folders)
    return Step(
        "Fix source mtimes before precompiling",
        f"find {where} \\( -newermt @{epoch} -o ! -newermt @{epoch - 1}.999999999 \\) -exec touch -h -d @{epoch} {{}} +",
    )


def _precompile_app(name: str, layout: Layout, compiled: str, julia_project: str) -> Step:
    # The project's own cache goes to the app layer, so a code change leaves the depot layer unchanged.
    app_depot = f"{layout.app_dir}/{APP_DEPOT}"
    depot_path = ":".join((app_depot, *(d for d in layout.depot_path if d != app_depot)))
    script = "\n".join(
        (
            f"mkdir -p {app_depot}/compiled/{compiled}",
            f"if [ -d {DEPOT}/compiled/{compiled}/{name} ]; then rm -rf {app_depot}/compiled/{compiled}/{name}; "
            f"mv {DEPOT}/compiled/{compiled}/{name} {app_depot}/compiled/{compiled}/; fi",
            f"cd {layout.app_dir}",
            f"JULIA_DEPOT_PATH={depot_path} julia {julia_project} -e 'using {name}'",
        )
    )
    return Step(f"Precompile {name} into the app layer", script, fix="loading your package failed: see the error above")


# --------------------------------------------------------------------------- pruning the depot


@dataclass(frozen=True)
class DepotReport:
    """What the build container found: package source folders and every artifact hash referenced."""

    package_dirs: frozenset[str]  # depot-relative, e.g. packages/TinyModel/AbCdE
    package_names: frozenset[str]
    package_uuids: frozenset[str]
    artifacts: frozenset[str]
    extensions: frozenset[str] = frozenset()  # Julia 1.9+ caches these under compiled/vX.Y/<ExtName>/

    @classmethod
    def read(cls, path: Path) -> DepotReport:
        dirs, names, uuids, hashes, extensions = set(), set(), set(), set(), set()
        for line in path.read_text(encoding="utf-8").splitlines():
            kind, *fields = line.split("\t")
            if kind == "package":
                name, uuid, source = fields
                names.add(name)
                uuids.add(uuid)
                if source.startswith(DEPOT + "/"):
                    dirs.add(source[len(DEPOT) + 1 :])
            elif kind == "extension":
                extensions.add(fields[0])
            elif kind == "artifact":
                hashes.add(fields[0])
        return cls(frozenset(dirs), frozenset(names), frozenset(uuids), frozenset(hashes), frozenset(extensions))


def depot_filter(report: DepotReport, *, compiled: str, project_name: str, keep_registries: bool) -> archive.Filter:
    """What leaves the depot layer, with the reason reported to the user."""
    used_package_parents = {PurePosixPath(d).parent.as_posix() for d in report.package_dirs}
    cached = report.package_names | report.extensions

    def drop(relpath: str, is_dir: bool) -> str | None:
        parts = relpath.split("/")
        top = parts[0]
        if top == "logs":
            return "logs"
        if top == "clones":
            return "git clones"
        if top == "registries" and not keep_registries:
            return "registries (not needed to load packages)"
        if top == "compiled" and len(parts) >= 2 and parts[1] != compiled:
            return "caches of other Julia versions"
        if top == "compiled" and len(parts) == 3 and (parts[2] == project_name or parts[2] not in cached):
            return "caches of packages not in the Manifest"
        if top == "packages" and len(parts) == 2 and relpath not in used_package_parents:
            return "packages not in the Manifest"
        if top == "packages" and len(parts) == 3 and relpath not in report.package_dirs:
            return "packages not in the Manifest"
        if top == "artifacts" and len(parts) == 2 and is_dir and parts[1] not in report.artifacts:
            return "artifacts no package references"
        if top == "scratchspaces" and len(parts) == 2 and parts[1] not in report.package_uuids:
            return "scratch spaces of packages not in the Manifest"
        return None

    return drop


def app_filter(*, compiled: str) -> archive.Filter:
    """The app folder holds the project's files plus its own compiled cache; nothing else of that depot."""

    def drop(relpath: str, is_dir: bool) -> str | None:
        parts = relpath.split("/")
        if parts[0] != APP_DEPOT:
            return None
        if len(parts) >= 2 and parts[1] != "compiled":
            return "logs"
        if len(parts) >= 3 and parts[2] != compiled:
            return "caches of other Julia versions"
        return None

    return drop


# --------------------------------------------------------------------------- inputs and state


def fingerprint(cfg: BuildConfig, *, app_files: dict[str, str], julia_sha256: str, image_id: str, cpu_target: str) -> str:
    """A hash of everything the build output depends on; equal fingerprints make a rebuild a no-op."""
    inputs = {
        "juliapack": __version__,
        "app_files": app_files,
        "julia": julia_sha256,
        "image": image_id,
        "cpu_target": cpu_target,
        "registries": list(cfg.registries),
        # Values may be secrets: only their hashes enter the fingerprint, which is stored in the lock.
        "env": {key: hashlib.sha256(value.encode()).hexdigest() for key, value in cfg.env},
        "mounts": [mount.spec() for mount in cfg.mounts],
        "network": cfg.network,
        "smoke": list(cfg.smoke) if cfg.smoke is not None else None,
        "entry": cfg.entry,
        "names": [cfg.names.julia, cfg.names.depot, cfg.names.app],
        "codec": cfg.codec,
        "source_date_epoch": cfg.source_date_epoch,
        "keep_registries": cfg.keep_registries,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def up_to_date(dist: Path, fingerprint_: str, *, stamps: Path | None = None) -> Lock | None:
    """The current lock if dist/ already holds exactly what these inputs build, else None.

    A layer file is hashed again unless ``stamps`` shows it untouched since the build wrote it.
    """
    if not lock_path(dist).is_file():
        return None
    try:
        lock = read_lock(dist)
    except InputError:
        return None
    if lock.fingerprint != fingerprint_:
        return None
    known = _read_stamps(stamps)
    for layer in lock.layers:
        path = dist / layer.file
        if not path.is_file() or path.stat().st_size != layer.size:
            return None
        if known.get(layer.file) != [layer.sha256, *_stamp(path)] and sha256_file(path) != layer.sha256:
            return None
    return lock


def _stamp(path: Path) -> list[int]:
    """What changes whenever a file's bytes could have: size, mtime, ctime (no program can set it), inode."""
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def _read_stamps(path: Path | None) -> dict[str, list]:
    try:
        stamps = json.loads(path.read_text()) if path else {}
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def write_stamps(path: Path, dist: Path, layers: tuple[LayerFile, ...]) -> None:
    write_json_atomic(path, {layer.file: [layer.sha256, *_stamp(dist / layer.file)] for layer in layers})


def work_dirs_for(cfg: BuildConfig, project: projects.JuliaProject) -> WorkDirs:
    key = hashlib.sha256(str(project.root).encode()).hexdigest()[:16]
    return WorkDirs(cfg.cache_dir / "work" / f"{project.name}-{key}")


def _depot_key(julia_sha256: str, image_id: str, cpu_target: str) -> dict[str, str]:
    return {"julia": julia_sha256, "image": image_id, "cpu_target": cpu_target}


def prepare_work(work: WorkDirs, *, depot_key: dict[str, str], fresh: bool, reporter: Reporter) -> dict:
    """The work folder, wiped when its depot was built for another Julia, image or CPU target."""
    state = json.loads(work.state.read_text()) if work.state.is_file() else {}
    if fresh or state.get("depot") != depot_key:
        if work.root.exists() and state:
            reporter.info("starting from an empty depot" + (" (--fresh)" if fresh else ": Julia, image or CPU target changed"))
        for folder in (work.depot, work.app_parent):
            shutil.rmtree(folder, ignore_errors=True)
        state = {"depot": depot_key, "registries": []}
    work.depot.mkdir(parents=True, exist_ok=True)
    work.app_parent.mkdir(parents=True, exist_ok=True)
    return state


def stage_app(project: projects.JuliaProject, files: tuple[str, ...], work: WorkDirs, *, epoch: int) -> Path:
    """Copy the app's files into the work folder with fixed mtimes; keep the app's compiled cache."""
    target = work.app_parent / project.name
    target.mkdir(parents=True, exist_ok=True)
    wanted = set(files)
    for path in sorted(target.rglob("*"), reverse=True):
        relpath = path.relative_to(target).as_posix()
        if relpath.split("/")[0] == APP_DEPOT:
            continue
        if path.is_dir() and not path.is_symlink():
            if not any(f.startswith(relpath + "/") for f in wanted):
                shutil.rmtree(path)
        elif relpath not in wanted:
            path.unlink()
    for relpath in files:
        source, copy = project.root / relpath, target / relpath
        if not (copy.is_file() and _same_bytes(source, copy)):
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy, follow_symlinks=True)
        shutil.copymode(source, copy)
        os.utime(copy, (epoch, epoch), follow_symlinks=False)
    return target


def _same_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


@contextmanager
def exclusive(path: Path, *, reporter: Reporter, what: str) -> Iterator[None]:
    """Hold an flock on ``path``; a second build into the same place waits for the first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            reporter.info(f"another juliapack build is using {what}; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- orchestration


@dataclass
class BuildResult:
    lock: Lock
    dist: Path
    noop: bool = False
    seconds: float = 0.0
    pruned: dict[str, int] = field(default_factory=dict)
    steps: list[tuple[str, float]] = field(default_factory=list)


def build(
    cfg: BuildConfig,
    *,
    reporter: Reporter = NullReporter(),
    docker_client=None,
    http_client=None,
    force: bool = False,
) -> BuildResult:
    started = time.monotonic()
    reporter.step(f"Reading the project {cfg.project}")
    project = projects.read_project(cfg.project, julia_version=cfg.julia)
    version_spec = cfg.julia or project.manifest_julia_version
    if not version_spec:
        raise ConfigError(
            f"{project.manifest_file.name} does not record a Julia version (format 1, Julia <= 1.6)",
            fix="pass --julia X.Y[.Z] or set julia = \"X.Y\" in juliapack.toml",
        )
    entry = projects.entry_point(project, cfg.entry)
    out_inside = _relative_inside(cfg.out, project.root)
    app = projects.app_files(project, exclude=cfg.exclude, also_ignore=(f"/{out_inside}/",) if out_inside else ())
    reporter.info(f"{project.name}: {len(project.packages)} packages in the Manifest, {len(app.files)} app files, entry {entry}")

    reporter.step(f"Image {cfg.image}")  # local checks first: Docker before the network
    client = container.connect(docker_client)
    image = container.ensure_image(client, cfg.image, pull=cfg.pull, reporter=reporter)
    reporter.info(f"image id {image.id[:19]}" + (f", digest {image.digest}" if image.digest else ""))
    with _http(http_client) as http:
        release = julia_dist.resolve_release(
            version_spec, cache_dir=cfg.cache_dir, client=http, versions_url=cfg.versions_url, mirror=cfg.julia_mirror, reporter=reporter
        )
        cpu_target = cfg.cpu_target or julia_dist.official_cpu_target(release.version)
        app_hashes = {relpath: _file_identity(project.root / relpath) for relpath in app.files}
        print_ = fingerprint(cfg, app_files=app_hashes, julia_sha256=release.sha256, image_id=image.id, cpu_target=cpu_target)
        with exclusive(_lock_file(cfg, "dist", cfg.out), reporter=reporter, what=str(cfg.out)):
            current = None if force or cfg.fresh else up_to_date(cfg.out, print_, stamps=_stamps_file(cfg))
            if current is not None:
                reporter.step("Nothing to do: dist/ already holds this build (same inputs, files verified)")
                return BuildResult(current, cfg.out, noop=True, seconds=time.monotonic() - started)
            reporter.step(f"Fetching Julia {release.version} from {release.url}")
            julia = julia_dist.JuliaDist(release, julia_dist.download_release(release, cache_dir=cfg.cache_dir, client=http, reporter=reporter))
            work = work_dirs_for(cfg, project)
            with exclusive(work.root.with_suffix(".lock"), reporter=reporter, what=f"the work folder of {project.name}"):
                result = _build_in_work(cfg, project, julia, image, client, work, reporter, entry=entry, app=app, cpu_target=cpu_target, print_=print_)
    result.seconds = time.monotonic() - started
    return result


def _stamps_file(cfg: BuildConfig) -> Path:
    return cfg.cache_dir / "stamps" / f"{hashlib.sha256(str(cfg.out).encode()).hexdigest()[:16]}.json"


def _lock_file(cfg: BuildConfig, kind: str, path: Path) -> Path:
    """A lock file in the cache for ``path``, so a failed run leaves nothing behind in the user's folders."""
    return cfg.cache_dir / "locks" / f"{kind}-{hashlib.sha256(str(path).encode()).hexdigest()[:16]}.lock"


def _file_identity(path: Path) -> str:
    """What of an app file reaches the archive: its bytes and whether it is executable."""
    return sha256_file(path) + ("+x" if os.stat(path).st_mode & 0o111 else "")


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


def _relative_inside(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def _build_in_work(cfg, project, julia, image, client, work: WorkDirs, reporter: Reporter, *, entry, app, cpu_target, print_) -> BuildResult:
    state = prepare_work(work, depot_key=_depot_key(julia.release.sha256, image.id, cpu_target), fresh=cfg.fresh, reporter=reporter)
    stage_app(project, app.files, work, epoch=cfg.source_date_epoch)
    work.report.unlink(missing_ok=True)
    timings: list[tuple[str, float]] = []
    mounts = build_mounts(cfg, project, julia, work=work, templates=templates_root())
    with container.running(
        client, cfg.image, mounts=mounts, network=cfg.network, keep=cfg.keep_container, reporter=reporter, project=str(project.root)
    ) as box:
        found = probe_decompressors(box)
        codec, decompressor = choose_codec(cfg.codec, found)
        layer = julia_layer(julia, codec=codec, decompressor=decompressor, reporter=reporter)
        plan = plan_build(
            cfg,
            project,
            julia,
            work=work,
            templates=templates_root(),
            registries_to_add=tuple(url for url in cfg.registries if url not in state["registries"]),
            cpu_target=cpu_target,
            host_user=container.host_user(),
            julia_layer=layer,
        )
        for step in plan.steps:
            reporter.step(step.title)
            began = time.monotonic()
            try:
                box.run(step.script, what=step.title, env={**dict(plan.env), **dict(step.env)}, fix=step.fix)
            except BuildFailed as error:
                raise _with_pkg_message(error) from None
            timings.append((step.title, time.monotonic() - began))
            if step.title.startswith("Add registry"):
                state["registries"].append(step.title.removeprefix("Add registry "))
                write_json_atomic(work.state, state)
    write_json_atomic(work.state, state)
    lock, pruned = pack(cfg, project, julia, layer, image, plan.layout, work, reporter, entry=entry, codec=codec, decompressor=decompressor, cpu_target=cpu_target, print_=print_)
    return BuildResult(lock, cfg.out, pruned=pruned, steps=timings)


def _with_pkg_message(error: BuildFailed) -> BuildFailed:
    """Lift Julia's own `ERROR: ...` line into the one-line message."""
    lines = error.details.splitlines()
    message = next((line.strip() for line in lines if line.lstrip().startswith("ERROR:")), None)
    if message is None:
        return error
    return BuildFailed(f"{error.what}: {message}", fix=error.fix, details=error.details)


PROBE = r"""
for p in zstd pigz; do command -v $p >/dev/null 2>&1 && echo "have $p"; done
python3 -c 'import zstandard' >/dev/null 2>&1 && echo "have python-zstandard"
python3 -c 'import compression.zstd' >/dev/null 2>&1 && echo "have python-compression.zstd"
true
"""


def probe_decompressors(box: container.Container) -> frozenset[str]:
    """The decompressors the image has (the notebook will run in the same image)."""
    return frozenset(line.split(" ", 1)[1] for line in box.exec(PROBE).tail if line.startswith("have "))


def choose_codec(codec: str, found: frozenset[str]) -> tuple[str, str]:
    """(codec, decompressor) for the depot and app: zstd when the image can unpack it, else gzip."""
    if codec in ("auto", "zstd"):
        for name in ("zstd", "python-zstandard", "python-compression.zstd"):
            if name in found:
                return "zstd", name
        if codec == "zstd":
            raise ConfigError(
                "the image has no zstd decompressor (no zstd binary, no Python zstandard)",
                fix="use --codec gzip (or auto), or add zstd to the image",
            )
    return "gzip", gzip_decompressor(found)


def gzip_decompressor(found: frozenset[str]) -> str:
    return "pigz" if "pigz" in found else "tar"


# --------------------------------------------------------------------------- packing


def pack(cfg, project, julia, julia_layer: JuliaLayer, image, layout: Layout, work: WorkDirs, reporter: Reporter, *, entry, codec, decompressor, cpu_target, print_) -> tuple[Lock, dict[str, int]]:
    """Write the three layers, the dataset metadata and the lock into dist/, all or nothing."""
    compiled = julia_dist.compiled_dir_name(julia.version)
    report = DepotReport.read(work.report)
    with staging(cfg.out) as stage:
        reporter.step("Packing")
        julia_file = stage / cfg.names.julia
        _copy_file(julia_layer.path, julia_file)
        depot_written, depot_collected = archive.pack_tree(
            work.depot,
            stage / cfg.names.depot,
            codec=codec,
            mtime=cfg.source_date_epoch,
            prefix=PurePosixPath(DEPOT).name,
            drop=depot_filter(report, compiled=compiled, project_name=project.name, keep_registries=cfg.keep_registries),
            reporter=reporter,
        )
        _refuse_secrets_in_depot(depot_collected)
        app_written, _ = archive.pack_tree(
            work.app_parent / project.name,
            stage / (cfg.names.app),
            codec=codec,
            mtime=cfg.source_date_epoch,
            prefix=project.name,
            drop=app_filter(compiled=compiled),
            reporter=reporter,
        )
        layers = (
            LayerFile("julia", cfg.names.julia, julia_layer.sha256, julia_layer.size, julia_layer.codec, julia_layer.decompressor,
                      layout.julia_prefix, strip_components=1),  # fmt: skip
            LayerFile("depot", cfg.names.depot, depot_written.sha256, depot_written.size, codec, decompressor, str(PurePosixPath(DEPOT).parent)),
            LayerFile("app", cfg.names.app, app_written.sha256, app_written.size, codec, decompressor, APP_PARENT),
        )
        lock = Lock(
            fingerprint=print_,
            project_name=project.name,
            project_dir=str(project.root),
            entry=entry,
            julia_version=julia.version,
            julia_sha256=julia.release.sha256,
            julia_url=julia.release.published_url or julia.release.url,
            cpu_target=cpu_target,
            image=image.name,
            image_id=image.id,
            image_digest=image.digest,
            codec=codec,
            layers=layers,
            layout=layout,
            compiled=_compiled_caches(work, project.name, compiled),
            juliapack_version=__version__,
        )
        write_json_atomic(stage / DATASET_METADATA, dataset_metadata(project.name, owner=_owner_guess()))
        _commit(stage, cfg.out, [l.file for l in layers] + [DATASET_METADATA])
        write_lock(cfg.out, lock)
        write_stamps(_stamps_file(cfg), cfg.out, layers)
    return lock, dict(sorted(depot_collected.dropped.items()))


def _copy_file(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        with open(source, "rb") as src, atomic_output(target, large=True) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def _refuse_secrets_in_depot(collected: archive.Collected) -> None:
    findings = []
    for entry in collected.entries:
        if entry.kind == "file":
            relpath = entry.arcname.split("/", 1)[-1]  # without the .julia/ prefix
            third_party = secrets.is_third_party_depot_path(relpath)
            finding = secrets.check(relpath, entry.size, Path(entry.path).read_bytes, third_party=third_party, scan_content=not third_party)
            if finding:
                findings.append(finding)
    secrets.raise_if_found(
        findings,
        where="the depot",
        fix="remove them from the depot (they come from your build steps or --mount), then build again",
    )


def _compiled_caches(work: WorkDirs, project_name: str, compiled: str) -> dict[str, str]:
    """depot-relative path -> sha256 of every compiled cache shipped (verify checks none is rebuilt)."""
    caches = {}
    for base, label in ((work.depot, ""), (work.app_parent / project_name / APP_DEPOT, f"{APP_DEPOT}/")):
        folder = base / "compiled" / compiled
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    caches[label + path.relative_to(base).as_posix()] = sha256_file(path)
    return caches


def dataset_metadata(project_name: str, *, owner: str | None) -> dict:
    slug = slugify(project_name) or "julia-app"
    return {
        "title": f"{project_name} packed with juliapack"[:50],
        "id": f"{owner or 'INSERT_KAGGLE_USERNAME_HERE'}/{slug}-packed",
        "licenses": [{"name": "other"}],
        "isPrivate": True,
    }


def _owner_guess() -> str | None:
    from juliapack.kaggle_api import configured_username

    return configured_username(os.environ)


@contextmanager
def staging(dist: Path) -> Iterator[Path]:
    """A temp folder inside dist/ for the new files; removed whatever happens (dist/ too, if it was
    made here and the build failed)."""
    created = not dist.exists()
    dist.mkdir(parents=True, exist_ok=True)
    for stale in dist.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    folder = dist / f".staging-{os.getpid()}"
    folder.mkdir()
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if created and not any(dist.iterdir()):
            dist.rmdir()
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _commit(stage: Path, dist: Path, names: list[str]) -> None:
    """Move the staged files in; the old lock goes first so a crash midway never pairs it with new files."""
    lock_path(dist).unlink(missing_ok=True)
    for name in names:
        os.replace(stage / name, dist / name)
