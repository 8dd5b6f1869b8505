"""bench/gen_app.py: the compile-heavy benchmark app is the same bytes every time and runs as a package."""

from __future__ import annotations

from pathlib import Path

from bench import gen_app
from juliapack.julia_call import PACKAGE, SCRIPT, entry_mode
from juliapack.project import read_project


def files(project: Path) -> dict[str, bytes]:
    return {p.relative_to(project).as_posix(): p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file()}


def test_same_arguments_same_bytes(tmp_path):
    first = files(gen_app.generate(tmp_path / "a", functions=5))
    assert first == files(gen_app.generate(tmp_path / "b", functions=5))
    assert first != files(gen_app.generate(tmp_path / "c", functions=6))
    assert sorted(first) == ["Manifest.toml", "Project.toml", "src/Heavy.jl"]


def test_a_package_with_main_so_package_mode_unless_an_entry_is_named(tmp_path):
    project = gen_app.generate(tmp_path, functions=3)
    source = project / "src" / "Heavy.jl"
    assert read_project(project).is_package
    assert entry_mode(is_package=True, explicit_entry=False, source=source) == PACKAGE
    assert entry_mode(is_package=True, explicit_entry=True, source=source) == SCRIPT
    text = source.read_text()
    assert text.count("\nfunction f_") == 3 and "f_4(" not in text
    assert "abspath(PROGRAM_FILE) == @__FILE__" in text  # script mode runs main too


def test_the_workload_can_be_left_out(tmp_path):
    workload = "ccall(:jl_generating_output, Cint, ()) == 1 && hot_path(3)"
    assert workload in (gen_app.generate(tmp_path / "a", functions=2) / "src" / "Heavy.jl").read_text()
    assert workload not in (gen_app.generate(tmp_path / "b", functions=2, workload=False) / "src" / "Heavy.jl").read_text()
