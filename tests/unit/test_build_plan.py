"""build, the parts without Docker: the plan, depot pruning, the fingerprint, the no-op check, staging, codecs."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from juliapack import archive, build
from juliapack.build import depot as depot_rules
from juliapack.build import julia_layer as layers
from juliapack.build import plan as plans
from juliapack.build.pack import _forgotten_if_refused
from juliapack.build import work as works
from juliapack.build.depot import DepotReport, app_filter, depot_filter
from juliapack.build.julia_layer import JuliaLayer, choose_codec
from juliapack.build.plan import PlanInputs, Step, plan_build
from juliapack.build.work import WorkDirs, fingerprint, stage_app, up_to_date
from juliapack.container import Mount
from juliapack.secret_scan import Allowlist
from juliapack.errors import BuildFailed, ConfigError, ExitCode, InputError, ProjectError, SecretsFound
from juliapack.julia_call import entry_mode
from juliapack.julia_dist import JuliaDist, JuliaRelease
from juliapack.julia_version import exact_version
from juliapack.workflow.lock import APP_DEPOT, read_lock, write_lock
from juliapack.project import read_project
from juliapack.report import RecordingReporter
from juliapack.resources import templates_root
from tests.unit.helpers import EPOCH, UUIDS, build_config, fake_token, make_lock, write_project

FOO, BAR = UUIDS["Foo"], UUIDS["Bar"]
DEPOT_PATH = "/root/.julia:/tmp/Inference/.juliapack-depot:/opt/juliapack/julia/local/share/julia:/opt/juliapack/julia/share/julia"


@pytest.fixture
def project(tmp_path: Path):
    return read_project(write_project(tmp_path / "Inference"))


@pytest.fixture
def julia(tmp_path: Path) -> JuliaDist:
    release = JuliaRelease(exact_version("1.10.5"), "https://example.invalid/julia-1.10.5.tar.gz", "e" * 64, 123, "julia-1.10.5-linux-x86_64.tar.gz")
    return JuliaDist(release, tmp_path / "cache" / "julia-1.10.5.tar.gz")


def zstd_layer(julia: JuliaDist) -> JuliaLayer:
    return JuliaLayer(julia.path.parent / "juliapack-zstd-v1" / "julia-1.10.5", "f" * 64, 99, "zstd", "zstd")


def plan(tmp_path: Path, project, julia, *, registries=(), host_user="0:0", julia_layer=None, entry_mode="script", **changes):
    cfg = build_config(tmp_path, project=project.root, **changes)
    layer = julia_layer or zstd_layer(julia)
    inputs = PlanInputs(
        project=project, julia=julia, julia_layer=layer, codec="zstd", decompressor="zstd",
        cpu_target="generic;haswell", registries_to_add=registries, host_user=host_user, entry_mode=entry_mode,
    )  # fmt: skip
    return plan_build(cfg, inputs, work=WorkDirs(tmp_path / "work"), templates=tmp_path / "templates")


# --------------------------------------------------------------------------- the plan


def test_the_layout_puts_the_writable_depot_first() -> None:
    layout = plans.layout_for("Inference")
    assert (layout.julia_prefix, layout.depot, layout.app_dir) == ("/opt/juliapack/julia", "/root/.julia", "/tmp/Inference")  # our own prefix
    assert ":".join(layout.depot_path) == DEPOT_PATH


def test_plan_mounts_and_environment(tmp_path: Path, project, julia) -> None:
    (tmp_path / "extra").mkdir()
    extra = Mount(tmp_path / "extra", "/data", True)
    result = plan(tmp_path, project, julia, mounts=(extra,), env=(("HF_HOME", "/data/hf"), ("A", "1")), network="none")
    work = tmp_path / "work"
    assert (result.image, result.network) == ("gcr.io/kaggle-gpu-images/python:latest", "none")
    assert result.mounts == (
        Mount(julia.path.parent, "/juliapack/julia", True),
        Mount(tmp_path / "templates" / "build", "/juliapack/scripts", True),
        Mount(work, "/juliapack/work", False),
        Mount(work / "depot", "/root/.julia", False),
        Mount(work / "app" / "Inference", "/tmp/Inference", False),
        extra,
    )
    assert result.env == tuple(sorted({
        "HOME": "/root",
        "JULIA_DEPOT_PATH": DEPOT_PATH,
        "JULIA_LOAD_PATH": "@:@stdlib",
        "JULIA_CPU_TARGET": "generic;haswell",
        "JULIA_PKG_PRECOMPILE_AUTO": "0",
        "HF_HOME": "/data/hf",
        "A": "1",
    }.items()))  # fmt: skip
    assert result.layout == plans.layout_for("Inference")


def titles(result) -> list[str]:
    return [step.title for step in result.steps]


BASE_STEPS = ["Install Julia 1.10.5 as the notebook will", "Instantiate", "Make every artifact present (lazy ones too)", "Fix source mtimes before precompiling", "Precompile"]


CHECK = "Check that every compiled cache will load as it is"


def test_the_steps_of_a_plain_project_in_order(tmp_path: Path, project, julia) -> None:
    assert titles(plan(tmp_path, project, julia)) == [*BASE_STEPS, CHECK]


def test_registries_are_added_before_instantiating(tmp_path: Path, project, julia) -> None:
    result = plan(tmp_path, project, julia, registries=("https://example.invalid/Reg.git", "https://example.invalid/it's.git"))
    assert titles(result)[:4] == [
        "Install Julia 1.10.5 as the notebook will", "Add registry https://example.invalid/Reg.git", "Add registry https://example.invalid/it's.git", "Instantiate",
    ]  # fmt: skip
    script = result.steps[2].script
    assert shlex.split(script)[-1] == "https://example.invalid/it's.git"  # quoted for the shell
    assert result.steps[1].fix


def test_a_package_project_precompiles_itself_into_the_app_layer(tmp_path: Path, julia) -> None:
    project = read_project(write_project(tmp_path / "Inference", uuid=UUIDS["Inference"]))
    result = plan(tmp_path, project, julia)
    assert titles(result) == [*BASE_STEPS, "Precompile Inference into the app layer", CHECK]
    script = result.steps[-2].script
    assert "mv /root/.julia/compiled/v1.10/Inference /tmp/Inference/.juliapack-depot/compiled/v1.10/" in script
    assert (
        "JULIA_DEPOT_PATH=/tmp/Inference/.juliapack-depot:/root/.julia:/opt/juliapack/julia/local/share/julia:/opt/juliapack/julia/share/julia "
        "/opt/juliapack/julia/bin/julia --startup-file=no --project=/tmp/Inference -e 'using Inference'"
    ) in script


def test_smoke_runs_the_entry_point_then_fixes_mtimes_and_precompiles_again(tmp_path: Path, project, julia) -> None:
    result = plan(tmp_path, project, julia, smoke=("--model", "/data/model file.jld2"), host_user="1000:1001")
    assert titles(result) == [
        *BASE_STEPS, "Smoke run of the entry point", "Fix source mtimes before precompiling", "Precompile what the smoke run added",
        CHECK, "Hand the files back to you",
    ]  # fmt: skip
    smoke = result.steps[5].script.splitlines()
    assert smoke[:2] == ["mkdir -p /kaggle/working", "cd /kaggle/working"]
    assert shlex.split(smoke[2]) == [
        "/opt/juliapack/julia/bin/julia", "--startup-file=no", "-t", "auto", "--project=/tmp/Inference", "/tmp/Inference/src/Inference.jl",
        "--model", "/data/model file.jld2",
    ]  # fmt: skip
    assert result.steps[-1].script == "find /root/.julia /tmp/Inference /juliapack/work -exec chown -h 1000:1001 {} +"


def test_a_package_with_main_is_smoke_run_as_the_notebook_runs_it(tmp_path: Path, julia) -> None:
    root = write_project(tmp_path / "Inference", uuid=UUIDS["Inference"])
    (root / "src" / "Inference.jl").write_text("module Inference\nfunction main(args)\nend\nend\n")
    project = read_project(root)
    assert entry_mode(is_package=project.is_package, explicit_entry=False, source=root / "src" / "Inference.jl") == "package"
    assert entry_mode(is_package=project.is_package, explicit_entry=True, source=root / "src" / "Inference.jl") == "script"
    result = plan(tmp_path, project, julia, smoke=("--fast",), entry_mode="package")
    smoke = {step.title: step.script for step in result.steps}["Smoke run of the entry point"].splitlines()[2]
    assert shlex.split(smoke)[-5:] == ["--project=/tmp/Inference", "-e", "using Inference; Inference.main(ARGS)", "--", "--fast"]


def test_smoke_with_no_arguments_still_runs(tmp_path: Path, project, julia) -> None:
    assert "Smoke run of the entry point" in titles(plan(tmp_path, project, julia, smoke=()))


def test_smoke_checks_the_entry_point(tmp_path: Path, project, julia) -> None:
    with pytest.raises(ProjectError, match="does not exist"):
        plan(tmp_path, project, julia, smoke=(), entry="scripts/missing.jl")


def test_root_gets_no_chown(tmp_path: Path, project, julia) -> None:
    assert "Hand the files back to you" not in titles(plan(tmp_path, project, julia, host_user="0:0"))
    assert "Hand the files back to you" in titles(plan(tmp_path, project, julia, host_user="0:1000"))


def test_the_steps_install_instantiate_and_precompile_at_the_notebooks_paths(tmp_path: Path, project, julia) -> None:
    steps = {step.title: step.script for step in plan(tmp_path, project, julia).steps}
    assert steps["Install Julia 1.10.5 as the notebook will"].splitlines() == [
        "mkdir -p /opt/juliapack/julia",
        "zstd -d -c -q /juliapack/julia/juliapack-zstd-v1/julia-1.10.5 | tar -x -C /opt/juliapack/julia --strip-components 1",
        """found=$(/opt/juliapack/julia/bin/julia --version); [ "$found" = 'julia version 1.10.5' ] || { echo "expected julia version 1.10.5, found $found"; exit 1; }""",
    ]
    official = JuliaLayer(julia.path, julia.release.sha256, julia.release.size, "gzip", "tar")
    gzip_steps = {step.title: step.script for step in plan(tmp_path, project, julia, julia_layer=official).steps}
    assert gzip_steps["Install Julia 1.10.5 as the notebook will"].splitlines()[1] == (
        "tar -x -f /juliapack/julia/julia-1.10.5.tar.gz -C /opt/juliapack/julia --strip-components 1"
    )
    assert steps["Instantiate"] == "cd /tmp/Inference\n/opt/juliapack/julia/bin/julia --startup-file=no --project=/tmp/Inference -e 'using Pkg; Pkg.instantiate()'"
    assert steps["Make every artifact present (lazy ones too)"] == "/opt/juliapack/julia/bin/julia --startup-file=no --project=/tmp/Inference /juliapack/scripts/artifacts.jl /juliapack/work/report.tsv"
    assert steps["Precompile"] == "cd /tmp/Inference\n/opt/juliapack/julia/bin/julia --startup-file=no --project=/tmp/Inference -e 'using Pkg; Pkg.precompile()'"
    assert steps["Fix source mtimes before precompiling"].startswith("find /root/.julia /tmp/Inference ")


def test_every_step_is_valid_bash(tmp_path: Path, julia) -> None:
    project = read_project(write_project(tmp_path / "Inference", uuid=UUIDS["Inference"]))
    result = plan(tmp_path, project, julia, registries=("https://x/y.git",), smoke=("a b", "$HOME"), host_user="1:1")
    for step in result.steps:
        checked = subprocess.run(["bash", "-n", "-c", step.script], capture_output=True, text=True)
        assert checked.returncode == 0, (step.title, checked.stderr)


def test_the_artifacts_script_the_plan_runs_is_shipped() -> None:
    assert (templates_root() / plans.TEMPLATES_BUILD / "artifacts.jl").is_file()


# --------------------------------------------------------------------------- fixing mtimes (run for real with find and touch)


def run_step(step: Step) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-ec", step.script], check=True, capture_output=True)


def test_fix_mtimes_sets_every_mtime_and_leaves_correct_ones_alone(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    stamps = {"new.jl": EPOCH + 1000, "old.jl": EPOCH - 1000, "right.jl": EPOCH, "sub/just-after.jl": EPOCH + 1}
    for relpath, stamp in stamps.items():
        (tree / relpath).write_text(relpath)
        os.utime(tree / relpath, (stamp, stamp))
    os.symlink("new.jl", tree / "link")
    os.utime(tree / "link", (EPOCH + 5, EPOCH + 5), follow_symlinks=False)
    os.utime(tree / "sub", (EPOCH + 9, EPOCH + 9))
    right_ctime = (tree / "right.jl").stat().st_ctime_ns

    run_step(plans.fix_mtimes(EPOCH, (str(tree),)))

    for path in [tree, *tree.rglob("*")]:
        assert path.lstat().st_mtime == EPOCH, path
    assert (tree / "link").is_symlink() and (tree / "new.jl").stat().st_mtime == EPOCH
    assert (tree / "right.jl").stat().st_ctime_ns == right_ctime  # not touched


@pytest.mark.parametrize("target", ["/root/.julia", "/root/.julia/", "/tmp/Inference", "/juliapack/work"])
def test_a_volume_at_one_of_juliapacks_own_mounts_is_refused(tmp_path: Path, project, julia, target: str) -> None:
    (tmp_path / "mine").mkdir()
    with pytest.raises(ConfigError, match=f"is mounted at {target}, where juliapack mounts its own folder") as raised:
        plan(tmp_path, project, julia, mounts=(Mount(tmp_path / "mine", target, False),))
    assert "one below it is fine" in raised.value.fix


def test_mounts_inside_the_depot_or_the_app_are_left_out_of_the_mtime_and_hand_back_steps(tmp_path: Path, project, julia) -> None:
    for name in ("keys", "data", "out"):
        (tmp_path / name).mkdir()
    mounts = (Mount(tmp_path / "keys", "/root/.julia/config/", True), Mount(tmp_path / "data", "/tmp/Inference/data", False), Mount(tmp_path / "out", "/data", False))
    result = plan(tmp_path, project, julia, mounts=mounts, smoke=(), host_user="1000:1001")
    fixes = [step.script for step in result.steps if step.kind is plans.StepKind.FIX_MTIMES]
    assert len(fixes) == 2 and all(script.startswith(
        "find /root/.julia /tmp/Inference -path /root/.julia/config -prune -o -path /tmp/Inference/data -prune -o \\( -newermt"
    ) for script in fixes)  # fmt: skip
    assert result.steps[-1].script == (
        "find /root/.julia /tmp/Inference /juliapack/work -path /root/.julia/config -prune -o -path /tmp/Inference/data -prune -o -exec chown -h 1000:1001 {} +"
    )
    assert all(step.fix and "your" not in step.fix for step in result.steps if step.kind in (plans.StepKind.FIX_MTIMES, plans.StepKind.HAND_BACK))


def test_fix_mtimes_never_touches_what_it_skips(tmp_path: Path) -> None:
    tree = tmp_path / "depot"
    skipped = {"config/startup.jl": EPOCH + 7, "odd [dir]*/x.jl": EPOCH + 8, "mounted/a.jl": EPOCH + 9}
    for relpath, stamp in {**skipped, "packages/Foo/src/Foo.jl": EPOCH + 5, "config/other.jl": EPOCH + 6, "odd [dir]x/y.jl": EPOCH + 6}.items():
        (tree / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tree / relpath).write_text(relpath)
        os.utime(tree / relpath, (stamp, stamp))
    os.utime(tree / "mounted", (EPOCH + 9, EPOCH + 9))
    skip = (str(tree / "config" / "startup.jl"), str(tree / "odd [dir]*"), str(tree / "mounted"))
    run_step(plans.fix_mtimes(EPOCH, (str(tree),), skip=skip))
    for relpath, stamp in skipped.items():
        assert (tree / relpath).stat().st_mtime == stamp, relpath
    assert (tree / "mounted").stat().st_mtime == EPOCH + 9  # the mount point itself is the host's folder
    for relpath in ("packages/Foo/src/Foo.jl", "config/other.jl", "odd [dir]x/y.jl"):
        assert (tree / relpath).stat().st_mtime == EPOCH, relpath


@pytest.mark.skipif(os.geteuid() != 0, reason="handing files to another user needs root")
def test_hand_back_gives_everything_but_what_it_skips_and_never_what_a_link_points_to(tmp_path: Path) -> None:
    tree, outside = tmp_path / "depot", tmp_path / "host.txt"
    make_files(tree, {"packages/Foo.jl": b"x", "mounted/host.jl": b"y"})
    outside.write_text("the host's")
    os.symlink(outside, tree / "link")
    run_step(plans.hand_back("1234:4321", (str(tree),), skip=(str(tree / "mounted"),)))
    assert {(p.lstat().st_uid, p.lstat().st_gid) for p in (tree, tree / "packages", tree / "packages/Foo.jl", tree / "link")} == {(1234, 4321)}
    assert {p.lstat().st_uid for p in (tree / "mounted", tree / "mounted/host.jl", outside)} == {0}


def test_fix_mtimes_also_fixes_fractional_mtimes_just_below_the_epoch(tmp_path: Path) -> None:
    (tmp_path / "a.jl").write_text("a")
    os.utime(tmp_path / "a.jl", ns=(EPOCH * 10**9 - 500_000_000,) * 2)
    run_step(plans.fix_mtimes(EPOCH, (str(tmp_path),)))
    assert (tmp_path / "a.jl").stat().st_mtime_ns == EPOCH * 10**9


# --------------------------------------------------------------------------- the depot report and pruning


REPORT_LINES = [
    f"package\tBar\t{BAR}\t/root/.julia/packages/Bar/XyZ12",
    f"package\tFoo\t{FOO}\t/root/.julia/packages/Foo/AbCdE",
    "extension\tFooBarExt\tFoo",
    "package\tStatistics\t10745b16-79ce-11e8-11f9-7d13ad32a3b2\t/usr/local/share/julia/stdlib/v1.10/Statistics",
    f"package\tDevved\t{UUIDS['Baz']}\t/tmp/Inference/dev/Devved",
    "artifact\t" + "a" * 40 + "\tFoo",
    "artifact\t" + "c" * 40 + "\t(project)",
    "",
    "something\telse",
]


@pytest.fixture
def report(tmp_path: Path) -> DepotReport:
    (tmp_path / "report.tsv").write_text("\n".join(REPORT_LINES) + "\n")
    return DepotReport.read(tmp_path / "report.tsv")


def test_the_depot_report(report: DepotReport) -> None:
    assert report.package_dirs == {"packages/Bar/XyZ12", "packages/Foo/AbCdE"}  # only sources inside the depot
    assert report.package_names == {"Bar", "Foo", "Statistics", "Devved"}
    assert report.package_uuids == {FOO, BAR, UUIDS["Baz"], "10745b16-79ce-11e8-11f9-7d13ad32a3b2"}
    assert report.artifacts == {"a" * 40, "c" * 40}
    assert report.extensions == {"FooBarExt"}


D, F = True, False
DEPOT_CASES = [
    ("logs", D, "logs"),
    ("logs/manifest_usage.toml", F, "logs"),
    ("clones", D, "git clones"),
    ("registries", D, "registries (not needed to load packages)"),
    ("registries/General.toml", F, "registries (not needed to load packages)"),
    ("compiled", D, None),
    ("compiled/v1.10", D, None),
    ("compiled/v1.9", D, "caches of other Julia versions"),
    ("compiled/v1.11/Foo/x.ji", F, "caches of other Julia versions"),
    ("compiled/v1.10/Foo", D, None),
    ("compiled/v1.10/Foo/AbC_x.ji", F, None),
    ("compiled/v1.10/Statistics", D, None),
    ("compiled/v1.10/Removed", D, "caches of packages not in the Manifest"),
    ("compiled/v1.10/Inference", D, "caches of packages not in the Manifest"),  # the project's own goes to the app layer
    ("packages", D, None),
    ("packages/Foo", D, None),
    ("packages/Foo/AbCdE", D, None),
    ("packages/Foo/AbCdE/src/Foo.jl", F, None),
    ("packages/Foo/OldOne", D, "packages not in the Manifest"),
    ("packages/Removed", D, "packages not in the Manifest"),
    ("packages/Statistics", D, "packages not in the Manifest"),
    ("artifacts", D, None),
    ("artifacts/" + "a" * 40, D, None),
    ("artifacts/" + "c" * 40, D, None),
    ("artifacts/" + "a" * 40 + "/lib/libfoo.so", F, None),
    ("artifacts/" + "b" * 40, D, "artifacts no package references"),
    ("artifacts/Overrides.toml", F, None),
    ("scratchspaces/" + FOO, D, None),
    ("scratchspaces/" + "9" * 8 + "-0000-4000-8000-" + "0" * 12, D, "scratch spaces of packages not in the Manifest"),
    ("prefs/Foo.toml", F, None),
    ("environments/v1.10/Project.toml", F, None),
    ("config/startup.jl", F, None),
]


@pytest.mark.parametrize("relpath, is_dir, reason", DEPOT_CASES)
def test_depot_filter(report: DepotReport, relpath: str, is_dir: bool, reason: str | None) -> None:
    drop = depot_filter(report, compiled="v1.10", project_name="Inference", keep_registries=False)
    assert drop(relpath, is_dir) == reason


def test_registries_can_be_kept(report: DepotReport) -> None:
    drop = depot_filter(report, compiled="v1.10", project_name="Inference", keep_registries=True)
    assert drop("registries", True) is None and drop("registries/General.toml", False) is None
    assert drop("registries/General/Registry.toml", False) is None and drop("registries/General/A/Abc/Package.toml", False) is None
    # a git clone's history: hundreds of MB for General, and new bytes on every clone
    assert drop("registries/General/.git", True) == "registry git history"
    assert drop("logs", True) == "logs"


def test_depot_filter_keeps_caches_of_package_extensions(report: DepotReport) -> None:
    # Foo's Manifest entry would say: [deps.Foo.extensions] FooBarExt = "Bar" (both in the report above)
    drop = depot_filter(report, compiled="v1.10", project_name="Inference", keep_registries=False)
    assert drop("compiled/v1.10/FooBarExt", True) is None


def make_files(root: Path, files: dict[str, bytes]) -> None:
    for relpath, data in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_pruning_a_depot_tree_with_collect(tmp_path: Path, report: DepotReport) -> None:
    depot = tmp_path / "depot"
    make_files(depot, {
        "logs/usage.toml": b"12345",
        "registries/General.tar.gz": b"x" * 100,
        "packages/Foo/AbCdE/src/Foo.jl": b"module Foo end",
        "packages/Foo/Old12/src/Foo.jl": b"module Foo # old",
        "compiled/v1.10/Foo/a.ji": b"ji" * 10,
        "compiled/v1.10/Inference/b.ji": b"own",
        "compiled/v1.9/Foo/a.ji": b"old" * 3,
        "artifacts/" + "a" * 40 + "/lib.so": b"so",
        "artifacts/" + "b" * 40 + "/lib.so": b"unused",
    })  # fmt: skip
    collected = archive.collect(depot, prefix=".julia", drop=depot_filter(report, compiled="v1.10", project_name="Inference", keep_registries=False))
    files = sorted(e.arcname for e in collected.entries if e.kind == "file")
    assert files == [".julia/artifacts/" + "a" * 40 + "/lib.so", ".julia/compiled/v1.10/Foo/a.ji", ".julia/packages/Foo/AbCdE/src/Foo.jl"]
    assert collected.dropped == {
        "logs": 5,
        "registries (not needed to load packages)": 100,
        "packages not in the Manifest": len(b"module Foo # old"),
        "caches of packages not in the Manifest": 3,
        "caches of other Julia versions": 9,
        "artifacts no package references": 6,
    }


@pytest.mark.parametrize(
    "relpath, is_dir, reason",
    [
        ("src/Inference.jl", F, None),
        ("Project.toml", F, None),
        ("logs", D, None),  # the project's own folder named logs is the user's
        (APP_DEPOT, D, None),
        (f"{APP_DEPOT}/compiled", D, None),
        (f"{APP_DEPOT}/compiled/v1.10", D, None),
        (f"{APP_DEPOT}/compiled/v1.10/Inference/x.ji", F, None),
        (f"{APP_DEPOT}/compiled/v1.9", D, "caches of other Julia versions"),
        (f"{APP_DEPOT}/logs", D, "logs"),
        (f"{APP_DEPOT}/logs/manifest_usage.toml", F, "logs"),
    ],
)
def test_app_filter(relpath: str, is_dir: bool, reason: str | None) -> None:
    assert app_filter(compiled="v1.10")(relpath, is_dir) == reason


def test_secrets_in_the_depot_are_refused_but_third_party_test_keys_pass(tmp_path: Path) -> None:
    depot = tmp_path / "depot"
    make_files(depot, {
        "packages/HTTP/abc/test/resources/key.pem": b"-",
        "packages/X/abc/test/runtests.jl": b'password = "hunter2hunter2"',  # a sample in a package's tests
        "prefs/Foo.toml": b"x = 1",
    })  # fmt: skip
    nothing_allowed = Allowlist({})
    depot_rules.refuse_secrets_in_depot(archive.collect(depot, prefix=".julia"), allow=nothing_allowed)
    make_files(depot, {"packages/X/abc/src/X.jl": fake_token("github").encode()})  # a real token counts anywhere
    with pytest.raises(SecretsFound, match=r"\.julia/packages/X/abc/src/X\.jl \(contains a GitHub token"):
        depot_rules.refuse_secrets_in_depot(archive.collect(depot, prefix=".julia"), allow=nothing_allowed)
    (depot / "packages/X/abc/src/X.jl").unlink()
    make_files(depot, {"config/settings.toml": f'token = "{fake_token("huggingface")}"'.encode(), "kaggle.json": b"{}"})
    with pytest.raises(SecretsFound) as raised:
        depot_rules.refuse_secrets_in_depot(archive.collect(depot, prefix=".julia"), allow=nothing_allowed)
    assert ".julia/config/settings.toml (contains a Hugging Face token" in raised.value.what
    assert ".julia/kaggle.json (Kaggle API credentials)" in raised.value.what
    assert "--env" in raised.value.fix and "exclude" not in raised.value.fix  # depot files are not the app's


def test_an_allowed_depot_file_passes_and_is_recorded(tmp_path: Path) -> None:
    depot = tmp_path / "depot"
    make_files(depot, {"config/settings.toml": f'token = "{fake_token("huggingface")}"'.encode()})
    allow = Allowlist({".julia/config/settings.toml": "a read-only demo token"})
    depot_rules.refuse_secrets_in_depot(archive.collect(depot, prefix=".julia"), allow=allow)
    assert allow.used == {".julia/config/settings.toml": "a read-only demo token"} and allow.unused() == []


# --------------------------------------------------------------------------- fingerprint and the no-op check


def base_print(tmp_path: Path, cfg=None, **kwargs) -> str:
    inputs = {"app_files": {"src/a.jl": "1" * 64, "Project.toml": "2" * 64}, "julia_sha256": "j" * 64, "image_id": "sha256:i", "cpu_target": "generic"}
    return fingerprint(cfg or build_config(tmp_path), **{**inputs, **kwargs})


@pytest.mark.parametrize(
    "change",
    [
        {"registries": ("https://x",)},
        {"env": (("A", "1"),)},
        {"mounts": (Mount(Path("/data"), "/data"),)},
        {"mounts": (Mount(Path("/data"), "/data", read_only=False),)},
        {"network": "host"},
        {"smoke": ()},
        {"smoke": ("--n", "1")},
        {"entry": "scripts/run.jl"},
        {"names": dataclasses.replace(build_config(Path("/")).names, app="code")},
        {"codec": "gzip"},
        {"source_date_epoch": EPOCH + 1},
        {"keep_registries": False},
    ],
    ids=lambda change: next(iter(change)),
)
def test_the_fingerprint_changes_with_each_setting(tmp_path: Path, change: dict) -> None:
    assert base_print(tmp_path, build_config(tmp_path, **change)) != base_print(tmp_path)


@pytest.mark.parametrize(
    "change",
    [
        {"app_files": {"src/a.jl": "3" * 64, "Project.toml": "2" * 64}},
        {"app_files": {"src/a.jl": "1" * 64, "Project.toml": "2" * 64, "src/b.jl": "1" * 64}},
        {"app_files": {"src/renamed.jl": "1" * 64, "Project.toml": "2" * 64}},
        {"julia_sha256": "k" * 64},
        {"image_id": "sha256:other"},
        {"cpu_target": "native"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_the_fingerprint_changes_with_each_input(tmp_path: Path, change: dict) -> None:
    assert base_print(tmp_path, **change) != base_print(tmp_path)


@pytest.mark.parametrize("change", [{"keep_container": True}, {"pull": "always"}, {"verify": False}, {"cache_dir": Path("/elsewhere")}, {"out": Path("/other")}])
def test_settings_that_do_not_change_the_output_keep_the_fingerprint(tmp_path: Path, change: dict) -> None:
    assert base_print(tmp_path, build_config(tmp_path, **change)) == base_print(tmp_path)


def test_the_fingerprint_does_not_depend_on_order_and_hides_env_values(tmp_path: Path) -> None:
    reordered = {"Project.toml": "2" * 64, "src/a.jl": "1" * 64}
    assert base_print(tmp_path, app_files=reordered) == base_print(tmp_path)
    token = fake_token("huggingface")
    with_secret = base_print(tmp_path, build_config(tmp_path, env=(("HF_TOKEN", token),)))
    other_secret = base_print(tmp_path, build_config(tmp_path, env=(("HF_TOKEN", token + "x"),)))
    assert with_secret != other_secret
    assert re.fullmatch("[0-9a-f]{64}", with_secret)
    lock = make_lock(fingerprint=with_secret)
    assert token not in json.dumps(lock.to_json())


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """dist/ with the three layer files and a lock that matches them."""
    folder = tmp_path / "dist"
    folder.mkdir()
    files = {}
    for role, name in (("julia", "julia"), ("depot", "dotjulia"), ("app", "inference")):
        data = f"{role} layer".encode() * 10
        (folder / name).write_bytes(data)
        files[role] = (hashlib.sha256(data).hexdigest(), len(data))
    write_lock(folder, make_lock(files=files, fingerprint="1" * 64))
    return folder


def test_up_to_date_returns_the_lock_when_everything_matches(dist: Path) -> None:
    lock = up_to_date(dist, "1" * 64)
    assert lock is not None and lock == make_lock(files={l.role: (l.sha256, l.size) for l in lock.layers}, fingerprint="1" * 64)


def test_up_to_date_is_none_for_other_inputs(dist: Path) -> None:
    assert up_to_date(dist, "2" * 64) is None


def test_up_to_date_is_none_when_a_layer_is_missing(dist: Path) -> None:
    (dist / "dotjulia").unlink()
    assert up_to_date(dist, "1" * 64) is None


def test_up_to_date_is_none_when_a_layer_changed_but_kept_its_size(dist: Path) -> None:
    data = bytearray((dist / "inference").read_bytes())
    data[0] ^= 1
    (dist / "inference").write_bytes(bytes(data))
    assert up_to_date(dist, "1" * 64) is None


def test_up_to_date_trusts_stamps_of_untouched_files_without_hashing_them(dist: Path, tmp_path: Path, monkeypatch) -> None:
    stamps = tmp_path / "stamps.json"
    works.write_stamps(stamps, dist, read_lock(dist).layers)
    hashed = []
    monkeypatch.setattr(build, "sha256_file", lambda path: hashed.append(path) or "0" * 64)
    assert up_to_date(dist, "1" * 64, stamps=stamps) is not None
    assert hashed == []


def test_up_to_date_hashes_again_a_file_rewritten_since_its_stamp(dist: Path, tmp_path: Path) -> None:
    stamps = tmp_path / "stamps.json"
    works.write_stamps(stamps, dist, read_lock(dist).layers)
    before = (dist / "inference").stat()
    data = bytearray((dist / "inference").read_bytes())
    data[0] ^= 1
    (dist / "inference").write_bytes(bytes(data))
    # Same size, inode and mtime: only the ctime, which no program can set back, tells.
    os.utime(dist / "inference", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert up_to_date(dist, "1" * 64, stamps=stamps) is None


@pytest.mark.parametrize("text", ["not json", "[1, 2]"])
def test_up_to_date_hashes_when_the_stamps_are_unreadable(dist: Path, tmp_path: Path, text: str) -> None:
    stamps = tmp_path / "stamps.json"
    stamps.write_text(text)
    assert up_to_date(dist, "1" * 64, stamps=stamps) is not None
    (dist / "app").write_bytes(b"")  # not a layer: ignored
    data = bytearray((dist / "dotjulia").read_bytes())
    data[-1] ^= 1
    (dist / "dotjulia").write_bytes(bytes(data))
    assert up_to_date(dist, "1" * 64, stamps=stamps) is None


@pytest.mark.parametrize("text", ["not json", '{"schema": 99}', "{}"])
def test_up_to_date_is_none_for_an_unreadable_lock(dist: Path, text: str) -> None:
    (dist / "juliapack.lock.json").write_text(text)
    assert up_to_date(dist, "1" * 64) is None


def test_up_to_date_is_none_without_a_lock(tmp_path: Path) -> None:
    assert up_to_date(tmp_path, "1" * 64) is None


# --------------------------------------------------------------------------- staging the app


def test_stage_app_copies_files_with_the_fixed_mtime(tmp_path: Path, project) -> None:
    make_files(project.root, {"data/x.csv": b"1,2", "scripts/run.jl": b"println()"})
    (project.root / "scripts" / "run.jl").chmod(0o755)
    files = ("Manifest.toml", "Project.toml", "data/x.csv", "scripts/run.jl", "src/Inference.jl")
    target = stage_app(project, files, WorkDirs(tmp_path / "work"), epoch=EPOCH)
    assert target == tmp_path / "work" / "app" / "Inference"
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == list(files)
    for relpath in files:
        assert (target / relpath).read_bytes() == (project.root / relpath).read_bytes()
        assert (target / relpath).stat().st_mtime == EPOCH
    assert os.access(target / "scripts" / "run.jl", os.X_OK)


def test_restaging_removes_stale_files_and_keeps_the_apps_own_depot(tmp_path: Path, project) -> None:
    work = WorkDirs(tmp_path / "work")
    make_files(project.root, {"data/x.csv": b"1,2", "src/helper.jl": b"h", "thing": b"a file"})
    target = stage_app(project, ("Project.toml", "data/x.csv", "src/Inference.jl", "src/helper.jl", "thing"), work, epoch=EPOCH)
    make_files(target, {f"{APP_DEPOT}/compiled/v1.10/Inference/x.ji": b"cache", "leftover.jl": b"?"})
    (project.root / "src" / "Inference.jl").write_text("module Inference\n# changed\nend\n")
    (project.root / "thing").unlink()
    make_files(project.root, {"thing/inside.jl": b"now a folder"})

    stage_app(project, ("Project.toml", "src/Inference.jl", "thing/inside.jl"), work, epoch=EPOCH)

    present = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert present == [f"{APP_DEPOT}/compiled/v1.10/Inference/x.ji", "Project.toml", "src/Inference.jl", "thing/inside.jl"]
    assert not (target / "data").exists()  # a folder with nothing wanted goes too
    assert (target / "src" / "Inference.jl").read_text() == "module Inference\n# changed\nend\n"
    assert (target / "src" / "Inference.jl").stat().st_mtime == EPOCH


def test_stage_app_keeps_a_link_as_a_link_and_the_app_layer_packs_it_as_one(tmp_path: Path, project) -> None:
    os.symlink("src/Inference.jl", project.root / "main.jl")
    target = stage_app(project, ("src/Inference.jl",), WorkDirs(tmp_path / "work"), epoch=EPOCH, links={"main.jl": "src/Inference.jl"})
    assert (target / "main.jl").is_symlink() and os.readlink(target / "main.jl") == "src/Inference.jl"
    assert (target / "main.jl").lstat().st_mtime == EPOCH
    entries = {entry.arcname: entry for entry in archive.collect(target, prefix="Inference").entries}
    assert (entries["Inference/main.jl"].kind, entries["Inference/main.jl"].link) == ("symlink", "src/Inference.jl")


def test_restaging_swaps_files_folders_and_links_without_writing_through_a_link(tmp_path: Path, project) -> None:
    work = WorkDirs(tmp_path / "work")
    make_files(project.root, {"assets/a.txt": b"a", "main.jl": b"main"})
    files = ("assets/a.txt", "main.jl", "src/Inference.jl")
    target = stage_app(project, files, work, epoch=EPOCH, links={"data": "assets", "run.jl": "main.jl"})
    # Now data/ is a folder, run.jl a file and main.jl a link: run.jl must not be written through the old link.
    make_files(project.root, {"data/b.txt": b"b", "run.jl": b"run"})
    files = ("assets/a.txt", "data/b.txt", "run.jl", "src/Inference.jl")
    target = stage_app(project, files, work, epoch=EPOCH, links={"main.jl": "src/Inference.jl"})
    assert not (target / "data").is_symlink() and (target / "data" / "b.txt").read_bytes() == b"b"
    assert not (target / "run.jl").is_symlink() and (target / "run.jl").read_bytes() == b"run"
    assert os.readlink(target / "main.jl") == "src/Inference.jl"
    assert (target / "src" / "Inference.jl").read_bytes() == (project.root / "src" / "Inference.jl").read_bytes()


def test_restaging_picks_up_a_changed_executable_bit(tmp_path: Path, project) -> None:
    make_files(project.root, {"run.sh": b"#!/bin/sh\n"})
    work = WorkDirs(tmp_path / "work")
    target = stage_app(project, ("run.sh",), work, epoch=EPOCH)
    assert not os.access(target / "run.sh", os.X_OK)
    (project.root / "run.sh").chmod(0o755)
    stage_app(project, ("run.sh",), work, epoch=EPOCH)
    assert os.access(target / "run.sh", os.X_OK)


# --------------------------------------------------------------------------- codecs, decompressors, messages


@pytest.mark.parametrize(
    "codec, found, expected",
    [
        ("auto", {"zstd", "pigz"}, ("zstd", "zstd")),
        ("auto", {"python-zstandard", "zstd"}, ("zstd", "zstd")),
        ("auto", {"python-zstandard"}, ("zstd", "python-zstandard")),
        ("auto", {"python-compression.zstd", "python-zstandard"}, ("zstd", "python-zstandard")),
        ("auto", {"python-compression.zstd"}, ("zstd", "python-compression.zstd")),
        ("auto", set(), ("gzip", "tar")),
        ("auto", {"pigz"}, ("gzip", "pigz")),
        ("zstd", {"zstd"}, ("zstd", "zstd")),
        ("gzip", {"zstd", "pigz"}, ("gzip", "pigz")),
        ("gzip", {"zstd"}, ("gzip", "tar")),
    ],
)
def test_choose_codec(codec: str, found: set[str], expected: tuple[str, str]) -> None:
    assert choose_codec(codec, frozenset(found)) == expected


def test_zstd_without_a_decompressor_in_the_image_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="no zstd decompressor") as raised:
        choose_codec("zstd", frozenset({"pigz"}))
    assert raised.value.exit_code == ExitCode.USAGE and "--codec gzip" in raised.value.fix


class LocalBox:
    """Runs a container's exec script with this machine's bash instead."""

    def exec(self, script: str, *, quiet: bool = False):
        done = subprocess.run(["bash", "-o", "pipefail", "-ec", script], capture_output=True, text=True)
        return type("Result", (), {"exit_code": done.returncode, "tail": tuple(done.stdout.splitlines())})()


def test_the_decompressor_probe_finds_what_this_machine_has() -> None:
    found = layers.probe_decompressors(LocalBox())
    assert ("zstd" in found) == (shutil.which("zstd") is not None)
    assert ("pigz" in found) == (shutil.which("pigz") is not None)
    python3 = shutil.which("python3")
    has_zstandard = python3 is not None and subprocess.run([python3, "-c", "import zstandard"], capture_output=True).returncode == 0
    assert ("python-zstandard" in found) == has_zstandard
    assert found <= {"zstd", "pigz", "python-zstandard", "python-compression.zstd"}


def test_julias_error_line_is_lifted_into_the_message() -> None:
    error = BuildFailed("Instantiate failed in the build container (exit code 1)", fix="fix deps", details="Resolving\n  ERROR: Unsatisfiable requirements detected for package Foo\nStacktrace:\n ERROR: second")
    lifted = build._with_pkg_message(error)
    assert lifted.what == "Instantiate failed in the build container (exit code 1): ERROR: Unsatisfiable requirements detected for package Foo"
    assert (lifted.fix, lifted.details, lifted.exit_code) == ("fix deps", error.details, ExitCode.FAILED)


def test_without_an_error_line_the_error_is_kept() -> None:
    error = BuildFailed("Precompile failed", fix="f", details="no error line here")
    assert build._with_pkg_message(error) is error


def test_an_error_line_behind_colour_codes_is_lifted_without_them() -> None:
    coloured = "Resolving\n\x1b[91m\x1b[1mERROR: \x1b[22m\x1b[39mUnsatisfiable requirements detected for package Foo\x1b[0m\n\x1b]8;;https://x\x07link\x1b]8;;\x07"
    error = BuildFailed("Instantiate failed (exit code 1)", fix="fix deps", details=coloured)
    lifted = build._with_pkg_message(error)
    assert lifted.what == "Instantiate failed (exit code 1): ERROR: Unsatisfiable requirements detected for package Foo"
    assert lifted.details == coloured


def load_runner():
    spec = importlib.util.spec_from_file_location("run_notebook", templates_root() / "verify" / "run_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_caches_the_lock_records_are_named_as_verify_hashes_them(tmp_path: Path) -> None:
    work = WorkDirs(tmp_path / "work")
    make_files(work.depot, {"compiled/v1.10/Foo/a.ji": b"a", "compiled/v1.10/Foo/a.so": b"so"})
    make_files(work.app_parent / "Inference" / APP_DEPOT, {"compiled/v1.10/Inference/b.ji": b"b"})
    recorded = depot_rules.compiled_caches(work, "Inference", "v1.10")
    assert recorded == {
        "compiled/v1.10/Foo/a.ji": hashlib.sha256(b"a").hexdigest(),
        "compiled/v1.10/Foo/a.so": hashlib.sha256(b"so").hexdigest(),
        f"{APP_DEPOT}/compiled/v1.10/Inference/b.ji": hashlib.sha256(b"b").hexdigest(),
    }
    # The runner in the notebook's container labels the depots exactly as verify tells it to.
    depots = [f"{work.depot}=", f"{work.app_parent / 'Inference' / APP_DEPOT}={APP_DEPOT}/"]
    assert load_runner().hash_caches(depots) == recorded


def test_the_http_client_is_made_only_when_a_request_is_sent(monkeypatch) -> None:
    made = []

    class Client:
        closed = False

        def get(self, url):
            return f"GET {url}"

        def close(self):
            self.closed = True

    monkeypatch.setattr(build.julia_dist, "new_client", lambda: made.append(Client()) or made[-1])
    with build._http(None):
        pass
    assert made == []  # a no-op rebuild answers from the caches
    with build._http(None) as http:
        assert http.get("https://example.invalid/versions.json") == "GET https://example.invalid/versions.json"
        assert http.get("https://example.invalid/again") == "GET https://example.invalid/again"
    assert len(made) == 1 and made[0].closed
    given = Client()
    with build._http(given) as http:
        assert http is given
    assert not given.closed  # a client passed in belongs to the caller


def test_the_work_depot_drops_pkg_logs_at_every_build(tmp_path: Path) -> None:
    work = WorkDirs(tmp_path / "work")
    key = works.depot_key("e" * 64, "sha256:" + "d" * 64, "generic")
    work.state.write_text(json.dumps(works.prepare_work(work, key=key, fresh=False, reporter=RecordingReporter())))  # as a build leaves it
    make_files(work.depot, {"logs/manifest_usage.toml": b"x" * 300, "packages/Foo/abc/src/Foo.jl": b"module Foo end"})
    works.prepare_work(work, key=key, fresh=False, reporter=RecordingReporter())
    assert not (work.depot / "logs").exists() and (work.depot / "packages/Foo/abc/src/Foo.jl").is_file()


def test_a_refusal_in_the_depot_makes_the_next_build_start_from_an_empty_depot(tmp_path: Path) -> None:
    work = WorkDirs(tmp_path / "work")
    key = works.depot_key("e" * 64, "sha256:" + "d" * 64, "generic")
    work.state.write_text(json.dumps(works.prepare_work(work, key=key, fresh=False, reporter=RecordingReporter())))
    make_files(work.depot, {"packages/Foo/abc/src/Foo.jl": b"module Foo end"})
    os.symlink("/etc/passwd", work.depot / "escape")  # left by a smoke run, say
    with pytest.raises(InputError, match="points outside") as raised:
        with _forgotten_if_refused(work):
            archive.collect(work.depot, prefix=".julia")
    assert raised.value.fix.endswith("(the next build starts from an empty depot)")
    reporter = RecordingReporter()
    works.prepare_work(work, key=key, fresh=False, reporter=reporter)
    assert not (work.depot / "escape").is_symlink() and not (work.depot / "packages").exists()
    assert "starting from an empty depot: the last build refused what the depot held" in reporter.texts("info")
    # Once rebuilt, the depot is kept again.
    work.state.write_text(json.dumps(works.prepare_work(work, key=key, fresh=False, reporter=RecordingReporter())))
    make_files(work.depot, {"packages/Foo/abc/src/Foo.jl": b"module Foo end"})
    works.prepare_work(work, key=key, fresh=False, reporter=RecordingReporter())
    assert (work.depot / "packages/Foo/abc/src/Foo.jl").is_file()


def test_mount_points_the_engine_made_in_the_work_folder_are_removed_after_the_run(tmp_path: Path) -> None:
    depot, app = tmp_path / "depot", tmp_path / "app"
    make_files(depot, {"packages/Foo/abc/src/Foo.jl": b"module Foo end"})
    app.mkdir()
    targets = ("/root/.julia/config/secrets.env", "/root/.julia/data", "/root/.julia/packages/Foo", "/tmp/Inference/out/x", "/data/elsewhere")
    paths = works.host_paths(targets, {"/root/.julia": depot, "/tmp/Inference": app})
    assert paths == [depot / "config/secrets.env", depot / "data", depot / "packages/Foo", app / "out/x"]
    with works.mount_points_removed(paths):
        for path in (depot / "config", depot / "data", app / "out/x"):  # what the engine makes for the mounts
            path.mkdir(parents=True)
        (depot / "config" / "secrets.env").touch()
        (depot / "config" / "startup.jl").write_text("# the build's own")
    assert not (depot / "config" / "secrets.env").exists() and (depot / "config" / "startup.jl").is_file()
    assert not (depot / "data").exists() and not (app / "out").exists()
    assert (depot / "packages/Foo/abc/src/Foo.jl").is_file()  # there before the run: not a mount point of the engine's


def test_compiled_caches_go_to_their_own_layer(tmp_path: Path) -> None:
    depot = tmp_path / "depot"
    make_files(depot, {
        "packages/Foo/abc/src/Foo.jl": b"module Foo end",
        "compiled/v1.10/Foo/x.ji": b"cache",
        "compiled/v1.9/Foo/old.ji": b"old",
        "compiled/v1.10/Gone/y.ji": b"gone",
    })  # fmt: skip
    report = DepotReport(frozenset({"packages/Foo/abc"}), frozenset({"Foo"}), frozenset({FOO}), frozenset())
    without, only = depot_rules.split_compiled(depot_filter(report, compiled="v1.10", project_name="Inference", keep_registries=True))
    sources = archive.collect(depot, prefix=".julia", drop=without)
    caches = archive.collect(depot / "compiled", prefix=".julia/compiled", drop=only)
    assert [e.arcname for e in sources.entries if e.kind == "file"] == [".julia/packages/Foo/abc/src/Foo.jl"]
    assert [e.arcname for e in caches.entries if e.kind == "file"] == [".julia/compiled/v1.10/Foo/x.ji"]
    assert set(caches.dropped) == {"caches of other Julia versions", "caches of packages not in the Manifest"}
    assert set(sources.dropped) == {depot_rules.IN_COMPILED_LAYER}  # not pruned: packed beside


def test_a_cache_kaggle_would_compile_again_fails_the_build_by_name(tmp_path: Path) -> None:
    work = WorkDirs(tmp_path / "work")
    work.root.mkdir()
    plan_ = dataclasses.replace(BUILT_PLAN, layout=plans.layout_for("Inference"))
    work.cache_report.write_text("checked\t3\nstale\tFoo\tpackage\nstale\tInference\tapp\n")
    with pytest.raises(BuildFailed, match=r"2 of 3 would compile again on Kaggle \(no valid cache\): Foo, Inference \(your app\)"):
        build._check_and_prune_caches(plan_, work, "Inference", "v1.11", RecordingReporter())


def test_before_1_10_the_newest_cache_of_each_package_is_kept(tmp_path: Path) -> None:
    work = WorkDirs(tmp_path / "work")
    make_files(work.depot, {"compiled/v1.5/Foo/aaaa.ji": b"old", "compiled/v1.5/Foo/bbbb.ji": b"new"})
    os.utime(work.depot / "compiled/v1.5/Foo/aaaa.ji", (EPOCH, EPOCH))
    os.utime(work.depot / "compiled/v1.5/Foo/bbbb.ji", (EPOCH + 5, EPOCH + 5))
    work.cache_report.write_text("skipped\tJulia 1.5.3 has no Base.isprecompiled (1.10+)\n")
    reporter = RecordingReporter()
    build._check_and_prune_caches(dataclasses.replace(BUILT_PLAN, layout=plans.layout_for("Inference")), work, "Inference", "v1.5", reporter)
    assert sorted(p.name for p in (work.depot / "compiled/v1.5/Foo").iterdir()) == ["bbbb.ji"]
    assert any("removed 1 stale cache file" in text for text in reporter.texts("info"))


BUILT_PLAN = plans.BuildPlan(image="i", network="none", mounts=(), env=(), steps=(), layout=plans.layout_for("Inference"),
                             julia_layer=None, codec="zstd", decompressor="zstd")  # fmt: skip


def test_the_rehearsal_traps_requests_that_leave_the_machine_but_not_loopback(monkeypatch) -> None:
    import http.server
    import threading
    import urllib.error
    import urllib.request

    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "")  # restored after the test; the runner sets them for its process
    local = http.server.HTTPServer(("127.0.0.1", 0), type("Ok", (http.server.BaseHTTPRequestHandler,), {
        "do_GET": lambda self: (self.send_response(204), self.end_headers()),
        "log_message": lambda self, *args: None,
    }))
    threading.Thread(target=local.serve_forever, daemon=True).start()
    attempts = []
    trap = load_runner().trap_the_network(attempts)
    with pytest.raises(urllib.error.HTTPError, match="403") as refused:
        urllib.request.urlopen("http://example.invalid/model.bin", timeout=10)
    refused.value.close()
    with urllib.request.urlopen(f"http://127.0.0.1:{local.server_port}/", timeout=10) as answer:
        assert answer.status == 204  # a competition's gateway talks to its server over loopback
    local.shutdown()
    local.server_close()
    trap.close()
    assert attempts == ["GET http://example.invalid/model.bin HTTP/1.1"]
