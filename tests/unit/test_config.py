"""config: defaults < juliapack.toml < JULIAPACK_* environment < flags, and every way a value can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from juliapack.config import (
    DEFAULT_SOURCE_DATE_EPOCH,
    KAGGLE_CPU_IMAGE,
    KAGGLE_GPU_IMAGE,
    LayerNames,
    ModelRef,
    load_build,
    load_notebook,
    load_upload,
)
from juliapack.container import Mount
from juliapack.errors import ConfigError, ExitCode, InputError, ProjectError


def write_toml(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "juliapack.toml").write_text(text, encoding="utf-8")
    return folder / "juliapack.toml"


def build(tmp_path: Path, flags: dict | None = None, env: dict | None = None, toml: str | None = None, **kwargs):
    if toml is not None:
        write_toml(tmp_path, toml)
    env = {"JULIAPACK_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}
    return load_build(flags or {}, env=env, cwd=kwargs.pop("cwd", tmp_path), **kwargs)


def notebook(tmp_path: Path, flags: dict | None = None, env: dict | None = None, toml: str | None = None, **kwargs):
    if toml is not None:
        write_toml(tmp_path, toml)
    return load_notebook(flags or {}, env=env or {}, cwd=kwargs.pop("cwd", tmp_path), **kwargs)


def config_error(call, *args, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        call(*args, **kwargs)
    assert raised.value.exit_code == ExitCode.USAGE == 2
    assert raised.value.fix
    return raised.value


# --------------------------------------------------------------------------- build: defaults and layering


def test_build_defaults(tmp_path: Path) -> None:
    cfg = build(tmp_path)
    assert (cfg.project, cfg.out, cfg.cache_dir) == (tmp_path.resolve(), tmp_path.resolve() / "dist", tmp_path / "cache")
    assert (cfg.julia, cfg.versions_url, cfg.julia_mirror, cfg.cpu_target, cfg.smoke, cfg.entry) == (None,) * 6
    assert (cfg.image, cfg.pull, cfg.network, cfg.codec) == (KAGGLE_GPU_IMAGE, "missing", "bridge", "auto")
    assert (cfg.registries, cfg.env, cfg.mounts, cfg.exclude, cfg.names) == ((), (), (), (), LayerNames())
    assert (cfg.source_date_epoch, cfg.keep_registries, cfg.keep_container, cfg.fresh, cfg.verify) == (DEFAULT_SOURCE_DATE_EPOCH, True, False, False, True)  # registries stay: offline Pkg.instantiate() needs one


def test_cpu_picks_the_cpu_image_unless_an_image_is_given(tmp_path: Path) -> None:
    assert build(tmp_path, {"cpu": True}).image == KAGGLE_CPU_IMAGE
    assert build(tmp_path, toml="[build]\ncpu = true\n").image == KAGGLE_CPU_IMAGE
    assert build(tmp_path, {"cpu": True, "image": "mine:1"}).image == "mine:1"


def test_the_cache_dir_comes_from_the_environment_or_the_platform(tmp_path: Path) -> None:
    assert build(tmp_path, env={"JULIAPACK_CACHE_DIR": "~/jp-cache"}).cache_dir == Path("~/jp-cache").expanduser()
    cfg = load_build({}, env={}, cwd=tmp_path)
    assert cfg.cache_dir.name == "juliapack" and cfg.cache_dir.is_absolute()


# field, toml value (as TOML), env variable and value, flag value, expected (toml, env, flag)
LAYERED = [
    ("julia", '"1.9"', "JULIAPACK_JULIA", "1.10", "1.11.2", ("1.9", "1.10", "1.11.2")),
    ("pull", '"always"', "JULIAPACK_PULL", "never", "missing", ("always", "never", "missing")),
    ("network", '"host"', "JULIAPACK_NETWORK", "none", "bridge", ("host", "none", "bridge")),
    ("codec", '"gzip"', "JULIAPACK_CODEC", "zstd", "auto", ("gzip", "zstd", "auto")),
    ("image", '"a:1"', "JULIAPACK_IMAGE", "b:2", "c:3", ("a:1", "b:2", "c:3")),
    ("cpu_target", '"generic"', "JULIAPACK_CPU_TARGET", "haswell", "znver2", ("generic", "haswell", "znver2")),
    ("source_date_epoch", "1", "SOURCE_DATE_EPOCH", "2", 3, (1, 2, 3)),
    ("versions_url", '"file:///a.json"', "JULIAPACK_VERSIONS_URL", "http://b/v.json", "http://c/v.json",
     ("file:///a.json", "http://b/v.json", "http://c/v.json")),
    ("julia_mirror", '"http://a"', "JULIAPACK_JULIA_MIRROR", "http://b", "http://c", ("http://a", "http://b", "http://c")),
    ("registries", '["https://a"]', "JULIAPACK_REGISTRIES", "https://b, https://c  https://d", ["https://e"],
     (("https://a",), ("https://b", "https://c", "https://d"), ("https://e",))),
]  # fmt: skip


@pytest.mark.parametrize("field, toml_value, env_name, env_value, flag_value, expected", LAYERED)
def test_build_layering(tmp_path: Path, field, toml_value, env_name, env_value, flag_value, expected) -> None:
    toml = f"[build]\n{field} = {toml_value}\n"
    env = {env_name: env_value}
    assert getattr(build(tmp_path, env=env), field) == expected[1]  # no juliapack.toml yet
    assert getattr(build(tmp_path, toml=toml), field) == expected[0]
    assert getattr(build(tmp_path, env=env), field) == expected[1]  # the toml is there now
    assert getattr(build(tmp_path, {field: flag_value}, env=env), field) == expected[2]
    assert getattr(build(tmp_path, {field: flag_value}, env=env, toml=toml), field) == expected[2]


def test_julias_own_cpu_target_variable_in_the_shell_does_not_leak_into_the_build(tmp_path: Path) -> None:
    assert build(tmp_path, env={"JULIA_CPU_TARGET": "native"}).cpu_target is None


def test_an_empty_environment_value_does_not_count(tmp_path: Path) -> None:
    assert build(tmp_path, env={"JULIAPACK_JULIA": ""}, toml='[build]\njulia = "1.9"\n').julia == "1.9"


def test_empty_flag_lists_do_not_count(tmp_path: Path) -> None:
    assert build(tmp_path, {"registries": []}, toml='[build]\nregistries = ["https://a"]\n').registries == ("https://a",)


@pytest.mark.parametrize(
    "field, toml_value, expected",
    [("prune_registries", "true", False), ("keep_container", "true", True), ("fresh", "true", True), ("verify", "false", False),
     ("entry", '"scripts/run.jl"', "scripts/run.jl"), ("exclude", '["data/", "*.csv"]', ("data/", "*.csv")),
     ("smoke", '"--n 2 \'a b\'"', ("--n", "2", "a b")), ("smoke", '["--n", "2"]', ("--n", "2")), ("smoke", '""', ()),
     ("env", '["A=1", "B=x=y"]', (("A", "1"), ("B", "x=y"))), ("env", '{ A = "1", B = "" }', (("A", "1"), ("B", ""))),
     ("names", '{ julia = "jl", depot = "dep", compiled = "cc", app = "code" }', LayerNames("jl", "dep", "cc", "code")),
     ("names", '{ app = "code" }', LayerNames(app="code"))],
)  # fmt: skip
def test_build_fields_from_toml(tmp_path: Path, field: str, toml_value: str, expected) -> None:
    attribute = {"prune_registries": "keep_registries"}.get(field, field)  # the setting says what the user does
    assert getattr(build(tmp_path, toml=f"[build]\n{field} = {toml_value}\n"), attribute) == expected


def test_top_level_keys_are_shared_and_the_section_wins(tmp_path: Path) -> None:
    assert build(tmp_path, toml='julia = "1.9"\n').julia == "1.9"
    assert build(tmp_path, toml='julia = "1.9"\n[build]\njulia = "1.10"\n').julia == "1.10"
    assert notebook(tmp_path, toml='slug = "shared-slug"\nowner = "alice"\n').identity.slug == "shared-slug"


# --------------------------------------------------------------------------- which juliapack.toml, and paths in it


def test_paths_in_the_toml_are_relative_to_its_folder_and_flags_to_the_cwd(tmp_path: Path) -> None:
    conf = write_toml(tmp_path / "conf", '[build]\nproject = "proj"\nout = "../out"\nvolumes = ["data:/data", "../ro:/ro:ro", "data:/rw:rw"]\n')
    for folder in ("conf/proj", "conf/data", "ro", "elsewhere/p2"):
        (tmp_path / folder).mkdir(parents=True)
    cfg = build(tmp_path, cwd=tmp_path / "elsewhere", config_path=conf)
    assert (cfg.project, cfg.out) == (tmp_path / "conf" / "proj", tmp_path / "out")
    assert cfg.mounts == (
        Mount(tmp_path / "conf" / "data", "/data", True),
        Mount(tmp_path / "ro", "/ro", True),
        Mount(tmp_path / "conf" / "data", "/rw", False),
    )
    assert cfg.mounts[2].spec() == f"{tmp_path / 'conf' / 'data'}:/rw:rw"
    flagged = build(tmp_path, {"project": "p2", "out": "o"}, cwd=tmp_path / "elsewhere", config_path=conf)
    assert (flagged.project, flagged.out) == (tmp_path / "elsewhere" / "p2", tmp_path / "elsewhere" / "o")


def test_the_projects_own_toml_is_found_when_the_cwd_has_none(tmp_path: Path) -> None:
    write_toml(tmp_path / "Inference", '[build]\njulia = "1.9"\nout = "build-out"\n')
    cfg = build(tmp_path, {"project": "Inference"})
    assert (cfg.julia, cfg.out) == ("1.9", tmp_path / "Inference" / "build-out")
    write_toml(tmp_path, '[build]\njulia = "1.11"\n')
    assert build(tmp_path, {"project": "Inference"}).julia == "1.11"  # the cwd's comes first


def test_an_explicit_config_that_does_not_exist(tmp_path: Path) -> None:
    error = config_error(build, tmp_path, config_path=tmp_path / "missing.toml")
    assert "missing.toml does not exist" in error.what


def test_a_missing_project_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist") as raised:
        build(tmp_path, {"project": "nope"})
    assert raised.value.exit_code == ExitCode.INPUT


def test_the_environment_beats_the_toml_for_the_output_folder(tmp_path: Path) -> None:
    cfg = build(tmp_path, env={"JULIAPACK_OUT": str(tmp_path / "from-env")}, toml='[build]\nout = "from-toml"\n')
    assert cfg.out == tmp_path / "from-env"


def test_juliapack_out_sets_the_output_folder(tmp_path: Path) -> None:
    assert build(tmp_path, env={"JULIAPACK_OUT": "from-env"}).out == tmp_path / "from-env"
    assert build(tmp_path, {"out": "flag"}, env={"JULIAPACK_OUT": "from-env"}).out == tmp_path / "flag"


# --------------------------------------------------------------------------- unknown fields and broken files


@pytest.mark.parametrize(
    "toml, where, hint",
    [
        ('[build]\njullia = "1.10"\n', "[build]", "did you mean 'julia'?"),
        ('[build]\nprune_registry = true\n', "[build]", "did you mean 'prune_registries'?"),
        ('projcet = "."\n', "(top level)", "did you mean 'project'?"),
        ('[bulid]\njulia = "1.10"\n', "juliapack.toml", "did you mean 'build'?"),
        ('[build]\nzzzzzz = 1\n', "[build]", "known fields: accelerator, allow_secrets, codec, cpu, cpu_target, cuda_local, dist"),
        ('[build]\nnames = { jula = "x" }\n', "field 'names'", "did you mean 'julia'?"),
    ],
)
def test_unknown_fields_get_a_hint(tmp_path: Path, toml: str, where: str, hint: str) -> None:
    error = config_error(build, tmp_path, toml=toml)
    assert error.what.startswith("unknown field") and where in error.what and hint in error.fix


def test_a_section_for_another_command_is_not_checked_by_build(tmp_path: Path) -> None:
    assert build(tmp_path, toml='[notebook]\nmodel = "whatever"\n[upload]\npublic = true\n').julia is None


def test_malformed_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    error = config_error(build, tmp_path, toml='[build]\njulia = "1.10"\ncodec = zstd\n')
    assert str(tmp_path / "juliapack.toml") in error.what and "line 3" in error.what


def test_an_unreadable_toml(tmp_path: Path) -> None:
    (tmp_path / "juliapack.toml").mkdir()
    error = config_error(build, tmp_path, config_path=tmp_path / "juliapack.toml")
    assert "does not exist" in error.what or "cannot read" in error.what


# --------------------------------------------------------------------------- invalid values


@pytest.mark.parametrize(
    "flags, env, toml, message",
    [
        ({"pull": "sometimes"}, {}, None, "--pull is 'sometimes', not one of missing, always, never"),
        ({}, {"JULIAPACK_PULL": "often"}, None, "$JULIAPACK_PULL is 'often'"),
        ({}, {}, '[build]\npull = "sometimes"\n', "[build] field 'pull' is 'sometimes'"),
        ({"julia": "1"}, {}, None, "--julia is '1', which is not a Julia version"),
        ({"julia": "latest"}, {}, None, "not a Julia version"),
        ({"julia": "1.x"}, {}, None, "not a Julia version"),
        ({"julia": "1.10.x"}, {}, None, "not a Julia version"),
        ({}, {"JULIAPACK_JULIA": "v1"}, None, "$JULIAPACK_JULIA is 'v1'"),
        ({}, {}, "[build]\njulia = 1.10\n", "must be a non-empty string"),  # a TOML float
        ({}, {}, '[build]\njulia = "  "\n', "must be a non-empty string"),
        ({"network": "wifi"}, {}, None, "--network is 'wifi'"),
        ({"codec": "xz"}, {}, None, "--codec is 'xz'"),
        ({}, {"SOURCE_DATE_EPOCH": "soon"}, None, "$SOURCE_DATE_EPOCH must be a whole number"),
        ({}, {"SOURCE_DATE_EPOCH": "-5"}, None, "must be at least 0"),
        ({}, {}, '[build]\nfresh = "maybe"\n', "must be true or false"),
        ({"env": ["NOEQUALS"]}, {}, None, "--env has 'NOEQUALS', not KEY=VALUE"),
        ({"env": ["=value"]}, {}, None, "not KEY=VALUE"),
        ({"env": ["1ABC=x"]}, {}, None, "not KEY=VALUE"),
        ({"env": ["A B=x"]}, {}, None, "not KEY=VALUE"),
        ({"volumes": ["nope:/data"]}, {}, None, "mount source"),
        ({"volumes": ["src:data"]}, {}, None, "mount target 'data' is not absolute"),
        ({"volumes": ["src:/data:rx"]}, {}, None, "not SRC:DST[:ro|rw]"),
        ({"volumes": ["src"]}, {}, None, "not SRC:DST[:ro|rw]"),
        ({"volumes": ["src:/a:ro:x"]}, {}, None, "not SRC:DST[:ro|rw]"),
        ({"smoke": "'unclosed"}, {}, None, "cannot be split into arguments"),
        ({}, {}, '[build]\nregistries = "https://a"\n', None),  # a string is split, not an error: checked below
        ({}, {}, '[build]\nnames = "inference"\n', "must be a table"),
        ({}, {}, '[build]\nnames = { app = "inference.tar.gz" }\n', "ends like an archive"),
        ({}, {}, '[build]\nnames = { depot = "depot.zip" }\n', "ends like an archive"),
        ({}, {}, '[build]\nnames = { julia = "julia.TGZ" }\n', "ends like an archive"),
        ({}, {}, '[build]\nnames = { app = "a/b" }\n', "not a plain file name"),
        ({}, {}, '[build]\nnames = { app = ".." }\n', "not a plain file name"),
        ({}, {}, '[build]\nnames = { julia = "same", depot = "same" }\n', "two layers the same name"),
        ({}, {}, '[build]\nnames = { app = "dotjulia" }\n', "two layers the same name"),  # equal to a default
    ],
)
def test_invalid_build_values(tmp_path: Path, flags: dict, env: dict, toml: str | None, message: str | None) -> None:
    (tmp_path / "src").mkdir()
    if message is None:
        assert build(tmp_path, flags, env, toml).registries == ("https://a",)
        return
    error = config_error(build, tmp_path, flags, env, toml)
    assert message in error.what


def test_a_volume_flag_adds_to_the_volumes_of_the_toml(tmp_path: Path) -> None:
    for folder in ("data", "keys", "more"):
        (tmp_path / folder).mkdir()
    cfg = build(tmp_path, {"volumes": ["more:/more", "data:/data"]}, toml='[build]\nvolumes = ["data:/data", "keys:/keys:ro"]\n')
    # The toml's first, then the flags'; the same mount given twice is one mount.
    assert cfg.mounts == (Mount(tmp_path / "data", "/data", True), Mount(tmp_path / "keys", "/keys", True), Mount(tmp_path / "more", "/more", True))


@pytest.mark.parametrize(
    "toml_volumes, flag_volumes, first, second",
    [
        (["data:/data"], ["other:/data"], "juliapack.toml [build] field 'volumes' mounts {t}/data:/data:ro", "--volume mounts {t}/other:/data:ro"),
        (["data:/data"], ["data:/data/:rw"], "mounts {t}/data:/data:ro", "--volume mounts {t}/data:/data/:rw"),
        ([], ["data:/data", "other:/data"], "--volume mounts {t}/data:/data:ro", "--volume mounts {t}/other:/data:ro"),
    ],
)
def test_two_mounts_at_one_target_are_one_line_naming_both(tmp_path: Path, toml_volumes, flag_volumes, first: str, second: str) -> None:
    for folder in ("data", "other"):
        (tmp_path / folder).mkdir()
    toml = f"[build]\nvolumes = {toml_volumes!r}\n".replace("'", '"')
    error = config_error(build, tmp_path, {"volumes": flag_volumes}, None, toml)
    assert first.format(t=tmp_path) in error.what and second.format(t=tmp_path) in error.what
    assert error.what.endswith("at the same target") and "--volume adds to the volumes of juliapack.toml" in error.fix


@pytest.mark.parametrize("given, expected", [("1.10", "1.10"), ("1.10.5", "1.10.5"), ("v1.10.5", "1.10.5"), (" 1.11 ", "1.11"),
                                             ("1.11.0-rc2", "1.11.0-rc2"), ("1.12.0-beta1.1", "1.12.0-beta1.1")])  # fmt: skip
def test_valid_julia_versions(tmp_path: Path, given: str, expected: str) -> None:
    assert build(tmp_path, {"julia": given}).julia == expected


@pytest.mark.parametrize("text, expected", [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("off", False), ("No", False)])
def test_booleans_from_the_environment_style_text(tmp_path: Path, text: str, expected: bool) -> None:
    assert build(tmp_path, toml=f'[build]\nfresh = "{text}"\n').fresh is expected


# --------------------------------------------------------------------------- notebook


def test_notebook_defaults(tmp_path: Path) -> None:
    cfg = notebook(tmp_path)
    assert (cfg.dist, cfg.out) == (tmp_path.resolve() / "dist", tmp_path.resolve() / "notebook")
    assert (cfg.model, cfg.naming.model_dataset, cfg.model_arg, cfg.args, cfg.competition) == (None, None, "--model", (), None)
    assert (cfg.title, cfg.kernel_slug, cfg.accelerator, cfg.image_pinning, cfg.public, cfg.kernel_sources) == (None, None, None, "original", False, ())
    assert (cfg.submission, cfg.inputs, cfg.timeout) == ("/kaggle/working/submission.csv", (), 3600)
    assert (cfg.identity.owner, cfg.identity.slug, cfg.identity.title, dict(cfg.naming.datasets)) == (None, None, None, {})


NOTEBOOK_LAYERED = [
    ("competition", '"toml-comp"', "JULIAPACK_COMPETITION", "env-comp", "flag-comp", ("toml-comp", "env-comp", "flag-comp")),
    ("owner", '"tomluser"', "JULIAPACK_OWNER", "envuser", "flaguser", ("tomluser", "envuser", "flaguser")),
    ("slug", '"toml-slug"', "JULIAPACK_SLUG", "env-slug", "flag-slug", ("toml-slug", "env-slug", "flag-slug")),
]


@pytest.mark.parametrize("field, toml_value, env_name, env_value, flag_value, expected", NOTEBOOK_LAYERED)
def test_notebook_layering(tmp_path: Path, field, toml_value, env_name, env_value, flag_value, expected) -> None:
    def value(cfg):
        return getattr(cfg.identity, field) if field in ("owner", "slug") else getattr(cfg, field)

    toml = f"[notebook]\n{field} = {toml_value}\n"
    assert value(notebook(tmp_path, toml=toml)) == expected[0]
    assert value(notebook(tmp_path, env={env_name: env_value}, toml=toml)) == expected[1]
    assert value(notebook(tmp_path, {field: flag_value}, env={env_name: env_value}, toml=toml)) == expected[2]


def test_notebook_dist_follows_the_build_output_variable(tmp_path: Path) -> None:
    assert notebook(tmp_path, env={"JULIAPACK_OUT": "built"}).dist == tmp_path / "built"
    assert notebook(tmp_path, {"dist": "d"}, env={"JULIAPACK_OUT": "built"}).dist == tmp_path / "d"


def test_notebook_fields(tmp_path: Path) -> None:
    (tmp_path / "comp").mkdir()
    cfg = notebook(tmp_path, toml="""
[notebook]
args = "--input /kaggle/input/comp --name 'two words'"
model_arg = "--weights"
accelerator = "p100"
image_pinning = "latest"
public = true
kernel_sources = ["alice/features"]
submission = "/kaggle/working/out.csv"
inputs = ["comp:/kaggle/input/comp"]
timeout = "2m"
datasets = { app = "my-code" }
model_dataset = "alice/weights"
title = "My fine submission"
kernel_slug = "my-fine-submission"
""")
    assert cfg.args == ("--input", "/kaggle/input/comp", "--name", "two words")
    assert (cfg.model_arg, cfg.accelerator, cfg.image_pinning, cfg.public, cfg.kernel_sources, cfg.submission, cfg.timeout) == (
        "--weights", "p100", "latest", True, ("alice/features",), "/kaggle/working/out.csv", 120)  # fmt: skip
    assert cfg.inputs == (Mount(tmp_path / "comp", "/kaggle/input/comp", True),)
    assert (dict(cfg.naming.datasets), cfg.naming.model_dataset, cfg.title, cfg.kernel_slug) == ({"app": "my-code"}, "alice/weights", "My fine submission", "my-fine-submission")


def test_a_model_file(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.jld2").write_bytes(b"weights")
    assert notebook(tmp_path, {"model": "models/model.jld2"}).model == ModelRef(path=tmp_path / "models" / "model.jld2")
    assert notebook(tmp_path, env={"JULIAPACK_MODEL": "models/model.jld2"}).model.path == tmp_path / "models" / "model.jld2"
    # relative to the toml's folder, not the cwd
    (tmp_path / "sub").mkdir()
    conf = write_toml(tmp_path / "conf", '[notebook]\nmodel = "../models/model.jld2"\n')
    cfg = notebook(tmp_path, cwd=tmp_path / "sub", config_path=conf)
    assert cfg.model == ModelRef(path=tmp_path / "models" / "model.jld2") and cfg.model.name == "model.jld2"


def test_a_model_on_kaggle(tmp_path: Path) -> None:
    model = notebook(tmp_path, {"model": "alice/trained-weights/model.jld2"}).model
    assert model == ModelRef(dataset="alice/trained-weights", file="model.jld2")
    assert model.name == "model.jld2" and model.path is None


@pytest.mark.parametrize(
    "given, message",
    [
        ("model.zip", "ends like an archive"),  # an existing file Kaggle would unpack
        ("alice/weights/model.tar.gz", "ends like an archive"),
        ("alice/Bad_Slug/model.jld2", "not a valid Kaggle slug"),
        ("al ice/weights/model.jld2", "not a Kaggle user name"),
    ],
)
def test_bad_models(tmp_path: Path, given: str, message: str) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "model.zip").write_bytes(b"pk")
    error = config_error(notebook, tmp_path, {"model": given})
    assert message in error.what and "--model" in error.what


@pytest.mark.parametrize(
    "given, message",
    [
        ("models", "is a directory"),
        ("missing.jld2", "neither a file nor OWNER/DATASET/FILE"),
        ("./a/bcd/c", "neither a file nor OWNER/DATASET/FILE"),
        ("/abs/bcd/c", "neither a file nor OWNER/DATASET/FILE"),
        ("a/b/c/d", "neither a file nor OWNER/DATASET/FILE"),
    ],
)
def test_a_model_that_is_not_there_is_an_input_error(tmp_path: Path, given: str, message: str) -> None:
    (tmp_path / "models").mkdir()
    with pytest.raises(InputError) as raised:
        notebook(tmp_path, {"model": given})
    assert raised.value.exit_code == ExitCode.INPUT == 3
    assert message in raised.value.what and "--model" in raised.value.what and raised.value.fix


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("title", "abcd", "has 4 characters; Kaggle wants 5-50"),
        ("title", "x" * 51, "has 51 characters"),
        ("kernel_slug", "abcd", "shorter than Kaggle's 5 characters"),
        ("kernel_slug", "Bad_Slug", "not a valid Kaggle slug"),
        ("kernel_slug", "-leading", "not a valid Kaggle slug"),
        ("kernel_slug", "x" * 51, "not a valid Kaggle slug"),
        ("competition", "Not A Slug", "not a valid Kaggle slug"),
        ("owner", "bad owner", "not a Kaggle user name"),
        ("model_dataset", "noslash", "not OWNER/SLUG"),
        ("inputs", ["comp:/data"], "is not mounted under /kaggle/input/"),
        ("timeout", "-1", "not a duration"),
        ("accelerator", "v100", "not an accelerator"),
        ("image_pinning", "newest", "not one of original, latest"),
        ("datasets", "app", "must be a table"),
    ],
)
def test_invalid_notebook_values(tmp_path: Path, field: str, value, message: str) -> None:
    (tmp_path / "comp").mkdir()
    error = config_error(notebook, tmp_path, {field: value})
    assert message in error.what


def test_valid_kernel_titles_and_slugs(tmp_path: Path) -> None:
    cfg = notebook(tmp_path, {"title": "x" * 50, "kernel_slug": "abcde"})
    assert (cfg.title, cfg.kernel_slug) == ("x" * 50, "abcde")


@pytest.mark.parametrize("toml, renamed", [('[build]\nmounts = ["a:/a"]\n', "volumes"), ("[notebook]\ngpu = true\n", "accelerator")])
def test_a_setting_of_an_earlier_version_names_its_new_name(tmp_path: Path, toml: str, renamed: str) -> None:
    error = config_error(notebook, tmp_path, toml=toml)  # every section is checked, whichever command reads
    assert error.fix == f"did you mean '{renamed}'?"


def test_upload_and_notebook_read_the_same_model_and_refuse_two(tmp_path: Path) -> None:
    (tmp_path / "a.jls").write_bytes(b"a")
    (tmp_path / "b.jls").write_bytes(b"b")
    assert notebook(tmp_path, toml='[upload]\nmodel = "a.jls"\n').model.path == tmp_path / "a.jls"
    assert load_upload({}, env={}, cwd=write_toml(tmp_path / "u", '[notebook]\nmodel = "../a.jls"\n').parent).naming.model.path == tmp_path / "a.jls"
    error = config_error(notebook, tmp_path, toml='[notebook]\nmodel = "a.jls"\n[upload]\nmodel = "b.jls"\n')
    assert "gives model twice" in error.what and "'a.jls'" in error.what and "'b.jls'" in error.what


def test_a_dataset_names_owner_and_slug_and_must_agree_with_them(tmp_path: Path) -> None:
    cfg = notebook(tmp_path, {"dataset": "bob/my-net"})
    assert (cfg.identity.owner, cfg.identity.slug) == ("bob", "my-net")
    assert "disagree" in config_error(notebook, tmp_path, {"dataset": "bob/my-net"}, toml='owner = "carol"\n').what


def test_notebook_checks_its_own_section_for_unknown_fields(tmp_path: Path) -> None:
    error = config_error(notebook, tmp_path, toml='[notebook]\nmodle = "m.jld2"\n')
    assert "[notebook]" in error.what and "did you mean 'model'?" in error.fix


@pytest.mark.parametrize("name", ["JULIA_DEPOT_PATH", "JULIA_CPU_TARGET", "JULIA_PKG_PRECOMPILE_AUTO", "HOME"])
def test_build_env_may_not_override_what_juliapack_sets(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"--env {name} is set by juliapack itself"):
        build(tmp_path, flags={"env": [f"{name}=x"]})


def test_a_mistyped_local_model_path_is_not_read_as_a_kaggle_reference(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(InputError, match="does not exist"):
        notebook(tmp_path, flags={"model": "data/weights/m.jld2"})
    assert notebook(tmp_path, flags={"model": "alice/weights/m.jld2"}).model.dataset == "alice/weights"
