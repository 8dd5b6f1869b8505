"""Bad inputs to every command (issue 7), one table: each case must end stderr with exactly one line
`error: <what> — <how to fix>`, exit with its class's code (2 usage, 3 input, 4 environment, 5 remote),
print no traceback (unless --debug), write nothing to stdout, and leave nothing behind: the working
folder (dist/, notebook/, the project, ...) is byte-identical afterwards, and no `.staging-*`, `*.partial`
or other temp file appears anywhere in the sandbox.

No Docker here: DOCKER_HOST names a socket that does not exist, so the cases that get past the inputs
meet a missing engine. The Kaggle commands talk to the fake Kaggle (testbed/fake_kaggle.py), started in
this process. Each case runs `python -m juliapack` in its own sandbox (cwd, HOME, TMPDIR, cache and
KAGGLE_CONFIG_DIR all inside it; no KAGGLE_* credentials unless the case sets them). Cases that need the
engine or a real build are in tests/docker/test_bad_inputs_docker.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pytest

from juliapack.fsutil import sha256_file
from juliapack.workflow.lock import read_lock, write_lock
from juliapack.workflow.records import RehearsalRecord
from testbed.fake_kaggle import FakeKaggle
from tests.unit.helpers import Ran, check_error_line, fake_token, make_lock, member, snapshot, table, temp_files, write_tarball

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "Inference"
USER, KEY = "alice", "alice-key-7c1d0e"
OTHER, OTHER_KEY = "bob", "bob-key-2f9a41"
NO_DOCKER = "unix:///nonexistent.sock"
# Run as root, the CLI would read every file whatever its mode: without these capabilities it reads as a user does.
AS_A_USER = ("setpriv", "--bounding-set=-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
PARALLEL = 6
COMMANDS = ("build", "notebook", "verify", "upload", "push", "status", "fetch")

pytestmark = pytest.mark.slow  # ~80 runs of the CLI, six at a time: about half a minute


# --------------------------------------------------------------------------- sandboxes and their setups


@dataclass
class Sandbox:
    """One case's world: the working folder (cwd) plus HOME, TMPDIR, cache and Kaggle config dir beside it."""

    root: Path
    fake: FakeKaggle

    @property
    def work(self) -> Path:
        return self.root / "work"

    def env(self, extra: Mapping[str, str] = {}) -> dict[str, str]:  # noqa: B006 - read only
        return {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),  # this tree's juliapack, whichever checkout the environment installed
            "LANG": "C.UTF-8",
            "COLUMNS": "40",  # a wrapped error would show up as a second line
            "HOME": str(self.root / "home"),
            "TMPDIR": str(self.root / "tmp"),
            "JULIAPACK_CACHE_DIR": str(self.root / "cache"),
            "KAGGLE_CONFIG_DIR": str(self.root / "kaggle"),
            "DOCKER_HOST": NO_DOCKER,
            **self.fake.client_env(),
            **extra,
        }

    def juliapack(self, *args: str, env: Mapping[str, str] = {}, cwd: Path | None = None) -> subprocess.CompletedProcess:  # noqa: B006
        return subprocess.run(
            [*AS_A_USER, sys.executable, "-m", "juliapack", *args], cwd=cwd or self.work, env=self.env(env), capture_output=True, text=True, timeout=120
        )


Setup = Callable[[Sandbox], None]
CREDENTIALS = {"KAGGLE_USERNAME": USER, "KAGGLE_KEY": KEY}


def example(sb: Sandbox) -> None:
    """The bundled example project (format-1 Manifest, no julia_version) as work/Inference."""
    shutil.copytree(EXAMPLE, sb.work / "Inference")


def toml(text: str | bytes) -> Setup:
    def setup(sb: Sandbox) -> None:
        data = text.encode() if isinstance(text, str) else text
        (sb.work / "juliapack.toml").write_bytes(data)

    return setup


TESTBED_TOML = toml('julia = "1.5"\nproject = "Inference"\n')


def write(relpath: str, data: str | bytes) -> Setup:
    def setup(sb: Sandbox) -> None:
        path = sb.work / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def symlink(relpath: str, target: str) -> Setup:
    return lambda sb: os.symlink(target, sb.work / relpath)


def remove(relpath: str) -> Setup:
    return lambda sb: (sb.work / relpath).unlink()


def edit(relpath: str, change: Callable[[str], str]) -> Setup:
    def setup(sb: Sandbox) -> None:
        path = sb.work / relpath
        text = path.read_text()
        changed = change(text)
        assert changed != text, f"the edit of {relpath} changed nothing"
        path.write_text(changed)

    return setup


def drop_from_manifest(package: str) -> Setup:
    return edit("Inference/Manifest.toml", lambda text: re.sub(rf"\[\[{package}\]\]\n(?:[^\[].*\n)*", "", text))


def dist(*, app: list | None = None, rehearsed: bool | None = True) -> Setup:
    """dist/ as `build` and `verify` leave it, made by hand: three small tarballs and a lock that matches them,
    with a passing rehearsal recorded (or a failing one, or none)."""

    def setup(sb: Sandbox) -> None:
        folder = sb.work / "dist"
        folder.mkdir(parents=True)
        files = {
            "julia": write_tarball(folder / "julia", [member("julia-1.5.3", "dir"), member("julia-1.5.3/bin/julia", data=b"#!/bin/sh\n")], codec="gzip"),
            "depot": write_tarball(folder / "dotjulia", [member(".julia/packages/TinyModel/Ab1/src/TinyModel.jl", data=b"module TinyModel end\n")], codec="zstd"),
            "app": write_tarball(folder / "inference", app or [member("Inference/src/Inference.jl", data=b"module Inference end\n")], codec="zstd"),
        }  # fmt: skip
        lock = make_lock(files={role: (sha256_file(path), path.stat().st_size) for role, path in files.items()})
        if rehearsed is not None:
            verdict = RehearsalRecord(rehearsed, () if rehearsed else ("cell 7 failed",), str(sb.work / "notebook"), "a" * 64, "b" * 64)
            lock = dataclasses.replace(lock, rehearsal=verdict)
        write_lock(folder, lock)

    return setup


def example_manifest_v2(julia_version: str) -> Setup:
    """The example's Manifest as a newer Julia writes it: format 2, with the julia_version it was resolved by."""

    def change(text: str) -> str:
        return f'julia_version = "{julia_version}"\nmanifest_format = "2.0"\n\n' + re.sub(r"^\[\[(\w+)\]\]$", r"[[deps.\1]]", text, flags=re.M)

    return edit("Inference/Manifest.toml", change)


def unreadable(relpath: str, *, mode: int = 0o000) -> Setup:
    return lambda sb: (sb.work / relpath).chmod(mode)


def flip_last_byte(relpath: str) -> Setup:
    def setup(sb: Sandbox) -> None:
        path = sb.work / relpath
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))

    return setup


def append_byte(relpath: str) -> Setup:
    def setup(sb: Sandbox) -> None:
        with open(sb.work / relpath, "ab") as stream:
            stream.write(b"\0")

    return setup


def rename_layer(role: str, new_name: str) -> Setup:
    """Rename a layer file in dist/ and record the new name in the lock, as a hand-edited dist would."""

    def setup(sb: Sandbox) -> None:
        folder = sb.work / "dist"
        lock = read_lock(folder)
        layers = []
        for layer in lock.layers:
            if layer.role == role:
                (folder / layer.file).rename(folder / new_name)
                layer = dataclasses.replace(layer, file=new_name)
            layers.append(layer)
        write_lock(folder, dataclasses.replace(lock, layers=tuple(layers)))

    return setup


def kaggle_json(text: str | None = None, *, mode: int = 0o600) -> Setup:
    """$KAGGLE_CONFIG_DIR/kaggle.json: alice's, unless ``text`` says otherwise."""

    def setup(sb: Sandbox) -> None:
        path = sb.root / "kaggle" / "kaggle.json"
        path.write_text(json.dumps({"username": USER, "key": KEY}) if text is None else text)
        path.chmod(mode)

    return setup


def write_kernel_folder(path: Path, *, ref: str, sources: tuple[str, ...] = (), metadata: str | None = None) -> None:
    """A folder as `juliapack notebook` writes it: kernel-metadata.json and the notebook it names."""
    path.mkdir(parents=True)
    (path / "run.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    meta = {"id": ref, "title": ref.split("/")[1].replace("-", " "), "code_file": "run.ipynb", "language": "python",
            "kernel_type": "notebook", "is_private": True, "enable_internet": False, "dataset_sources": list(sources)}  # fmt: skip
    (path / "kernel-metadata.json").write_text(json.dumps(meta) if metadata is None else metadata)


def kernel_folder(*, ref: str = f"{USER}/bad-input-run", sources: tuple[str, ...] = (), metadata: str | None = None) -> Setup:
    return lambda sb: write_kernel_folder(sb.work / "nb", ref=ref, sources=sources, metadata=metadata)


def pushed(ref: str, *, finished: bool) -> Setup:
    """A notebook on the fake Kaggle, pushed by `juliapack push` from outside the working folder."""

    def setup(sb: Sandbox) -> None:
        sb.fake.kernel_run(ref, steps=() if finished else ("QUEUED",) * 1000, outputs={"submission.csv": b"id,y\n1,2\n"}, log="[]")
        write_kernel_folder(sb.root / "push-from", ref=ref)
        done = sb.juliapack("push", str(sb.root / "push-from"), "--skip-verify", env=CREDENTIALS)
        assert done.returncode == 0, done.stderr

    return setup


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    says: tuple[str, ...]  # each must be in the error line
    setup: tuple[Setup, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    bug: str = ""  # a known product bug: the case is a strict xfail with this reason
    warns: tuple[str, ...] = ()  # each must be in a warning line before the error


PROJECT = (example, TESTBED_TOML)  # the example with the test bed's julia = "1.5"
GITHUB_TOKEN = fake_token("github")

CASES: dict[str, Case] = {
    # ---- build: the project
    "build-project-missing": Case(("build", "nothere"), 3, ("project directory", "nothere", "does not exist")),
    "build-not-a-julia-project": Case(("build", "Inference"), 3, ("is not a Julia project (no Project.toml)",), (*PROJECT, remove("Inference/Project.toml"))),
    "build-manifest-missing": Case(("build", "Inference"), 3, ("has no Manifest.toml", "Pkg.instantiate()"), (*PROJECT, remove("Inference/Manifest.toml"))),
    "build-manifest-stale": Case(("build", "Inference"), 3, ("Manifest.toml is out of date: TinyModel", "Pkg.resolve()"), (*PROJECT, drop_from_manifest("TinyModel"))),
    "build-manifest-not-toml": Case(("build", "Inference"), 3, ("Manifest.toml is not valid TOML", "line 1"), (*PROJECT, write("Inference/Manifest.toml", "[[TinyModel\n"))),
    "build-manifest-deps-not-a-table": Case(
        ("build", "Inference"), 3, ("Manifest.toml",), (*PROJECT, write("Inference/Manifest.toml", 'julia_version = "1.5.3"\nmanifest_format = "2.0"\ndeps = "TinyModel"\n')),
    ),  # fmt: skip
    "build-manifest-format-2-for-julia-1.5": Case(
        ("build", "Inference"), 3, ("Manifest.toml is in format 2 (written by Julia 1.10.0), which Julia 1.5 cannot read", 'build with julia = "1.10"'),
        (*PROJECT, example_manifest_v2("1.10.0")),
    ),  # fmt: skip
    "build-manifest-newer-than-julia": Case(
        ("build", "Inference", "--julia", "1.9"), 3, ("Manifest.toml was written by Julia 1.10.0, newer than the Julia 1.9 chosen", "regenerate the Manifest with Julia 1.9"),
        (*PROJECT, example_manifest_v2("1.10.0")),
    ),  # fmt: skip
    "build-manifest-outside-compat-warns-then-docker-missing": Case(
        ("build", "Inference"), 4, ("cannot reach the Docker engine",), (*PROJECT, edit("Inference/Project.toml", lambda text: text.replace('TinyModel = "0.2"', 'TinyModel = "0.3"'))),
        warns=('Manifest.toml has TinyModel 0.2.0, which [compat] TinyModel = "0.3" in Project.toml excludes',),
    ),  # fmt: skip
    "build-unreadable-file": Case(
        ("build", "Inference"), 3, ("cannot read data/train.csv in the project", "Permission denied", "chmod u+r", ".juliapackignore"),
        (*PROJECT, write("Inference/data/train.csv", "x\n"), unreadable("Inference/data/train.csv")),
    ),  # fmt: skip
    "build-unreadable-folder": Case(
        ("build", "Inference"), 3, ("cannot read data in the project", "Permission denied", "chmod u+rx"),
        (*PROJECT, write("Inference/data/train.csv", "x\n"), unreadable("Inference/data", mode=0o644)),
    ),  # fmt: skip
    "build-entry-outside-project": Case(("build", "Inference", "--entry", "../run.jl"), 3, ("entry point ../run.jl is not inside the project",), PROJECT),
    # ---- build: files that are not the project's
    "build-symlink-leaves-the-project": Case(
        ("build", "Inference"), 3, ("passwd links to /etc/passwd, outside the project", ".juliapackignore"), (*PROJECT, symlink("Inference/passwd", "/etc/passwd")),
    ),  # fmt: skip
    "build-symlink-to-a-folder-outside": Case(("build", "Inference"), 3, ("data links to /etc, outside the project",), (*PROJECT, symlink("Inference/data", "/etc"))),
    "build-symlink-loop": Case(("build", "Inference"), 3, ("self links to ., a loop", "remove the link"), (*PROJECT, symlink("Inference/self", "."))),
    # ---- build: the Julia version
    "build-no-julia-version": Case(("build", "Inference"), 3, ("does not record a Julia version", "--julia"), (example,)),
    **{
        f"build-julia-{spec}": Case(("build", "Inference", "--julia", spec), 2, (f"--julia is '{spec}', which is not a Julia version",), PROJECT)
        for spec in ("1", "latest", "1.x")
    },
    # ---- build: juliapack.toml and option values
    "build-toml-syntax": Case(("build", "Inference"), 2, ("juliapack.toml is not valid TOML", "line 3"), (example, toml('julia = "1.5"\n[build]\ncodec = zstd\n'))),
    "build-toml-unknown-field": Case(("build", "Inference"), 2, ("unknown field 'codex'", "[build]", "did you mean 'codec'?"), (example, toml('julia = "1.5"\n[build]\ncodex = "zstd"\n'))),
    "build-toml-unknown-section": Case(("build", "Inference"), 2, ("unknown field 'biuld'", "did you mean 'build'?"), (example, toml('julia = "1.5"\n[biuld]\ncodec = "zstd"\n'))),
    "build-toml-not-utf8": Case(
        ("build", "Inference"), 2, ("juliapack.toml", "UTF-8"), (example, toml(b'julia = "1.5"\n# r\xe9glages\n')),
    ),  # fmt: skip
    "build-config-missing": Case(("build", "Inference", "--config", "nothere.toml"), 2, ("config file nothere.toml does not exist",), PROJECT),
    "build-pull-sometimes": Case(("build", "Inference", "--pull", "sometimes"), 2, ("--pull is 'sometimes', not one of missing, always, never",), PROJECT),
    "build-network-wifi": Case(("build", "Inference", "--network", "wifi"), 2, ("--network is 'wifi', not one of bridge, host, none",), PROJECT),
    "build-codec-bzip": Case(("build", "Inference", "--codec", "bzip"), 2, ("--codec is 'bzip', not one of auto, zstd, gzip",), PROJECT),
    "build-pull-from-environment": Case(("build", "Inference"), 2, ("$JULIAPACK_PULL is 'sometimes'",), PROJECT, env={"JULIAPACK_PULL": "sometimes"}),
    "build-names-auto-unpacked": Case(
        ("build", "Inference"), 2, ("'dotjulia.tar.gz' ends like an archive", "Kaggle would unpack it"),
        (example, toml('julia = "1.5"\n[build]\nnames = {depot = "dotjulia.tar.gz"}\n')),
    ),  # fmt: skip
    "build-env-not-a-pair": Case(("build", "Inference", "--env", "HF_TOKEN"), 2, ("'HF_TOKEN', not KEY=VALUE",), PROJECT),
    "build-env-reserved": Case(("build", "Inference", "--env", "JULIA_DEPOT_PATH=/x"), 2, ("--env JULIA_DEPOT_PATH is set by juliapack itself",), PROJECT),
    "build-volume-source-missing": Case(("build", "Inference", "--volume", "nothere:/data"), 2, ("--volume: mount source", "does not exist"), PROJECT),
    "build-volume-not-docker-syntax": Case(("build", "Inference", "-v", "a:b:c:d"), 2, ("--volume has 'a:b:c:d', not SRC:DST[:ro|rw]",), PROJECT),
    "build-volume-flag-contradicts-the-toml": Case(
        ("build", "Inference", "--volume", "other:/data"), 2, ("[build] field 'volumes' mounts", "data:/data:ro and --volume mounts", "other:/data:ro at the same target"),
        (example, toml('julia = "1.5"\nproject = "Inference"\n[build]\nvolumes = ["data:/data"]\n'), write("data/x.csv", "1\n"), write("other/y.csv", "2\n")),
    ),  # fmt: skip
    "build-image-name-invalid": Case(("build", "Inference", "--image", "Bad Image!!"), 2, ("--image is 'Bad Image!!', not a Docker image name",), PROJECT),
    # ---- build: secrets in the project are refused, unless ignored
    "build-secret-dotenv": Case(("build", "Inference"), 3, ("look like secrets", ".env (environment file with secrets)"), (*PROJECT, write("Inference/.env", "API_KEY=x\n"))),
    "build-secret-kaggle-json": Case(("build", "Inference"), 3, ("look like secrets", "kaggle.json (Kaggle API credentials)"), (*PROJECT, write("Inference/kaggle.json", '{"username": "a", "key": "b"}'))),
    "build-secret-ssh-key": Case(("build", "Inference"), 3, ("look like secrets", "id_rsa (SSH private key)"), (*PROJECT, write("Inference/id_rsa", "not really a key\n"))),
    "build-secret-github-token": Case(
        ("build", "Inference"), 3, ("look like secrets", "src/settings.jl (contains a GitHub token", ".juliapackignore"),
        (*PROJECT, write("Inference/src/settings.jl", f'const TOKEN = "{GITHUB_TOKEN}"\n')),
    ),  # fmt: skip
    # Listed in .juliapackignore or --exclude, the same secrets pass, and the build goes on to Docker, which is missing here.
    "build-secret-ignored-then-docker-missing": Case(
        ("build", "Inference"), 4, ("cannot reach the Docker engine", "start Docker"),
        (*PROJECT, write("Inference/.env", "API_KEY=x\n"), write("Inference/src/settings.jl", f'const TOKEN = "{GITHUB_TOKEN}"\n'),
         write("Inference/.juliapackignore", ".env\nsrc/settings.jl\n")),
    ),  # fmt: skip
    "build-secret-excluded-then-docker-missing": Case(
        ("build", "Inference", "--exclude", "id_rsa", "--exclude", "kaggle.json"), 4, ("cannot reach the Docker engine",),
        (*PROJECT, write("Inference/id_rsa", "x\n"), write("Inference/kaggle.json", "{}")),
    ),  # fmt: skip
    # ---- build with a [notebook] section: every setting the build does not decide is judged before it starts
    "build-notebook-no-owner": Case(
        ("build", "Inference"), 4, ("no Kaggle user name to own the datasets and the notebook", "--dataset OWNER/SLUG"),
        (example, toml('julia = "1.5"\nproject = "Inference"\n[notebook]\nargs = "--x 1"\n')),
    ),  # fmt: skip
    "build-notebook-gpu-on-the-cpu-image": Case(
        ("build", "Inference", "--cpu"), 2, ("--accelerator t4x2 asks for a GPU", "has no CUDA"),
        (example, toml(f'julia = "1.5"\nproject = "Inference"\n[notebook]\ndataset = "{USER}/inference"\naccelerator = "t4x2"\n')),
    ),  # fmt: skip
    "build-notebook-serve-not-a-package": Case(
        ("build", "Inference"), 3, ("serve needs the app to be a package, and Inference is not one", "name and uuid"),
        (example, edit("Inference/Project.toml", lambda text: re.sub(r"^uuid = .*\n", "", text, flags=re.M)),
         toml(f'julia = "1.5"\nproject = "Inference"\n[notebook]\ndataset = "{USER}/inference"\nserve = true\ncompetition = "tiny-serve"\n')),
    ),  # fmt: skip
    "build-notebook-title-not-the-slug": Case(
        ("build", "Inference"), 2, ("the kernel title 'My own run' resolves to the slug 'my-own-run', not 'other-run'",),
        (example, toml(f'julia = "1.5"\nproject = "Inference"\n[notebook]\ndataset = "{USER}/inference"\ntitle = "My own run"\nkernel_slug = "other-run"\n')),
    ),  # fmt: skip
    "build-notebook-valid-then-docker-missing": Case(
        ("build", "Inference"), 4, ("cannot reach the Docker engine",),
        (example, toml(f'julia = "1.5"\nproject = "Inference"\n[notebook]\ndataset = "{USER}/inference"\nserve = true\ncompetition = "tiny-serve"\n')),
    ),  # fmt: skip
    "build-docker-missing": Case(("build", "Inference"), 4, ("cannot reach the Docker engine", "DOCKER_HOST"), PROJECT),
    # ---- notebook
    "notebook-dist-missing": Case(("notebook", "--dataset", f"{USER}/inference", "--dist", "nodist"), 3, ("no juliapack.lock.json in", "nodist", "juliapack build")),
    "notebook-lock-unreadable": Case(("notebook", "--dataset", f"{USER}/inference"), 3, ("juliapack.lock.json is unreadable", "rebuild"), (dist(), write("dist/juliapack.lock.json", "{"))),
    "notebook-model-missing": Case(("notebook", "--dataset", f"{USER}/inference", "--model", "model.jld2"), 3, ("model.jld2",), (dist(),)),
    "notebook-model-is-a-directory": Case(("notebook", "--dataset", f"{USER}/inference", "--model", "models"), 3, ("is a directory",), (dist(), write("models/README", "x"))),
    "notebook-title-too-short": Case(("notebook", "--dataset", f"{USER}/inference", "--title", "abc"), 2, ("--title 'abc' has 3 characters; Kaggle wants 5-50",), (dist(),)),
    "notebook-title-too-long": Case(("notebook", "--dataset", f"{USER}/inference", "--title", "A" * 60), 2, ("has 60 characters; Kaggle wants 5-50",), (dist(),)),
    "notebook-slug-invalid": Case(("notebook", "--dataset", f"{USER}/Bad_Slug"), 2, ("--dataset 'Bad_Slug' is not a valid Kaggle slug",), (dist(),)),
    "notebook-owner-invalid": Case(("notebook", "--dataset", "al ice/inference"), 2, ("--dataset 'al ice' is not a Kaggle user name",), (dist(),)),
    "notebook-no-owner-no-credentials": Case(("notebook",), 4, ("no Kaggle user name to own the datasets", "--dataset OWNER/SLUG"), (dist(),)),
    "notebook-out-is-a-file": Case(("notebook", "--dataset", f"{USER}/inference", "--out", "taken"), 2, ("taken",), (dist(), write("taken", "x"))),
    "notebook-accelerator-unknown": Case(("notebook", "--dataset", f"{USER}/inference", "--accelerator", "v100"), 2, ("--accelerator is 'v100', not an accelerator",), (dist(),)),
    "notebook-accelerator-tpu": Case(("notebook", "--dataset", f"{USER}/inference", "--accelerator", "tpuv38"), 2, ("Julia cannot use a TPU",), (dist(),)),
    "notebook-gpu-on-a-cpu-build": Case(("notebook", "--dataset", f"{USER}/inference", "--accelerator", "t4x2"), 2, ("asks for a GPU", "has no CUDA"), (dist(),)),
    "notebook-model-in-both-sections": Case(
        ("notebook", "--dataset", f"{USER}/inference"), 2, ("gives model twice", "[notebook] model = 'a.jls'", "[upload] model = 'b.jls'"),
        (dist(), toml('[notebook]\nmodel = "a.jls"\n[upload]\nmodel = "b.jls"\n')),
    ),  # fmt: skip
    **{
        f"{command}-dist-of-another-project": Case(
            (command, *extra), 3, ("holds a build of Inference", "not of Other", "juliapack build"),
            (dist(), toml('project = "Other"\n'), write("Other/Project.toml", 'name = "Other"\n')), env=env,
        )
        for command, extra, env in (("notebook", ("--dataset", f"{USER}/inference"), {}), ("verify", (), {}), ("upload", (), CREDENTIALS))
    },  # fmt: skip
    # ---- verify
    "verify-dist-missing": Case(("verify",), 3, ("no juliapack.lock.json in",)),
    "verify-model-missing": Case(("verify",), 3, ("model.jld2",), (dist(), toml('[notebook]\nmodel = "model.jld2"\n'))),
    "verify-model-is-a-directory": Case(("verify",), 3, ("is a directory",), (dist(), write("models/README", "x"), toml('[notebook]\nmodel = "models"\n'))),
    "verify-model-flag-is-gone": Case(("verify", "--model", "model.jld2"), 2, ("No such option: --model", "juliapack verify --help"), (dist(),)),
    "verify-layer-changed": Case(("verify",), 3, ("inference does not match juliapack.lock.json", "build"), (dist(), flip_last_byte("dist/inference"))),
    "verify-member-escapes": Case(
        ("verify",), 3, ("inference has an unsafe member", "'..' in the path"), (dist(app=[member("Inference/../../etc/profile.d/x.sh", data=b"echo\n")]),),
    ),  # fmt: skip
    "verify-symlink-escapes": Case(
        ("verify",), 3, ("inference has an unsafe member", "outside the archive"), (dist(app=[member("Inference/data", "symlink", link="/kaggle/input")]),),
    ),  # fmt: skip
    "verify-input-not-under-kaggle-input": Case(("verify", "--input", "data:/data"), 2, ("is not mounted under /kaggle/input/",), (dist(), write("data/x.csv", "1\n"))),
    "verify-timeout-not-a-duration": Case(("verify", "--timeout", "soon"), 2, ("--timeout is 'soon', not a duration",), (dist(),)),
    "verify-docker-missing": Case(("verify",), 4, ("cannot reach the Docker engine",), (dist(),)),
    # ---- upload (the fake Kaggle)
    "upload-dist-missing": Case(("upload",), 3, ("no juliapack.lock.json in",), env=CREDENTIALS),
    "upload-model-missing": Case(("upload", "--model", "model.jld2"), 3, ("model.jld2",), (dist(),), env=CREDENTIALS),
    "upload-model-is-a-directory": Case(("upload", "--model", "models"), 3, ("models",), (dist(), write("models/README", "x")), env=CREDENTIALS),
    "upload-model-dataset-without-model": Case(("upload", "--model-dataset", f"{USER}/weights"), 2, ("no model file is given", "--model"), (dist(),), env=CREDENTIALS),
    "upload-layer-truncated": Case(("upload",), 3, ("inference does not match juliapack.lock.json: its size differs", "rebuild"), (dist(), append_byte("dist/inference")), env=CREDENTIALS),
    "upload-layer-changed": Case(("upload",), 3, ("inference does not match juliapack.lock.json: it changed since the build", "rebuild"), (dist(), flip_last_byte("dist/inference")), env=CREDENTIALS),
    "upload-layer-named-like-an-archive": Case(
        ("upload",), 3, ("'inference.zip' ends like an archive", "Kaggle would unpack it"), (dist(), rename_layer("app", "inference.zip")), env=CREDENTIALS,
    ),  # fmt: skip
    "upload-secret-in-a-layer": Case(
        ("upload",), 3, ("what would be uploaded holds files that look like secrets", "inference: .env (environment file with secrets)"),
        (dist(app=[member("Inference/src/Inference.jl", data=b"module Inference end\n"), member("Inference/.env", data=b"API_KEY=x\n")]),), env=CREDENTIALS,
    ),  # fmt: skip
    "upload-dataset-slug-invalid": Case(("upload", "--dataset", f"{USER}/Bad_Slug"), 2, ("--dataset 'Bad_Slug' is not a valid Kaggle slug",), (dist(),), env=CREDENTIALS),
    "upload-dataset-not-owner-slug": Case(("upload", "--dataset", "inference"), 2, ("--dataset 'inference' is not OWNER/SLUG",), (dist(),), env=CREDENTIALS),
    "upload-owner-not-signed-in": Case(
        ("upload", "--dataset", f"{OTHER}/inference"), 2, (f"cannot create dataset {OTHER}/inference-julia: you are signed in to Kaggle as {USER}",), (dist(),), env=CREDENTIALS,
    ),  # fmt: skip
    "upload-title-in-use": Case(
        ("upload", "--dataset", f"{USER}/second"), 2, (f"cannot create dataset {USER}/second-julia: its title 'Clash (Julia)' is already that of your dataset {USER}/first-julia", "--title TITLE"),
        (dist(), toml('[upload]\ntitle = "Clash"\n'), lambda sb: sb.fake.seed_dataset(USER, "first-julia", title="Clash (Julia)")), env=CREDENTIALS,
    ),  # fmt: skip
    "upload-no-credentials": Case(("upload",), 4, ("no Kaggle credentials", "kaggle.json"), (dist(),)),
    "upload-never-rehearsed": Case(("upload",), 3, ("was never rehearsed offline", "juliapack verify", "--skip-verify"), (dist(rehearsed=None),), env=CREDENTIALS),
    "upload-rehearsal-failed": Case(("upload",), 3, ("rehearsal of this build failed (cell 7 failed)", "--skip-verify"), (dist(rehearsed=False),), env=CREDENTIALS),
    "upload-wrong-key": Case(("upload",), 4, ("Kaggle rejected the credentials", "HTTP 401"), (dist(),), env={"KAGGLE_USERNAME": USER, "KAGGLE_KEY": "wrong-key-0b7e"}),
    # ---- push
    "push-folder-missing": Case(("push", "nothere"), 3, ("nothere",), env=CREDENTIALS),
    "push-metadata-not-json": Case(("push", "nb"), 3, ("kernel-metadata.json is not valid JSON",), (kernel_folder(metadata="{not json"),), env=CREDENTIALS),
    "push-metadata-bad-id": Case(("push", "nb"), 3, ("field 'id' 'just-a-slug' is not OWNER/SLUG",), (kernel_folder(ref="x/y", metadata=json.dumps({"id": "just-a-slug"})),), env=CREDENTIALS),
    "push-timeout-not-a-duration": Case(("push", "nb", "--timeout", "forever"), 2, ("--timeout is 'forever', not a duration",), (kernel_folder(),), env=CREDENTIALS),
    "push-kaggle-json-readable-by-others": Case(("push", "nb"), 4, ("can be read by other users (mode 644)", "chmod 600"), (kernel_folder(), kaggle_json(mode=0o644))),
    "push-never-rehearsed": Case(("push", "nb"), 3, ("was never rehearsed offline", "--skip-verify"), (kernel_folder(), dist(rehearsed=None)), env=CREDENTIALS),
    "push-notebook-changed-since-the-rehearsal": Case(
        ("push", "nb"), 3, ("changed since the rehearsal", "juliapack verify"), (kernel_folder(), dist()), env=CREDENTIALS,
    ),  # fmt: skip
    "push-unknown-dataset-source": Case(
        ("push", "nb", "--skip-verify"), 5, ("Kaggle pushed it without these sources", f"{USER}/never-uploaded", "juliapack upload"),
        (kernel_folder(ref=f"{USER}/unknown-sources", sources=(f"{USER}/never-uploaded",)),), env=CREDENTIALS,
    ),  # fmt: skip
    # ---- status
    "status-bad-ref": Case(("status", "not-a-ref"), 2, ("'not-a-ref' is not OWNER/SLUG of a notebook",), env=CREDENTIALS),
    "status-no-kernel-and-no-notebook": Case(("status",), 2, ("no notebook named, and no kernel-metadata.json in", "OWNER/SLUG"), env=CREDENTIALS),
    "status-kaggle-json-not-json": Case(("status", f"{USER}/some-run"), 4, ("kaggle.json is not valid JSON", "download a new one"), (kaggle_json("{not json"),)),
    "status-kaggle-json-without-key": Case(("status", f"{USER}/some-run"), 4, ("kaggle.json lacks a username or key",), (kaggle_json(json.dumps({"username": USER})),)),
    "status-not-found": Case(("status", f"{USER}/no-such-notebook"), 5, (f"status of notebook {USER}/no-such-notebook: not found on Kaggle",), env=CREDENTIALS),
    # ---- fetch
    "fetch-bad-ref": Case(("fetch", "alice/Not A Slug"), 2, ("is not OWNER/SLUG of a notebook",), env=CREDENTIALS),
    "fetch-no-credentials": Case(("fetch", f"{USER}/some-run"), 4, ("no Kaggle credentials", "KAGGLE_API_TOKEN")),
    "fetch-not-found": Case(("fetch", f"{USER}/no-such-notebook", "out"), 5, ("not found on Kaggle",), env=CREDENTIALS),
    "fetch-not-finished": Case(("fetch", f"{USER}/still-queued", "out"), 5, ("has not finished", "--force"), (pushed(f"{USER}/still-queued", finished=False),), env=CREDENTIALS),
    "fetch-out-is-a-file": Case(
        ("fetch", f"{USER}/finished-run", "taken"), 2, ("taken",), (pushed(f"{USER}/finished-run", finished=True), write("taken", "x")), env=CREDENTIALS,
    ),  # fmt: skip
}
assert len(CASES) >= 25, f"issue 7 asks for at least 25 bad-input cases; the table has {len(CASES)}"

# Run once more with --debug: the traceback appears, the line and the code stay.
DEBUG = ("build-pull-sometimes", "notebook-dist-missing", "fetch-no-credentials", "status-not-found")


# --------------------------------------------------------------------------- running the table


def _mutex_file(root: Path, path: Path) -> bool:
    """An empty flock file in the cache's mutexes/: it must outlive the process to exclude anything, race-free."""
    return path.parent == root / "cache" / "mutexes" and path.suffix == ".mutex" and path.stat().st_size == 0


def leftovers(root: Path) -> list[str]:
    """Temp files juliapack writes on the way to a result, anywhere in the sandbox, and any file at all in
    its HOME, TMPDIR and cache: none may survive a failure."""
    found = temp_files(root)
    found |= {path for folder in ("home", "tmp", "cache") for path in (root / folder).rglob("*") if not path.is_dir() and not _mutex_file(root, path)}
    return sorted(str(path.relative_to(root)) for path in found)


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    server = FakeKaggle(tmp_path_factory.mktemp("fake-kaggle"), users={USER: KEY, OTHER: OTHER_KEY}, ready_after=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ran(tmp_path_factory, fake) -> dict[str, Ran]:
    jobs = [(name, case, False) for name, case in CASES.items()] + [(f"{name}+debug", CASES[name], True) for name in DEBUG]
    prepared = []
    for name, case, debug in jobs:  # setups one at a time (some push to the fake), then the runs in parallel
        sb = Sandbox(tmp_path_factory.mktemp(name.replace("+", "-")), fake)
        for folder in ("work", "home", "tmp", "cache", "kaggle"):
            (sb.root / folder).mkdir()
        for setup in case.setup:
            setup(sb)
        prepared.append((name, sb, ("--debug", *case.args) if debug else case.args, case.env))

    def run(job) -> tuple[str, Ran]:
        name, sb, args, env = job
        before = snapshot(sb.work)
        done = sb.juliapack(*args, env=env)
        return name, Ran(sb.root, done.returncode, done.stdout, done.stderr, before, snapshot(sb.work))

    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(pool.map(run, prepared))


# --------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("name, case", table(CASES))
def test_a_bad_input_is_one_line_its_exit_code_and_no_partial_output(ran, name: str, case: Case) -> None:
    done = ran[name]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.code == case.code, done.stderr
    last = check_error_line(done.stderr)
    for text in case.says:
        assert text in last
    warnings = [line.removeprefix("warning: ") for line in done.stderr.splitlines() if line.startswith("warning: ")]
    for text in case.warns:
        assert any(text in warning for warning in warnings), done.stderr
    assert done.stdout == ""
    assert done.after == done.before, "the working folder changed"
    assert leftovers(done.root) == []


def last_line(done: Ran) -> str:
    """The error line, with the sandbox's own path taken out."""
    return done.stderr.splitlines()[-1].replace(str(done.root), "<sandbox>")


@pytest.mark.parametrize("name", DEBUG)
def test_debug_adds_the_traceback_and_keeps_the_line_and_the_code(ran, name: str) -> None:
    plain, debug = ran[name], ran[f"{name}+debug"]
    assert debug.code == plain.code == CASES[name].code
    assert "Traceback (most recent call last):" in debug.stderr
    assert last_line(debug) == last_line(plain)
    assert debug.after == debug.before and leftovers(debug.root) == []


def test_the_table_covers_every_command_and_every_class() -> None:
    assert {case.args[0] for case in CASES.values()} == set(COMMANDS)
    assert {case.code for case in CASES.values()} == {2, 3, 4, 5}
    for command in COMMANDS:
        assert sum(case.args[0] == command for case in CASES.values()) >= 3, command
