"""CUDA runtime preferences for Kaggle's GPUs: every branch of `juliapack.cuda`."""

from __future__ import annotations

import sys

import pytest

from juliapack import accelerators
from juliapack.cuda import CUDA_COMPILER, CUDA_RUNTIME, UUIDS, add_project_extras, cuda_preferences
from juliapack.errors import ConfigError, InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODERN = {"CUDA": "5.8.2", CUDA_RUNTIME: "0.17.1", "Flux": "0.16.3"}
WITH_COMPILER = {**MODERN, CUDA_COMPILER: "0.2.0"}
NAMED = {"CUDA", "Flux", CUDA_RUNTIME}  # a project that already lists the runtime JLL (e.g. in [extras])


def decide(accelerator="t4x2", *, manifest=MODERN, names=NAMED, prefs=None, project_prefs=None, image="12.8", local=False):
    return cuda_preferences(
        manifest=manifest,
        project_names=names,
        preferences=prefs or {},
        project_preferences=project_prefs,
        accelerator_name=accelerator,
        image_cuda=image,
        cuda_local=local,
    )


def shipped(result) -> dict:
    return tomllib.loads(result.text)


# --------------------------------------------------------------------------- no pin: juliapack pins one


@pytest.mark.parametrize("accelerator", ["t4x2", "l4", "l4x1", "a100", "h100", "rtxpro6000"])
def test_no_pin_gets_the_images_cuda_on_every_gpu(accelerator):
    result = decide(accelerator)
    assert result.changed and shipped(result) == {CUDA_RUNTIME: {"version": "12.8"}}
    assert any("pinned CUDA_Runtime_jll to CUDA 12.8" in m and "no GPU" in m for m in result.messages)
    assert result.project_extras == ()


def test_p100_caps_a_cuda_13_image_at_12_9():
    result = decide("p100", image="13.0")
    assert shipped(result) == {CUDA_RUNTIME: {"version": "12.9"}}
    assert any("P100 needs CUDA 12.9 or older" in m for m in result.messages)


def test_a_gpu_image_too_old_for_the_gpu_is_refused():
    with pytest.raises(ConfigError, match=r"older than the RTX PRO 6000 \(sm_120\) needs \(CUDA 12.8\+\)") as caught:
        decide("rtxpro6000", image="12.4")
    assert "12.8" in caught.value.fix


def test_a_cpu_build_image_pins_kaggles_gpu_image_cuda():
    result = decide("t4x2", image=None)
    assert shipped(result) == {CUDA_RUNTIME: {"version": "12.8"}}
    assert any("reports no CUDA" in m for m in result.messages)


def test_the_compiler_jll_is_pinned_with_the_runtime():
    result = decide(manifest=WITH_COMPILER, names=NAMED | {CUDA_COMPILER})
    assert shipped(result) == {CUDA_RUNTIME: {"version": "12.8"}, CUDA_COMPILER: {"version": "12.8"}}


def test_other_sections_are_kept_and_rendering_is_deterministic():
    prefs = {"Flux": {"gpu_backend": "CUDA", "nested": {"b": 2, "a": [1, 2]}}, "MPIPreferences": {"binary": "system"}}
    first, second = decide(prefs=prefs), decide(prefs=dict(reversed(list(prefs.items()))))
    assert first.text == second.text
    assert shipped(first) == {**prefs, CUDA_RUNTIME: {"version": "12.8"}}
    assert prefs == {"Flux": {"gpu_backend": "CUDA", "nested": {"b": 2, "a": [1, 2]}}, "MPIPreferences": {"binary": "system"}}


def test_a_jll_the_project_does_not_name_is_added_to_extras():
    result = decide(manifest=WITH_COMPILER, names={"CUDA"})
    assert result.project_extras == ((CUDA_RUNTIME, UUIDS[CUDA_RUNTIME]), (CUDA_COMPILER, UUIDS[CUDA_COMPILER]))
    assert sum("[extras]" in m for m in result.messages) == 2


# --------------------------------------------------------------------------- the user's pin


def test_a_working_pin_is_kept_as_is():
    result = decide("p100", prefs={CUDA_RUNTIME: {"version": "12.6"}})
    assert not result.changed and result.messages == () and shipped(result) == {CUDA_RUNTIME: {"version": "12.6"}}


def test_a_pin_in_project_toml_preferences_counts():
    result = decide("t4x2", project_prefs={CUDA_RUNTIME: {"version": "12.4"}})
    assert not result.changed and shipped(result) == {}


def test_a_working_pin_the_project_cannot_see_needs_extras():
    result = decide(prefs={CUDA_RUNTIME: {"version": "12.8"}}, names={"CUDA"})
    assert result.changed and result.project_extras == ((CUDA_RUNTIME, UUIDS[CUDA_RUNTIME]),)


@pytest.mark.parametrize("pin", ["13.0", "13.1.1"])
def test_cuda_13_on_p100_is_refused_with_a_fix(pin):
    with pytest.raises(ConfigError, match=r"CUDA 13 dropped the P100 \(sm_60\): CUDA 12.9 is the last") as caught:
        decide("p100", prefs={CUDA_RUNTIME: {"version": pin}})
    assert 'version = "12.8"' in caught.value.fix


def test_a_pin_older_than_the_gpu_is_refused():
    with pytest.raises(ConfigError, match="older than the H100"):
        decide("h100", prefs={CUDA_RUNTIME: {"version": "11.4"}})


def test_a_pin_above_the_images_major_is_kept_with_a_driver_warning():
    result = decide("t4x2", prefs={CUDA_RUNTIME: {"version": "13.0"}})
    assert not result.changed and any("driver may be too old" in m for m in result.messages)


def test_a_separately_pinned_compiler_is_left_alone():
    prefs = {CUDA_RUNTIME: {"version": "12.8"}, CUDA_COMPILER: {"version": "12.9"}}
    result = decide(manifest=WITH_COMPILER, names=NAMED | {CUDA_COMPILER}, prefs=prefs)
    assert not result.changed and shipped(result) == prefs


def test_a_runtime_pin_is_copied_to_an_unpinned_compiler():
    result = decide(manifest=WITH_COMPILER, names=NAMED | {CUDA_COMPILER}, prefs={CUDA_RUNTIME: {"version": "12.6"}})
    assert shipped(result)[CUDA_COMPILER] == {"version": "12.6"}
    assert 'set version = "12.6" for CUDA_Compiler_jll' in result.messages[0]


@pytest.mark.parametrize("prefs", [{"version": "twelve"}, {"version": 12.8}, {"local": "maybe"}, {"local": 1}])
def test_unreadable_preferences_are_input_errors(prefs):
    with pytest.raises(InputError, match=r"\[CUDA_Runtime_jll\] (version|local) in LocalPreferences.toml is"):
        decide(prefs={CUDA_RUNTIME: prefs})


# --------------------------------------------------------------------------- the image's own toolkit


def test_cuda_local_writes_local_and_the_images_version():
    result = decide("l4", local=True)
    assert shipped(result) == {CUDA_RUNTIME: {"local": "true", "version": "12.8"}}


@pytest.mark.parametrize("flag", [True, "true", "1"])
def test_a_users_local_pin_gets_the_version(flag):
    result = decide("a100", prefs={CUDA_RUNTIME: {"local": flag}})
    assert shipped(result) == {CUDA_RUNTIME: {"local": flag, "version": "12.8"}}


def test_local_false_is_no_local_pin():
    result = decide("a100", prefs={CUDA_RUNTIME: {"local": "false"}})
    assert shipped(result) == {CUDA_RUNTIME: {"local": "false", "version": "12.8"}}


def test_cuda_4s_version_local_becomes_the_explicit_pair():
    result = decide("t4x2", prefs={CUDA_RUNTIME: {"version": "local", "actual_version": "12.8"}})
    assert shipped(result)[CUDA_RUNTIME] == {"version": "12.8", "local": "true", "actual_version": "12.8"}


def test_local_without_cuda_in_the_image_is_refused():
    with pytest.raises(ConfigError, match="the image has no CUDA") as caught:
        decide("t4x2", prefs={CUDA_RUNTIME: {"local": True}}, image=None)
    assert "GPU image" in caught.value.fix
    with pytest.raises(ConfigError, match="the image has no CUDA"):
        decide("none", image=None, local=True)


def test_a_local_pin_that_disagrees_with_the_image_is_refused():
    with pytest.raises(ConfigError, match=r"pins CUDA 12.4 from the local toolkit, but the image's toolkit is CUDA 12.8"):
        decide("t4x2", prefs={CUDA_RUNTIME: {"local": "true", "version": "12.4"}})


def test_a_local_toolkit_too_new_for_p100_is_refused():
    with pytest.raises(ConfigError, match="dropped the P100"):
        decide("p100", image="13.0", local=True)


# --------------------------------------------------------------------------- no GPU, old CUDA.jl, no CUDA


def test_no_accelerator_leaves_preferences_alone_and_says_cpu_only():
    result = decide("none", image=None)
    assert not result.changed and shipped(result) == {} and "CPU only" in result.messages[0]


def test_no_accelerator_keeps_a_users_pin():
    result = decide("none", prefs={CUDA_RUNTIME: {"version": "12.8"}}, image=None)
    assert not result.changed and result.messages == ()


def test_cuda_jl_3_without_the_runtime_jll_is_a_note():
    result = decide(manifest={"CUDA": "3.13.1"})
    assert not result.changed and "CUDA.jl 3.13.1 predates CUDA_Runtime_jll" in result.messages[0]


def test_no_cuda_at_all_is_a_no_op():
    result = decide(manifest={"Flux": "0.16.3"}, prefs={"Flux": {"gpu_backend": "AMDGPU"}})
    assert (result.changed, result.messages, shipped(result)) == (False, (), {"Flux": {"gpu_backend": "AMDGPU"}})


def test_cuda_local_without_the_runtime_jll_is_refused():
    with pytest.raises(ConfigError, match="cuda_local is set but the Manifest has no CUDA_Runtime_jll"):
        decide(manifest={"Flux": "0.16.3"}, local=True)


def test_an_unknown_accelerator_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown accelerator 'v100'") as caught:
        decide("v100")
    assert "t4x2" in caught.value.fix and "rtxpro6000" in caught.value.fix


def test_every_accelerator_has_a_kaggle_machine_shape_but_none():
    assert {name for name, gpu in accelerators.ACCELERATORS.items() if gpu.machine_shape is None} == {"none"}


# --------------------------------------------------------------------------- Project.toml [extras]

PROJECT = 'name = "App"\nuuid = "11111111-1111-4111-8111-111111111111"\n\n[deps]\nCUDA = "052768ef-5323-5732-b1bb-66c8b64840ba"\n'
RUNTIME_EXTRA = ((CUDA_RUNTIME, UUIDS[CUDA_RUNTIME]),)


def test_extras_table_is_appended_when_absent():
    text = add_project_extras(PROJECT, RUNTIME_EXTRA)
    assert text.startswith(PROJECT) and tomllib.loads(text)["extras"] == {CUDA_RUNTIME: UUIDS[CUDA_RUNTIME]}


def test_extras_join_an_existing_table_and_the_rest_stays_byte_for_byte():
    original = PROJECT + '\n[extras] # test deps\nTest = "8dfed614-e22c-5e08-85e1-65c5234f0b40"\n\n[targets]\ntest = ["Test"]\n'
    text = add_project_extras(original, RUNTIME_EXTRA)
    assert tomllib.loads(text)["extras"] == {"Test": "8dfed614-e22c-5e08-85e1-65c5234f0b40", CUDA_RUNTIME: UUIDS[CUDA_RUNTIME]}
    assert text.replace(f'{CUDA_RUNTIME} = "{UUIDS[CUDA_RUNTIME]}"\n', "") == original


def test_extras_already_there_change_nothing():
    original = add_project_extras(PROJECT, RUNTIME_EXTRA)
    assert add_project_extras(original, RUNTIME_EXTRA) == original


def test_extras_for_a_file_without_final_newline():
    text = add_project_extras('name = "App"', RUNTIME_EXTRA)
    assert tomllib.loads(text) == {"name": "App", "extras": {CUDA_RUNTIME: UUIDS[CUDA_RUNTIME]}}
