"""The build's Julia scripts (templates/build/*.jl) on the test bed's Julia 1.5.3, run directly in the stand-in.

The example project gets a package with a `.pkg/select_artifacts.jl` hook (as CUDA_Runtime_jll has), its
own [weakdeps]/[extensions], and the test bed's registry. Julia 1.5's Pkg runs no hooks, so artifacts.jl
does not either there; the hook runner is called as a function to show what 1.5 can of it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from juliapack.build.depot import DepotReport
from juliapack.caches import CacheCheck, cache_check_failure
from juliapack.env_report import EnvReport, check_bundled_depots, check_manifest
from tests.docker.test_testbed import INSTALL_JULIA, between, run_offline

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HOOKED_UUID = "5c1a9d1e-7a51-4b57-9a5e-0f3c2b7d8e61"
MMAP_UUID = "a63ad114-7e13-5084-954f-fe012c677804"
CUDA_UUID = "052768ef-5323-5732-b1bb-66c8b64840ba"
TINY_ARTIFACTS = ROOT / "testbed" / "packages" / "TinyModel" / "v0.2.0" / "Artifacts.toml"


def hook_source(chosen: str, meta: dict) -> str:
    """A select_artifacts.jl that picks one artifact and records what it was given (1.5 has no TOML stdlib)."""
    (download,) = meta["download"]
    return f'''print("""
[{chosen}]
git-tree-sha1 = "{meta["git-tree-sha1"]}"
seen_triplet = "$(ARGS[1])"
seen_project = "$(Base.active_project())"
seen_cwd = "$(pwd())"
[[{chosen}.download]]
url = "{download["url"]}"
sha256 = "{download["sha256"]}"
""")
'''


MANIFEST_V2 = """\
julia_version = "1.10.4"
manifest_format = "2.0"

[[deps.Foo]]
uuid = "22222222-2222-4222-8222-222222222222"
weakdeps = ["Bar", "Gone"]

    [deps.Foo.extensions]
    FooBarExt = "Bar"
    FooBothExt = ["Bar", "Gone"]

[[deps.Bar]]
uuid = "33333333-3333-4333-8333-333333333333"
"""


def make_project(work: Path) -> Path:
    project = work / "Inference"
    shutil.copytree(ROOT / "examples" / "Inference", project)
    text = (project / "Project.toml").read_text().replace("[deps]\n", f'[deps]\nHookedJll = "{HOOKED_UUID}"\n')
    text += f'\n[weakdeps]\nMmap = "{MMAP_UUID}"\nCUDA = "{CUDA_UUID}"\n'
    (project / "Project.toml").write_text(text + '\n[extensions]\nInferenceMmapExt = "Mmap"\nInferenceCUDAExt = "CUDA"\n')
    with (project / "Manifest.toml").open("a") as stream:
        stream.write(f'\n[[HookedJll]]\npath = "HookedJll"\nuuid = "{HOOKED_UUID}"\n')
    hooked = project / "HookedJll"
    (hooked / "src").mkdir(parents=True)
    (hooked / ".pkg").mkdir()
    (hooked / "Project.toml").write_text(f'name = "HookedJll"\nuuid = "{HOOKED_UUID}"\n')
    (hooked / "src" / "HookedJll.jl").write_text("module HookedJll end\n")
    artifacts = TINY_ARTIFACTS.read_text()
    (hooked / "Artifacts.toml").write_text(artifacts.replace("[tinyscale]\n", "[tinyscale]\nlazy = true\n"))
    (hooked / ".pkg" / "select_artifacts.jl").write_text(hook_source("tinylabels", tomllib.loads(artifacts)["tinylabels"]))
    (work / "v2").mkdir()
    (work / "v2" / "Manifest.toml").write_text(MANIFEST_V2)
    (work / "bad" / ".pkg").mkdir(parents=True)
    (work / "bad" / ".pkg" / "select_artifacts.jl").write_text('print("this = is = not toml")\n')
    return project


SCRIPT = """
{install}
J="julia --startup-file=no --project=/work/Inference"
section() {{ echo "==== $1"; cat; echo "==== end $1"; }}
# The hook on its own first, in a depot where nothing is installed yet.
$J -e 'include("/scripts/artifacts.jl"); foreach(println, artifact_lines("HookedJll", "/work/Inference/HookedJll"; hooks=true, triplet=host_triplet()))' | grep -v '^artifact ' | section hook
$J -e 'include("/scripts/artifacts.jl"); meta = run_selector("/work/Inference/HookedJll/.pkg/select_artifacts.jl", "x86_64-linux-gnu")["tinylabels"]
        foreach(key -> println(key, "	", meta[key]), ("seen_triplet", "seen_project", "seen_cwd"))' | section seen
ls /root/.julia/artifacts | section after-hook
$J -e 'include("/scripts/artifacts.jl"); try run_selector("/work/bad/.pkg/select_artifacts.jl", "t"); catch e; println(sprint(showerror, e)); end' | section bad-hook
rm -rf /root/.julia/artifacts
julia -e 'using Pkg; Pkg.Registry.add(Pkg.RegistrySpec(url="file://{repos}/registry"))' >&2
(cd /work/Inference && $J -e 'using Pkg; Pkg.instantiate()' >&2)
$J /scripts/artifacts.jl /work/report.tsv | section artifacts
ls /root/.julia/artifacts | section after-all
$J /scripts/check_caches.jl /work/caches.tsv | section check; echo "check exit ${{PIPESTATUS[0]}}"
$J -e 'include("/scripts/check_caches.jl"); foreach(t -> println(t[1].name, "\t", t[2]), targets(Base.active_project()))' | section targets
julia --startup-file=no -e 'using Pkg; include("/scripts/env_info.jl")
    foreach(e -> println(e[1], "\t", join(loadable_extensions(e[2], ["Foo", "Bar"]), ",")), manifest_entries(parse_toml("/work/v2/Manifest.toml")))' | section v2
chown -R {user} /work
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory, docker_client, testbed):
    work = tmp_path_factory.mktemp("scripts")
    make_project(work)
    volumes = {
        str(testbed.julia_mirror): {"bind": "/mirror", "mode": "ro"},
        str(testbed.repos): {"bind": testbed.REPOS_MOUNT, "mode": "ro"},
        str(ROOT / "templates" / "build"): {"bind": "/scripts", "mode": "ro"},
        str(work): {"bind": "/work", "mode": "rw"},
    }
    script = SCRIPT.format(install=INSTALL_JULIA, repos=testbed.REPOS_MOUNT, user=f"{os.getuid()}:{os.getgid()}")
    return work, run_offline(docker_client, testbed.image, script, volumes)


def hashes(meta: str) -> str:
    return tomllib.loads(TINY_ARTIFACTS.read_text())[meta]["git-tree-sha1"]


def test_the_hook_alone_installs_only_what_it_chose(ran):
    _, output = ran
    hook = between(output, "hook").splitlines()
    assert f"selected\t{hashes('tinylabels')}\tHookedJll\ttinylabels\thook" in hook
    assert "selector\tHookedJll\t1" in hook
    assert {f"artifact\t{hashes(name)}\tHookedJll" for name in ("tinylabels", "tinyscale")} <= set(hook)
    assert between(output, "after-hook").split() == [hashes("tinylabels")]


def test_the_hook_runs_in_its_folder_with_the_project_and_the_triplet(ran):
    _, output = ran
    seen = dict(line.split("\t") for line in between(output, "seen").splitlines())
    assert seen["seen_triplet"] == "x86_64-linux-gnu"
    assert seen["seen_project"] == "/work/Inference/Project.toml"
    assert seen["seen_cwd"] == "/work/Inference/HookedJll/.pkg"


def test_a_hook_printing_no_toml_is_an_error_naming_it(ran):
    _, output = ran
    message = between(output, "bad-hook")
    assert "/work/bad/.pkg/select_artifacts.jl printed no valid TOML" in message and "this = is = not toml" in message


def test_on_1_5_every_artifact_is_installed_lazy_ones_too_by_the_1_5_loop(ran):
    work, output = ran
    report = (work / "report.tsv").read_text().splitlines()
    for owner, name in (("TinyModel", "tinylabels"), ("TinyModel", "tinyscale"), ("HookedJll", "tinylabels"), ("HookedJll", "tinyscale")):
        assert f"selected\t{hashes(name)}\t{owner}\t{name}\tmeta" in report
    assert not any(line.startswith("selector\t") for line in report)  # Pkg 1.5 runs no hooks, neither does the script
    assert sorted(between(output, "after-all").split()) == sorted(hashes(name) for name in ("tinylabels", "tinyscale"))
    assert "artifact TinyModel/tinylabels (lazy) present (meta)" in between(output, "artifacts")


def test_the_report_names_the_project_its_extensions_manifest_and_bundled_depots(ran):
    work, _ = ran
    env = EnvReport.read(work / "report.tsv")
    assert (env.project_name, env.project_dir) == ("Inference", "/work/Inference")
    assert env.scratchspaces == {env.project_uuid} and env.project_uuid == "31463925-96df-4cf1-b628-0b2ac348dfdb"
    check_manifest(env, expected="Manifest.toml")
    assert env.bundled_depots == ("/usr/local/local/share/julia", "/usr/local/share/julia")  # read from Julia 1.5.3
    check_bundled_depots(env, ("/root/.julia", *env.bundled_depots))
    depot = DepotReport.read(work / "report.tsv")
    assert {"InferenceMmapExt", "InferenceCUDAExt"} <= depot.extensions
    assert "HookedJll" in depot.package_names and not any(d.startswith("packages/HookedJll") for d in depot.package_dirs)


def test_check_caches_says_it_skipped_on_1_5_and_succeeds(ran):
    work, output = ran
    assert "check exit 0" in output
    check = CacheCheck.parse((work / "caches.tsv").read_text())
    assert check.skipped == "Julia 1.5.3 has no Base.isprecompiled (1.10+): caches not checked"
    assert cache_check_failure(check) is None


def test_check_caches_targets_packages_loadable_extensions_and_the_app(ran):
    _, output = ran
    targets = dict(line.split("\t") for line in between(output, "targets").splitlines())
    assert targets["TinyModel"] == "package" and targets["HookedJll"] == "package"
    assert targets["Inference"] == "app"
    assert targets["InferenceMmapExt"] == "extension of Inference"
    assert "InferenceCUDAExt" not in targets  # its trigger is not in the Manifest: never loaded, never precompiled


def test_a_format_2_manifest_is_read_with_its_loadable_extensions(ran):
    _, output = ran
    assert between(output, "v2").splitlines() == ["Bar\t", "Foo\tFooBarExt"]  # FooBothExt needs Gone, absent
