"""The test bed itself works: its Julia runs offline in the stand-in image, and the example project
instantiates from the local registry and runs end to end with no network."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TARBALL = "bin/linux/x64/1.5/julia-1.5.3-linux-x86_64.tar.gz"
INSTALL_JULIA = f"tar -x -f /mirror/{TARBALL} -C /usr/local --strip-components 1"


def run_offline(client, image: str, script: str, volumes: dict[str, dict], timeout: int = 600) -> str:
    """Run a bash script in a container without network; return its stdout, fail with all output on error."""
    container = client.containers.run(
        image,
        ["bash", "-euo", "pipefail", "-c", script],
        network_mode="none",
        volumes=volumes,
        environment={"JULIA_PKG_SERVER": ""},
        detach=True,
    )
    try:
        status = container.wait(timeout=timeout)
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        if status["StatusCode"] != 0:
            pytest.fail(f"container script failed ({status}):\n{container.logs().decode(errors='replace')}")
    finally:
        container.remove(force=True)
    return stdout


def mirror_volume(testbed) -> dict[str, dict]:
    return {str(testbed.julia_mirror): {"bind": "/mirror", "mode": "ro"}}


def between(output: str, marker: str) -> str:
    """The text a script printed between two `==== marker` lines."""
    _, _, rest = output.partition(f"==== {marker}\n")
    text, found, _ = rest.partition(f"==== end {marker}\n")
    assert found, f"no {marker} section in:\n{output}"
    return text


def test_versions_json_describes_the_tarball(testbed):
    versions = json.loads((testbed.julia_mirror / "bin" / "versions.json").read_text())
    (entry,) = versions["1.5.3"]["files"]
    tarball = testbed.julia_mirror / TARBALL
    assert entry["url"] == f"https://julialang-s3.julialang.org/{TARBALL}"
    assert entry["size"] == tarball.stat().st_size
    assert entry["sha256"] == hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert (entry["triplet"], entry["kind"], entry["extension"]) == ("x86_64-linux-gnu", "archive", "tar.gz")


def test_julia_fixture_runs_offline_in_the_standin(docker_client, testbed):
    script = f"""
        {INSTALL_JULIA}
        elves=0
        for file in $(find /usr/local/bin /usr/local/lib -type f); do
          if [ "$(head -c 4 "$file" | tail -c 3)" = ELF ]; then
            ldd "$file" | sed -n "s|not found|not found (needed by $file)|p"
            elves=$((elves + 1))
          fi
        done
        echo "==== elves"; echo "$elves"; echo "==== end elves"
        echo "==== julia"
        julia -e '
            using LinearAlgebra, Pkg, Serialization, SparseArrays, DelimitedFiles, Statistics, LibGit2
            println("version ", VERSION)
            println("product ", [1.0 2.0; 3.0 4.0] * [5.0 6.0; 7.0 8.0])
            println("sparse solve ", round.(sparse([2.0 0.0; 0.0 4.0]) \\ [1.0, 2.0]; digits=3))
            println("blas ", BLAS.vendor())
            println("libgit2 ", LibGit2.version())
            println("bindir ", Sys.BINDIR)'
        echo "==== end julia"
    """
    output = run_offline(docker_client, testbed.image, script, mirror_volume(testbed))
    assert "not found" not in output
    assert int(between(output, "elves")) > 50  # julia, libjulia, sys.so, LLVM and the libraries they need
    lines = between(output, "julia").splitlines()
    assert lines == [
        "version 1.5.3",
        "product [19.0 22.0; 43.0 50.0]",
        "sparse solve [0.5, 0.5]",
        "blas openblas64",
        "libgit2 1.1.0",
        "bindir /usr/local/bin",
    ]


INFERENCE_SCRIPT = r"""
    {install_julia}
    cp -r /examples/Inference /tmp/Inference
    cd /tmp/Inference
    julia -e 'using Pkg; Pkg.Registry.add(RegistrySpec(url="{registry}"))'
    start=$(date +%s%N)
    julia --project=. -e 'using Pkg; Pkg.instantiate()'
    echo "instantiate took $((($(date +%s%N) - start) / 1000000)) ms"
    echo "==== artifacts"
    julia --project=. -e '
        using Pkg, Pkg.Artifacts, TinyModel
        toml = joinpath(dirname(dirname(pathof(TinyModel))), "Artifacts.toml")
        for name in ("tinyscale", "tinylabels")
            hash = artifact_hash(name, toml)
            installed = artifact_exists(hash)
            path = ensure_artifact_installed(name, toml; quiet_download=true)
            println(name, " installed ", installed, " tree hash ok ", Base.SHA1(Pkg.GitTools.tree_hash(path)) == hash)
        end'
    echo "==== end artifacts"
    julia --project=. src/Inference.jl --model /model/model.jls --input /examples/data --output /tmp/out
    echo "==== submission"
    cat /tmp/out/submission.csv
    echo "==== end submission"
"""


@pytest.fixture(scope="module")
def inference_run(docker_client, testbed) -> str:
    """Output of: add the local registry, instantiate examples/Inference, ensure artifacts, run it."""
    script = INFERENCE_SCRIPT.format(install_julia=INSTALL_JULIA, registry=testbed.REGISTRY_URL)
    volumes = {
        **mirror_volume(testbed),
        str(testbed.repos): {"bind": testbed.REPOS_MOUNT, "mode": "ro"},
        str(EXAMPLES): {"bind": "/examples", "mode": "ro"},
        str(testbed.model.parent): {"bind": "/model", "mode": "ro"},
    }
    return run_offline(docker_client, testbed.image, script, volumes)


def test_instantiate_fetches_the_eager_artifact_only(inference_run):
    lines = between(inference_run, "artifacts").splitlines()
    assert lines == [
        "tinyscale installed true tree hash ok true",
        "tinylabels installed false tree hash ok true",
    ]


def test_example_runs_offline_and_matches_the_expected_submission(inference_run):
    for stage in ("loaded model", "read 6 rows", "scored", "class labels reject, accept", "wrote"):
        assert f"Inference: {stage}" in inference_run
    expected = (EXAMPLES / "data" / "expected_submission.csv").read_text()
    assert between(inference_run, "submission") == expected

