"""Bad inputs that need the engine and the test bed (issue 7): unknown Julia versions against the local
mirror, an absent image, an unreachable or wrong mirror, output paths that are files, a dist changed after
the build, and a disk that fills up while packing. Each ends stderr with one line `error: <what> — <fix>`,
exits with its class's code, and leaves the workspace byte-identical; the Docker-free cases are in
tests/unit/test_bad_inputs.py.

One real build serves the module (`built`, from tests/docker/conftest.py); cases that need a changed dist
run in a copy of it whose layer files are hard links (changed files are real copies).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pytest

from juliapack import archive
from juliapack.workflow.lock import read_lock, write_lock
from tests.unit.helpers import Ran, check_error_line, closed_port_url, fake_token, snapshot, table, temp_files

pytestmark = pytest.mark.slow

NO_IMAGE = "juliapack-no-such-image:1"


def leftovers(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in temp_files(root))


# --------------------------------------------------------------------------- changes to a copy of the workspace

Change = Callable[[Path], None]  # gets the copy's root


def put_file(name: str) -> Change:
    return lambda root: (root / name).write_text("not a folder\n")


def lock_image(image: str) -> Change:
    def change(root: Path) -> None:
        write_lock(root / "dist", dataclasses.replace(read_lock(root / "dist"), image=image))

    return change


def flip_byte(name: str) -> Change:
    def change(root: Path) -> None:
        path = root / "dist" / name
        data = bytearray(path.read_bytes())
        path.unlink()  # a hard link to the built dist: write a file of our own
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    return change


def copy_workspace(built, root: Path) -> Path:
    """The built workspace without notebook/ and home/; dist files are hard links (read-only use)."""
    shutil.copytree(built.root, root, ignore=shutil.ignore_patterns("notebook", "home"), copy_function=os.link)
    return root


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # {mirror} and {closed} are filled in: the test bed's Julia mirror, a port nobody listens on
    code: int
    says: tuple[str, ...]
    change: Change | None = None  # None: run in the built workspace itself; else in a changed copy
    env: Mapping[str, str] = field(default_factory=dict)
    bug: str = ""


CASES: dict[str, Case] = {
    "build-julia-unknown-series": Case(("build", "--no-verify", "--julia", "9.9"), 2, ("Julia 9.9.x has no linux x86_64 tarball", "nearest: 1.5.3")),
    "build-julia-unknown-patch": Case(("build", "--no-verify", "--julia", "1.5.9"), 2, ("Julia 1.5.9 has no linux x86_64 tarball", "nearest: 1.5.3")),
    "build-image-absent-pull-never": Case(("build", "--no-verify", "--image", NO_IMAGE, "--pull", "never"), 4, (f"image {NO_IMAGE} is not present", "docker pull")),
    "build-versions-json-missing": Case(("build", "--no-verify", "--versions-url", "{mirror}/bin/nothere.json"), 5, ("nothere.json answered HTTP 404",)),
    "build-mirror-unreachable": Case(("build", "--no-verify", "--julia-mirror", "{closed}"), 5, ("could not get versions.json", "--julia-mirror")),
    "build-out-is-a-file": Case(("build", "--no-verify", "--out", "taken"), 2, ("taken",), change=put_file("taken")),
    "verify-notebook-is-a-file": Case(("verify", "--notebook", "taken"), 2, ("taken",), change=put_file("taken")),
    "verify-image-gone": Case(("verify",), 4, (f"image {NO_IMAGE} is not present", "docker pull"), change=lock_image(NO_IMAGE)),
    "verify-layer-changed": Case(("verify",), 3, ("dotjulia does not match juliapack.lock.json",), change=flip_byte("dotjulia")),
    "verify-docker-missing": Case(("verify",), 4, ("cannot reach the Docker engine",), env={"DOCKER_HOST": "unix:///nonexistent.sock"}),
}


@pytest.fixture(scope="module")
def ran(built, julia_mirror_url, tmp_path_factory) -> dict[str, Ran]:
    results = {}
    for name, case in CASES.items():
        root = built.root
        if case.change:
            root = copy_workspace(built, tmp_path_factory.mktemp(name) / "ws")
            case.change(root)
        args = [arg.format(mirror=julia_mirror_url, closed=closed_port_url()) for arg in case.args]
        before = snapshot(root)
        done = dataclasses.replace(built, root=root).juliapack(*args, check=False, env=dict(case.env))
        results[name] = Ran(root, done.returncode, done.stdout, done.stderr, before, snapshot(root))
    return results


@pytest.mark.parametrize("name, case", table(CASES))
def test_a_bad_input_is_one_line_its_exit_code_and_no_partial_output(ran, name: str, case: Case) -> None:
    done = ran[name]
    assert done.code == case.code, done.stderr
    last = check_error_line(done.stderr)
    for text in case.says:
        assert text in last
    assert done.stdout == ""
    assert done.after == done.before, "the workspace changed"
    assert leftovers(done.root) == []


def test_verify_without_the_image_names_no_option_it_lacks(ran) -> None:
    line = ran["verify-image-gone"].stderr.splitlines()[-1]
    assert "--pull" not in line


def test_no_build_container_is_left_behind(ran, docker_client, built) -> None:
    assert docker_client.api.containers(all=True, filters={"label": [f"juliapack.project={built.project}"]}) == []


# --------------------------------------------------------------------------- secrets: refused, unless ignored


def test_secrets_are_refused_unless_ignored_and_ignored_ones_are_never_packed(built) -> None:
    before = snapshot(built.dist)
    planted = {
        ".env": f"HF_TOKEN={fake_token('huggingface')}\n",
        "id_rsa": fake_token("pem") + "\n",
        ".juliapackignore": ".env\n",
    }
    for name, text in planted.items():
        (built.project / name).write_text(text)
    try:
        refused = built.juliapack("build", "--no-verify", check=False)
        built.juliapack("build", "--no-verify", "--force", "--exclude", "id_rsa")
    finally:
        for name in planted:
            (built.project / name).unlink()
    assert refused.returncode == 3
    line = check_error_line(refused.stderr)
    assert "id_rsa (SSH private key)" in line and ".env" not in line  # .env is ignored, id_rsa not yet excluded
    # Ignored files change nothing: the forced rebuild packed the same bytes, and neither secret is in the app layer.
    assert snapshot(built.dist) == before
    names = {info.name for info, _ in archive.iter_members(built.dist / "inference")}
    assert "Inference/src/Inference.jl" in names
    assert not {"Inference/.env", "Inference/id_rsa", "Inference/.juliapackignore"} & names


# --------------------------------------------------------------------------- a disk that fills up while packing


@pytest.fixture(scope="module")
def disk_full(built, tmp_path_factory):
    """A build of the example into a 2 MB tmpfs: the Julia layer alone is ~100 MB."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs as --out needs root")
    mountpoint = tmp_path_factory.mktemp("full")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)], check=True)
    try:
        dist_before = snapshot(built.dist)
        done = built.juliapack("build", "--no-verify", "--out", str(mountpoint), check=False)
        yield done, mountpoint, dist_before, snapshot(built.dist), snapshot(mountpoint)
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_a_full_disk_while_packing_is_one_line_and_exit_4(disk_full) -> None:
    done, mountpoint, *_ = disk_full
    assert done.returncode == 4, done.stderr
    line = check_error_line(done.stderr)
    assert line.startswith(f"error: no space left on the device while writing {mountpoint}/"), line
    assert "free disk space" in line and "--out" in line
    assert "==> Packing" in done.stderr  # it got as far as packing: the container part went through
    assert done.stdout == ""


def test_a_full_disk_leaves_no_partial_file_and_dist_untouched(disk_full, docker_client, built) -> None:
    _, _, dist_before, dist_after, on_tmpfs = disk_full
    assert on_tmpfs == {}  # no layer, no .staging-*, no .partial, no lock file
    assert dist_after == dist_before
    assert docker_client.api.containers(all=True, filters={"label": [f"juliapack.project={built.project}"]}) == []


def test_a_full_disk_leaves_the_out_folder_as_it_was(disk_full) -> None:
    *_, on_tmpfs = disk_full
    assert on_tmpfs == {}


# --------------------------------------------------------------------------- files that are not the project's


def work_depot(built) -> Path:
    key = hashlib.sha256(str(built.project.resolve()).encode()).hexdigest()[:16]
    return Path(built.env["JULIAPACK_CACHE_DIR"]) / "work" / f"Inference-{key}" / "depot"


def test_volumes_under_the_depot_are_never_changed_and_reach_neither_a_layer_nor_the_cache(built, tmp_path: Path) -> None:
    """A read-only file and a read-write folder mounted into /root/.julia: the build passes, their host
    files keep their mtimes, and neither the depot layer nor the cached depot keeps the mount points."""
    secrets, data = tmp_path / "secrets.env", tmp_path / "data"
    secrets.write_text(f"HF_TOKEN={fake_token('huggingface')}\n")  # by its name alone the depot scan would refuse it
    data.mkdir()
    (data / "table.csv").write_text("1,2\n")
    old = 1_000_000_000
    for path in (secrets, data / "table.csv", data):
        os.utime(path, (old, old))
    out = tmp_path / "out"
    done = built.juliapack(
        "build", "--no-verify", "--out", str(out), "-v", f"{secrets}:/root/.julia/config/secrets.env:ro", "-v", f"{data}:/root/.julia/data:rw", check=False
    )
    assert done.returncode == 0, done.stderr
    assert [path.stat().st_mtime for path in (secrets, data / "table.csv", data)] == [old] * 3
    names = {info.name for info, _ in archive.iter_members(out / "dotjulia")}
    assert ".julia/packages" in names and not {n for n in names if n.startswith((".julia/config", ".julia/data"))}
    assert not (work_depot(built) / "config").exists() and not (work_depot(built) / "data").exists()


def test_a_link_out_of_the_cached_depot_is_refused_once_and_then_forgotten(built, tmp_path: Path) -> None:
    """A link a build left in the depot (a smoke run's, say) is refused, and the next build starts from an
    empty depot instead of refusing it again."""
    os.symlink("/etc/passwd", work_depot(built) / "escape")
    out = tmp_path / "out"
    refused = built.juliapack("build", "--no-verify", "--out", str(out), "--force", check=False)
    assert refused.returncode == 3, refused.stderr
    line = check_error_line(refused.stderr)
    assert "escape points outside" in line and line.endswith("(the next build starts from an empty depot)")
    assert not out.exists()
    again = built.juliapack("build", "--no-verify", "--out", str(out), check=False)
    assert again.returncode == 0, again.stderr
    assert "starting from an empty depot: the last build refused what the depot held" in again.stdout + again.stderr
    assert not (work_depot(built) / "escape").is_symlink()
