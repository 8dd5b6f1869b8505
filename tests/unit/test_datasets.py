"""The datasets upload makes and the notebook mounts, the upload state, and the pure helpers around them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from juliapack.config.values import Source, as_duration, as_kernel_ref
from juliapack.workflow.names import DatasetFile, KaggleIdentity, content_hash, model_file, plan_datasets
from juliapack.workflow.lock import LOCK_NAME, read_lock, write_lock
from juliapack.workflow.records import UploadedDataset
from juliapack.workflow.uploads import content_in, describe
from juliapack.errors import ConfigError, InputError
from juliapack.julia_version import exact_version
from juliapack.kernels import STATES, kernel_state
from juliapack.workflow.lock import LayerFile, Layout, Lock

NO_IDENTITY = KaggleIdentity(owner=None, slug=None, title=None)


def placeholders(cls, **given):  # noqa: ANN001, ANN202 - any dataclass
    """An instance with ``given`` fields; the required fields these tests do not care about get "x"."""
    required = {f.name: "x" for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    return cls(**{**required, **given})


def lock(project: str = "Inference") -> Lock:
    layers = tuple(
        placeholders(LayerFile, role=role, file=name, sha256=f"{index:064x}", size=1000 * (index + 1), codec="zstd")
        for index, (role, name) in enumerate([("julia", "julia"), ("depot", "dotjulia"), ("app", "inference")])
    )
    return placeholders(Lock, project_name=project, layers=layers, layout=placeholders(Layout, depot_path=("/root/.julia",)), image_digest=None, julia_version=exact_version("1.10.5"))


def test_one_dataset_per_layer_named_after_the_project() -> None:
    plans = plan_datasets(lock(), owner="alice", identity=NO_IDENTITY)
    assert [(p.role, p.ref, p.title, p.mount) for p in plans] == [
        ("julia", "alice/inference-julia", "Inference (Julia)", "/kaggle/input/inference-julia"),
        ("depot", "alice/inference-depot", "Inference (Julia depot)", "/kaggle/input/inference-depot"),
        ("app", "alice/inference-app", "Inference (app)", "/kaggle/input/inference-app"),
    ]
    assert [p.files for p in plans] == [(DatasetFile(layer.file, layer.sha256, layer.size),) for layer in lock().layers]


def test_the_identity_and_overrides_rename_them() -> None:
    identity = KaggleIdentity(owner="ignored-here", slug="my-net", title="My Net")
    plans = plan_datasets(lock(), owner="bob", identity=identity, overrides={"app": "my-net-code"})
    assert [(p.ref, p.title) for p in plans] == [
        ("bob/my-net-julia", "My Net (Julia)"),
        ("bob/my-net-depot", "My Net (Julia depot)"),
        ("bob/my-net-code", "my-net-code (app)"),  # a slug named outright names the title
    ]


def test_the_model_gets_its_own_dataset() -> None:
    model = DatasetFile("model.jld2", "ab" * 32, 5)
    [*_, default] = plan_datasets(lock(), owner="alice", identity=NO_IDENTITY, model=model)
    assert (default.role, default.ref, default.files) == ("model", "alice/inference-model", (model,))
    [*_, named] = plan_datasets(lock(), owner="alice", identity=NO_IDENTITY, model=model, model_dataset="carol/trained-weights")
    assert (named.ref, named.title, named.mount) == ("carol/trained-weights", "trained-weights (model)", "/kaggle/input/trained-weights")


def test_a_long_project_name_is_shortened_to_kaggle_limits() -> None:
    plans = plan_datasets(lock("A" * 30 + " Very Long Julia Inference Project Name"), owner="alice", identity=NO_IDENTITY)
    for plan in plans:
        assert 6 <= len(plan.slug) <= 50 and plan.slug.endswith(f"-{plan.role}") and "--" not in plan.slug
        assert 6 <= len(plan.title) <= 50


def test_an_explicit_slug_too_long_for_its_suffix_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"the julia dataset's slug 'x{45}-julia' is not valid on Kaggle"):
        plan_datasets(lock(), owner="alice", identity=KaggleIdentity(None, "x" * 45, None))


def test_a_project_name_slugified_as_kaggle_does() -> None:
    # One slugifier for datasets and kernels: the kaggle client's (letters are transliterated).
    assert [plan.slug for plan in plan_datasets(lock("ÄÖÜ"), owner="alice", identity=NO_IDENTITY)] == ["aou-julia", "aou-depot", "aou-app"]


def test_a_project_name_without_letters_needs_a_slug() -> None:
    with pytest.raises(InputError, match="cannot make a Kaggle slug") as failure:
        plan_datasets(lock("+++"), owner="alice", identity=NO_IDENTITY)
    assert "--dataset OWNER/SLUG" in failure.value.fix


def test_two_layers_in_one_dataset_are_refused() -> None:
    with pytest.raises(ConfigError, match="the julia and app layers would both go to dataset alice/inference-julia"):
        plan_datasets(lock(), owner="alice", identity=NO_IDENTITY, overrides={"app": "inference-julia"})


def test_content_hash_changes_exactly_with_names_sizes_and_hashes() -> None:
    files = (DatasetFile("a", "1" * 64, 1), DatasetFile("b", "2" * 64, 2))
    assert content_hash(files) == content_hash(tuple(reversed(files)))
    changed = [
        (DatasetFile("a2", "1" * 64, 1), files[1]),
        (DatasetFile("a", "3" * 64, 1), files[1]),
        (DatasetFile("a", "1" * 64, 9), files[1]),
        files[:1],
    ]
    assert len({content_hash(files), *(content_hash(c) for c in changed)}) == 1 + len(changed)


def test_the_description_carries_the_content_line_it_is_read_back_from() -> None:
    plan = plan_datasets(lock(), owner="alice", identity=NO_IDENTITY)[2]
    text = describe(plan, project="Inference", version="0.1.0")
    assert content_in(text) == plan.content
    assert content_in("edited on the website\n") is None
    assert content_in(None) is None
    assert content_in(f"text\njuliapack-content: {plan.content}  \nmore") == plan.content


def test_the_lock_records_the_uploads_and_reads_them_back(tmp_path: Path) -> None:
    plans = plan_datasets(lock(), owner="alice", identity=NO_IDENTITY)
    records = {p.role: UploadedDataset(p.role, p.ref, p.content, 3, f"https://www.kaggle.com/datasets/{p.ref}", p.files) for p in plans}
    write_lock(tmp_path, dataclasses.replace(lock(), uploads=records))
    assert read_lock(tmp_path).uploads == records
    assert all(records[p.role].holds(p) for p in plans)


def test_a_lock_with_an_unreadable_upload_record_says_how_to_recover(tmp_path: Path) -> None:
    write_lock(tmp_path, lock())
    data = json.loads((tmp_path / LOCK_NAME).read_text())
    (tmp_path / LOCK_NAME).write_text(json.dumps({**data, "uploads": {"app": {"ref": "alice/x"}}}))
    with pytest.raises(InputError, match="is unreadable") as failure:
        read_lock(tmp_path)
    assert "juliapack build" in failure.value.fix


def test_model_file_hashes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model.jld2"
    path.write_bytes(b"weights")
    assert model_file(path) == DatasetFile("model.jld2", hashlib.sha256(b"weights").hexdigest(), 7)


def test_every_kaggle_kernel_state_is_mapped() -> None:
    from kagglesdk.kernels.types.kernels_enums import KernelWorkerStatus

    assert set(STATES) == {status.name for status in KernelWorkerStatus}
    assert [name for name in STATES if kernel_state(name).finished] == ["COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED"]
    assert kernel_state("SOMETHING_NEW").label == "something new" and not kernel_state("SOMETHING_NEW").finished


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0), (45, 45.0), ("1.5h", 5400.0)])
def test_durations(text: object, seconds: float) -> None:
    assert as_duration(text, Source("--timeout")) == seconds


@pytest.mark.parametrize("text", ["0", "-5", "2d", "soon", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        as_duration(text, Source("--timeout"))


def test_kernel_refs() -> None:
    assert as_kernel_ref("alice/my-inference", Source("x")) == "alice/my-inference"
    for bad in ("alice", "alice/My Inference", "/slug", "alice/x/y"):
        with pytest.raises(ConfigError, match="is not OWNER/SLUG of a notebook"):
            as_kernel_ref(bad, Source("x"))
