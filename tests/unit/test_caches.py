"""check_caches.jl's report, the stale cache files removed before packing, and the rehearsal's passes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from juliapack.caches import (
    CacheCheck,
    CacheFile,
    cache_check_failure,
    in_use_under,
    list_cache_files,
    rehearsal_julia_flags,
    remove_stale_caches,
    stale_cache_files,
)

# --------------------------------------------------------------------------- the check's report

PASSED = """\
cache\tFoo\t/root/.julia/compiled/v1.11/Foo/AbCdE_new.ji
cache\tFooBarExt\t/root/.julia/compiled/v1.11/FooBarExt/QqQqQ_1.ji
cache\tInference\t/tmp/Inference/.juliapack-depot/compiled/v1.11/Inference/ZzZzZ_2.ji
cache\tBar\t
checked\t4
"""

FAILED = """\
  Precompiling project...
precompile-error\tThe following 1 direct dependency failed to precompile:
cache\tFoo\t/root/.julia/compiled/v1.11/Foo/AbCdE_new.ji
stale\tCUDA\tpackage
stale\tFooBarExt\textension of Foo
stale\tInference\tapp
checked\t4
"""


def test_a_passed_check_is_no_error_and_names_the_loaded_files():
    check = CacheCheck.parse(PASSED)
    assert cache_check_failure(check) is None
    assert check.checked == 4 and check.stale == () and check.skipped is None
    assert ("Bar", "") in check.loaded


def test_a_failed_check_is_one_line_naming_each_package():
    error = cache_check_failure(CacheCheck.parse(FAILED))
    assert error is not None and "\n" not in str(error)
    assert error.what == "3 of 4 would compile again on Kaggle (no valid cache): CUDA, FooBarExt (extension of Foo), Inference (your app)"
    assert "LocalPreferences.toml" in error.fix
    assert error.details == "The following 1 direct dependency failed to precompile:"


def test_a_precompile_error_alone_fails_too():
    error = cache_check_failure(CacheCheck.parse("precompile-error\tboom\nchecked\t2\n"))
    assert error is not None and error.what == "Pkg.precompile(strict=true) failed: boom"


def test_before_1_10_the_check_says_it_skipped():
    check = CacheCheck.parse("skipped\tJulia 1.5.3 has no Base.isprecompiled (1.10+): caches not checked\n")
    assert check.skipped.startswith("Julia 1.5.3") and cache_check_failure(check) is None


def test_loaded_files_by_depot():
    check = CacheCheck.parse(PASSED)
    assert in_use_under(check, "/root/.julia/compiled/v1.11") == {"Foo": "AbCdE_new.ji", "FooBarExt": "QqQqQ_1.ji"}
    assert in_use_under(check, "/tmp/Inference/.juliapack-depot/compiled/v1.11") == {"Inference": "ZzZzZ_2.ji"}


# --------------------------------------------------------------------------- stale cache files

LISTING = [
    CacheFile("Foo/AbCdE_old.ji", 100),
    CacheFile("Foo/AbCdE_old.so", 100),
    CacheFile("Foo/AbCdE_new.ji", 200),
    CacheFile("Foo/AbCdE_new.so", 200),
    CacheFile("Foo/AbCdE_orphan.so", 300),
    CacheFile("Foo/AbCdE_new.ji.pidfile", 300),
    CacheFile("Bar/XyZ_a.ji", 500),
    CacheFile("Bar/XyZ_b.ji", 400),
    CacheFile("OnlyNative/Q_1.so", 1),
    CacheFile("NoUuid.ji", 1),
]


def test_with_the_loaded_file_known_only_the_others_go():
    doomed = stale_cache_files(LISTING, in_use={"Foo": "AbCdE_old.ji", "Bar": "XyZ_b.ji"})
    assert doomed == ["Bar/XyZ_a.ji", "Foo/AbCdE_new.ji", "Foo/AbCdE_new.so", "Foo/AbCdE_orphan.so"]


def test_folders_the_check_did_not_name_are_left_whole():
    assert stale_cache_files(LISTING, in_use={"Bar": "XyZ_b.ji"}) == ["Bar/XyZ_a.ji"]


def test_without_the_check_the_newest_ji_is_the_one_in_use():
    doomed = stale_cache_files(LISTING, in_use=None)
    assert doomed == ["Bar/XyZ_b.ji", "Foo/AbCdE_old.ji", "Foo/AbCdE_old.so", "Foo/AbCdE_orphan.so"]


def test_a_tie_for_newest_leaves_the_folder_whole():
    files = [CacheFile("P/s_2.ji", 7), CacheFile("P/s_1.ji", 7), CacheFile("P/s_0.ji", 3)]
    assert stale_cache_files(files, in_use=None) == []
    assert stale_cache_files([*files, CacheFile("P/s_3.ji", 9)], in_use=None) == ["P/s_0.ji", "P/s_1.ji", "P/s_2.ji"]


def test_a_single_cache_is_never_stale():
    assert stale_cache_files([CacheFile("P/s_1.ji", 1), CacheFile("P/s_1.so", 1)], in_use=None) == []


def test_removal_on_disk(tmp_path: Path):
    for relpath, mtime in (("Foo/A_old.ji", 100), ("Foo/A_old.so", 100), ("Foo/A_new.ji", 200), ("Foo/A_new.so", 200)):
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_bytes(b"x")
        os.utime(tmp_path / relpath, (mtime, mtime))
    assert sorted(f.relpath for f in list_cache_files(tmp_path)) == ["Foo/A_new.ji", "Foo/A_new.so", "Foo/A_old.ji", "Foo/A_old.so"]
    assert remove_stale_caches(tmp_path, in_use=None) == ["Foo/A_old.ji", "Foo/A_old.so"]
    assert sorted(p.name for p in (tmp_path / "Foo").iterdir()) == ["A_new.ji", "A_new.so"]
    assert remove_stale_caches(tmp_path / "absent", in_use=None) == []


# --------------------------------------------------------------------------- the rehearsal

STRICT = "--compiled-modules=strict"


@pytest.mark.parametrize(
    ("version", "passes"),
    [
        ((1, 5, 3), [[]]),
        ((1, 8, 5), [[]]),
        ((1, 9, 4), [[], ["-C", "generic"]]),
        ((1, 10, 10), [[], ["-C", "generic"]]),
        ((1, 11, 0), [[STRICT], [STRICT, "-C", "generic"]]),
        ((1, 12, 6), [[STRICT], [STRICT, "-C", "generic"]]),
        ((2, 0, 0), [[STRICT], [STRICT, "-C", "generic"]]),
    ],
)
def test_rehearsal_passes_by_version(version, passes):
    assert rehearsal_julia_flags(version) == passes
