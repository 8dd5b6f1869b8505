"""--registry takes a git URL or a local registry folder, which the build container gets mounted."""

from __future__ import annotations

from pathlib import Path

import pytest

from juliapack.build.julia_layer import JuliaLayer
from juliapack.build.plan import PlanInputs, StepKind, plan_build
from juliapack.build.work import WorkDirs
from juliapack.julia_version import exact_version
from juliapack.config import load_build
from juliapack.container import Mount
from juliapack.errors import ConfigError
from juliapack.julia_dist import JuliaDist, JuliaRelease
from juliapack.project import read_project
from tests.unit.helpers import build_config, write_project


def local_registry(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "Registry.toml").write_text('name = "Local"\nuuid = "55555555-5555-4555-8555-555555555555"\n')
    return folder


def test_a_local_registry_is_mounted_and_added_as_a_file_url(tmp_path: Path) -> None:
    registry = local_registry(tmp_path / "MyRegistry")
    project = read_project(write_project(tmp_path / "Inference"))
    julia = JuliaDist(JuliaRelease(exact_version("1.10.5"), "https://example.invalid/j.tar.gz", "e" * 64, 1, "j.tar.gz"), tmp_path / "cache" / "j.tar.gz")
    cfg = build_config(tmp_path, project=project.root, registries=("https://example.invalid/General.git", str(registry)))
    inputs = PlanInputs(
        project=project, julia=julia, julia_layer=JuliaLayer(julia.path, "e" * 64, 1, "gzip", "tar"), codec="gzip",
        decompressor="tar", cpu_target="generic", registries_to_add=cfg.registries, host_user="0:0",
    )  # fmt: skip
    plan = plan_build(cfg, inputs, work=WorkDirs(tmp_path / "work"), templates=tmp_path / "t")
    assert Mount(registry, "/juliapack/registries/1", True) in plan.mounts
    adds = [step.script for step in plan.steps if step.kind is StepKind.ADD_REGISTRY]
    assert adds[0].endswith(" https://example.invalid/General.git")
    assert adds[1].endswith(" file:///juliapack/registries/1")


def test_registry_folders_resolve_against_the_toml_and_must_be_registries(tmp_path: Path) -> None:
    local_registry(tmp_path / "regs" / "Mine")
    (tmp_path / "juliapack.toml").write_text('[build]\nregistries = ["regs/Mine", "git@example.invalid:me/Reg.git"]\n')
    (tmp_path / "Inference").mkdir()
    cfg = load_build({"project": "Inference"}, env={}, cwd=tmp_path)
    assert cfg.registries == (str(tmp_path / "regs" / "Mine"), "git@example.invalid:me/Reg.git")
    with pytest.raises(ConfigError, match="is not a registry"):
        load_build({"project": "Inference", "registries": ["Inference"]}, env={}, cwd=tmp_path)
