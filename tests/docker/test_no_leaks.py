"""No secret leaves the machine or lands in a file (issue 7, security).

The whole flow runs once with credentials that are fresh random strings: a build given
`--env HF_TOKEN=<random>`, notebook, verify, upload / push --wait / status / fetch against the fake
Kaggle with KAGGLE_USERNAME + KAGGLE_KEY and again with KAGGLE_API_TOKEN, and failing commands under
--debug (a wrong key, a revoked token, someone else's dataset, an unknown Julia version, a smoke run
that fails inside the build container, which got HF_TOKEN). Then
everything produced is searched for every secret: the workspace (dist/, notebook/ and verify/, fetched
outputs, the lock), HOME, TMPDIR and the Kaggle config folder, the juliapack
cache, what the fake Kaggle stored (uploads decompressed, member by member) and every command's stdout
and stderr. Also: datasets and the kernel are private unless asked, and no archive member can unpack
outside its destination.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from juliapack import archive
from juliapack.fsutil import sha256_file
from juliapack.workflow.lock import read_lock
from testbed import workspace
from testbed.fake_kaggle import FakeKaggle
from tests.unit.helpers import member, write_tarball

pytestmark = pytest.mark.slow

USER = "alice"
KERNEL = f"{USER}/inference-submission"
ALPHANUMERIC = string.ascii_letters + string.digits


def random_text(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


# Fresh for every run, so a hit can only come from this run.
SECRETS = {
    "KAGGLE_KEY": secrets.token_hex(16),
    "KAGGLE_API_TOKEN": random_text("KGAT_", 32),
    "HF_TOKEN": random_text("hf_", 34),
    "a wrong KAGGLE_KEY": secrets.token_hex(16),
    "a revoked KAGGLE_API_TOKEN": random_text("KGAT_", 32),
}
NEEDLES = {
    **{name: value.encode() for name, value in SECRETS.items()},
    **{f"the start of {name}": value[:16].encode() for name, value in SECRETS.items()},  # a truncated display
    "the Basic auth header": base64.b64encode(f"{USER}:{SECRETS['KAGGLE_KEY']}".encode()),
}


@dataclass
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


@dataclass
class Flow:
    root: Path
    ws: Path
    cache: Path
    fake: FakeKaggle
    runs: dict[str, Run]


@pytest.fixture(scope="module")
def flow(tmp_path_factory, testbed, julia_mirror_url, juliapack_cache) -> Flow:
    root = tmp_path_factory.mktemp("no-leaks")
    ws = workspace.make(root / "ws", image=testbed.image, repos=testbed.repos, model=testbed.model, mirror_url=julia_mirror_url)
    for folder in ("home", "tmp", "kaggle"):
        (root / folder).mkdir()
    fake = FakeKaggle(root / "fake", users={USER: SECRETS["KAGGLE_KEY"]}, tokens={SECRETS["KAGGLE_API_TOKEN"]: USER}, ready_after=0)
    fake.start()
    fake.kernel_run(KERNEL, steps=(), outputs={"submission.csv": b"id,label\n1,cat\n"}, log='[{"data": "done"}]')
    unset = ("KAGGLE_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
    base = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    base |= {"HOME": str(root / "home"), "TMPDIR": str(root / "tmp"), "KAGGLE_CONFIG_DIR": str(root / "kaggle"),
             "JULIAPACK_CACHE_DIR": str(juliapack_cache), "COLUMNS": "200"}  # fmt: skip
    key = {"KAGGLE_USERNAME": USER, "KAGGLE_KEY": SECRETS["KAGGLE_KEY"]}
    kaggle = fake.client_env()  # only for the Kaggle commands: it proxies every plain-HTTP request, the Julia mirror's too
    hf = f"HF_TOKEN={SECRETS['HF_TOKEN']}"
    steps = [  # name, args, extra environment
        ("build", ("build", "--env", hf, "--no-verify"), key),
        ("notebook", ("notebook",), key),
        ("verify", ("verify",), key),
        ("upload", ("upload", "--model", str(testbed.model)), key | kaggle),
        ("push", ("push", "--wait"), key | kaggle),
        ("status", ("status", KERNEL), key | kaggle),
        ("fetch", ("fetch", KERNEL, "fetched"), key | kaggle),
        ("token upload", ("upload", "--model", str(testbed.model)), {"KAGGLE_API_TOKEN": SECRETS["KAGGLE_API_TOKEN"]} | kaggle),
        ("token fetch", ("fetch", KERNEL, "fetched-with-token"), {"KAGGLE_API_TOKEN": SECRETS["KAGGLE_API_TOKEN"]} | kaggle),
        ("debug build", ("--debug", "build", "--env", hf, "--julia", "9.9", "--no-verify"), key),
        ("debug smoke", ("--debug", "build", "--env", hf, "--no-verify", "--smoke", "--bogus x"), key),  # fails in the container
        ("debug upload", ("--debug", "upload", "--dataset", "bob/inference"), key | kaggle),
        ("debug push", ("--debug", "push"), {"KAGGLE_USERNAME": USER, "KAGGLE_KEY": SECRETS["a wrong KAGGLE_KEY"]} | kaggle),
        ("debug status", ("--debug", "status", KERNEL), {"KAGGLE_API_TOKEN": SECRETS["a revoked KAGGLE_API_TOKEN"]} | kaggle),
    ]
    runs = {}
    try:
        for name, args, extra in steps:
            done = subprocess.run([sys.executable, "-m", "juliapack", *args], cwd=ws, env=base | extra, capture_output=True, text=True, timeout=900)
            runs[name] = Run(args, done.returncode, done.stdout, done.stderr)
        yield Flow(root, ws, juliapack_cache, fake, runs)
    finally:
        fake.stop()


def test_the_flow_ran_and_the_failures_failed_as_expected(flow: Flow) -> None:
    codes = {name: run.code for name, run in flow.runs.items()}
    failing = {"debug build": 2, "debug smoke": 6, "debug upload": 2, "debug push": 4, "debug status": 4}
    assert codes == {**{name: 0 for name in flow.runs if name not in failing}, **failing}, {n: r.stderr[-2000:] for n, r in flow.runs.items()}
    for name in failing:
        assert "Traceback (most recent call last):" in flow.runs[name].stderr  # --debug: the traceback is there, secrets are not
    assert "unknown option --bogus" in flow.runs["debug smoke"].stderr  # the container's output was shown
    assert (flow.ws / "notebook" / "verify" / "submission.csv").is_file()
    assert (flow.ws / "fetched" / "submission.csv").is_file() and (flow.ws / "fetched-with-token" / "submission.csv").is_file()
    assert "IntrospectToken" in flow.fake.calls  # the token variant really authenticated with the token


# --------------------------------------------------------------------------- searching everything


def found_in(data: bytes) -> list[str]:
    return [name for name, needle in NEEDLES.items() if needle in data]


def is_compressed(path: Path) -> bool:
    with open(path, "rb") as stream:
        magic = stream.read(4)
    return magic.startswith((archive.ZSTD_MAGIC, archive.GZIP_MAGIC))


def search_tarball(path: Path) -> list[str]:
    """Hits in member names, link targets and contents."""
    hits = []
    try:
        for info, reader in archive.iter_members(path):
            hits += [f"{path}!{info.name} (name): {name}" for name in found_in(f"{info.name}\0{info.linkname}".encode())]
            if reader is not None:
                hits += [f"{path}!{info.name}: {name}" for name in found_in(reader.read())]
    except (tarfile.ReadError, zstandard.ZstdError, EOFError, OSError):
        hits += [f"{path}: {name}" for name in found_in(archive_bytes(path))]
    return hits


def archive_bytes(path: Path) -> bytes:
    """A compressed file that is not a tarball, decompressed."""
    with archive.open_decompressed(path) as stream:
        return stream.read()


def search_tree(root: Path, *, unpack: bool, searched: set[str]) -> list[str]:
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        hits += [f"{path}: {name}" for name in found_in(path.read_bytes())]
        if unpack and is_compressed(path):
            digest = sha256_file(path)
            if digest not in searched:  # dist/julia and its copy on the fake are the same bytes: search once
                searched.add(digest)
                hits += search_tarball(path)
    return hits


def test_no_secret_in_any_file_or_output(flow: Flow) -> None:
    searched: set[str] = set()
    hits = []
    for name, run in flow.runs.items():
        hits += [f"{name}: {' '.join(run.args)} ({stream}): {needle}" for stream, text in (("stdout", run.stdout), ("stderr", run.stderr))
                 for needle in found_in(text.encode())]  # fmt: skip
    # Everything written: the workspace (dist, notebook, verify, fetched, lock, metadata), HOME, TMPDIR, the
    # Kaggle config folder, the fake's uploads and state (tarballs unpacked), and the cache (as stored).
    for root in (flow.ws, flow.root / "home", flow.root / "tmp", flow.root / "kaggle", flow.fake.root):
        hits += search_tree(root, unpack=True, searched=searched)
    hits += search_tree(flow.cache, unpack=False, searched=searched)
    assert hits == []
    assert len(searched) >= 3, "the layer tarballs were searched member by member"


def test_the_search_finds_a_planted_secret(tmp_path: Path) -> None:
    """The search itself: in a plain file, inside a zstd tarball's member, in a member's name, truncated."""
    token, key = SECRETS["HF_TOKEN"], SECRETS["KAGGLE_KEY"]
    (tmp_path / "log.txt").write_text(f"using {key[:16]}...\n")
    write_tarball(tmp_path / "layer", [member("app/run.jl", data=f'ENV["HF_TOKEN"] = "{token}"'.encode())], codec="zstd")
    write_tarball(tmp_path / "other", [member(f"app/{token}.txt", data=b"x")], codec="gzip")
    hits = search_tree(tmp_path, unpack=True, searched=set())
    assert f"{tmp_path / 'log.txt'}: the start of KAGGLE_KEY" in hits
    assert f"{tmp_path / 'layer'}!app/run.jl: HF_TOKEN" in hits
    assert f"{tmp_path / 'other'}!app/{token}.txt (name): HF_TOKEN" in hits


# --------------------------------------------------------------------------- private by default


def test_datasets_and_the_kernel_are_private_by_default(flow: Flow) -> None:
    datasets = flow.fake.state["datasets"]
    assert sorted(datasets) == [f"{USER}/inference-{role}" for role in ("app", "compiled", "depot", "julia", "model")]
    assert {ref: dataset["private"] for ref, dataset in datasets.items()} == {ref: True for ref in datasets}
    saved = flow.fake.saved_kernel(KERNEL)
    assert (saved["isPrivate"], saved["enableInternet"]) == (True, False)
    metadata = json.loads((flow.ws / "notebook" / "kernel-metadata.json").read_text())
    assert (metadata["is_private"], metadata["enable_internet"]) == (True, False)


# --------------------------------------------------------------------------- archives stay inside their destination


def test_no_archive_member_can_unpack_outside_its_destination(flow: Flow) -> None:
    lock = read_lock(flow.ws / "dist")
    uploaded = {name: data for role in ("julia", "depot", "compiled", "app") for name, data in flow.fake.stored_files(f"{USER}/inference-{role}").items()}
    problems, counted = [], 0
    for layer in lock.layers:
        assert uploaded[layer.file] == (flow.ws / "dist" / layer.file).read_bytes()  # Kaggle got exactly what was checked
        for info, _ in archive.iter_members(flow.ws / "dist" / layer.file):
            counted += 1
            parts = info.name.split("/")
            if info.name.startswith("/") or ".." in parts or (info.issym() and info.linkname.startswith("/")):
                problems.append(f"{layer.file}: {info.name} -> {info.linkname}")
            reason = archive.unsafe_reason(info, strip_components=layer.strip_components)
            if reason:
                problems.append(f"{layer.file}: {info.name}: {reason}")
    assert problems == []
    assert counted > 100
