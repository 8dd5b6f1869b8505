"""project: Project.toml and Manifest parsing (formats 1 and 2), staleness, the entry point, the app layer's files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from juliapack import project as project_module
from juliapack.errors import ExitCode, ProjectError, SecretsFound
from juliapack.julia_version import version_spec as V
from juliapack.project import Package, app_files, check_manifest_julia, compat_warnings, entry_point, manifest_path, read_project, staged_from_outside, staged_manifest_name
from tests.unit.helpers import UUIDS, fake_token, manifest_v2, write_project

FOO, BAR, BAZ = UUIDS["Foo"], UUIDS["Bar"], UUIDS["Baz"]
STDLIB = "10745b16-79ce-11e8-11f9-7d13ad32a3b2"  # Statistics

FORMAT_1 = f"""# This file is machine-generated - editing it directly is not advised

[[Bar]]
deps = ["Statistics"]
git-tree-sha1 = "{'cd' * 20}"
uuid = "{BAR}"
version = "0.4.0"

[[Foo]]
deps = ["Bar"]
git-tree-sha1 = "{'ab' * 20}"
uuid = "{FOO}"
version = "1.2.3"

[[Statistics]]
deps = []
uuid = "{STDLIB}"
"""

FORMAT_2 = f"""# This file is machine-generated - editing it directly is not advised

julia_version = "1.10.5"
manifest_format = "2.0"
project_hash = "0123"

[[deps.Bar]]
deps = ["Statistics"]
git-tree-sha1 = "{'cd' * 20}"
uuid = "{BAR}"
version = "0.4.0"

[[deps.Foo]]
git-tree-sha1 = "{'ab' * 20}"
uuid = "{FOO}"
version = "1.2.3"

    [deps.Foo.deps]
    Bar = "{BAR}"

[[deps.Local]]
path = "dev/Local"
uuid = "{BAZ}"
version = "0.1.0"

[[deps.Statistics]]
uuid = "{STDLIB}"
version = "1.10.0"
"""


def test_format_2_manifest(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference", deps={"Foo": FOO, "Local": BAZ}, manifest=FORMAT_2)
    project = read_project(root)
    assert (project.name, project.uuid, project.deps) == ("Inference", None, {"Foo": FOO, "Local": BAZ})
    assert (project.project_file, project.manifest_file) == (root / "Project.toml", root / "Manifest.toml")
    assert project.manifest_julia_version == "1.10.5"
    assert project.packages == (
        Package("Bar", BAR, "0.4.0", "cd" * 20, None, ("Statistics",)),
        Package("Foo", FOO, "1.2.3", "ab" * 20, None, ("Bar",)),  # deps as a table (name -> uuid)
        Package("Local", BAZ, "0.1.0", None, "dev/Local", ()),
        Package("Statistics", STDLIB, "1.10.0", None, None, ()),
    )
    assert project.package_uuids() == {FOO, BAR, BAZ, STDLIB}
    assert not project.is_package


def test_format_1_manifest_of_julia_1_6(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Old", name="Old", deps={"Foo": FOO}, manifest=FORMAT_1)
    project = read_project(root)
    assert project.manifest_julia_version is None
    assert [(p.name, p.uuid, p.version, p.deps) for p in project.packages] == [
        ("Bar", BAR, "0.4.0", ("Statistics",)),
        ("Foo", FOO, "1.2.3", ("Bar",)),
        ("Statistics", STDLIB, None, ()),
    ]


@pytest.mark.parametrize(
    ("manifest", "julia", "message", "fix"),
    [
        (FORMAT_2, "1.5", "Manifest.toml is in format 2 (written by Julia 1.10.5), which Julia 1.5 cannot read (it needs 1.6 or newer)", 'build with julia = "1.10"'),
        (FORMAT_2, "1.9.4", "Manifest.toml was written by Julia 1.10.5, newer than the Julia 1.9.4 chosen for the build", 'build with julia = "1.10"'),
    ],
)  # fmt: skip
def test_a_manifest_the_chosen_julia_cannot_read_is_refused_before_any_container(tmp_path: Path, manifest: str, julia: str, message: str, fix: str) -> None:
    project = read_project(write_project(tmp_path / "Inference", deps={"Foo": FOO, "Local": BAZ}, manifest=manifest))
    with pytest.raises(ProjectError) as caught:
        check_manifest_julia(project, V(julia))
    assert caught.value.what == message
    assert caught.value.fix.startswith(fix) and f"regenerate the Manifest with Julia {julia}" in caught.value.fix
    assert caught.value.exit_code == ExitCode.INPUT


@pytest.mark.parametrize(("manifest", "julia"), [(FORMAT_2, "1.10"), (FORMAT_2, "1.11.2"), (FORMAT_2, "1.6"), (FORMAT_1, "1.5"), (FORMAT_1, "1.0.5")])
def test_a_manifest_the_chosen_julia_can_read_passes(tmp_path: Path, manifest: str, julia: str) -> None:
    deps = {"Foo": FOO, "Local": BAZ} if manifest is FORMAT_2 else {"Foo": FOO}
    if manifest is FORMAT_2 and V(julia) < V("1.10"):
        manifest = manifest.replace('julia_version = "1.10.5"', 'julia_version = "1.6.7"')
    project = read_project(write_project(tmp_path / "Inference", deps=deps, manifest=manifest))
    assert check_manifest_julia(project, V(julia)) is None


def test_versions_outside_compat_are_warned_about(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference", deps={"Foo": FOO, "Local": BAZ}, manifest=FORMAT_2)
    with open(root / "Project.toml", "a") as stream:
        stream.write('\n[compat]\nFoo = "1.3"\nBar = "0.4"\nLocal = "0.2, 0.3"\nStatistics = "~1.10"\njulia = "1.11"\nMissing = "1"\n')
    project = read_project(root)
    assert compat_warnings(project, V("1.10.5")) == [
        'Manifest.toml has Foo 1.2.3, which [compat] Foo = "1.3" in Project.toml excludes; Pkg.resolve() would change it',
        'Manifest.toml has Local 0.1.0, which [compat] Local = "0.2, 0.3" in Project.toml excludes; Pkg.resolve() would change it',
        "the build's Julia is 1.10.5, which [compat] julia = \"1.11\" in Project.toml excludes; choose a Julia it allows",
    ]
    assert compat_warnings(project, V("1.11")) == compat_warnings(project, V("1.10.5"))[:2]  # a series: its patch is not known yet


def test_a_project_without_a_name_is_named_after_its_folder(tmp_path: Path) -> None:
    root = write_project(tmp_path / "MyFolder", name=None)
    assert read_project(root).name == "MyFolder"


def test_a_package_project_has_a_uuid_and_its_module_file(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference", uuid=UUIDS["Inference"])
    assert read_project(root).is_package
    (root / "src" / "Inference.jl").unlink()
    assert not read_project(root).is_package  # a uuid alone does not make it loadable


def test_juliaproject_and_juliamanifest_take_precedence(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference", deps={})
    (root / "JuliaProject.toml").write_text(f'name = "Inference"\n[deps]\nFoo = "{FOO}"\n')
    (root / "JuliaManifest.toml").write_text(manifest_v2({"Foo": (FOO, ())}))
    project = read_project(root)
    assert (project.project_file.name, project.manifest_file.name, project.deps) == ("JuliaProject.toml", "JuliaManifest.toml", {"Foo": FOO})


# --------------------------------------------------------------------------- which Manifest


@pytest.mark.parametrize(
    "present, julia, chosen",
    [
        (["Manifest.toml", "Manifest-v1.10.toml"], "1.10.5", "Manifest-v1.10.toml"),
        (["Manifest.toml", "Manifest-v1.10.toml"], "1.10", "Manifest-v1.10.toml"),
        (["Manifest.toml", "Manifest-v1.10.toml"], "1.11.2", "Manifest.toml"),
        (["Manifest.toml", "Manifest-v1.10.toml"], None, "Manifest.toml"),
        (["Manifest-v1.11.toml"], None, "Manifest-v1.11.toml"),  # the only one there is
        (["Manifest-v1.10.toml", "Manifest-v1.11.toml"], "1.11.0", "Manifest-v1.11.toml"),
        (["Manifest-v1.10.toml", "Manifest-v1.11.toml"], None, None),  # ambiguous
        (["Manifest-v1.10.toml", "Manifest-v1.11.toml"], "1.12.0", None),
        ([], "1.10.5", None),
    ],
)
def test_manifest_selection(tmp_path: Path, present: list[str], julia: str | None, chosen: str | None) -> None:
    for name in present:
        (tmp_path / name).write_text("")
    found = manifest_path(tmp_path, V(julia) if julia else None)
    assert (found.name if found else None) == chosen


def test_read_project_parses_the_versioned_manifest_it_chose(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference", manifest=manifest_v2({"Foo": (FOO, ())}, julia_version="1.11.1"))
    (root / "Manifest-v1.10.toml").write_text(manifest_v2({"Foo": (FOO, ())}, julia_version="1.10.5"))
    assert read_project(root, julia_version=V("1.10.8")).manifest_julia_version == "1.10.5"
    assert read_project(root, julia_version=V("1.11.1")).manifest_julia_version == "1.11.1"


# --------------------------------------------------------------------------- unusable projects


def test_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist") as raised:
        read_project(tmp_path / "nope")
    assert raised.value.exit_code == ExitCode.INPUT


def test_a_folder_without_project_toml(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"is not a Julia project \(no Project.toml\)"):
        read_project(tmp_path)


def test_a_project_without_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference")
    (root / "Manifest.toml").unlink()
    with pytest.raises(ProjectError, match="has no Manifest.toml") as raised:
        read_project(root)
    assert "Pkg.instantiate()" in raised.value.fix


@pytest.mark.parametrize("broken", ["Project.toml", "Manifest.toml"])
def test_malformed_toml_names_the_file_and_the_line(tmp_path: Path, broken: str) -> None:
    root = write_project(tmp_path / "Inference")
    path = root / broken
    path.write_text(path.read_text() + "\nthis is = = not toml\n")
    with pytest.raises(ProjectError) as raised:
        read_project(root)
    assert str(path) in raised.value.what and "not valid TOML" in raised.value.what
    assert "line" in raised.value.what


def test_a_project_file_that_is_not_utf8(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference")
    (root / "Project.toml").write_bytes(b'name = "\xff"\n')
    with pytest.raises(ProjectError, match="cannot read"):
        read_project(root)


def test_deps_must_be_a_table(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference")
    (root / "Project.toml").write_text('name = "Inference"\ndeps = ["Foo"]\n')
    with pytest.raises(ProjectError, match=r"\[deps\] is not a table"):
        read_project(root)


def test_a_manifest_entry_without_uuid(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference", manifest='manifest_format = "2.0"\n[[deps.Foo]]\nversion = "1.0.0"\n')
    with pytest.raises(ProjectError, match="entry Foo has no uuid"):
        read_project(root)


@pytest.mark.parametrize(
    "deps, manifest, message",
    [
        ({"Foo": FOO, "Bar": BAR}, manifest_v2({"Foo": (FOO, ())}), "Bar from Project.toml is missing"),
        ({"Foo": FOO}, manifest_v2({"Foo": (BAR, ())}), "Foo from Project.toml is missing"),  # another package of that name
        ({"Foo": FOO}, manifest_v2({"Foo": (FOO, ("Bar",))}), "Foo depends on Bar, which it lacks"),
        ({"Foo": FOO}, manifest_v2({"Foo": (FOO, ("Bar", "Baz"))}), "Foo depends on Bar, Baz, which it lacks"),
    ],
)
def test_a_stale_manifest_is_refused(tmp_path: Path, deps: dict, manifest: str, message: str) -> None:
    root = write_project(tmp_path / "Inference", deps=deps, manifest=manifest)
    with pytest.raises(ProjectError, match="Manifest.toml is out of date") as raised:
        read_project(root)
    assert message in raised.value.what and "Pkg.resolve()" in raised.value.fix


@pytest.mark.parametrize("path", ["../Other", "/home/alice/Other", "dev/../../Other"])
def test_a_package_developed_outside_the_project_is_refused(tmp_path: Path, path: str) -> None:
    (tmp_path / "Other").mkdir()
    extra = f'path = "{path}"'
    root = write_project(tmp_path / "Inference", manifest=manifest_v2({"Foo": (FOO, ())}, extra=extra))
    with pytest.raises(ProjectError, match="outside the project") as raised:
        read_project(root)
    assert path in raised.value.what and "Pkg.develop" in raised.value.fix


def test_a_package_developed_inside_the_project_is_fine(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference", manifest=manifest_v2({"Foo": (FOO, ())}, extra='path = "dev/Foo"'))
    assert read_project(root).packages[0].path == "dev/Foo"


# --------------------------------------------------------------------------- the entry point


@pytest.fixture
def project(tmp_path: Path):
    root = write_project(tmp_path / "Inference")
    (root / "scripts").mkdir()
    (root / "scripts" / "run.jl").write_text("println(1)\n")
    return read_project(root)


def test_the_entry_point_defaults_to_the_module_file(project) -> None:
    assert entry_point(project, None) == "src/Inference.jl"
    assert entry_point(project, "scripts/run.jl") == "scripts/run.jl"
    assert entry_point(project, "./scripts/run.jl") == "scripts/run.jl"


@pytest.mark.parametrize("entry, message", [("/etc/passwd", "not inside the project"), ("../x.jl", "not inside the project"),
                                            ("scripts/../../x.jl", "not inside the project"), ("nope.jl", "does not exist"),
                                            ("scripts", "does not exist")])  # fmt: skip
def test_bad_entry_points(project, entry: str, message: str) -> None:
    with pytest.raises(ProjectError, match=message) as raised:
        entry_point(project, entry)
    assert "--entry" in raised.value.fix or "relative" in raised.value.fix


def test_a_missing_default_entry_point_suggests_entry(project) -> None:
    (project.root / "src" / "Inference.jl").unlink()
    with pytest.raises(ProjectError, match="src/Inference.jl does not exist") as raised:
        entry_point(project, None)
    assert "--entry" in raised.value.fix


# --------------------------------------------------------------------------- the app layer's files


def add_files(root: Path, files: dict[str, str]) -> None:
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_app_files_follow_the_ignore_rules(project) -> None:
    add_files(project.root, {
        "data/train.csv": "x", "data/small.csv": "y", ".git/config": "[core]", "dist/julia": "z", "notes.swp": "",
        ".juliapackignore": "/data/*.csv\n!/data/small.csv\n", "scratch/a.jl": "", "README.md": "# hi",
    })  # fmt: skip
    result = app_files(project, exclude=("scratch/",), also_ignore=("/README.md",))
    assert result.files == (
        "Manifest.toml", "Project.toml", "data/small.csv", "scripts/run.jl", "src/Inference.jl",
    )  # fmt: skip
    # .git, dist, notes.swp, .juliapackignore, data/train.csv, scratch, README.md; an ignored folder counts once
    assert result.ignored == 7


def deny_by_mode(monkeypatch) -> None:
    """Root reads whatever the mode bits say: make app_files' reads fail by them, as the kernel fails a user's."""
    if os.geteuid() != 0:
        return
    real_open, real_iterdir = open, Path.iterdir

    def guarded_open(path, *args, **kwargs):
        if not os.stat(path).st_mode & 0o400:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    def guarded_iterdir(self: Path):
        if self.stat().st_mode & 0o500 != 0o500:
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(project_module, "open", guarded_open, raising=False)
    monkeypatch.setattr(Path, "iterdir", guarded_iterdir)


@pytest.mark.parametrize(
    ("relpath", "mode", "content", "chmod"),
    [("data/train.csv", 0o000, "x", "u+r"), ("data/empty.csv", 0o200, "", "u+r"), ("data", 0o000, None, "u+rx"), ("data", 0o600, None, "u+rx")],
)
def test_an_unreadable_file_or_folder_is_one_input_error_naming_it(project, monkeypatch, relpath: str, mode: int, content: str | None, chmod: str) -> None:
    add_files(project.root, {"data/train.csv": "x", "data/empty.csv": ""})
    target = project.root / relpath
    target.chmod(mode)
    deny_by_mode(monkeypatch)
    try:
        with pytest.raises(ProjectError) as raised:
            app_files(project)
    finally:
        target.chmod(0o755)
    assert raised.value.what == f"cannot read {relpath} in the project {project.root}: Permission denied"
    assert raised.value.fix == f"make it readable (chmod {chmod} '{target}') or list it in .juliapackignore"
    assert raised.value.exit_code == ExitCode.INPUT


def test_an_unreadable_folder_that_is_ignored_is_never_read(project, monkeypatch) -> None:
    add_files(project.root, {"private/notes.txt": "x", ".juliapackignore": "/private/\n"})
    (project.root / "private").chmod(0o000)
    deny_by_mode(monkeypatch)
    try:
        files = app_files(project).files
    finally:
        (project.root / "private").chmod(0o755)
    assert "src/Inference.jl" in files and not any(path.startswith("private") for path in files)


def test_app_files_are_sorted_posix_paths(project) -> None:
    add_files(project.root, {"b/z.jl": "", "a/y.jl": "", "B.jl": ""})
    files = app_files(project).files
    assert list(files) == sorted(files) and "a/y.jl" in files and "b/z.jl" in files


@pytest.mark.parametrize(
    "relpath, content, reason",
    [
        ("kaggle.json", '{"username": "a"}', "Kaggle API credentials"),
        ("config/.env", "A=1", "environment file with secrets"),
        ("keys/id_rsa", "x", "SSH private key"),
        ("certs/server.pem", "x", "PEM key or certificate"),
        ("src/settings.jl", None, "contains a GitHub token"),
    ],
)
def test_app_files_refuse_secrets(project, relpath: str, content: str | None, reason: str) -> None:
    add_files(project.root, {relpath: content if content is not None else f'const T = "{fake_token("github")}"\n'})
    with pytest.raises(SecretsFound) as raised:
        app_files(project)
    assert f"{relpath} ({reason}" in raised.value.what
    assert ".juliapackignore" in raised.value.fix and "--exclude" in raised.value.fix


@pytest.mark.parametrize("how", ["ignore-file", "exclude"])
def test_excluded_secrets_are_fine(project, how: str) -> None:
    add_files(project.root, {"kaggle.json": "{}", "secrets/.env": "A=1"})
    if how == "ignore-file":
        add_files(project.root, {".juliapackignore": "kaggle.json\nsecrets/\n"})
        result = app_files(project)
    else:
        result = app_files(project, exclude=("kaggle.json", "/secrets/"))
    assert "kaggle.json" not in result.files and not any(f.startswith("secrets") for f in result.files)


def test_a_link_inside_the_project_is_kept_as_a_link(project) -> None:
    os.symlink("src/Inference.jl", project.root / "main.jl")
    result = app_files(project)
    assert result.links == {"main.jl": "src/Inference.jl"}
    assert "main.jl" not in result.files and "src/Inference.jl" in result.files


def test_a_link_to_a_folder_is_kept_as_a_link_and_not_walked(project) -> None:
    add_files(project.root, {"assets/a.txt": "a"})
    os.symlink("assets", project.root / "data")
    result = app_files(project)
    assert result.links == {"data": "assets"}
    assert "assets/a.txt" in result.files and not any(f.startswith("data/") for f in result.files)


def test_an_absolute_link_inside_the_project_becomes_relative(project) -> None:
    add_files(project.root, {"assets/a.txt": "a"})
    os.symlink(project.root / "assets" / "a.txt", project.root / "src" / "a.txt")
    os.symlink(f"../{project.root.name}/assets", project.root / "data")
    assert app_files(project).links == {"data": "assets", "src/a.txt": "../assets/a.txt"}


@pytest.mark.parametrize("relpath, target", [("passwd", "/etc/passwd"), ("etc", "/etc"), ("src/up", "../../outside.jl")])
def test_a_link_that_leaves_the_project_is_refused_naming_it_and_its_target(project, relpath: str, target: str) -> None:
    os.symlink(target, project.root / relpath)
    with pytest.raises(ProjectError) as raised:
        app_files(project)
    resolved = os.path.realpath(project.root / relpath)
    assert raised.value.what == f"{relpath} links to {resolved}, outside the project"
    assert ".juliapackignore" in raised.value.fix


def test_an_ignored_link_that_leaves_the_project_is_fine(project) -> None:
    os.symlink("/etc/passwd", project.root / "passwd")
    add_files(project.root, {".juliapackignore": "passwd\n"})
    result = app_files(project)
    assert "passwd" not in result.links and "passwd" not in result.files


@pytest.mark.parametrize("links", [{"self": "."}, {"src/up": ".."}, {"a": "b", "b": "a"}])
def test_a_link_loop_is_refused(project, links: dict[str, str]) -> None:
    for relpath, target in links.items():
        os.symlink(target, project.root / relpath)
    with pytest.raises(ProjectError, match="a loop") as raised:
        app_files(project)
    assert raised.value.what.split(" links to ")[0] in links
    assert "remove the link" in raised.value.fix


def test_a_dangling_link_inside_is_left_out(project) -> None:
    os.symlink("nothere.jl", project.root / "gone.jl")
    result = app_files(project)
    assert "gone.jl" not in result.links and "gone.jl" not in result.files


def test_a_link_named_like_a_secret_is_refused(project) -> None:
    os.symlink("Project.toml", project.root / "kaggle.json")
    with pytest.raises(SecretsFound, match="kaggle.json"):
        app_files(project)


def test_a_workspace_member_reads_the_manifest_at_the_workspace_root(tmp_path: Path) -> None:
    root = tmp_path / "mono"
    root.mkdir()
    (root / "Project.toml").write_text('[workspace]\nprojects = ["apps/Inference", "tools"]\n')
    (root / "Manifest.toml").write_text(manifest_v2({"Foo": (FOO, ())}, julia_version="1.12.0"))
    member = write_project(root / "apps" / "Inference", manifest="")
    (member / "Manifest.toml").unlink()
    project = read_project(member)
    assert project.manifest_file == root / "Manifest.toml" and project.manifest_julia_version == "1.12.0"
    assert staged_from_outside(project) == {"Manifest.toml": root / "Manifest.toml"} and staged_manifest_name(project) == "Manifest.toml"
    outsider = write_project(root / "elsewhere", manifest="")  # under the root, but not a member
    (outsider / "Manifest.toml").unlink()
    with pytest.raises(ProjectError, match="has no Manifest.toml"):
        read_project(outsider)


def test_a_versioned_julia_manifest_comes_first(tmp_path: Path) -> None:
    root = write_project(tmp_path / "Inference")
    for name in ("JuliaManifest-v1.11.toml", "Manifest-v1.11.toml"):
        (root / name).write_text((root / "Manifest.toml").read_text())
    assert manifest_path(root, V("1.11.2")).name == "JuliaManifest-v1.11.toml"
    assert staged_manifest_name(read_project(root, julia_version=V("1.11.2"))) == "JuliaManifest-v1.11.toml"
