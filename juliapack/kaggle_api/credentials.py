"""Kaggle credentials, found and checked without network and before `kaggle` is imported: the client
authenticates while it is imported (and prints help on stdout when it cannot)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from juliapack.errors import CredentialsError

TOKEN_FIX = (
    "create an API token at kaggle.com/settings → API → Create New Token and save the downloaded kaggle.json "
    "as ~/.kaggle/kaggle.json (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)"
)
NEW_TOKEN_FIX = "the token may be revoked or mistyped: " + TOKEN_FIX


@dataclass(frozen=True)
class Credentials:
    source: str  # where they came from, for messages
    username: str | None = None  # None with a bare API token: Kaggle tells it
    key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


def kaggle_config_dir(env: Mapping[str, str]) -> Path:
    """Where the client looks for kaggle.json: $KAGGLE_CONFIG_DIR, ~/.kaggle, or the XDG config folder."""
    if env.get("KAGGLE_CONFIG_DIR"):
        return Path(env["KAGGLE_CONFIG_DIR"]).expanduser()
    home = _home(env)
    legacy = home / ".kaggle"
    if legacy.exists() or not sys.platform.startswith("linux"):
        return legacy
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"


def _home(env: Mapping[str, str]) -> Path:
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def find_credentials(env: Mapping[str, str] | None = None) -> Credentials:
    """The credentials the kaggle client would use, in its order: an API token, then a user name and key."""
    env = os.environ if env is None else env
    token = _api_token(env)
    if token is not None:
        return token
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):  # the environment wins over kaggle.json
        return Credentials("$KAGGLE_USERNAME/$KAGGLE_KEY", username=env["KAGGLE_USERNAME"], key=env["KAGGLE_KEY"])
    path = kaggle_config_dir(env) / "kaggle.json"
    stored = _read_kaggle_json(path) if path.exists() else {}
    username = env.get("KAGGLE_USERNAME") or stored.get("username")
    key = env.get("KAGGLE_KEY") or stored.get("key")
    if username and key:
        return Credentials(str(path), username=username, key=key)
    if username or key:
        missing = "KAGGLE_KEY" if username else "KAGGLE_USERNAME"
        raise CredentialsError(f"${missing} is not set and {path} does not exist", fix=TOKEN_FIX)
    raise CredentialsError(f"no Kaggle credentials: no {path}, and KAGGLE_USERNAME/KAGGLE_KEY/KAGGLE_API_TOKEN are not set", fix=TOKEN_FIX)


def configured_username(env: Mapping[str, str] | None = None) -> str | None:
    """The Kaggle user name from $KAGGLE_USERNAME or kaggle.json, without network and without `kaggle`."""
    env = os.environ if env is None else env
    if env.get("KAGGLE_USERNAME"):
        return env["KAGGLE_USERNAME"]
    try:
        data = json.loads((kaggle_config_dir(env) / "kaggle.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    username = data.get("username") if isinstance(data, dict) else None
    return username if isinstance(username, str) and username else None


def _api_token(env: Mapping[str, str]) -> Credentials | None:
    value = env.get("KAGGLE_API_TOKEN", "").strip()
    if value:
        if _is_file(value):
            return _token_file(Path(value), source="the file named by $KAGGLE_API_TOKEN")
        return Credentials("$KAGGLE_API_TOKEN", token=value)
    for name in ("access_token", "access_token.txt"):
        path = _home(env) / ".kaggle" / name
        if path.is_file():
            return _token_file(path, source=str(path))
    return None


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except OSError:  # a token longer than a file name can be
        return False


def _token_file(path: Path, *, source: str) -> Credentials | None:
    _check_private(path)
    token = path.read_text(encoding="utf-8").strip()
    return Credentials(source, token=token) if token else None


def _read_kaggle_json(path: Path) -> dict[str, str]:
    _check_private(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CredentialsError(f"cannot read {path} ({error.strerror})", fix=f"check its owner and run: chmod 600 {path}") from None
    except ValueError:
        raise CredentialsError(f"{path} is not valid JSON", fix="download a new one: " + TOKEN_FIX) from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) and data.get(k) for k in ("username", "key")):
        raise CredentialsError(f"{path} lacks a username or key", fix="download a new one: " + TOKEN_FIX)
    return data


def _check_private(path: Path) -> None:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise CredentialsError(
            f"{path} can be read by other users (mode {path.stat().st_mode & 0o777:o})", fix=f"run: chmod 600 {path}"
        )


# --------------------------------------------------------------------------- what the calls return
