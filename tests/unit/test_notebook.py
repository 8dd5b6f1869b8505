"""notebook: the plan, the rendered nbformat v4 notebook and kernel-metadata.json; and the notebook's own code,
executed here with Python standing in for Julia and temp folders for /kaggle/input, /usr/local, /root and /tmp."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

from juliapack import archive, notebook as notebooks
from juliapack.accelerators import ACCELERATORS
from juliapack.config import load_notebook
from juliapack.errors import ConfigError, InputError
from juliapack.workflow.lock import LayerFile, Layout
from juliapack.notebook import Mounted, config_of, kernel_metadata, plan_notebook, render
from tests.unit.helpers import EPOCH, make_lock, member, write_tarball

ENV = {"JULIA_DEPOT_PATH": "/root/.julia:/tmp/Inference/.juliapack-depot:/opt/juliapack/julia/local/share/julia:/opt/juliapack/julia/share/julia",
       "JULIA_LOAD_PATH": "@:@stdlib",
       "JULIA_PKG_OFFLINE": "true", "JULIA_PKG_SERVER": "", "JULIA_NUM_THREADS": "auto"}  # fmt: skip


def config(tmp_path: Path, **flags):
    return load_notebook(flags, env={}, cwd=tmp_path)


def planned(tmp_path: Path, lock=None, owner: str = "alice", accelerator: str = "none", **flags):
    cfg = config(tmp_path, **flags)
    return plan_notebook(cfg, lock or make_lock(), owner=owner, dist=tmp_path / "dist", accelerator=ACCELERATORS[accelerator])


@pytest.fixture
def model(tmp_path: Path) -> Path:
    (tmp_path / "model.jld2").write_bytes(b"weights" * 3)
    return tmp_path / "model.jld2"


# --------------------------------------------------------------------------- the plan


def test_the_config_document_for_zstd_layers(tmp_path: Path, model: Path) -> None:
    plan = planned(tmp_path, model="model.jld2", args="--input /kaggle/input/comp --k 'a b'")
    assert plan.config == {
        "layers": [
            {"role": "julia", "dataset": "inference-julia", "file": "julia", "dest": "/opt/juliapack/julia",
             "command": "tar -x -f {src} -C /opt/juliapack/julia --strip-components 1"},
            {"role": "depot", "dataset": "inference-depot", "file": "dotjulia", "dest": "/root",
             "command": "zstd -d -c -q {src} | tar -x -C /root"},
            {"role": "app", "dataset": "inference-app", "file": "inference", "dest": "/tmp",
             "command": "zstd -d -c -q {src} | tar -x -C /tmp"},
        ],
        "model": {"dataset": "inference-model", "file": "model.jld2"},
        "env": ENV,
        "command": ["/opt/juliapack/julia/bin/julia", "--startup-file=no", "-t", "auto", "--project=/tmp/Inference",
                    "/tmp/Inference/src/Inference.jl", "--model", "{model}", "--input", "/kaggle/input/comp", "--k", "a b"],
        "serve": None,
        "julia": {"path": "/opt/juliapack/julia/bin/julia", "version": "1.10.5"},
        "submission": "/kaggle/working/submission.csv",
        "juliapack": {"build": "f" * 64, "accelerator": "none", "gpu": "", "gpus": 0},
    }  # fmt: skip


@pytest.mark.parametrize(
    "codec, decompressor, command",
    [
        ("gzip", "tar", "tar -x -f {src} -C /root"),
        ("gzip", "pigz", "pigz -dc {src} | tar -x -C /root"),
        ("zstd", "python-zstandard", "python3 -c 'import sys, zstandard; "),
    ],
)
def test_the_unpack_command_follows_the_layers_codec(tmp_path: Path, codec: str, decompressor: str, command: str) -> None:
    plan = planned(tmp_path, make_lock(codec=codec, decompressor=decompressor))
    layers = {layer["role"]: layer for layer in plan.config["layers"]}
    assert layers["depot"]["command"].startswith(command)
    assert layers["julia"]["command"] == "tar -x -f {src} -C /opt/juliapack/julia --strip-components 1"


def test_the_plan_names_datasets_mounts_and_places(tmp_path: Path, model: Path) -> None:
    plan = planned(tmp_path, model="model.jld2", competition="titanic", accelerator="p100", public=True, kernel_sources=["bob/features"])
    dist = tmp_path / "dist"
    assert plan.dataset_refs == ("alice/inference-julia", "alice/inference-depot", "alice/inference-app", "alice/inference-model")
    assert plan.mounts == (
        Mounted("inference-julia", "julia", dist / "julia"),
        Mounted("inference-depot", "dotjulia", dist / "dotjulia"),
        Mounted("inference-app", "inference", dist / "inference"),
        Mounted("inference-model", "model.jld2", model),
    )
    assert (plan.owner, plan.kernel_slug, plan.title, plan.code_file) == ("alice", "inference-submission", "Inference submission", "inference-submission.ipynb")
    assert (plan.project, plan.julia_version, plan.entry) == ("Inference", "1.10.5", "src/Inference.jl")
    assert (plan.julia_prefix, plan.depot_parent, plan.app_parent) == ("/opt/juliapack/julia", "/root", "/tmp")
    assert (plan.competition, plan.accelerator.name, plan.public, plan.kernel_sources) == ("titanic", "p100", True, ("bob/features",))
    assert plan.config["juliapack"] == {"build": "f" * 64, "accelerator": "p100", "gpu": "P100", "gpus": 1}
    assert plan.model_source == model


def test_a_model_already_on_kaggle(tmp_path: Path) -> None:
    plan = planned(tmp_path, model="carol/trained-weights/model.jld2")
    assert plan.config["model"] == {"dataset": "trained-weights", "file": "model.jld2"}
    assert plan.dataset_refs[-1] == "carol/trained-weights" and len(plan.dataset_refs) == 4
    assert plan.mounts[-1] == Mounted("trained-weights", "model.jld2", None)


def test_a_local_model_in_a_named_dataset(tmp_path: Path, model: Path) -> None:
    plan = planned(tmp_path, model="model.jld2", model_dataset="carol/weights")
    assert plan.config["model"] == {"dataset": "weights", "file": "model.jld2"}
    assert plan.dataset_refs[-1] == "carol/weights" and plan.mounts[-1] == Mounted("weights", "model.jld2", model)


def test_without_a_model_the_command_has_no_model_flag(tmp_path: Path) -> None:
    plan = planned(tmp_path, args="--fast")
    assert plan.config["model"] is None and len(plan.dataset_refs) == 3
    assert plan.config["command"] == [
        "/opt/juliapack/julia/bin/julia", "--startup-file=no", "-t", "auto", "--project=/tmp/Inference", "/tmp/Inference/src/Inference.jl", "--fast",
    ]  # fmt: skip


def test_a_package_with_main_runs_from_its_package_image(tmp_path: Path) -> None:
    plan = planned(tmp_path, make_lock(entry_mode="package"), args="--fast")
    assert plan.config["command"] == [
        "/opt/juliapack/julia/bin/julia", "--startup-file=no", "-t", "auto", "--project=/tmp/Inference",
        "-e", "using Inference; Inference.main(ARGS)", "--", "--fast",
    ]  # fmt: skip


def test_the_model_flag_and_the_submission_path_are_settings(tmp_path: Path, model: Path) -> None:
    plan = planned(tmp_path, model="model.jld2", model_arg="--weights", submission="/kaggle/working/out.csv")
    assert plan.config["command"][-2:] == ["--weights", "{model}"] and plan.config["submission"] == "/kaggle/working/out.csv"


def test_dataset_slug_settings_reach_the_notebook(tmp_path: Path) -> None:
    plan = planned(tmp_path, slug="my-net", datasets={"app": "my-net-code"})
    assert [layer["dataset"] for layer in plan.config["layers"]] == ["my-net-julia", "my-net-depot", "my-net-code"]
    assert plan.dataset_refs == ("alice/my-net-julia", "alice/my-net-depot", "alice/my-net-code")


# --------------------------------------------------------------------------- title and slug


@pytest.mark.parametrize(
    "flags, title, slug",
    [
        ({}, "Inference submission", "inference-submission"),
        ({"title": "My Great Run"}, "My Great Run", "my-great-run"),
        ({"kernel_slug": "my-great-run"}, "my great run", "my-great-run"),
        ({"title": "My Great Run!", "kernel_slug": "my-great-run"}, "My Great Run!", "my-great-run"),
        ({"title": "Caf\u00e9 run 2"}, "Caf\u00e9 run 2", "cafe-run-2"),
    ],
)
def test_kernel_title_and_slug(tmp_path: Path, flags: dict, title: str, slug: str) -> None:
    plan = planned(tmp_path, **flags)
    assert (plan.title, plan.kernel_slug) == (title, slug)
    assert kernel_metadata(plan)["id"] == f"alice/{slug}" and kernel_metadata(plan)["code_file"] == f"{slug}.ipynb"


@pytest.mark.parametrize(
    "flags, project, message",
    [
        ({"title": "My Great Run", "kernel_slug": "another-slug"}, "Inference", "resolves to the slug 'my-great-run', not 'another-slug'"),
        ({"title": "!!!!!!"}, "Inference", "must have 5-50 characters"),
        ({}, "P" * 45, "must have 5-50 characters"),  # "<Project> submission" grows past 50
    ],
)
def test_bad_title_and_slug_combinations(tmp_path: Path, flags: dict, project: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        planned(tmp_path, make_lock(project=project), **flags)


# --------------------------------------------------------------------------- rendering


def test_the_notebook_is_valid_nbformat_4_and_renders_byte_identically(tmp_path: Path, model: Path) -> None:
    first = nbformat.writes(render(planned(tmp_path, model="model.jld2")))
    second = nbformat.writes(render(planned(tmp_path, model="model.jld2")))
    assert first == second
    parsed = nbformat.reads(first, as_version=4)
    nbformat.validate(parsed)
    assert (parsed.nbformat, parsed.metadata.kernelspec.name, parsed.metadata.language_info.name) == (4, "python3", "python")
    assert [cell.id for cell in parsed.cells] == [f"juliapack-{i:02d}" for i in range(len(parsed.cells))]


def test_a_different_plan_renders_differently(tmp_path: Path) -> None:
    assert nbformat.writes(render(planned(tmp_path))) != nbformat.writes(render(planned(tmp_path, args="--x")))


def test_the_cells(tmp_path: Path, model: Path) -> None:
    cells = render(planned(tmp_path, model="model.jld2")).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# Inference submission\n")
    assert "Julia 1.10.5" in cells[0].source and "`src/Inference.jl`" in cells[0].source and "{{" not in cells[0].source
    assert cells[1].cell_type == "code" and cells[1].metadata["tags"] == ["juliapack-config"]
    assert all(cell.cell_type == "code" for cell in cells[1:])
    assert all(cell.outputs == [] and cell.execution_count is None for cell in cells[1:])
    assert not any("{{" in cell.source for cell in cells)


def test_every_code_cell_compiles(tmp_path: Path, model: Path) -> None:
    for index, cell in enumerate(render(planned(tmp_path, model="model.jld2")).cells):
        if cell.cell_type == "code":
            compile(cell.source, f"cell {index}", "exec")


NASTY_ARGS = ['quote"s', 'tri"""ple', "back\\slash", "trailing\\", "new\nline", "caf\u00e9 \u65e5\u672c", "{{title}}", "# %% [markdown]", "'single'"]


def test_the_config_cell_round_trips_any_arguments(tmp_path: Path) -> None:
    plan = planned(tmp_path, args=NASTY_ARGS)
    notebook = render(plan)
    assert config_of(notebook) == plan.config
    assert plan.config["command"][-len(NASTY_ARGS):] == NASTY_ARGS
    namespace: dict = {}
    exec(compile(notebook.cells[1].source, "config cell", "exec"), namespace)
    assert namespace["CONFIG"] == plan.config
    assert config_of(nbformat.reads(nbformat.writes(notebook), as_version=4)) == plan.config


def test_config_of_needs_the_config_cell() -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    with pytest.raises(InputError, match="no juliapack config cell"):
        config_of(notebook)


def test_split_cells_reads_the_percent_format() -> None:
    text = "# %% [markdown]\n# # Title\n#\n# text\n\n# %% tags=[\"a\", \"b\"]\nx = 1\n\n# %%\n# a comment stays\ny = 2\n"
    assert notebooks.split_cells(text) == [("markdown", "# Title\n\ntext", []), ("code", "x = 1", ["a", "b"]), ("code", "# a comment stays\ny = 2", [])]


def test_fill_replaces_placeholders_once_and_refuses_unknown_ones() -> None:
    assert notebooks.fill("{{a}} and {{b}}", {"a": "{{b}}", "b": "B"}) == "{{b}} and B"
    with pytest.raises(KeyError):
        notebooks.fill("{{missing}}", {})


# --------------------------------------------------------------------------- kernel-metadata.json and writing


def test_kernel_metadata_defaults(tmp_path: Path) -> None:
    assert kernel_metadata(planned(tmp_path)) == {
        "id": "alice/inference-submission",
        "title": "Inference submission",
        "code_file": "inference-submission.ipynb",
        "language": "python",
        "kernel_type": "notebook",
        "is_private": True,
        "enable_gpu": False,
        "enable_tpu": False,
        "enable_internet": False,
        "machine_shape": None,
        "docker_image_pinning_type": "original",
        "dataset_sources": ["alice/inference-julia", "alice/inference-depot", "alice/inference-app"],
        "competition_sources": [],
        "kernel_sources": [],
        "model_sources": [],
    }


def test_kernel_metadata_with_everything(tmp_path: Path) -> None:
    meta = kernel_metadata(
        planned(tmp_path, model="carol/w-eights/m.bin", competition="titanic", public=True, accelerator="t4x2", kernel_sources=["bob/feat"], image_pinning="latest")
    )
    assert (meta["is_private"], meta["enable_gpu"], meta["enable_internet"]) == (False, True, False)
    assert (meta["machine_shape"], meta["docker_image_pinning_type"]) == ("NvidiaTeslaT4", "latest")
    assert meta["dataset_sources"][-1] == "carol/w-eights"
    assert (meta["competition_sources"], meta["kernel_sources"]) == (["titanic"], ["bob/feat"])


def test_write_puts_both_files_in_place_and_rewrites_identically(tmp_path: Path) -> None:
    plan = planned(tmp_path)
    ipynb, metadata = notebooks.write(plan, tmp_path / "notebook")
    assert (ipynb, metadata) == (tmp_path / "notebook" / "inference-submission.ipynb", tmp_path / "notebook" / "kernel-metadata.json")
    first = (ipynb.read_bytes(), metadata.read_bytes())
    assert json.loads(first[1]) == kernel_metadata(plan)
    assert config_of(nbformat.reads(first[0].decode(), as_version=4)) == plan.config
    notebooks.write(plan, tmp_path / "notebook")
    assert (ipynb.read_bytes(), metadata.read_bytes()) == first
    assert sorted(os.listdir(tmp_path / "notebook")) == ["inference-submission.ipynb", "kernel-metadata.json"]


# --------------------------------------------------------------------------- running the notebook's code


ENTRY = '''\
import os, sys
from pathlib import Path
args = sys.argv[1:]
model = Path(args[args.index("--model") + 1])
out = Path(args[args.index("--out") + 1])
assert os.environ["JULIA_PKG_OFFLINE"] == "true", os.environ["JULIA_PKG_OFFLINE"]
assert os.environ["JULIA_PKG_SERVER"] == ""
print("entry sees depot", os.environ["JULIA_DEPOT_PATH"].split(":")[0])
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(f"id,pred\\n1,{len(model.read_bytes())}\\n")
'''


FAKE_JULIA = b'#!/bin/sh\necho "julia version 1.10.5"\n'


@dataclasses.dataclass
class Kaggle:
    root: Path
    lock: object
    input: Path
    submission: Path


def fake_kaggle(tmp_path: Path, codec: str, decompressor: str, *, app_extra: dict[str, str] | None = None, **lock_changes) -> Kaggle:
    """dist/ with four real layers whose destinations are temp folders, attached under a temp /kaggle/input."""
    root = tmp_path / "kaggle"
    dist = tmp_path / "dist"
    dist.mkdir()
    julia = write_tarball(dist / "julia", [member("julia-1.10.5", "dir"), member("julia-1.10.5/bin", "dir"),
                                           member("julia-1.10.5/bin/julia", data=FAKE_JULIA, mode=0o755)], codec="gzip")  # fmt: skip
    depot_src = tmp_path / "src-depot"
    (depot_src / "packages" / "Foo").mkdir(parents=True)
    (depot_src / "packages" / "Foo" / "Foo.jl").write_text("module Foo end\n")
    compiled_src = tmp_path / "src-compiled"
    (compiled_src / "v1.10" / "Foo").mkdir(parents=True)
    (compiled_src / "v1.10" / "Foo" / "abc.ji").write_bytes(b"cache")
    app_src = tmp_path / "src-app"
    (app_src / "src").mkdir(parents=True)
    (app_src / "src" / "Inference.jl").write_text(ENTRY)
    for relpath, text in (app_extra or {}).items():
        (app_src / relpath).parent.mkdir(parents=True, exist_ok=True)
        (app_src / relpath).write_text(text)
    depot, _ = archive.pack_tree(depot_src, dist / "dotjulia", codec=codec, mtime=EPOCH, prefix=".julia")
    compiled, _ = archive.pack_tree(compiled_src, dist / "compiled", codec=codec, mtime=EPOCH, prefix=".julia/compiled")
    app, _ = archive.pack_tree(app_src, dist / "inference", codec=codec, mtime=EPOCH, prefix="Inference")
    places = {role: root / folder for role, folder in (("julia", "usr/local"), ("depot", "root"), ("app", "tmp"))}
    layout = Layout(julia_prefix=str(places["julia"]), depot=str(places["depot"] / ".julia"), app_dir=str(places["app"] / "Inference"),
                    depot_path=(str(places["depot"] / ".julia"), str(places["app"] / "Inference" / ".juliapack-depot")))  # fmt: skip
    layers = (
        LayerFile("julia", "julia", "0" * 64, julia.stat().st_size, "gzip", "tar", str(places["julia"]), strip_components=1),
        LayerFile("depot", "dotjulia", depot.sha256, depot.size, codec, decompressor, str(places["depot"])),
        LayerFile("compiled", "compiled", compiled.sha256, compiled.size, codec, decompressor, str(places["depot"])),
        LayerFile("app", "inference", app.sha256, app.size, codec, decompressor, str(places["app"])),
    )
    lock = make_lock(layers=layers, layout=layout, codec=codec, **lock_changes)
    attached = root / "input"
    for slug, name in (("inference-julia", "julia"), ("inference-depot", "dotjulia"), ("inference-compiled", "compiled"), ("inference-app", "inference")):
        (attached / slug).mkdir(parents=True)
        shutil.copyfile(dist / name, attached / slug / name)
    (attached / "datasets" / "alice" / "inference-model").mkdir(parents=True)  # nested, as Kaggle mounts some datasets
    (attached / "datasets" / "alice" / "inference-model" / "model.jld2").write_bytes(b"weights" * 3)
    return Kaggle(root, lock, attached, root / "working" / "submission.csv")


def run_cells(notebook, kaggle: Kaggle, *, command=None, stop_before: str | None = None) -> dict:
    """Execute the code cells in order, with INPUT pointing at the temp input and Python in place of Julia."""
    namespace: dict = {"__name__": "__notebook__"}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if stop_before and stop_before in cell.source:
            break
        if 'CONFIG["command"]' in cell.source:  # the cell that runs Julia
            layout = kaggle.lock.layout
            julia = [f"{layout.julia_prefix}/bin/julia", "--startup-file=no", "-t", "auto", f"--project={layout.app_dir}"]
            assert namespace["CONFIG"]["command"][:5] == julia
            namespace["CONFIG"]["command"][:5] = command or [sys.executable]
        with warnings.catch_warnings():
            # the last cell reads the submission through an unclosed open(): harmless in a notebook
            warnings.simplefilter("ignore", ResourceWarning)
            exec(compile(cell.source, "cell", "exec"), namespace)
        if "INPUT = " in cell.source:
            namespace["INPUT"] = kaggle.input
    return namespace


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)  # the notebook sets them in os.environ; undone after the test


@pytest.mark.parametrize("codec, decompressor, needs", [("zstd", "zstd", "zstd"), ("gzip", "tar", "tar"), ("gzip", "pigz", "pigz")])
def test_the_notebook_unpacks_the_layers_sets_the_environment_and_runs_the_entry_point(
    tmp_path: Path, model: Path, clean_env, capfd, codec: str, decompressor: str, needs: str
) -> None:
    if shutil.which(needs) is None:
        pytest.skip(f"{needs} is not installed here")
    kaggle = fake_kaggle(tmp_path, codec, decompressor)
    cfg = config(tmp_path, model="model.jld2", args=["--out", str(kaggle.submission)], submission=str(kaggle.submission))
    notebook = render(plan_notebook(cfg, kaggle.lock, owner="alice", dist=tmp_path / "dist", accelerator=ACCELERATORS["none"]))

    run_cells(notebook, kaggle)

    out = capfd.readouterr().out
    assert (kaggle.root / "usr/local/bin/julia").read_bytes() == FAKE_JULIA  # stripped one component
    assert f"juliapack: julia version 1.10.5 at {kaggle.root / 'usr/local/bin/julia'}" in out  # the unpacked one, checked
    assert (kaggle.root / "root/.julia/packages/Foo/Foo.jl").read_text() == "module Foo end\n"
    assert (kaggle.root / "root/.julia/compiled/v1.10/Foo/abc.ji").read_bytes() == b"cache"  # the compiled layer, beside it
    assert (kaggle.root / "tmp/Inference/src/Inference.jl").read_text() == ENTRY
    for role in ("julia", "depot", "compiled", "app"):
        assert f"juliapack: unpacked {role} in " in out
    assert "JULIA_PKG_OFFLINE=true" in out and f"JULIA_DEPOT_PATH={':'.join(kaggle.lock.layout.depot_path)}" in out
    assert f"entry sees depot {kaggle.root / 'root/.julia'}" in out
    assert "juliapack: julia exited with code 0" in out and "juliapack: first output after" in out
    assert kaggle.submission.read_text() == f"id,pred\n1,{len(model.read_bytes())}\n"  # the model reached the entry point
    assert f"juliapack: submission written to {kaggle.submission}" in out


def test_a_failing_entry_point_fails_the_cell(tmp_path: Path, clean_env, capfd) -> None:
    kaggle = fake_kaggle(tmp_path, "gzip", "tar")
    notebook = render(plan_notebook(config(tmp_path), kaggle.lock, owner="alice", dist=tmp_path / "dist", accelerator=ACCELERATORS["none"]))
    with pytest.raises(RuntimeError, match="Julia failed with exit code 3"):
        run_cells(notebook, kaggle, command=["bash", "-c", "echo about to fail; exit 3", "bash"])
    out = capfd.readouterr().out
    assert "about to fail" in out and "juliapack: julia exited with code 3" in out


def test_a_missing_submission_fails_the_last_cell(tmp_path: Path, clean_env) -> None:
    kaggle = fake_kaggle(tmp_path, "gzip", "tar")
    cfg = config(tmp_path, submission=str(kaggle.submission))
    notebook = render(plan_notebook(cfg, kaggle.lock, owner="alice", dist=tmp_path / "dist", accelerator=ACCELERATORS["none"]))
    with pytest.raises(FileNotFoundError, match="did not write"):
        run_cells(notebook, kaggle, command=["true"])


def test_a_dataset_that_is_not_attached_is_named(tmp_path: Path, clean_env) -> None:
    kaggle = fake_kaggle(tmp_path, "gzip", "tar")
    shutil.rmtree(kaggle.input / "inference-depot")
    notebook = render(plan_notebook(config(tmp_path), kaggle.lock, owner="alice", dist=tmp_path / "dist", accelerator=ACCELERATORS["none"]))
    with pytest.raises(FileNotFoundError, match="dotjulia of dataset inference-depot .* attach the dataset"):
        run_cells(notebook, kaggle)


def test_find_input_looks_one_and_two_levels_down(tmp_path: Path) -> None:
    kaggle = fake_kaggle(tmp_path, "gzip", "tar")
    notebook = render(plan_notebook(config(tmp_path), kaggle.lock, owner="alice", dist=tmp_path / "dist", accelerator=ACCELERATORS["none"]))
    namespace = run_cells(notebook, kaggle, stop_before='unpack(LAYERS["julia"])')
    find = namespace["find_input"]
    (kaggle.input / "competitions" / "inference-app").mkdir(parents=True)
    assert find("inference-model", "model.jld2") == kaggle.input / "datasets" / "alice" / "inference-model" / "model.jld2"
    assert find("inference-app", "inference") == kaggle.input / "inference-app" / "inference"  # the direct path first
    (kaggle.input / "competitions" / "comp").mkdir()
    (kaggle.input / "competitions" / "comp" / "train.csv").write_text("x")
    assert find("comp", "train.csv") == kaggle.input / "competitions" / "comp" / "train.csv"


FAKE_SMI = """#!/bin/sh
printf '%s\\n' {names}
"""


@pytest.mark.parametrize(
    "accelerator, gpus, passes",
    [
        ("none", (), True),
        ("none", ("Tesla T4",), False),
        ("t4x2", ("Tesla T4", "Tesla T4"), True),
        ("t4x2", ("Tesla P100-PCIE-16GB",), False),
        ("p100", (), False),
        ("h100", ("NVIDIA H100 80GB HBM3",), True),
    ],
)
def test_the_first_cell_checks_the_hardware_the_notebook_was_written_for(
    tmp_path: Path, monkeypatch, capfd, accelerator: str, gpus: tuple[str, ...], passes: bool
) -> None:
    kaggle = fake_kaggle(tmp_path, "gzip", "tar")
    notebook = render(plan_notebook(config(tmp_path), kaggle.lock, owner="alice", dist=tmp_path / "dist", accelerator=ACCELERATORS[accelerator]))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if gpus:
        smi = bin_dir / "nvidia-smi"
        smi.write_text(FAKE_SMI.format(names=" ".join(f"'{name}'" for name in gpus)))
        smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    if passes:
        run_cells(notebook, kaggle, stop_before='unpack(LAYERS["julia"])')
        assert "juliapack: hardware as expected" in capfd.readouterr().out
        return
    with pytest.raises(RuntimeError, match="juliapack: this notebook was written for .*, but Kaggle gave") as failed:
        run_cells(notebook, kaggle, stop_before='unpack(LAYERS["julia"])')
    assert (", ".join(gpus) or "no GPU") in str(failed.value)


# --------------------------------------------------------------------------- inference-server competitions

# A stand-in for the bridge's module (our own interface; the real one runs in tests/docker/test_bridge.py):
# it records how the notebook starts the worker and plays a gateway of three calls.
FAKE_BRIDGE = '''\
import json, os, time
from pathlib import Path
started = []
class Worker:
    def __init__(self, julia, kwargs):
        self.julia, self.kwargs, self.closed = julia, kwargs, False
    def as_predict(self):
        def predict(*args):
            time.sleep(0.01)
            return [len(args), args[0]]
        return predict
    def close(self):
        self.closed = True
def start_worker(julia, **kwargs):
    started.append(Worker(julia, kwargs))
    return started[-1]
def find_competition_dir(root):
    raise AssertionError("the notebook found the competition itself")
def enter_server(predict, *, competition_dir, server):
    assert predict.__name__ == "predict"
    answers = [predict(batch, None) for batch in range(3)]
    Path("submission.parquet").write_text(json.dumps({"answers": answers, "folder": str(competition_dir), "server": server}))
'''


def serve_kaggle(tmp_path: Path, model: Path, monkeypatch) -> tuple[Kaggle, nbformat.NotebookNode]:
    kaggle = fake_kaggle(tmp_path, "gzip", "tar", app_extra={".juliapack-serve/juliapack_bridge.py": FAKE_BRIDGE}, bridge=".juliapack-serve")
    (kaggle.input / "tiny-serve" / "kaggle_evaluation").mkdir(parents=True)
    working = kaggle.root / "working"
    working.mkdir(parents=True)
    monkeypatch.chdir(working)  # the gateway writes submission.parquet in the notebook's folder
    monkeypatch.setenv("JULIAPACK_JULIA_FLAGS", "--compiled-modules=strict")
    monkeypatch.delitem(sys.modules, "juliapack_bridge", raising=False)
    cfg = config(tmp_path, model="model.jld2", args="--k 3", serve=True, competition="tiny-serve", deadline="45s",
                 server="tiny_inference_server:TinyInferenceServer", submission=str(working / "submission.parquet"))  # fmt: skip
    return kaggle, render(plan_notebook(cfg, kaggle.lock, owner="alice", dist=tmp_path / "dist", accelerator=ACCELERATORS["none"]))


def test_a_serve_notebook_starts_the_worker_then_enters_the_competition_server(tmp_path: Path, model: Path, clean_env, capfd, monkeypatch) -> None:
    kaggle, notebook = serve_kaggle(tmp_path, model, monkeypatch)
    namespace = run_cells(notebook, kaggle)
    bridge = sys.modules.pop("juliapack_bridge")

    layout = kaggle.lock.layout
    (worker,) = bridge.started
    assert worker.julia == f"{layout.julia_prefix}/bin/julia" and worker.closed
    model_path = kaggle.input / "datasets" / "alice" / "inference-model" / "model.jld2"
    assert worker.kwargs == {"project": layout.app_dir, "module": "Inference", "args": ["--model", str(model_path), "--k", "3"],
                             "deadline": 45.0, "julia_flags": ["-t", "auto", "--compiled-modules=strict"]}  # fmt: skip
    written = json.loads((kaggle.root / "working" / "submission.parquet").read_text())
    assert written == {"answers": [[2, 0], [2, 1], [2, 2]], "folder": str(kaggle.input / "tiny-serve"), "server": "tiny_inference_server:TinyInferenceServer"}
    assert len(namespace["call_seconds"]) == 3 and all(seconds >= 0.01 for seconds in namespace["call_seconds"])
    out = capfd.readouterr().out
    entered = re.search(r"juliapack: entering the competition server \((.*)\) ([0-9.]+) s after the cell started", out)
    assert entered and entered.group(1) == str(kaggle.input / "tiny-serve") and float(entered.group(2)) < 5
    served = re.search(r"juliapack: served 3 calls; per call after the first p50 ([0-9.]+) ms, p99 ([0-9.]+) ms; first answer ([0-9.]+) s", out)
    assert served and 10 <= float(served.group(1)) <= float(served.group(2)) and float(served.group(3)) >= 0.01
    assert "juliapack: submission written to" in out


def test_a_serve_notebook_fails_when_the_gateway_writes_no_submission(tmp_path: Path, model: Path, clean_env, monkeypatch) -> None:
    kaggle, notebook = serve_kaggle(tmp_path, model, monkeypatch)
    bridge_file = kaggle.lock.layout.app_dir + "/.juliapack-serve/juliapack_bridge.py"
    for cell in notebook.cells:  # a gateway that returns without writing
        cell.source = cell.source.replace("import juliapack_bridge", "import juliapack_bridge\njuliapack_bridge.enter_server = lambda predict, **_: None")
    with pytest.raises(FileNotFoundError, match="the competition's gateway did not write"):
        run_cells(notebook, kaggle)
    assert Path(bridge_file).is_file()
    sys.modules.pop("juliapack_bridge")


def test_the_serve_config_names_the_bridge_the_module_and_the_deadline(tmp_path: Path, model: Path) -> None:
    plan = planned(tmp_path, lock=make_lock(bridge=".juliapack-serve"), model="model.jld2", args="--k 3", serve=True, competition="tiny-serve")
    assert plan.config["command"] is None and plan.config["submission"] == "/kaggle/working/submission.parquet"
    assert plan.config["serve"] == {
        "bridge": "/tmp/Inference/.juliapack-serve", "project": "/tmp/Inference", "module": "Inference",
        "args": ["--model", "{model}", "--k", "3"], "deadline": 300.0, "server": None, "competition": "tiny-serve",
        "julia_flags": ["-t", "auto"],
    }  # fmt: skip
    notebook = render(plan)
    text = "\n".join(cell.source for cell in notebook.cells)
    assert "juliapack_bridge.start_worker(" in text and "run_entry_point" not in text
    assert "answers the predict calls of tiny-serve's inference server" in notebook.cells[0].source
    assert kernel_metadata(plan)["competition_sources"] == ["tiny-serve"]


def test_serve_needs_a_build_that_carries_the_bridge(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--serve needs the bridge in the app layer, and this build of Inference has none"):
        planned(tmp_path, serve=True, competition="tiny-serve")


def test_serve_needs_the_competition(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="serve needs the competition"):
        config(tmp_path, serve=True)


@pytest.mark.parametrize("server", ["tiny_inference_server", "a b:C", ":Class", "mod:"])
def test_a_server_that_is_not_module_colon_class_is_refused(tmp_path: Path, server: str) -> None:
    with pytest.raises(ConfigError, match="is not MODULE:CLASS"):
        config(tmp_path, serve=True, competition="tiny-serve", server=server)


def test_the_deadline_and_serve_come_from_juliapack_toml(tmp_path: Path) -> None:
    (tmp_path / "juliapack.toml").write_text('[notebook]\nserve = true\ncompetition = "tiny-serve"\ndeadline = "4m"\n')
    cfg = config(tmp_path)
    assert cfg.serve and cfg.deadline == 240.0 and cfg.submission == "/kaggle/working/submission.parquet"
