"""ignore: gitignore semantics for what stays out of the app layer, the defaults, and .juliapackignore."""

from __future__ import annotations

from pathlib import Path

import pytest

from juliapack.ignore import DEFAULT_PATTERNS, IGNORE_FILE, IgnoreRules, compile_pattern

F, D = False, True  # is_dir

CASES = [
    # a pattern without a slash matches at any depth
    (["*.log"], "debug.log", F, True),
    (["*.log"], "logs/deep/debug.log", F, True),
    (["*.log"], "debug.log.txt", F, False),
    (["data"], "data", D, True),
    (["data"], "src/data", F, True),
    (["data"], "database", F, False),
    # a leading slash anchors to the project root
    (["/data"], "data", D, True),
    (["/data"], "src/data", D, False),
    (["/TODO.md"], "TODO.md", F, True),
    (["/TODO.md"], "doc/TODO.md", F, False),
    # a slash in the middle anchors too
    (["doc/*.txt"], "doc/a.txt", F, True),
    (["doc/*.txt"], "src/doc/a.txt", F, False),
    (["doc/*.txt"], "doc/sub/a.txt", F, False),  # * does not cross folders
    # a trailing slash matches folders only
    (["build/"], "build", D, True),
    (["build/"], "build", F, False),
    (["build/"], "src/build", D, True),
    (["/build/"], "src/build", D, False),
    # ** across folders
    (["**/cache"], "cache", D, True),
    (["**/cache"], "a/b/cache", D, True),
    (["**/cache"], "a/b/cache2", D, False),
    (["a/**/b"], "a/b", F, True),
    (["a/**/b"], "a/x/b", F, True),
    (["a/**/b"], "a/x/y/b", F, True),
    (["a/**/b"], "c/a/x/b", F, False),
    (["out/**"], "out/x", F, True),
    (["out/**"], "out/x/y.jl", F, True),
    (["out/**"], "out", D, False),  # the contents, not the folder itself
    # ?, [...], [!...]
    (["file?.jl"], "file1.jl", F, True),
    (["file?.jl"], "file10.jl", F, False),
    (["file?.jl"], "file/.jl", F, False),
    (["run[0-9].sh"], "run5.sh", F, True),
    (["run[0-9].sh"], "runx.sh", F, False),
    (["run[!0-9].sh"], "runx.sh", F, True),
    (["run[!0-9].sh"], "run5.sh", F, False),
    # regex metacharacters are literal
    (["a+b.(jl)"], "a+b.(jl)", F, True),
    (["a+b.(jl)"], "aab.jl", F, False),
    (["$x^"], "$x^", F, True),
    # negation and last-match-wins
    (["*.csv", "!keep.csv"], "keep.csv", F, False),
    (["*.csv", "!keep.csv"], "drop.csv", F, True),
    (["!keep.csv", "*.csv"], "keep.csv", F, True),  # a later pattern wins
    (["data/", "!data/"], "data", D, False),
    (["*.jld2", "!/models/*.jld2"], "models/final.jld2", F, False),
    (["*.jld2", "!/models/*.jld2"], "other/final.jld2", F, True),
    # comments, blank lines and trailing spaces
    (["# *.jl", "", "   "], "a.jl", F, False),
    (["*.tmp   "], "a.tmp", F, True),
    ([], "anything", F, False),
]


@pytest.mark.parametrize("patterns, relpath, is_dir, ignored", CASES)
def test_gitignore_semantics(patterns: list[str], relpath: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules(patterns).ignored(relpath, is_dir) is ignored


@pytest.mark.parametrize("line", ["", "   ", "# a comment", "#*.jl", "\n"])
def test_comments_and_blank_lines_compile_to_nothing(line: str) -> None:
    assert compile_pattern(line) is None


def test_a_pattern_remembers_its_parts() -> None:
    pattern = compile_pattern("!/build/\n")
    assert (pattern.negate, pattern.dir_only, pattern.text) == (True, True, "!/build/")


@pytest.mark.parametrize(
    "relpath, is_dir",
    [
        (".git", D),
        ("vendor/Pkg/.git", D),
        (".hg", D),
        (".svn", D),
        ("dist", D),
        ("notebook", D),
        (".juliapack", D),
        ("src/__pycache__", D),
        (".ipynb_checkpoints", D),
        (".vscode", D),
        (".idea", D),
        (".DS_Store", F),
        ("src/.DS_Store", F),
        ("src/.main.jl.swp", F),
        ("src/main.jl~", F),
        (IGNORE_FILE, F),
    ],
)
def test_defaults_leave_out_version_control_build_output_and_litter(tmp_path: Path, relpath: str, is_dir: bool) -> None:
    assert IgnoreRules.for_project(tmp_path).ignored(relpath, is_dir)


@pytest.mark.parametrize("relpath, is_dir", [("dist", F), ("src/dist.jl", F), ("Project.toml", F), ("src", D), (".gitignore", F), (".github", D)])
def test_defaults_keep_the_project(tmp_path: Path, relpath: str, is_dir: bool) -> None:
    assert not IgnoreRules.for_project(tmp_path).ignored(relpath, is_dir)


def test_every_default_pattern_compiles() -> None:
    assert len(IgnoreRules(DEFAULT_PATTERNS).patterns) == len(DEFAULT_PATTERNS)


def test_the_ignore_file_is_read_after_the_defaults_and_extra_patterns_after_it(tmp_path: Path) -> None:
    (tmp_path / IGNORE_FILE).write_text("# data we never ship\n/data/\n*.csv\n!small.csv\n\n!dist/\n", encoding="utf-8")
    rules = IgnoreRules.for_project(tmp_path, extra=("small.csv",))
    assert rules.ignored("data", True)
    assert not rules.ignored("src/data", True)
    assert rules.ignored("big.csv", False)
    assert not rules.ignored("dist", True)  # the file re-includes a default
    assert rules.ignored("small.csv", False)  # extra patterns come last and win
    assert rules.ignored(".git", True)


def test_without_an_ignore_file_only_defaults_and_extras_apply(tmp_path: Path) -> None:
    rules = IgnoreRules.for_project(tmp_path, extra=("*.jld2",))
    assert len(rules.patterns) == len(DEFAULT_PATTERNS) + 1
    assert rules.ignored("models/m.jld2", False) and not rules.ignored("src/m.jl", False)


def test_the_ignore_file_is_read_as_utf8(tmp_path: Path) -> None:
    (tmp_path / IGNORE_FILE).write_bytes("donn\u00e9es/\n".encode())
    assert IgnoreRules.for_project(tmp_path).ignored("donn\u00e9es", True)


@pytest.mark.parametrize("relpath", ["src/dist", "src/notebook", "docs/.juliapack"])
def test_default_output_folders_are_left_out_only_at_the_top(tmp_path: Path, relpath: str) -> None:
    rules = IgnoreRules.for_project(tmp_path)
    assert rules.ignored(relpath.split("/")[-1], True)
    assert not rules.ignored(relpath, True)
