"""`juliapack build` on the bundled example, in the stand-in Kaggle image, from the local mirror and registry."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import time
from pathlib import Path

import docker
import pytest

from juliapack import archive
from juliapack.config import DEFAULT_SOURCE_DATE_EPOCH
from juliapack.julia_call import entry_command
from juliapack.workflow.lock import read_lock

EXPECTED = Path(__file__).resolve().parents[2] / "examples" / "data" / "expected_submission.csv"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def members(path: Path) -> dict[str, object]:
    return {info.name: info for info, _ in archive.iter_members(path)}


def test_build_writes_four_layers_and_the_lock(built):
    lock = read_lock(built.dist)
    assert [layer.role for layer in lock.layers] == ["julia", "depot", "compiled", "app"]
    assert [layer.file for layer in lock.layers] == ["julia", "dotjulia", "compiled", "inference"]
    for layer in lock.layers:
        assert sha256(built.dist / layer.file) == layer.sha256
        assert (built.dist / layer.file).stat().st_size == layer.size
    assert lock.julia_version == "1.5.3" and lock.entry == "src/Inference.jl"
    assert lock.image_id.startswith("sha256:")
    assert lock.layout.depot_path[:2] == ("/root/.julia", "/tmp/Inference/.juliapack-depot")
    assert not (built.dist / "dataset-metadata.json").exists()  # it could describe only one of the datasets upload makes
    assert not list(built.dist.glob(".staging-*"))


def test_depot_holds_what_loading_needs_and_nothing_pruned(built):
    depot = members(built.dist / "dotjulia")
    names = list(depot)
    assert any(n.startswith(".julia/packages/TinyModel/") and n.endswith("src/TinyModel.jl") for n in names)
    assert not any(n.startswith(".julia/compiled/") for n in names)  # in the compiled layer
    compiled = members(built.dist / "compiled")
    assert any(n.startswith(".julia/compiled/v1.5/TinyModel/") and n.endswith(".ji") for n in compiled)
    assert all(n == ".julia" or n.startswith(".julia/compiled") for n in compiled)
    artifacts = {n.split("/")[2] for n in names if n.startswith(".julia/artifacts/") and n.count("/") >= 2}
    assert len(artifacts) == 2, "the eager and the lazy artifact of TinyModel"
    # registries stay (an offline Pkg.instantiate() would otherwise look for General), without their git history
    assert ".julia/registries/TestbedRegistry/Registry.toml" in names
    assert not any("/registries/TestbedRegistry/.git" in n for n in names)
    for dropped in (".julia/clones", ".julia/logs"):
        assert not any(n == dropped or n.startswith(dropped + "/") for n in names)
    assert re.search(r"pruned from the depot: git clones: [0-9.]+ kB", built.build_output)
    assert re.search(r"pruned from the depot: registry git history: [0-9.]+ kB", built.build_output)
    app = members(built.dist / "inference")
    assert "Inference/src/Inference.jl" in app
    assert any(n.startswith("Inference/.juliapack-depot/compiled/v1.5/Inference/") for n in app)
    for info in [*depot.values(), *compiled.values(), *app.values()]:
        assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")
        assert info.mtime == DEFAULT_SOURCE_DATE_EPOCH


def test_rebuild_without_changes_is_a_noop_and_a_clean_rebuild_is_byte_identical(built):
    before = {path.name: sha256(path) for path in built.dist.iterdir() if path.is_file() and not path.name.startswith(".")}
    started = time.monotonic()
    result = built.juliapack("build", "--no-verify")
    assert "up to date" in result.stdout
    assert time.monotonic() - started < 30
    shutil.rmtree(built.dist)
    built.juliapack("build", "--no-verify")
    after = {path.name: sha256(path) for path in built.dist.iterdir() if path.is_file() and not path.name.startswith(".")}
    assert after == before


def test_a_fresh_rebuild_changes_only_the_compiled_caches(built):
    """A new machine or --fresh precompiles again (new cache bytes): sources and artifacts stay byte-identical."""
    lock = read_lock(built.dist)
    assert lock.entry_mode == "package"
    before = {layer.role: layer.sha256 for layer in lock.layers}
    built.juliapack("build", "--no-verify", "--fresh")
    after = {layer.role: layer.sha256 for layer in read_lock(built.dist).layers}
    assert (after["julia"], after["depot"]) == (before["julia"], before["depot"])
    # the app layer holds the app's own cache (so that a code change moves the app layer alone)
    assert set(before) == {"julia", "depot", "compiled", "app"}


def test_layers_run_offline_in_a_fresh_container(built, testbed, docker_client):
    """The notebook's unpack commands on the dist files, then its command line, with no network at all."""
    lock = read_lock(built.dist)
    script = "\n".join(
        [
            "set -euo pipefail",
            *(
                f"mkdir -p {layer.dest}\n" + archive.unpack_command(
                    codec=layer.codec, decompressor=layer.decompressor, archive=f"/kaggle/input/packed/{layer.file}",
                    dest=layer.dest, strip_components=layer.strip_components,
                )
                for layer in lock.layers
            ),
            "export JULIA_DEPOT_PATH=" + ":".join(lock.layout.depot_path) + " JULIA_LOAD_PATH=@:@stdlib JULIA_PKG_OFFLINE=true JULIA_PKG_SERVER=",
            "before=$(find /root/.julia/compiled /tmp/Inference/.juliapack-depot -type f -exec sha256sum {} + | sort)",
            shlex.join(entry_command(lock.layout, name=lock.project_name, entry=lock.entry, mode=lock.entry_mode, arguments=[]))
            + " --model /kaggle/input/models/model.jls --input /kaggle/input/data --output /kaggle/working",
            "after=$(find /root/.julia/compiled /tmp/Inference/.juliapack-depot -type f -exec sha256sum {} + | sort)",
            '[ "$before" = "$after" ] || { echo "caches changed"; exit 9; }',
            "cat /kaggle/working/submission.csv",
        ]
    )  # fmt: skip
    volumes = {
        str(built.dist): {"bind": "/kaggle/input/packed", "mode": "ro"},
        str(testbed.model.parent): {"bind": "/kaggle/input/models", "mode": "ro"},
        str(EXPECTED.parent): {"bind": "/kaggle/input/data", "mode": "ro"},
    }
    container = docker_client.containers.run(
        testbed.image, ["bash", "-c", script], volumes=volumes, network_mode="none", detach=True, labels={"juliapack": "test"}
    )
    try:
        exit_code = container.wait(timeout=300)["StatusCode"]
        output = container.logs().decode()
    finally:
        container.remove(force=True)
    assert exit_code == 0, output
    assert output.strip().endswith(EXPECTED.read_text().strip())


def test_a_code_change_rebuilds_only_the_app_layer(built):
    lock = read_lock(built.dist)
    source = built.project / "src" / "Inference.jl"
    original = source.read_text()
    source.write_text(original.replace("Inference: wrote", "Inference: wrote the file"))
    try:
        built.juliapack("build", "--no-verify")
        changed = read_lock(built.dist)
    finally:
        source.write_text(original)
        built.juliapack("build", "--no-verify")
    before = {layer.role: layer.sha256 for layer in lock.layers}
    after = {layer.role: layer.sha256 for layer in changed.layers}
    assert after["julia"] == before["julia"] and after["depot"] == before["depot"]
    assert after["app"] != before["app"]


def test_build_failure_leaves_dist_untouched_and_names_pkgs_error(built, docker_client):
    before = {path.name: sha256(path) for path in built.dist.iterdir() if path.is_file()}
    manifest = built.project / "Manifest.toml"
    original = manifest.read_text()
    # A TinyModel version the registry does not have: Pkg cannot instantiate it.
    manifest.write_text(original.replace('version = "0.2.0"', 'version = "0.9.0"').replace('git-tree-sha1 = "', 'git-tree-sha1 = "0'))
    try:
        result = built.juliapack("build", "--no-verify", check=False)
    finally:
        manifest.write_text(original)
    assert result.returncode == 6, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Instantiate failed in the build container") and "ERROR:" in last
    after = {path.name: sha256(path) for path in built.dist.iterdir() if path.is_file()}
    assert after == before
    leftovers = docker_client.api.containers(all=True, filters={"label": f"juliapack.project={built.project}"})
    assert leftovers == []


@pytest.mark.parametrize("pull", ["never"])
def test_missing_image_with_pull_never_is_one_clear_line(workspace, pull):
    result = workspace.juliapack("build", "--image", "juliapack-no-such-image:1", "--pull", pull, check=False)
    assert result.returncode == 4
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "juliapack-no-such-image:1" in errors[0] and " — " in errors[0]
    assert result.stderr.strip().splitlines()[-1] == errors[0] and "Traceback" not in result.stderr
    assert not workspace.dist.exists() or not any(workspace.dist.iterdir())


def test_docker_engine_missing_is_one_clear_line(workspace):
    result = workspace.juliapack("build", check=False, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 4
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot reach the Docker engine") and "start Docker" in last
    assert docker.from_env().ping()
