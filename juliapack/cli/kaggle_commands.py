"""`juliapack upload`, `push`, `status` and `fetch`: the commands that talk to Kaggle."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from juliapack.cli.app import app, flags
from juliapack.cli.build_commands import CONFIG, DIST
from juliapack.cli.console import ConsoleReporter, stderr, stdout
from juliapack.report import human_size

PUBLIC = typer.Option(None, "--public/--private", help="Visibility of what is created now [default: private].")
SKIP_VERIFY = typer.Option(False, "--skip-verify", help="Send it although its offline rehearsal failed or never ran.")
NOTEBOOK = typer.Option(None, "--notebook", metavar="PATH", help="The folder 'juliapack notebook' wrote [default: notebook].")


@app.command(short_help="Upload the layers to private datasets (only what changed).")
def upload(
    dist: Optional[Path] = DIST,
    dataset: Optional[str] = typer.Option(None, "--dataset", metavar="OWNER/SLUG", help="Owner and base slug (SLUG-julia, SLUG-depot, SLUG-app)."),
    model: Optional[str] = typer.Option(None, "--model", metavar="PATH", help="The model file, into its own dataset [default: the notebook's]."),
    model_dataset: Optional[str] = typer.Option(None, "--model-dataset", metavar="OWNER/SLUG", help="The model's dataset [default: SLUG-model]."),
    title: Optional[str] = typer.Option(None, "--title", metavar="TITLE", help="Base title of the datasets: 'TITLE (Julia)', ... [default: the project's name]."),
    public: Optional[bool] = PUBLIC,
    message: Optional[str] = typer.Option(None, "--message", "-m", metavar="TEXT", help="Notes for new versions."),
    skip_verify: bool = SKIP_VERIFY,
    config: Optional[Path] = CONFIG,
) -> None:
    """Upload dist/ (and the model) to private Kaggle datasets, one per layer, sending only what changed.

    Only a build whose offline rehearsal passed is sent. Each dataset is created, or gets a new version
    when its content changed; every file is uploaded before the version is made, and the version's
    file list is checked against what was sent. The lock records each dataset's version number.
    """
    from juliapack.config import load_upload
    from juliapack.upload import upload as upload_build

    cfg = load_upload(
        flags(dist=str(dist) if dist else None, dataset=dataset, model=model, model_dataset=model_dataset, title=title, public=public,
              message=message, skip_verify=skip_verify),
        config_path=config,
    )  # fmt: skip
    result = upload_build(cfg, reporter=ConsoleReporter())
    for outcome in result.datasets:
        version = f"version {outcome.version}" if outcome.version is not None else "version ?"
        stdout.print(f"  {outcome.action:<10} {outcome.plan.ref:<44} {version:<11} {human_size(outcome.bytes_sent):>12} sent  {outcome.url}")
    share = result.bytes_sent / result.full_bytes if result.full_bytes else 0.0
    stdout.print(f"sent {human_size(result.bytes_sent)} of {human_size(result.full_bytes)} ({share:.1%} of a full upload)")


@app.command(short_help="Push the rehearsed notebook to Kaggle, which runs it.")
def push(
    folder: Optional[Path] = typer.Argument(None, metavar="[FOLDER]", help="The folder 'juliapack notebook' wrote [default: notebook]."),
    dist: Optional[Path] = DIST,
    public: Optional[bool] = typer.Option(None, "--public/--private", help="Make the notebook public [default: private]."),
    wait: Optional[bool] = typer.Option(None, "--wait/--no-wait", help="Wait until the run finishes; fail if it fails."),
    timeout: Optional[str] = typer.Option(None, "--timeout", metavar="DURATION", help="How long --wait waits: seconds, or like 30m, 2h [default: 12h]."),
    skip_verify: bool = SKIP_VERIFY,
    config: Optional[Path] = CONFIG,
) -> None:
    """Push the notebook to Kaggle as a new version (internet off) and print its URL; Kaggle runs it.

    Refused unless the last offline rehearsal passed on exactly these files, and every dataset the
    notebook attaches is READY on Kaggle at the version upload recorded.
    """
    from juliapack import kernels
    from juliapack.config import load_push
    from juliapack.kaggle_api import KaggleClient

    cfg = load_push(
        flags(notebook=str(folder) if folder else None, dist=str(dist) if dist else None, public=public, wait=wait, timeout=timeout,
              skip_verify=skip_verify),
        config_path=config,
    )  # fmt: skip
    reporter = ConsoleReporter()
    client = KaggleClient.from_environment(reporter=reporter)
    saved = kernels.push(cfg, client=client, reporter=reporter)
    stdout.print(f"pushed {saved.ref} (version {saved.version}): {saved.url}")
    if cfg.wait:
        outcome = kernels.wait_for_run(saved.ref, timeout=cfg.timeout, client=client, reporter=reporter)
        stdout.print(f"{saved.ref}: {outcome.label}")
        kernels.check_outcome(saved.ref, outcome)


@app.command(short_help="Show the state of the kernel's latest run.")
def status(
    kernel: Optional[str] = typer.Argument(None, metavar="[OWNER/SLUG]", help="The notebook [default: the one in notebook/kernel-metadata.json]."),
    notebook: Optional[Path] = NOTEBOOK,
    config: Optional[Path] = CONFIG,
) -> None:
    """Show the state of the notebook's latest run; exit non-zero if it failed or was cancelled."""
    from juliapack import kernels
    from juliapack.config import load_status

    from juliapack.kaggle_api import KaggleClient

    cfg = load_status(flags(kernel=kernel, notebook=str(notebook) if notebook else None), config_path=config)
    ref = kernels.chosen_kernel(cfg.kernel, cfg.folder)
    outcome = kernels.status(ref, client=KaggleClient.from_environment(reporter=ConsoleReporter()))
    stdout.print(f"{ref}: {outcome.label}")
    kernels.check_outcome(ref, outcome)


@app.command(short_help="Download the output files and log of the latest run.")
def fetch(
    kernel: Optional[str] = typer.Argument(None, metavar="[OWNER/SLUG]", help="The notebook [default: the one in notebook/kernel-metadata.json]."),
    out: Optional[Path] = typer.Argument(None, metavar="[OUT]", help="Where the files go [default: kaggle-output]."),
    notebook: Optional[Path] = NOTEBOOK,
    force: bool = typer.Option(False, "--force", help="Fetch even if the run has not finished."),
    config: Optional[Path] = CONFIG,
) -> None:
    """Download the output files and the log of the notebook's latest run."""
    from juliapack import kernels
    from juliapack.config import load_fetch

    cfg = load_fetch(
        flags(kernel=kernel, out=str(out) if out else None, notebook=str(notebook) if notebook else None, force=force), config_path=config
    )
    result = kernels.fetch(cfg, reporter=ConsoleReporter())
    for path in result.files:
        stdout.print(f"  {path}")
    if result.log:
        stdout.print(f"  {result.log} (log)")
    stdout.print(f"{result.kernel}: {result.state.label}; {len(result.files)} files, {human_size(result.bytes_received)} → {cfg.out}")
    if result.state.finished and not result.state.succeeded:
        stderr.print(f"warning: the run {result.state.label}; its log is in {result.log or cfg.out}", markup=False)
