"""`juliapack upload` against the fake Kaggle, with the real kaggle client: figures, faults, refusals."""

from __future__ import annotations

import dataclasses
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from kaggle_fixtures import DEFAULT_MEMBERS, FAST, OTHER, USER, FakeKaggle, app_source, layer_file, make_dist, noise, tarball

from juliapack import cli
from juliapack.config import load_upload
from juliapack.workflow.uploads import content_in
from juliapack.errors import ConfigError, CredentialsError, ExitCode, InputError, KaggleError, SecretsFound
from juliapack.kaggle_api import AccessDenied, KaggleClient, NotFound, RetryPolicy
from juliapack.workflow.lock import read_lock, write_lock
from juliapack.report import RecordingReporter
from juliapack.secret_scan import member_path
from juliapack.upload import upload

ROLES = ("julia", "depot", "compiled", "app")


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def config(dist: Path, **flags: object):
    return load_upload({"dist": str(dist), **flags}, env={}, cwd=dist.parent)


def refs(prefix: str = f"{USER}/inference") -> list[str]:
    return [f"{prefix}-{role}" for role in ROLES]


def uploaded_calls(fake: FakeKaggle) -> list[str]:
    return [call for call in fake.calls if call in ("CreateDataset", "CreateDatasetVersion", "StartBlobUpload", "PUT")]


# --------------------------------------------------------------------------- the figures


def test_figures_only_what_changed_is_sent(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = make_dist(tmp_path / "dist")
    figures = {}

    code, out, _ = run_cli(["upload", "--dist", str(dist.path)], capsys)
    assert code == 0, out
    figures["first"] = fake.bytes_received
    assert figures["first"] == dist.total
    assert f"({100:.1f}% of a full upload)" in out
    for ref, layer in zip(refs(), dist.lock.layers, strict=True):
        assert [v["number"] for v in fake.versions(ref)] == [1]
        assert fake.stored_files(ref) == {layer.file: (dist.path / layer.file).read_bytes()}
        assert re.search(rf"created\s+{ref}\s+version 1", out)

    code, out, _ = run_cli(["upload", "--dist", str(dist.path)], capsys)
    assert code == 0
    figures["rerun"] = fake.bytes_received - figures["first"]
    assert figures["rerun"] == 0
    assert "(0.0% of a full upload)" in out
    assert all(len(fake.versions(ref)) == 1 for ref in refs())

    changed = make_dist(dist.path, {"app": app_source('println("hello, Kaggle")')})  # one line of the app
    assert [changed.lock.layer(r) == dist.lock.layer(r) for r in ROLES] == [True, True, True, False]
    code, out, _ = run_cli(["upload", "--dist", str(dist.path)], capsys)
    assert code == 0
    figures["app_change"] = fake.bytes_received - figures["first"]
    assert figures["app_change"] == changed.layer_size("app")
    assert [len(fake.versions(ref)) for ref in refs()] == [1, 1, 1, 2]
    share = figures["app_change"] / changed.total
    assert f"({share:.1%} of a full upload)" in out
    with capsys.disabled():
        print(f"\nupload figures (bytes): full {dist.total}, first {figures['first']}, rerun {figures['rerun']}, app change {figures['app_change']} ({share:.2%})")


def test_a_fresh_clone_learns_the_content_from_the_description(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    first = upload(config(dist.path), client=client, sleep=sleeps.append)
    assert [o.action for o in first.datasets] == ["created"] * len(ROLES)
    assert content_in(client.datasets.description(USER, "inference-app")) == first.datasets[ROLES.index("app")].plan.content
    write_lock(dist.path, dist.lock)  # a clone's lock, built there: no upload recorded

    again = upload(config(dist.path), client=client, sleep=sleeps.append)
    assert [o.action for o in again.datasets] == ["unchanged"] * len(ROLES)
    assert again.bytes_sent == 0
    assert set(read_lock(dist.path).uploads) == set(ROLES)


def test_the_lock_records_each_dataset_and_its_version(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    result = upload(config(dist.path), client=client, sleep=sleeps.append)
    state = read_lock(dist.path).uploads
    for outcome in result.datasets:
        record = state[outcome.plan.role]
        assert (record.ref, record.content, record.version) == (outcome.plan.ref, outcome.plan.content, 1)
        assert record.holds(outcome.plan)
    changed = make_dist(dist.path, {"app": app_source('println("v2")')})
    write_lock(dist.path, dataclasses.replace(changed.lock, uploads=state))  # the record of the last upload stays with its build
    upload(config(dist.path), client=client, sleep=sleeps.append)
    assert [read_lock(dist.path).uploads[role].version for role in ROLES] == [1, 1, 1, 2]  # read back from Kaggle


@pytest.mark.parametrize("rehearsed, says", [(None, "was never rehearsed offline"), (False, "rehearsal of this build failed (cell 7 failed)")])
def test_an_unrehearsed_or_failed_build_is_not_sent(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float], rehearsed, says: str) -> None:
    dist = make_dist(tmp_path / "dist", rehearsed=rehearsed)
    with pytest.raises(InputError, match=re.escape(says)) as refused:
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert "juliapack verify" in refused.value.fix and "--skip-verify" in refused.value.fix
    assert fake.calls == []  # refused before asking Kaggle anything
    result = upload(config(dist.path, skip_verify=True), client=client, sleep=sleeps.append)
    assert [o.action for o in result.datasets] == ["created"] * len(ROLES)


def test_each_file_has_a_progress_bar_to_its_size(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    bars: dict[str, list[int]] = {}

    class Bars(RecordingReporter):
        @contextmanager
        def progress(self, label, *, total, done=0):
            bars[label] = [total, done]

            class Bar:
                def advance(self, amount: int) -> None:
                    bars[label][1] += amount

            yield Bar()

    upload(config(dist.path), client=client, sleep=sleeps.append, reporter=Bars())
    assert bars == {layer.file: [layer.size, layer.size] for layer in dist.lock.layers}


def test_model_goes_to_its_own_dataset(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    model = tmp_path / "model.jld2"
    model.write_bytes(noise(300_000, 9))
    result = upload(config(dist.path, model=str(model)), client=client, sleep=sleeps.append)
    assert [o.plan.ref for o in result.datasets] == [*refs(), f"{USER}/inference-model"]
    assert fake.stored_files(f"{USER}/inference-model") == {"model.jld2": model.read_bytes()}

    other = upload(config(dist.path, model=str(model), model_dataset=f"{USER}/my-trained-model"), client=client, sleep=sleeps.append)
    assert other.datasets[-1].plan.ref == f"{USER}/my-trained-model"
    assert other.bytes_sent == model.stat().st_size  # only the model, to its new dataset


def test_a_model_dataset_without_a_model_is_refused(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    with pytest.raises(ConfigError, match="no model file"):
        upload(config(dist.path, model_dataset=f"{USER}/some-model"), client=client, sleep=sleeps.append)
    assert fake.calls == []


# --------------------------------------------------------------------------- uploads that break


def test_a_failed_put_is_resumed_and_the_version_is_complete(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    fault = fake.inject("PUT", status=500, match="dotjulia")
    upload(config(dist.path), client=client, sleep=sleeps.append)
    assert fault.hits == 1
    assert fake.stored_files(f"{USER}/inference-depot") == {"dotjulia": (dist.path / "dotjulia").read_bytes()}
    assert sleeps == [FAST.backoff(1)]


def test_a_dropped_connection_resumes_where_the_server_stopped(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    depot = dist.layer_size("depot")
    fault = fake.inject("PUT", drop_after=depot // 3, match="dotjulia")
    result = upload(config(dist.path), client=client, sleep=sleeps.append)
    assert fault.hits == 1
    assert fake.stored_files(f"{USER}/inference-depot") == {"dotjulia": (dist.path / "dotjulia").read_bytes()}
    # the resumed PUT starts at the byte the server confirmed, not at 0
    assert fake.bytes_received == dist.total
    assert result.datasets[ROLES.index("depot")].bytes_sent >= depot


def test_a_put_that_keeps_failing_creates_nothing(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    fake.inject("PUT", status=503, times=FAST.attempts, match="dotjulia")
    with pytest.raises(KaggleError, match=f"upload of dotjulia failed {FAST.attempts} times") as failure:
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert failure.value.exit_code == ExitCode.REMOTE
    assert fake.versions(f"{USER}/inference-depot") == []  # never a version with a missing file
    assert fake.versions(f"{USER}/inference-app") == []

    upload(config(dist.path), client=client, sleep=sleeps.append)  # the storage recovered
    assert [len(fake.versions(ref)) for ref in refs()] == [1, 1, 1, 1]
    assert fake.stored_files(f"{USER}/inference-depot") == {"dotjulia": (dist.path / "dotjulia").read_bytes()}


def test_an_interrupted_run_is_finished_by_the_rerun_without_duplicates(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    fake.inject("CreateDataset", status=500, times=FAST.attempts, match='"inference-depot"')
    with pytest.raises(KaggleError, match="create dataset alice/inference-depot failed"):
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert [len(fake.versions(ref)) for ref in refs()] == [1, 0, 0, 0]
    first = fake.bytes_received

    result = upload(config(dist.path), client=client, sleep=sleeps.append)
    assert [o.action for o in result.datasets] == ["unchanged", "created", "created", "created"]
    assert [len(fake.versions(ref)) for ref in refs()] == [1, 1, 1, 1]
    # the depot's upload finished in the first run; its token is reused, so only the later layers are sent now
    later = dist.layer_size("compiled") + dist.layer_size("app")
    assert fake.bytes_received - first == later
    assert result.bytes_sent == later


def test_a_create_whose_answer_was_lost_is_not_repeated(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    upload(config(dist.path), client=client, sleep=sleeps.append)
    make_dist(dist.path, {"app": app_source("2 + 2")})
    fake.inject("CreateDatasetVersion", status=502, lost_answer=True)
    result = upload(config(dist.path), client=client, sleep=sleeps.append)
    assert fake.calls.count("CreateDatasetVersion") == 1
    assert [v["number"] for v in fake.versions(f"{USER}/inference-app")] == [1, 2]
    assert result.datasets[ROLES.index("app")].action == "versioned"


def test_rate_limits_are_waited_out_as_kaggle_asks(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    fake.inject("GetDatasetStatus", status=429, retry_after="7")
    fake.inject("CreateDataset", status=429, retry_after="3", times=2)
    reporter = RecordingReporter()
    client = KaggleClient.from_environment(sleep=sleeps.append, policy=FAST, reporter=reporter)
    result = upload(config(dist.path), client=client, sleep=sleeps.append, reporter=reporter)
    assert sleeps == [7.0, 3.0, 3.0]
    assert [o.action for o in result.datasets] == ["created"] * len(ROLES)
    assert reporter.texts("warn") == [
        f"status of dataset {USER}/inference-julia: rate limited by Kaggle (HTTP 429); waiting 7 s as Kaggle asks (try 2 of {FAST.attempts})",
        f"create dataset {USER}/inference-julia: rate limited by Kaggle (HTTP 429); waiting 3 s as Kaggle asks (try 2 of {FAST.attempts})",
        f"create dataset {USER}/inference-julia: rate limited by Kaggle (HTTP 429); waiting 3 s as Kaggle asks (try 3 of {FAST.attempts})",
    ]


def test_the_command_line_says_what_it_waits_for_and_how_long(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = make_dist(tmp_path / "dist")
    fake.inject("GetDatasetStatus", status=429, retry_after="1")
    code, _, err = run_cli(["upload", "--dist", str(dist.path)], capsys)
    assert code == 0, err
    assert f"warning: status of dataset {USER}/inference-julia: rate limited by Kaggle (HTTP 429); waiting 1 s as Kaggle asks (try 2 of 5)" in err.splitlines()


def test_server_errors_are_retried_with_backoff_then_fail_clearly(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    fake.inject("GetDatasetStatus", status=503, times=2)
    upload(config(dist.path), client=client, sleep=sleeps.append)
    assert sleeps == [FAST.backoff(1), FAST.backoff(2)]

    sleeps.clear()
    fake.inject("GetDatasetStatus", status=500, times=100)
    with pytest.raises(KaggleError) as failure:
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert str(failure.value) == (
        f"status of dataset alice/inference-julia failed {FAST.attempts} times; last: Kaggle answered HTTP 500 — "
        "Kaggle may be having trouble; run again later (finished uploads are not sent again)"
    )
    assert sleeps == [FAST.backoff(n) for n in range(1, FAST.attempts)]


def test_a_slow_answer_is_given_up_on_and_asked_again(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, sleeps: list[float]) -> None:
    impatient = KaggleClient.from_environment(sleep=sleeps.append, policy=RetryPolicy(attempts=3, call_timeout=0.3))
    dist = make_dist(tmp_path / "dist")
    fault = fake.inject("GetDatasetMetadata", delay=1.0)
    upload(config(dist.path), client=impatient, sleep=sleeps.append)
    upload(config(dist.path), client=impatient, sleep=sleeps.append)  # the second run reads metadata: the first read is slow
    assert fault.hits == 1
    assert sleeps == [RetryPolicy().backoff(1)]


def test_a_slow_answer_is_announced_while_it_is_waited_for(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, sleeps: list[float]) -> None:
    reporter = RecordingReporter()
    impatient = KaggleClient.from_environment(sleep=sleeps.append, policy=RetryPolicy(attempts=3, call_timeout=0.8, slow_notice=0.2), reporter=reporter)
    dist = make_dist(tmp_path / "dist")
    fake.inject("GetDatasetStatus", delay=1.5)
    upload(config(dist.path), client=impatient, sleep=sleeps.append, reporter=reporter)
    what = f"status of dataset {USER}/inference-julia"
    assert reporter.texts("info")[0] == f"{what}: no answer from Kaggle after 0.2 s; waiting up to 0.8 s in all, then asking again"
    assert reporter.texts("warn") == [f"{what}: no answer within 0.8 s; retrying in {RetryPolicy().backoff(1):g} s (try 2 of 3)"]
    assert sleeps[0] == RetryPolicy().backoff(1)


def test_waits_with_backoff_until_kaggle_has_processed_the_files(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    fake.ready_after = 3
    dist = make_dist(tmp_path / "dist")
    reporter = RecordingReporter()
    upload(config(dist.path), client=client, sleep=sleeps.append, reporter=reporter)
    assert sleeps == [2.0, 4.0, 8.0] * len(ROLES)
    assert "alice/inference-app: Kaggle is processing the files (blobs_received)" in reporter.texts("info")


def test_processing_that_never_ends_fails_after_the_timeout(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    fake.ready_after = 10**6
    dist = make_dist(tmp_path / "dist")
    with pytest.raises(KaggleError, match="still processing alice/inference-julia"):
        upload(config(dist.path), client=client, sleep=sleeps.append, ready_timeout=60)


def test_a_version_kaggle_failed_to_process_is_reported_and_replaced(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    fake.fail_processing = True
    dist = make_dist(tmp_path / "dist")
    with pytest.raises(KaggleError, match="Kaggle failed to process the new version of alice/inference-julia"):
        upload(config(dist.path), client=client, sleep=sleeps.append)
    fake.fail_processing = False
    result = upload(config(dist.path), client=client, sleep=sleeps.append)
    assert result.datasets[0].action == "versioned"
    assert [o.action for o in result.datasets[1:]] == ["created"] * (len(ROLES) - 1)


def test_a_version_missing_a_file_fails_loudly_and_is_replaced(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    fake.inject("CreateDataset", drop_file="inference", match='"inference-app"')
    with pytest.raises(KaggleError, match="the new version of alice/inference-app does not hold what was sent: inference is missing"):
        upload(config(dist.path), client=client, sleep=sleeps.append)
    reporter = RecordingReporter()
    result = upload(config(dist.path), client=client, sleep=sleeps.append, reporter=reporter)
    assert [o.action for o in result.datasets] == ["unchanged", "unchanged", "unchanged", "versioned"]
    assert fake.stored_files(f"{USER}/inference-app") == {"inference": (dist.path / "inference").read_bytes()}
    assert any("does not; uploading a new version" in text for text in reporter.texts("warn"))


# --------------------------------------------------------------------------- what Kaggle refuses


def test_quota_exceeded_names_the_fix(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    fake.quota_bytes = 2_000_000
    dist = make_dist(tmp_path / "dist")
    code, _, err = run_cli(["upload", "--dist", str(dist.path)], capsys)
    assert code == ExitCode.REMOTE
    [line] = err.strip().splitlines()[-1:]
    assert line.startswith("error: create dataset alice/inference-depot: Kaggle refused: Your private datasets would exceed your quota")
    assert line.endswith("— free space: delete old datasets or versions on kaggle.com (private datasets share one quota), then run again")


def test_a_title_in_use_is_refused_before_any_byte_and_names_a_fix_that_changes_it(
    kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.seed_dataset(USER, "older-julia", title="Inference (Julia)")
    dist = make_dist(tmp_path / "dist")
    code, _, err = run_cli(["upload", "--dist", str(dist.path), "--dataset", f"{USER}/second"], capsys)
    assert code == ExitCode.USAGE
    assert err.strip().splitlines()[-1] == (
        f"error: cannot create dataset {USER}/second-julia: its title 'Inference (Julia)' is already that of your dataset {USER}/older-julia "
        "(Kaggle wants titles distinct) — give the datasets another title: --title TITLE, or title = \"TITLE\" in [upload] of juliapack.toml "
        "(they are titled 'TITLE (Julia)' and so on)"
    )
    assert uploaded_calls(fake) == [] and fake.bytes_received == 0
    # The fix it names works: the same upload with another title creates every dataset.
    code, out, err = run_cli(["upload", "--dist", str(dist.path), "--dataset", f"{USER}/second", "--title", "Second"], capsys)
    assert code == 0, err
    assert [fake.state["datasets"][ref]["title"] for ref in refs(f"{USER}/second")] == ["Second (Julia)", "Second (Julia depot)", "Second (compiled caches)", "Second (app)"]


def test_titles_in_use_are_found_among_many_datasets(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    for number in range(30):
        fake.seed_dataset(USER, f"dataset-{number:02}", title=f"Dataset {number:02}")
    fake.seed_dataset(USER, "zz-last", title="Inference (app)")
    dist = make_dist(tmp_path / "dist")
    with pytest.raises(ConfigError, match=f"its title 'Inference \\(app\\)' is already that of your dataset {USER}/zz-last"):
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert uploaded_calls(fake) == [] and fake.calls.count("ListDatasets") == 2  # the fake repeats its one page: the second ends the listing


def test_a_title_kaggle_still_refuses_names_the_same_fix(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    fake.inject("CreateDataset", error='The requested title "Inference (Julia)" is already in use by a dataset. Please choose another title.')
    dist = make_dist(tmp_path / "dist")
    with pytest.raises(KaggleError, match="already in use") as failure:
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert failure.value.fix.startswith("give the datasets another title: --title TITLE")


def test_datasets_are_created_only_in_your_own_name(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    dist = make_dist(tmp_path / "dist")
    code, _, err = run_cli(["upload", "--dist", str(dist.path), "--dataset", f"{OTHER}/inference"], capsys)
    assert code == ExitCode.USAGE
    assert err.strip().splitlines()[-1] == (
        f"error: cannot create dataset {OTHER}/inference-julia: you are signed in to Kaggle as {USER} — "
        f'create it under your own name: --dataset {USER}/SLUG (or owner = "{USER}" in juliapack.toml)'
    )
    assert uploaded_calls(fake) == []


def test_someone_elses_dataset_is_denied(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    for role in ROLES:
        fake.seed_dataset(OTHER, f"theirs-{role}", private=False)
    dist = make_dist(tmp_path / "dist")
    with pytest.raises(AccessDenied, match=f"new version of dataset {OTHER}/theirs-julia: Kaggle denied access") as failure:
        upload(config(dist.path, owner=OTHER, slug="theirs"), client=client, sleep=sleeps.append)
    assert "you can write only to your own datasets" in failure.value.fix
    assert [len(fake.versions(f"{OTHER}/theirs-{role}")) for role in ROLES] == [1] * len(ROLES)


def test_private_datasets_of_others_are_not_mistaken_for_missing(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    fake.seed_dataset(OTHER, "theirs-julia", private=True)
    dist = make_dist(tmp_path / "dist")
    with pytest.raises(AccessDenied, match=f"status of dataset {OTHER}/theirs-julia: Kaggle denied access"):
        upload(config(dist.path, owner=OTHER, slug="theirs"), client=client, sleep=sleeps.append)
    assert uploaded_calls(fake) == []


# --------------------------------------------------------------------------- refused before anything is sent


def test_an_invalid_slug_is_refused_before_any_call(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    with pytest.raises(ConfigError, match="the app dataset's slug 'app' is not valid on Kaggle"):
        upload(config(dist.path, datasets={"app": "app"}), client=client, sleep=sleeps.append)
    assert fake.calls == []


@pytest.mark.parametrize("name", ["inference.tar.gz", "inference.tgz", "inference.zip", "inference.tar"])
def test_names_kaggle_would_unpack_are_refused(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, name: str, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist", names={"app": name})
    with pytest.raises(InputError, match=f"'{re.escape(name)}' ends like an archive"):
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert fake.calls == []


def test_more_than_50_files_in_a_dataset_are_refused(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    parts = []
    for index in range(51):
        part = dist.path / f"inference-{index:02d}"
        part.write_bytes(tarball({f"Inference/part{index}.jl": b"x"}))
        parts.append(layer_file("app", part))
    write_lock(dist.path, dataclasses.replace(dist.lock, layers=(*[layer for layer in dist.lock.layers if layer.role != "app"], *parts)))
    with pytest.raises(InputError, match="the app dataset would have 51 files; Kaggle takes at most 50"):
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert fake.calls == []


PRIVATE_KEY = b"-----BEGIN " + b"RSA PRIVATE KEY-----\nMIIE\n"  # assembled: no key-looking text in this file
GITHUB_TOKEN = b"ghp_" + b"A1b2" * 10


@pytest.mark.parametrize(
    "role, member, data, reason",
    [
        ("app", "Inference/.env", b"X=1\n", "environment file with secrets"),
        ("app", "Inference/config/kaggle.json", b"{}", "Kaggle API credentials"),
        ("app", "Inference/deploy/server.key", PRIVATE_KEY, "private key"),
        ("app", "Inference/notes.txt", b"token: " + GITHUB_TOKEN + b"\n", "contains a GitHub token"),
        ("depot", "config/.env.local", b"X=1\n", "environment file with secrets"),
        ("julia", "julia-1.5.3/etc/kaggle.json", b"{}", "Kaggle API credentials"),
    ],
)
def test_credentials_in_a_tarball_are_refused_before_upload(
    kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, role: str, member: str, data: bytes, reason: str, sleeps: list[float]
) -> None:
    dist = make_dist(tmp_path / "dist", {role: {**DEFAULT_MEMBERS[role], member: data}})
    layer = dist.lock.layer(role).file
    named = member_path(member, role=role)  # as the build names it: the one rule of secret_scan
    with pytest.raises(SecretsFound, match=re.escape(f"holds files that look like secrets: {layer}: {named} ({reason}")) as failure:
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert failure.value.exit_code == ExitCode.INPUT
    assert uploaded_calls(fake) == []


def test_third_party_test_keys_and_certificates_are_not_secrets(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    cert = {"julia-1.5.3/share/julia/cert.pem": b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}
    test_key = {"packages/HTTP/a1b2c/test/resources/key.pem": PRIVATE_KEY}
    dist = make_dist(tmp_path / "dist", {"julia": {**DEFAULT_MEMBERS["julia"], **cert}, "depot": {**DEFAULT_MEMBERS["depot"], **test_key}})
    assert [o.action for o in upload(config(dist.path), client=client, sleep=sleeps.append).datasets] == ["created"] * len(ROLES)


def test_a_file_changed_since_the_build_is_refused(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    dist = make_dist(tmp_path / "dist")
    app = dist.path / "inference"
    data = bytearray(app.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    app.write_bytes(bytes(data))
    with pytest.raises(InputError, match="changed since the build"):
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert uploaded_calls(fake) == []


def test_a_missing_dist_says_to_build(kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float]) -> None:
    (tmp_path / "dist").mkdir()
    with pytest.raises(InputError, match="no juliapack.lock.json") as failure:
        upload(config(tmp_path / "dist"), client=client, sleep=sleeps.append)
    assert "juliapack build" in failure.value.fix


@pytest.mark.parametrize(
    "status, error, exit_code, message",
    [
        (401, CredentialsError, ExitCode.ENVIRONMENT, "Kaggle rejected the credentials from "),
        (403, AccessDenied, ExitCode.REMOTE, "file list of dataset alice/inference-julia: Kaggle denied access (HTTP 403: injected HTTP 403)"),
        (404, NotFound, ExitCode.REMOTE, "file list of dataset alice/inference-julia: not found on Kaggle"),
        (400, KaggleError, ExitCode.REMOTE, "file list of dataset alice/inference-julia: Kaggle answered HTTP 400 (injected HTTP 400)"),
    ],
)
def test_http_errors_become_juliapack_errors(
    kaggle_env: Path, fake: FakeKaggle, client: KaggleClient, tmp_path: Path, sleeps: list[float], status: int, error: type, exit_code: int, message: str
) -> None:
    dist = make_dist(tmp_path / "dist")
    fake.inject("ListDatasetFiles", status=status)
    with pytest.raises(error) as failure:
        upload(config(dist.path), client=client, sleep=sleeps.append)
    assert str(failure.value).startswith(message)
    assert failure.value.exit_code == exit_code
    assert sleeps == []  # not worth another try
