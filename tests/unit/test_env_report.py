"""The environment lines of artifacts.jl's report (what `DepotReport` does not read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from juliapack.build.depot import DepotReport
from juliapack.env_report import EnvReport, Selected, check_bundled_depots, check_manifest, empty_selections, manifest_names
from juliapack.errors import BuildFailed, InputError

APP = "31463925-96df-4cf1-b628-0b2ac348dfdb"
REPORT = f"""\
artifact\t{"a" * 40}\tCUDA_Runtime_jll
bundled-depot\t/usr/local/local/share/julia
bundled-depot\t/usr/local/share/julia
extension\tInferenceMmapExt\tInference
manifest\t/tmp/Inference/Manifest-v1.12.toml
package\tCUDA_Runtime_jll\t76a88914-d11a-5bdc-97e0-2f5a05c973a2\t/root/.julia/packages/CUDA_Runtime_jll/AbCdE
project\tInference\t{APP}\t/tmp/Inference
scratchspace\t{APP}\tInference
selected\t{"a" * 40}\tCUDA_Runtime_jll\tCUDA_Runtime\thook
selector\tCUDA_Runtime_jll\t1
selector\tCUDNN_jll\t0
"""
LAYOUT = ("/root/.julia", "/tmp/Inference/.juliapack-depot", "/usr/local/local/share/julia", "/usr/local/share/julia")


@pytest.fixture
def report() -> EnvReport:
    return EnvReport.parse(REPORT)


def test_the_environment_lines(report):
    assert (report.project_name, report.project_uuid, report.project_dir) == ("Inference", APP, "/tmp/Inference")
    assert report.manifest == "/tmp/Inference/Manifest-v1.12.toml"
    assert report.bundled_depots == ("/usr/local/local/share/julia", "/usr/local/share/julia")
    assert report.scratchspaces == {APP}
    assert report.selected == (Selected("a" * 40, "CUDA_Runtime_jll", "CUDA_Runtime", "hook"),)
    assert report.selectors == (("CUDA_Runtime_jll", 1), ("CUDNN_jll", 0))


def test_the_same_file_still_reads_as_a_depot_report_with_the_projects_extension(tmp_path: Path):
    (tmp_path / "report.tsv").write_text(REPORT)
    depot = DepotReport.read(tmp_path / "report.tsv")
    assert depot.extensions == {"InferenceMmapExt"} and depot.package_names == {"CUDA_Runtime_jll"}


def test_a_project_without_uuid(tmp_path: Path):
    (tmp_path / "r.tsv").write_text("project\tScripts\t\t/tmp/Scripts\n")
    report = EnvReport.read(tmp_path / "r.tsv")
    assert report.project_uuid is None and report.manifest is None and report.scratchspaces == frozenset()


def test_a_report_without_exactly_one_project_is_refused():
    with pytest.raises(BuildFailed, match="names 0 projects"):
        EnvReport.parse("manifest\t/x/Manifest.toml\n")


def test_the_manifest_juliapack_checked_is_the_one_julia_reads(report):
    check_manifest(report, expected="Manifest-v1.12.toml")
    with pytest.raises(InputError, match="Julia reads Manifest-v1.12.toml, but juliapack checked Manifest.toml"):
        check_manifest(report, expected="Manifest.toml")


def test_a_workspace_root_manifest_outside_the_app_is_refused():
    member = EnvReport.parse("project\tMember\t\t/tmp/Member\nmanifest\t/tmp/Manifest.toml\n")
    with pytest.raises(InputError, match="outside the project folder") as caught:
        check_manifest(member, expected="Manifest.toml")
    assert "workspace root" in caught.value.fix


def test_no_manifest_at_all_is_refused():
    with pytest.raises(InputError, match="finds no Manifest"):
        check_manifest(EnvReport.parse("project\tX\t\t/tmp/X\n"), expected="Manifest.toml")


def test_bundled_depots_must_stay_on_the_depot_path(report):
    check_bundled_depots(report, LAYOUT)
    with pytest.raises(BuildFailed, match="leaves out /usr/local/share/julia"):
        check_bundled_depots(report, LAYOUT[:3])


def test_a_hook_that_chose_nothing_is_a_warning(report):
    (warning,) = empty_selections(report)
    assert warning.startswith("CUDNN_jll's select_artifacts.jl chose no artifact") and "CUDA_Runtime_jll" in warning


@pytest.mark.parametrize(
    ("version", "names"),
    [
        ((1, 5, 3), ("JuliaManifest.toml", "Manifest.toml")),
        ((1, 10, 7), ("JuliaManifest.toml", "Manifest.toml")),
        ((1, 10, 8), ("JuliaManifest-v1.10.toml", "Manifest-v1.10.toml", "JuliaManifest.toml", "Manifest.toml")),
        ((1, 12, 6), ("JuliaManifest-v1.12.toml", "Manifest-v1.12.toml", "JuliaManifest.toml", "Manifest.toml")),
    ],
)
def test_manifest_names_in_the_loaders_order(version, names):
    assert manifest_names(version) == names
