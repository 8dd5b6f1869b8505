"""secrets: credential files by name, live-looking tokens by content, and the stricter rules for the user's own files.

Every token here is assembled at run time (tests.unit.helpers.fake_token), so this file holds none.
"""

from __future__ import annotations

import pytest

from juliapack import secrets
from juliapack.errors import ExitCode, SecretsFound
from tests.unit.helpers import fake_token


@pytest.mark.parametrize(
    "relpath, reason",
    [
        ("kaggle.json", "Kaggle API credentials"),
        ("config/.kaggle/kaggle.json", "Kaggle API credentials"),
        (".netrc", "login credentials"),
        (".git-credentials", "git credentials"),
        (".pypirc", "PyPI credentials"),
        ("credentials.json", "service credentials"),
        (".env", "environment file with secrets"),
        ("deploy/.env.local", "environment file with secrets"),
        (".env.production", "environment file with secrets"),
        ("id_rsa", "SSH private key"),
        (".ssh/id_ed25519", "SSH private key"),
        ("id_ecdsa", "SSH private key"),
        ("id_dsa", "SSH private key"),
        ("certs/server.pem", "PEM key or certificate"),
        ("tls/SERVER.PEM", "PEM key or certificate"),
        ("tls/server.key", "private key"),
        ("store.p12", "PKCS#12 keystore"),
        ("store.pfx", "PKCS#12 keystore"),
    ],
)
def test_credential_file_names_in_user_files(relpath: str, reason: str) -> None:
    assert secrets.name_reason(relpath) == reason


@pytest.mark.parametrize(
    "relpath",
    [".env.example", "id_rsa.pub", "id_rsa_backup.txt", "my_id_rsa", "kaggle.json.example", "env", "src/.environment",
     "keys.jl", "Project.toml", "pem.jl", "key", "src/monkey.jl"],
)  # fmt: skip
def test_harmless_names_in_user_files(relpath: str) -> None:
    assert secrets.name_reason(relpath) is None


@pytest.mark.parametrize(
    "relpath, flagged",
    [
        ("packages/HTTP/abc/test/resources/key.pem", False),
        ("packages/X/abc/test/server.key", False),
        ("packages/X/abc/test/id_rsa", False),
        ("artifacts/abc/store.p12", False),
        ("packages/X/abc/kaggle.json", True),
        ("packages/X/abc/.env", True),
        ("packages/X/abc/.netrc", True),
        ("packages/X/abc/.env.example", False),
    ],
)
def test_third_party_trees_may_ship_keys_but_not_user_credentials(relpath: str, flagged: bool) -> None:
    assert (secrets.name_reason(relpath, third_party=True) is not None) is flagged


TOKENS = [
    ("github", "a GitHub token"),
    ("github-oauth", "a GitHub token"),
    ("github-pat", "a GitHub token"),
    ("huggingface", "a Hugging Face token"),
    ("kaggle-token", "a Kaggle API token"),
    ("kaggle-key", "a Kaggle API key"),
    ("aws", "an AWS access key"),
    ("pem", "a private key"),
    ("pem-plain", "a private key"),
]


@pytest.mark.parametrize("kind, what", TOKENS)
def test_tokens_are_found_in_content(kind: str, what: str) -> None:
    text = f'# settings\nconst TOKEN = "{fake_token(kind)}"\nprintln("hi")\n'
    assert secrets.content_reason(text.encode()) == f"contains {what}"


@pytest.mark.parametrize("kind, what", TOKENS)
def test_a_file_holding_a_token_is_a_finding(kind: str, what: str) -> None:
    finding = secrets.check("src/config.jl", 100, lambda: fake_token(kind).encode())
    assert finding == secrets.Finding("src/config.jl", f"contains {what}")
    assert str(finding) == f"src/config.jl (contains {what})"


@pytest.mark.parametrize(
    "text",
    [
        "gh" + "p_" + "a" * 35,  # one character short
        "x" + "gh" + "p_" + "a" * 36,  # not at a word boundary
        "h" + "f_" + "a" * 29,
        "KG" + "AT_" + "a" * 23,
        "AK" + "IA" + "abcdefghij234567",  # lowercase is not an AWS key id
        '"key": "' + "0123456789abcdef" * 2 + '0"',  # 33 hex digits
        '"key": "' + "0123456789ABCDEF" * 2 + '"',  # upper case: not how Kaggle writes it
        "-----BEGIN CERTIFICATE-----",
        "-----BEGIN " + "PUBLIC KEY-----",
        "token = ENV[\"GITHUB_TOKEN\"]",
    ],
)
def test_look_alikes_are_not_tokens(text: str) -> None:
    assert secrets.content_reason(text.encode()) is None


def test_binary_files_are_not_scanned() -> None:
    token = fake_token("github").encode()
    assert secrets.content_reason(b"\x00\x01binary" + token) is None
    assert secrets.content_reason(b"a" * 8192 + b"\x00" + token) == "contains a GitHub token"  # NUL beyond the sniffed part


def test_large_files_are_not_read() -> None:
    def read() -> bytes:
        raise AssertionError("a file over the scan limit was read")

    assert secrets.check("data/big.csv", secrets.CONTENT_SCAN_LIMIT + 1, read) is None
    assert secrets.check("data/kaggle.json", secrets.CONTENT_SCAN_LIMIT + 1, read).reason == "Kaggle API credentials"


def test_a_file_at_the_scan_limit_is_read() -> None:
    data = fake_token("aws").encode().rjust(secrets.CONTENT_SCAN_LIMIT, b" ")
    assert secrets.check("data/at-limit.txt", len(data), lambda: data).reason == "contains an AWS access key"


def test_names_are_judged_without_reading() -> None:
    def read() -> bytes:
        raise AssertionError("content read although the name decided")

    assert secrets.check(".env", 10, read).reason == "environment file with secrets"
    assert secrets.check("src/a.jl", 10, read, scan_content=False) is None


def test_third_party_files_may_hold_test_keys_but_not_tokens() -> None:
    pem = fake_token("pem").encode()
    assert secrets.check("packages/HTTP/x/test/cert.pem", len(pem), lambda: pem, third_party=True) is None
    assert secrets.check("packages/HTTP/x/test/keys.jl", len(pem), lambda: pem, third_party=True) is None
    assert secrets.check("src/keys.jl", len(pem), lambda: pem) == secrets.Finding("src/keys.jl", "contains a private key")
    token = fake_token("huggingface").encode()
    assert secrets.check("packages/X/y/src/x.jl", 100, lambda: token, third_party=True).reason == "contains a Hugging Face token"


@pytest.mark.parametrize(
    "relpath, third_party",
    [("packages/X/abc/src/X.jl", True), ("artifacts/abc/lib.so", True), ("compiled/v1.10/X/a.ji", True),
     ("registries/General.toml", True), ("clones/123", True), ("dev/X/src/X.jl", True), ("conda/3/bin/python", True),
     ("prefs/Foo.toml", False), ("config/startup.jl", False), ("scratchspaces/uuid/x", False), ("environments/v1.10/Project.toml", False),
     ("packagesX/a", False)],
)  # fmt: skip
def test_which_depot_folders_are_third_party(relpath: str, third_party: bool) -> None:
    assert secrets.is_third_party_depot_path(relpath) is third_party


def test_raise_if_found_lists_the_files_and_passes_the_fix_through() -> None:
    findings = [secrets.Finding("kaggle.json", "Kaggle API credentials"), secrets.Finding("src/a.jl", "contains a GitHub token")]
    with pytest.raises(SecretsFound) as raised:
        secrets.raise_if_found(findings, where="the project /p", fix="delete them or list them in .juliapackignore")
    error = raised.value
    assert error.what == "the project /p holds files that look like secrets: kaggle.json (Kaggle API credentials), src/a.jl (contains a GitHub token)"
    assert error.fix == "delete them or list them in .juliapackignore"
    assert error.exit_code == ExitCode.INPUT


def test_raise_if_found_shortens_a_long_list() -> None:
    findings = (secrets.Finding(f"f{i}.pem", "PEM key or certificate") for i in range(8))
    with pytest.raises(SecretsFound) as raised:
        secrets.raise_if_found(findings, where="the depot", fix="remove them")
    assert "f4.pem" in raised.value.what and "f5.pem" not in raised.value.what
    assert raised.value.what.endswith("and 3 more")


def test_raise_if_found_is_quiet_without_findings() -> None:
    secrets.raise_if_found(iter(()), where="the depot", fix="-")
