"""Kaggle credentials as users have them: kaggle.json, KAGGLE_CONFIG_DIR, KAGGLE_USERNAME/KAGGLE_KEY,
KAGGLE_API_TOKEN; checked before `kaggle` is imported, never shown in a message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kaggle_fixtures import KEY, TOKEN, USER, FakeKaggle, make_dist, write_kaggle_json

from juliapack import cli
from juliapack.errors import CredentialsError, ExitCode
from juliapack.kaggle_api import configured_username, find_credentials, kaggle_config_dir

TOKEN_HELP = "create an API token at kaggle.com/settings → API → Create New Token"


def run_upload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    dist = make_dist(tmp_path / "dist")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["upload", "--dist", str(dist.path)])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_no_credentials_says_how_to_make_a_token(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    (kaggle_env / "kaggle.json").unlink()
    code, _, err = run_upload(tmp_path, capsys)
    assert code == ExitCode.ENVIRONMENT
    line = last_line(err)
    assert line.startswith(f"error: no Kaggle credentials: no {kaggle_env / 'kaggle.json'}, and KAGGLE_USERNAME/KAGGLE_KEY/KAGGLE_API_TOKEN are not set — ")
    assert TOKEN_HELP in line
    assert fake.calls == []


def test_a_kaggle_json_others_can_read_is_refused(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    path = write_kaggle_json(kaggle_env, USER, KEY, mode=0o644)
    code, out, err = run_upload(tmp_path, capsys)
    assert code == ExitCode.ENVIRONMENT
    assert last_line(err) == f"error: {path} can be read by other users (mode 644) — run: chmod 600 {path}"
    assert KEY not in out + err
    assert fake.calls == []


@pytest.mark.parametrize("text, problem", [("{not json", "is not valid JSON"), (json.dumps({"username": USER}), "lacks a username or key")])
def test_a_broken_kaggle_json_is_named(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys, text: str, problem: str) -> None:
    path = kaggle_env / "kaggle.json"
    path.write_text(text)
    code, _, err = run_upload(tmp_path, capsys)
    assert code == ExitCode.ENVIRONMENT
    assert last_line(err).startswith(f"error: {path} {problem} — download a new one: {TOKEN_HELP}")
    assert fake.calls == []


def test_a_rejected_key_is_a_credentials_error_that_does_not_show_the_key(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys) -> None:
    wrong = "wrong-key-7d0e1f"
    path = write_kaggle_json(kaggle_env, USER, wrong)
    code, out, err = run_upload(tmp_path, capsys)
    assert code == ExitCode.ENVIRONMENT
    assert last_line(err).startswith(f"error: Kaggle rejected the credentials from {path} (HTTP 401) — the token may be revoked or mistyped: {TOKEN_HELP}")
    assert wrong not in out + err


def test_username_and_key_from_the_environment_win_over_kaggle_json(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys, monkeypatch) -> None:
    (kaggle_env / "kaggle.json").write_text("{broken")  # not even read
    monkeypatch.setenv("KAGGLE_USERNAME", USER)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    code, out, err = run_upload(tmp_path, capsys)
    assert code == 0, err
    assert len(fake.versions(f"{USER}/inference-app")) == 1
    assert KEY not in out + err


def test_a_username_without_a_key_is_named(kaggle_env: Path, monkeypatch) -> None:
    (kaggle_env / "kaggle.json").unlink()
    monkeypatch.setenv("KAGGLE_USERNAME", USER)
    with pytest.raises(CredentialsError, match=r"^\$KAGGLE_KEY is not set"):
        find_credentials()


def test_an_api_token_is_introspected_and_used(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys, monkeypatch) -> None:
    (kaggle_env / "kaggle.json").unlink()
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    code, out, err = run_upload(tmp_path, capsys)
    assert code == 0, err
    assert "IntrospectToken" in fake.calls
    assert len(fake.versions(f"{USER}/inference-app")) == 1  # the owner came from the token
    assert TOKEN not in out + err


def test_an_api_token_in_a_file(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, monkeypatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(token_file))
    credentials = find_credentials()
    assert (credentials.token, credentials.source) == (TOKEN, "the file named by $KAGGLE_API_TOKEN")
    assert TOKEN not in repr(credentials)


def test_an_access_token_file_in_the_kaggle_folder_comes_before_kaggle_json(kaggle_env: Path) -> None:
    token_file = kaggle_env / "access_token"  # kaggle_env is $HOME/.kaggle
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    assert find_credentials().token == TOKEN


def test_an_unknown_api_token_is_a_credentials_error(kaggle_env: Path, fake: FakeKaggle, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_revoked_123")
    code, out, err = run_upload(tmp_path, capsys)
    assert code == ExitCode.ENVIRONMENT
    assert last_line(err).startswith("error: Kaggle does not accept the API token from $KAGGLE_API_TOKEN — the token may be revoked")
    assert "KGAT_revoked_123" not in out + err


def test_the_config_dir_follows_the_client(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert kaggle_config_dir({"HOME": str(home), "KAGGLE_CONFIG_DIR": str(tmp_path / "elsewhere")}) == tmp_path / "elsewhere"
    assert kaggle_config_dir({"HOME": str(home)}) == home / ".config" / "kaggle"  # no ~/.kaggle: XDG
    assert kaggle_config_dir({"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / "kaggle"
    (home / ".kaggle").mkdir(parents=True)
    assert kaggle_config_dir({"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}) == home / ".kaggle"


def test_the_configured_username_needs_no_network_and_no_kaggle_import(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    write_kaggle_json(config, USER, KEY)
    assert configured_username({"KAGGLE_CONFIG_DIR": str(config)}) == USER
    assert configured_username({"KAGGLE_CONFIG_DIR": str(config), "KAGGLE_USERNAME": "carol"}) == "carol"
    assert configured_username({"KAGGLE_CONFIG_DIR": str(tmp_path / "none"), "KAGGLE_API_TOKEN": TOKEN}) is None
    script = (
        "import sys, juliapack.kaggle_api as k;"
        f"print(k.configured_username({{'KAGGLE_CONFIG_DIR': {str(config)!r}}}), k.find_credentials({{'KAGGLE_CONFIG_DIR': {str(config)!r}}}).username,"
        " 'kaggle' in sys.modules, 'kagglesdk' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == [USER, USER, "False", "False"]
