"""The `juliapack` command: the only module that prints, exits or draws progress.

Every command parses its flags into plain values, lets `config` layer and validate them, runs the
stage modules with a rich Reporter, and turns a JuliapackError into one line on stderr plus the
error class's exit code.
"""

from __future__ import annotations

import signal
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from juliapack import __version__
from juliapack.errors import ExitCode, JuliapackError
from juliapack.report import human_size

HELP = """\
Pack a Julia inference pipeline for a Kaggle code competition, where the internet is off.

\b
  juliapack build ./Inference              Julia + depot + app, built in the Kaggle image, packed in dist/
  juliapack notebook --model model.jld2    the notebook that unpacks them and runs your entry point
  juliapack verify                         run that notebook offline in the same image, before Kaggle does
  juliapack upload                         private datasets, created or versioned (only what changed)
  juliapack push / status / fetch          the kernel on Kaggle, like `kaggle kernels`

Settings come from defaults < juliapack.toml < JULIAPACK_* environment < flags.
Exit codes: 2 usage, 3 input, 4 environment, 5 remote, 6 your code failed, 130 interrupted.
"""

app = typer.Typer(help=HELP, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


@dataclass
class _State:
    debug: bool = False


state = _State()
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)


class ConsoleReporter:
    """Reporter for a terminal: steps and facts on stderr, progress bars while bytes move."""

    def __init__(self, console: Console = stderr, *, verbose: bool = True) -> None:
        self.console = console
        self.verbose = verbose

    def step(self, message: str) -> None:
        self.console.print(f"[bold cyan]==>[/] [bold]{message}[/]")

    def info(self, message: str) -> None:
        self.console.print(f"    {message}", markup=False)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}")

    def log(self, line: str) -> None:
        if self.verbose:
            self.console.print(f"[dim]  | {_escape(line)}[/]")

    @contextmanager
    def progress(self, label: str, *, total: int | None, done: int = 0) -> Iterator["_Bar"]:
        columns = [TextColumn("    {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()]
        with Progress(*columns, TimeRemainingColumn(), console=self.console, transient=False) as bar:
            task = bar.add_task(label, total=total, completed=done)
            yield _Bar(bar, task)


@dataclass
class _Bar:
    bar: Progress
    task: int

    def advance(self, amount: int) -> None:
        self.bar.advance(self.task, amount)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def _version(value: bool) -> None:
    if value:
        stdout.print(f"juliapack {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    state.debug = debug
    if ctx.invoked_subcommand is None:
        stdout.print(ctx.get_help(), markup=False)


def _flags(**values: object) -> dict[str, object]:
    """Flag values for config: None (not given) lets juliapack.toml and the environment decide."""
    return {key: value for key, value in values.items() if value is not None}


@app.command()
def build(
    project: Optional[Path] = typer.Argument(None, help="The Julia project folder (holds Project.toml and Manifest.toml)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where the packed files go [default: dist]."),
    julia: Optional[str] = typer.Option(None, "--julia", help="Julia version: 1.10 (latest patch) or 1.10.5 [default: the Manifest's]."),
    julia_mirror: Optional[str] = typer.Option(None, "--julia-mirror", help="Base URL replacing https://julialang-s3.julialang.org."),
    versions_url: Optional[str] = typer.Option(None, "--versions-url", help="versions.json to resolve Julia versions with."),
    image: Optional[str] = typer.Option(None, "--image", help="Build image [default: the Kaggle GPU image]."),
    cpu: Optional[bool] = typer.Option(None, "--cpu", help="Use the Kaggle CPU image instead of the GPU one."),
    pull: Optional[str] = typer.Option(None, "--pull", help="Pull the image: missing, always or never [default: missing]."),
    registry: Optional[list[str]] = typer.Option(None, "--registry", help="Extra registry URL to add before instantiating (repeatable)."),
    env: Optional[list[str]] = typer.Option(None, "--env", "-e", help="KEY=VALUE for the build container (repeatable)."),
    mount: Optional[list[str]] = typer.Option(None, "--mount", help="SRC:DST[:ro|rw] bind mount for the build container (repeatable)."),
    network: Optional[str] = typer.Option(None, "--network", help="Build container network: bridge, host or none."),
    cpu_target: Optional[str] = typer.Option(None, "--cpu-target", help="JULIA_CPU_TARGET [default: what the official binaries use]."),
    smoke: Optional[str] = typer.Option(None, "--smoke", help="Run the entry point once with these arguments, in the build container."),
    entry: Optional[str] = typer.Option(None, "--entry", help="Entry script, relative to the project [default: src/<Name>.jl]."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", help="gitignore-style pattern left out of the app (repeatable)."),
    allow_secret: Optional[list[str]] = typer.Option(None, "--allow-secret", help="PATH=REASON: ship a file that looks like a secret (repeatable; recorded in the lock)."),
    codec: Optional[str] = typer.Option(None, "--codec", help="auto, zstd or gzip [default: auto: zstd if the image can unpack it]."),
    keep_registries: Optional[bool] = typer.Option(None, "--keep-registries", help="Keep registries/ in the depot."),
    keep_container: Optional[bool] = typer.Option(None, "--keep-container", help="Leave the build container for debugging."),
    fresh: Optional[bool] = typer.Option(None, "--fresh", help="Start from an empty depot."),
    force: bool = typer.Option(False, "--force", help="Build even if dist/ is up to date."),
    verify: Optional[bool] = typer.Option(None, "--verify/--no-verify", help="Rehearse the notebook offline afterwards (when one is configured)."),
    config: Optional[Path] = typer.Option(None, "--config", help="juliapack.toml to read [default: ./juliapack.toml, then the project's]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Hide the build container's output (errors still show its last lines)."),
) -> None:
    """Build PROJECT inside the Kaggle image and pack Julia, the depot and the app into dist/.

    Julia is downloaded (sha256-verified, cached), unpacked to /usr/local in the image, the project
    instantiated and precompiled at the paths the notebook will use, every artifact (lazy ones too)
    fetched, and the three layers written with names Kaggle will not unpack. Same inputs, same bytes:
    a rebuild with nothing changed is a no-op.
    """
    from juliapack import build as builds
    from juliapack import config as configs

    flags = _flags(
        project=str(project) if project else None, out=str(out) if out else None, julia=julia, julia_mirror=julia_mirror,
        versions_url=versions_url, image=image, cpu=cpu, pull=pull, registries=registry, env=env, mounts=mount,
        network=network, cpu_target=cpu_target, smoke=smoke, entry=entry, exclude=exclude, codec=codec, allow_secrets=allow_secret,
        keep_registries=keep_registries, keep_container=keep_container, fresh=fresh, verify=verify,
    )  # fmt: skip
    cfg = configs.load_build(flags, config_path=config)
    reporter = ConsoleReporter(verbose=not quiet)
    result = builds.build(cfg, reporter=reporter, force=force)
    lock = result.lock
    if result.noop:
        stdout.print(f"dist/ is up to date ({cfg.out}); nothing rebuilt in {result.seconds:.1f} s")
    else:
        stdout.print(f"built {lock.project_name} with Julia {lock.julia_version} in {result.seconds:.1f} s → {cfg.out}")
        for layer in lock.layers:
            stdout.print(f"  {layer.file:<12} {human_size(layer.size):>12}  {layer.codec:<5} → {layer.dest}")
        for reason, size in result.pruned.items():
            stdout.print(f"  pruned from the depot: {reason}: {human_size(size)}")
    if cfg.verify and configs.has_section("notebook", config_path=config):
        _notebook_and_verify(lock, config, reporter, unchanged=result.noop)


def _notebook_and_verify(lock, config: Optional[Path], reporter: ConsoleReporter, *, unchanged: bool) -> None:
    """After a build, when juliapack.toml has a [notebook]: regenerate it and rehearse it offline,
    unless the last rehearsal passed for exactly this build."""
    from juliapack import config as configs
    from juliapack import notebook as notebooks
    from juliapack import verify as rehearsal

    cfg = configs.load_notebook({}, config_path=config)
    if unchanged and rehearsal.passed_before(cfg.out / "verify", lock.fingerprint):
        stdout.print("verify: the last offline rehearsal of this build passed (--force to build and rehearse again)")
        return
    plan = notebooks.plan_notebook(cfg, lock, owner=_owner(cfg.identity.owner, cfg.dist), dist=cfg.dist)
    ipynb, _ = notebooks.write(plan, cfg.out)
    stdout.print(f"wrote {ipynb}")
    _verify(cfg, reporter)


def _owner(identity_owner: str | None, dist: Path) -> str:
    """Who owns the datasets and the kernel: --owner, else the configured Kaggle user, else the last upload's."""
    from juliapack.workflow.uploads import read_upload_state
    from juliapack.errors import CredentialsError
    from juliapack.kaggle_api import configured_username

    owner = identity_owner or configured_username()
    if owner is None:
        uploaded = read_upload_state(dist)
        owner = next((record.ref.split("/")[0] for record in uploaded.values()), None)
    if owner is None:
        raise CredentialsError(
            "no Kaggle user name to own the datasets and the notebook",
            fix="pass --owner NAME, set KAGGLE_USERNAME, or put kaggle.json in ~/.kaggle",
        )
    return owner


NotebookOptions = dict(
    model=typer.Option(None, "--model", help="Model file (uploaded as its own dataset) or OWNER/DATASET/FILE on Kaggle."),
    args=typer.Option(None, "--args", help="More arguments for the entry point, shell-quoted, e.g. \"--input /kaggle/input/comp\"."),
    competition=typer.Option(None, "--competition", help="The competition's slug (attached as a data source)."),
    owner=typer.Option(None, "--owner", help="Kaggle user owning the datasets and the kernel [default: yours]."),
    slug=typer.Option(None, "--slug", help="Base slug of the datasets [default: the project name]."),
    title=typer.Option(None, "--title", help="The kernel's title (5-50 characters) [default: '<Project> submission']."),
    dist=typer.Option(None, "--dist", help="The folder 'juliapack build' wrote [default: dist]."),
    config=typer.Option(None, "--config", help="juliapack.toml to read [default: ./juliapack.toml]."),
)


@app.command()
def notebook(
    model: Optional[str] = NotebookOptions["model"],
    args: Optional[str] = NotebookOptions["args"],
    competition: Optional[str] = NotebookOptions["competition"],
    gpu: Optional[bool] = typer.Option(None, "--gpu/--no-gpu", help="Run the kernel on a GPU."),
    public: Optional[bool] = typer.Option(None, "--public", help="Make the kernel public [default: private]."),
    owner: Optional[str] = NotebookOptions["owner"],
    slug: Optional[str] = NotebookOptions["slug"],
    title: Optional[str] = NotebookOptions["title"],
    kernel_source: Optional[list[str]] = typer.Option(None, "--kernel-source", help="OWNER/KERNEL whose output to attach (repeatable)."),
    dist: Optional[Path] = NotebookOptions["dist"],
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the notebook [default: notebook]."),
    config: Optional[Path] = NotebookOptions["config"],
) -> None:
    """Write notebook/<slug>.ipynb and notebook/kernel-metadata.json for the build in dist/.

    The notebook unpacks the three layers from the attached datasets (julia into /usr/local, the depot
    into /root, the app into /tmp), sets Julia's environment for an offline run and runs the entry
    point with the model; a failing Julia fails the notebook.
    """
    from juliapack import config as configs
    from juliapack import notebook as notebooks
    from juliapack.workflow.lock import read_lock
    from juliapack.project import project_name

    cfg = configs.load_notebook(
        _flags(model=model, args=args, competition=competition, gpu=gpu, public=public, owner=owner, slug=slug,
               title=title, kernel_sources=kernel_source, dist=str(dist) if dist else None, out=str(out) if out else None),
        config_path=config,
    )  # fmt: skip
    lock = read_lock(cfg.dist, project=project_name(cfg.project))
    plan = notebooks.plan_notebook(cfg, lock, owner=_owner(cfg.identity.owner, cfg.dist), dist=cfg.dist)
    ipynb, metadata = notebooks.write(plan, cfg.out)
    stdout.print(f"wrote {ipynb} and {metadata}")
    stdout.print(f"  kernel {plan.owner}/{plan.kernel_slug} ({'public' if plan.public else 'private'}, internet off)")
    for ref in plan.dataset_refs:
        stdout.print(f"  dataset {ref}")


@app.command()
def verify(
    model: Optional[str] = NotebookOptions["model"],
    args: Optional[str] = NotebookOptions["args"],
    input: Optional[list[str]] = typer.Option(None, "--input", help="SRC:/kaggle/input/NAME competition data to mount (repeatable)."),
    timeout: Optional[int] = typer.Option(None, "--timeout", help="Seconds a cell may run [default: 3600]."),
    owner: Optional[str] = NotebookOptions["owner"],
    slug: Optional[str] = NotebookOptions["slug"],
    title: Optional[str] = NotebookOptions["title"],
    dist: Optional[Path] = NotebookOptions["dist"],
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the notebook; results go to its verify/ [default: notebook]."),
    config: Optional[Path] = NotebookOptions["config"],
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Hide the container's output."),
) -> None:
    """Rehearse the notebook offline: the build's image, dist/ mounted as Kaggle mounts datasets, no network.

    Fails on a failing cell, on any attempt to reach the network, and on any package recompiled at load
    time; reports unpack times, time to first output, and copies the submission back.
    """
    from juliapack import config as configs

    cfg = configs.load_notebook(
        _flags(model=model, args=args, inputs=input, timeout=timeout, owner=owner, slug=slug, title=title,
               dist=str(dist) if dist else None, out=str(out) if out else None),
        config_path=config,
    )  # fmt: skip
    _verify(cfg, ConsoleReporter(verbose=not quiet))


def _verify(cfg, reporter: ConsoleReporter) -> None:
    from juliapack import verify as rehearsal

    owner = cfg.identity.owner or "juliapack-verify"  # mount paths depend on slugs only
    result = rehearsal.verify(cfg, owner=owner, out=cfg.out / "verify", reporter=reporter)
    for role, seconds in result.unpack_seconds.items():
        stdout.print(f"  unpack {role:<6} {seconds:6.2f} s")
    if result.first_output_seconds is not None:
        stdout.print(f"  first output after {result.first_output_seconds:.2f} s; notebook ran {result.seconds:.1f} s")
    stdout.print(f"  network attempts: {len(result.network_attempts)}; caches rebuilt: {len(result.recompiled)}")
    for name in result.recompiled:
        stdout.print(f"    rebuilt {name}")
    for attempt in result.network_attempts:
        stdout.print(f"    {attempt}")
    rehearsal.raise_if_failed(result)
    stdout.print(f"verify passed; submission: {result.submission}; executed notebook: {result.executed}")


# ---- kaggle commands


@app.command()
def upload(
    dist: Optional[Path] = typer.Option(None, "--dist", help="The folder 'juliapack build' wrote [default: dist]."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="OWNER/SLUG: owner and base slug (SLUG-julia, SLUG-depot, SLUG-app)."),
    model: Optional[Path] = typer.Option(None, "--model", help="A model file to upload too, into its own dataset."),
    model_dataset: Optional[str] = typer.Option(None, "--model-dataset", help="OWNER/SLUG of the model's dataset [default: SLUG-model]."),
    public: Optional[bool] = typer.Option(None, "--public/--private", help="Visibility of datasets created now [default: private]."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Notes for new versions."),
    config: Optional[Path] = typer.Option(None, "--config", help="juliapack.toml to read [default: ./juliapack.toml]."),
) -> None:
    """Upload dist/ (and the model) to private Kaggle datasets, one per layer, sending only what changed.

    Each dataset is created, or gets a new version when its content changed; every file is uploaded
    before the version is made, and the version's file list is checked against what was sent.
    """
    from juliapack import config as configs
    from juliapack import upload as uploads
    from juliapack.config.values import as_dataset_ref

    owner = slug = None
    if dataset:
        owner, _, slug = as_dataset_ref(dataset, configs.Source("--dataset")).partition("/")
    flags = _flags(
        dist=str(dist) if dist else None, owner=owner, slug=slug, model=str(model) if model else None,
        model_dataset=model_dataset, public=public, message=message,
    )  # fmt: skip
    cfg = configs.load_upload(flags, config_path=config)
    result = uploads.upload(cfg, reporter=ConsoleReporter())
    for outcome in result.datasets:
        version = f"version {outcome.version}" if outcome.version is not None else "version ?"
        stdout.print(f"  {outcome.action:<10} {outcome.plan.ref:<44} {version:<11} {human_size(outcome.bytes_sent):>12} sent  {outcome.url}")
    share = result.bytes_sent / result.full_bytes if result.full_bytes else 0.0
    stdout.print(f"sent {human_size(result.bytes_sent)} of {human_size(result.full_bytes)} ({share:.1%} of a full upload)")


@app.command()
def push(
    folder: Optional[Path] = typer.Argument(None, help="The folder 'juliapack notebook' wrote [default: notebook]."),
    public: Optional[bool] = typer.Option(None, "--public/--private", help="Make the notebook public [default: private]."),
    wait: Optional[bool] = typer.Option(None, "--wait/--no-wait", help="Wait until the run finishes; fail if it fails."),
    timeout: Optional[str] = typer.Option(None, "--timeout", help="How long --wait waits: seconds, or like 30m, 2h [default: 12h]."),
    config: Optional[Path] = typer.Option(None, "--config", help="juliapack.toml to read [default: ./juliapack.toml]."),
) -> None:
    """Push the notebook to Kaggle as a new version (internet off) and print its URL; Kaggle runs it."""
    from juliapack import config as configs
    from juliapack import kernels
    from juliapack.kaggle_api import KaggleClient

    flags = _flags(notebook=str(folder) if folder else None, public=public, wait=wait, timeout=timeout)
    cfg = configs.load_push(flags, config_path=config)
    reporter = ConsoleReporter()
    client = KaggleClient.from_environment()
    saved = kernels.push(cfg, client=client, reporter=reporter)
    stdout.print(f"pushed {saved.ref} (version {saved.version}): {saved.url}")
    if cfg.wait:
        outcome = kernels.wait_for_run(saved.ref, timeout=cfg.timeout, client=client, reporter=reporter)
        stdout.print(f"{saved.ref}: {outcome.label}")
        kernels.check_outcome(saved.ref, outcome)


@app.command()
def status(
    kernel: str = typer.Argument(..., help="OWNER/SLUG of the notebook."),
    config: Optional[Path] = typer.Option(None, "--config", help="juliapack.toml to read [default: ./juliapack.toml]."),
) -> None:
    """Show the state of the notebook's latest run; exit non-zero if it failed or was cancelled."""
    from juliapack import config as configs
    from juliapack import kernels

    cfg = configs.load_status(_flags(kernel=kernel), config_path=config)
    outcome = kernels.status(cfg.kernel)
    stdout.print(f"{cfg.kernel}: {outcome.label}")
    kernels.check_outcome(cfg.kernel, outcome)


@app.command()
def fetch(
    kernel: str = typer.Argument(..., help="OWNER/SLUG of the notebook."),
    out: Optional[Path] = typer.Argument(None, help="Where the files go [default: kaggle-output]."),
    force: bool = typer.Option(False, "--force", help="Fetch even if the run has not finished."),
    config: Optional[Path] = typer.Option(None, "--config", help="juliapack.toml to read [default: ./juliapack.toml]."),
) -> None:
    """Download the output files and the log of the notebook's latest run."""
    from juliapack import config as configs
    from juliapack import kernels

    cfg = configs.load_fetch(_flags(kernel=kernel, out=str(out) if out else None, force=force), config_path=config)
    result = kernels.fetch(cfg, reporter=ConsoleReporter())
    for path in result.files:
        stdout.print(f"  {path}")
    if result.log:
        stdout.print(f"  {result.log} (log)")
    stdout.print(f"{cfg.kernel}: {result.state.label}; {len(result.files)} files, {human_size(result.bytes_received)} → {cfg.out}")
    if result.state.finished and not result.state.succeeded:
        stderr.print(f"warning: the run {result.state.label}; its log is in {result.log or cfg.out}", markup=False)


def fail(error: JuliapackError) -> None:
    """Print an error as one line (details first, if any) and exit with its class's code."""
    if error.details:
        stderr.print(error.details, markup=False)
    stderr.print(f"error: {error}", markup=False, soft_wrap=True)
    raise SystemExit(int(error.exit_code))


def _sigterm_interrupts() -> None:
    """SIGTERM unwinds like Ctrl-C, so containers, temp files and locks are cleaned up on the way out."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> None:
    _sigterm_interrupts()
    try:
        result = app(args=argv, standalone_mode=False, prog_name="juliapack")
    except JuliapackError as error:
        if state.debug:
            traceback.print_exc()
        fail(error)
    except typer.TyperException as error:
        stderr.print(f"error: {error.format_message()} — see 'juliapack --help'", markup=False, soft_wrap=True)
        raise SystemExit(error.exit_code)
    except typer.Abort:
        stderr.print("error: aborted — nothing was changed", markup=False)
        raise SystemExit(int(ExitCode.INTERRUPTED))
    if result == ExitCode.INTERRUPTED:  # Ctrl-C or SIGTERM: typer turns KeyboardInterrupt into exit code 130
        stderr.print("error: interrupted — nothing half-written was kept (dist/ is as before); run the command again", markup=False)
    sys.exit(result if isinstance(result, int) else 0)
