"""`juliapack build`, `notebook` and `verify`: the commands that run on this machine only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from juliapack.cli.app import app, flags
from juliapack.cli.console import ConsoleReporter, stdout
from juliapack.report import human_size

CONFIG = typer.Option(None, "--config", metavar="PATH", help="juliapack.toml to read [default: ./juliapack.toml].")
DIST = typer.Option(None, "--dist", metavar="PATH", help="The folder 'juliapack build' wrote [default: dist].")
QUIET = typer.Option(False, "--quiet", "-q", help="Hide the container's output (errors still show its last lines).")


@app.command(short_help="Build the project in the Kaggle image; pack it in dist/.")
def build(
    project: Optional[Path] = typer.Argument(None, metavar="[PROJECT]", help="The Julia project folder (Project.toml and Manifest.toml)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="PATH", help="Where the packed files go [default: dist]."),
    julia: Optional[str] = typer.Option(None, "--julia", metavar="VERSION", help="1.10 (latest patch) or 1.10.5 [default: the Manifest's]."),
    julia_mirror: Optional[str] = typer.Option(None, "--julia-mirror", metavar="URL", help="Base URL replacing https://julialang-s3.julialang.org."),
    versions_url: Optional[str] = typer.Option(None, "--versions-url", metavar="URL", help="versions.json to resolve Julia versions with."),
    image: Optional[str] = typer.Option(None, "--image", metavar="NAME", help="Build image [default: the Kaggle GPU image]."),
    cpu: Optional[bool] = typer.Option(None, "--cpu", help="Use the Kaggle CPU image instead of the GPU one."),
    pull: Optional[str] = typer.Option(None, "--pull", metavar="POLICY", help="Pull the image: missing, always or never [default: missing]."),
    registry: Optional[list[str]] = typer.Option(None, "--registry", metavar="URL", help="Registry to add before instantiating (repeatable)."),
    env: Optional[list[str]] = typer.Option(None, "--env", "-e", metavar="KEY=VALUE", help="Environment of the build container (repeatable)."),
    volume: Optional[list[str]] = typer.Option(None, "--volume", "-v", metavar="SRC:DST[:ro|rw]", help="Bind mount for the build container (repeatable)."),
    network: Optional[str] = typer.Option(None, "--network", metavar="MODE", help="Build container network: bridge, host or none."),
    cpu_target: Optional[str] = typer.Option(None, "--cpu-target", metavar="TARGET", help="JULIA_CPU_TARGET [default: the official binaries']."),
    smoke: Optional[str] = typer.Option(None, "--smoke", metavar="ARGS", help="Run the entry point once with these arguments at build time."),
    entry: Optional[str] = typer.Option(None, "--entry", metavar="PATH", help="Entry script, relative to the project [default: src/<Name>.jl]."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", metavar="PATTERN", help="gitignore-style pattern left out of the app (repeatable)."),
    allow_secret: Optional[list[str]] = typer.Option(None, "--allow-secret", metavar="PATH=REASON", help="Ship a file that looks like a secret (repeatable; recorded)."),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", metavar="NAME", help="The notebook's GPU, to pin CUDA.jl's runtime for [default: the image's]."),
    cuda_local: Optional[bool] = typer.Option(None, "--cuda-local", help="CUDA.jl uses the image's CUDA toolkit instead of a runtime artifact."),
    codec: Optional[str] = typer.Option(None, "--codec", metavar="CODEC", help="auto, zstd or gzip [default: auto: zstd if the image can unpack it]."),
    prune_registries: Optional[bool] = typer.Option(None, "--prune-registries", help="Leave registries/ out of the depot (a few MB; offline Pkg.instantiate() then fails)."),
    keep_container: Optional[bool] = typer.Option(None, "--keep-container", help="Leave the build container for debugging."),
    fresh: Optional[bool] = typer.Option(None, "--fresh", help="Start from an empty depot."),
    force: bool = typer.Option(False, "--force", help="Build even if dist/ is up to date."),
    verify: Optional[bool] = typer.Option(None, "--verify/--no-verify", help="Write and rehearse the notebook afterwards (with a [notebook] section)."),
    config: Optional[Path] = CONFIG,
    quiet: bool = QUIET,
) -> None:
    """Build PROJECT inside the Kaggle image and pack Julia, the depot and the app into dist/.

    Julia is downloaded (sha256-verified, cached), unpacked to /opt/juliapack/julia in the image, the project
    instantiated and precompiled at the paths the notebook will use, every artifact (lazy ones too)
    fetched, and the layers written with names Kaggle will not unpack. Same inputs, same bytes:
    a rebuild with nothing changed is a no-op. With a [notebook] section in juliapack.toml, the
    notebook is written and rehearsed offline too.
    """
    from juliapack.build import build as build_project
    from juliapack.config import has_section, load_build, load_notebook

    cfg = load_build(
        flags(
            project=str(project) if project else None, out=str(out) if out else None, julia=julia, julia_mirror=julia_mirror,
            versions_url=versions_url, image=image, cpu=cpu, pull=pull, registries=registry, env=env, volumes=volume,
            network=network, cpu_target=cpu_target, smoke=smoke, entry=entry, exclude=exclude, allow_secrets=allow_secret,
            codec=codec, accelerator=accelerator, cuda_local=cuda_local, prune_registries=prune_registries, keep_container=keep_container, fresh=fresh, verify=verify,
        ),
        config_path=config,
    )  # fmt: skip
    notebook_cfg = load_notebook({}, config_path=config) if cfg.verify and has_section("notebook", config_path=config) else None
    if notebook_cfg is not None:
        _check_notebook_before_build(replace(notebook_cfg, dist=cfg.out), cfg)
    reporter = ConsoleReporter(verbose=not quiet)
    result = build_project(cfg, reporter=reporter, force=force)
    _say_built(result, cfg.out)
    if notebook_cfg is not None:
        _notebook_and_verify(result.lock, replace(notebook_cfg, dist=cfg.out), reporter)


def _say_built(result, out: Path) -> None:
    lock = result.lock
    if result.noop:
        stdout.print(f"dist/ is up to date ({out}); nothing rebuilt in {result.seconds:.1f} s")
        return
    stdout.print(f"built {lock.project_name} with Julia {lock.julia_version} in {result.seconds:.1f} s → {out}")
    for layer in lock.layers:
        stdout.print(f"  {layer.file:<12} {human_size(layer.size):>12}  {layer.codec:<5} → {layer.dest}")
    for reason, size in result.pruned.items():
        stdout.print(f"  pruned from the depot: {reason}: {human_size(size)}")


def _notebook_and_verify(lock, cfg, reporter: ConsoleReporter) -> None:
    """After a build with a [notebook] section: write the notebook and rehearse it offline, unless the
    last rehearsal passed on exactly these files for exactly this build (a no-op rebuild keeps it)."""
    from juliapack.workflow.gate import notebook_files

    written = _write_notebook(cfg, lock)
    files = notebook_files(cfg.out)
    verdict = written.rehearsal
    if verdict and verdict.passed and (verdict.notebook_sha256, verdict.metadata_sha256) == (files.sha256, files.metadata_sha256):
        stdout.print("verify: the last offline rehearsal of this build and notebook passed (--force to build and rehearse again)")
        return
    _verify(cfg, reporter)


def _check_notebook_before_build(cfg, build_cfg) -> None:
    """Every [notebook] setting that can be judged without the build, judged before it starts."""
    from juliapack.config import KAGGLE_CPU_IMAGE
    from juliapack.errors import JuliapackError
    from juliapack.notebook import check_before_build
    from juliapack.project import read_project
    from juliapack.workflow.lock import read_lock

    project = read_project(build_cfg.project, julia_version=build_cfg.julia)
    check_before_build(cfg, project=project, image=build_cfg.image, cpu_image=build_cfg.image == KAGGLE_CPU_IMAGE)
    try:
        earlier = read_lock(build_cfg.out, project=project.name)
    except JuliapackError:
        earlier = None  # no build yet: the owner must come from the settings or the credentials
    _owner(cfg, earlier)


def _owner(cfg, lock) -> str:
    from juliapack.errors import CredentialsError
    from juliapack.kaggle_api import configured_username
    from juliapack.workflow.names import decide_owner

    owner = decide_owner(cfg.identity.owner, lock, signed_in=configured_username()) if lock else cfg.identity.owner or configured_username()
    if owner is None:
        raise CredentialsError(
            "no Kaggle user name to own the datasets and the notebook",
            fix="pass --dataset OWNER/SLUG, set KAGGLE_USERNAME, or put kaggle.json in ~/.kaggle",
        )
    return owner


def _write_notebook(cfg, lock):
    """Write the notebook for ``lock`` and record it there; returns the lock as updated."""
    from juliapack import accelerators
    from juliapack.notebook import plan_notebook, record_of
    from juliapack.notebook import write as write_notebook_files
    from juliapack.workflow.lock import update_lock

    owner = _owner(cfg, lock)
    accelerator = accelerators.for_build(cfg.accelerator, image=lock.image, image_cuda=lock.image_cuda)
    plan = plan_notebook(cfg, lock, owner=owner, dist=cfg.dist, accelerator=accelerator)
    ipynb, metadata = write_notebook_files(plan, cfg.out)
    stdout.print(f"wrote {ipynb} and {metadata}")
    stdout.print(f"  kernel {plan.owner}/{plan.kernel_slug} ({'public' if plan.public else 'private'}, internet off, accelerator {accelerator.name})")
    for ref in plan.dataset_refs:
        stdout.print(f"  dataset {ref}")
    record = record_of(plan, ipynb, metadata)
    return update_lock(cfg.dist, lambda current: replace(current, notebook=record), cache_dir=cfg.cache_dir)


@app.command(short_help="Write the notebook and its kernel-metadata.json.")
def notebook(
    model: Optional[str] = typer.Option(None, "--model", metavar="PATH", help="Model file (uploaded as its own dataset), or OWNER/DATASET/FILE on Kaggle."),
    args: Optional[str] = typer.Option(None, "--args", metavar="ARGS", help="More arguments for the entry point, shell-quoted."),
    competition: Optional[str] = typer.Option(None, "--competition", metavar="SLUG", help="The competition (attached as a data source)."),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", metavar="NAME", help="none, t4x2, p100, l4, l4x1, a100, h100, rtxpro6000 [default: the build image's]."),
    latest_image: Optional[bool] = typer.Option(None, "--latest-image", help="Let Kaggle run the kernel in its newest image, not the one it was rehearsed in."),
    public: Optional[bool] = typer.Option(None, "--public/--private", help="The kernel's visibility [default: private]."),
    dataset: Optional[str] = typer.Option(None, "--dataset", metavar="OWNER/SLUG", help="Owner and base slug of the datasets (SLUG-julia, -depot, -app, -model)."),
    title: Optional[str] = typer.Option(None, "--title", metavar="TITLE", help="The kernel's title, 5-50 characters [default: '<Project> submission']."),
    kernel_source: Optional[list[str]] = typer.Option(None, "--kernel-source", metavar="OWNER/SLUG", help="A kernel whose output to attach (repeatable)."),
    serve: Optional[bool] = typer.Option(None, "--serve", help="An inference-server competition: a Julia worker answers the competition's predict calls (needs --competition)."),
    deadline: Optional[str] = typer.Option(None, "--deadline", metavar="DURATION", help="With --serve: how long each predict call after the first may take [default: 300 s]."),
    server: Optional[str] = typer.Option(None, "--server", metavar="MODULE:CLASS", help="With --serve: the competition's InferenceServer [default: the one *_inference_server.py]."),
    dist: Optional[Path] = DIST,
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="PATH", help="Folder for the notebook [default: notebook]."),
    config: Optional[Path] = CONFIG,
) -> None:
    """Write notebook/<slug>.ipynb and notebook/kernel-metadata.json for the build in dist/.

    The notebook checks it got the hardware it was written for, unpacks the layers from the attached
    datasets (julia into /opt/juliapack/julia, the depot into /root, the app into /tmp), sets Julia's
    environment for an offline run and runs the entry point with the model; a failing Julia fails
    the notebook. With --serve it instead starts the app as a Julia worker (setup(args), warmup(),
    then predict per batch) and enters the competition's inference server at once. The datasets are
    named as upload names them.
    """
    from juliapack.config import load_notebook
    from juliapack.project import project_name
    from juliapack.workflow.lock import read_lock

    cfg = load_notebook(
        flags(model=model, args=args, competition=competition, accelerator=accelerator, public=public, dataset=dataset, title=title,
              kernel_sources=kernel_source, dist=str(dist) if dist else None, out=str(out) if out else None,
              image_pinning="latest" if latest_image else None, serve=serve, deadline=deadline, server=server),
        config_path=config,
    )  # fmt: skip
    _write_notebook(cfg, read_lock(cfg.dist, project=project_name(cfg.project)))


@app.command(short_help="Rehearse the notebook offline in the build's image.")
def verify(
    input: Optional[list[str]] = typer.Option(None, "--input", metavar="SRC:/kaggle/input/NAME", help="Competition data to mount (repeatable)."),
    timeout: Optional[str] = typer.Option(None, "--timeout", metavar="DURATION", help="How long a cell may run: seconds, or like 30m [default: 1h]."),
    notebook: Optional[Path] = typer.Option(None, "--notebook", metavar="PATH", help="The folder 'juliapack notebook' wrote [default: notebook]."),
    dist: Optional[Path] = DIST,
    config: Optional[Path] = CONFIG,
    quiet: bool = QUIET,
) -> None:
    """Rehearse the notebook push will send, as written, offline in the build's image.

    dist/ and the model are mounted as Kaggle mounts datasets, with no network. Fails on a failing
    cell, on any attempt to reach the network and on any package recompiled at load time; reports
    unpack times and time to first output, and copies the submission back to notebook/verify/. Where
    no notebook is written yet, one is written first from juliapack.toml.
    """
    from juliapack.config import load_notebook

    cfg = load_notebook(
        flags(inputs=input, timeout=timeout, out=str(notebook) if notebook else None, dist=str(dist) if dist else None),
        config_path=config,
    )  # fmt: skip
    reporter = ConsoleReporter(verbose=not quiet)

    def write_missing(lock):
        reporter.step(f"No notebook in {cfg.out} yet: writing one from the settings, as 'juliapack notebook' would")
        return _write_notebook(cfg, lock)

    _verify(cfg, reporter, write_missing=write_missing)


def _verify(cfg, reporter: ConsoleReporter, *, write_missing=None) -> None:
    from juliapack.verify import raise_if_failed, verify

    result = verify(cfg, reporter=reporter, write_missing=write_missing)
    for role, seconds in result.unpack_seconds.items():
        stdout.print(f"  unpack {role:<6} {seconds:6.2f} s")
    if result.first_output_seconds is not None:
        stdout.print(f"  first output after {result.first_output_seconds:.2f} s; notebook ran {result.seconds:.1f} s")
    if result.served is not None:
        served = result.served
        stdout.print(f"  server entered {served.entered_seconds:.2f} s after the cell started; first answer after {served.first_answer_seconds:.2f} s")
        stdout.print(f"  {served.calls} predict calls; per call after the first p50 {served.p50_ms:.3f} ms, p99 {served.p99_ms:.3f} ms")
    stdout.print(f"  network attempts: {len(result.network_attempts)}; caches rebuilt: {len(result.recompiled)}")
    for name in result.recompiled:
        stdout.print(f"    rebuilt {name}")
    for attempt in result.network_attempts:
        stdout.print(f"    {attempt}")
    raise_if_failed(result)
    stdout.print(f"verify passed; submission: {result.submission}; executed notebook: {result.executed}")
