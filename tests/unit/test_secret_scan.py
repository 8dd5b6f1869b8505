"""secret_scan: one rule for build and upload: what is the user's and what is a third party's, which names
and contents are credentials, streaming without a size cap, the allowlist, and the error.

Every token here is assembled at run time from a seeded random body (``token``), so this file holds none.
"""

from __future__ import annotations

import io
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest

from juliapack import archive, secret_scan
from juliapack.errors import ConfigError, ExitCode, SecretsFound
from juliapack.secret_scan import OWN, THIRD_PARTY, Allowlist, Finding
from tests.unit.helpers import EPOCH, random_text

HEX = "0123456789abcdef"


def token(kind: str) -> str:
    """A string shaped like a live credential of ``kind``."""
    return {
        "kaggle-token": "KG" + "AT_" + random_text(32, seed="kgat"),
        "kaggle-key": random_text(32, HEX, seed="kaggle"),
        "github": "gh" + "p_" + random_text(36, seed="gh"),
        "huggingface": "h" + "f_" + random_text(34, seed="hf"),
        "aws-id": "AK" + "IA" + random_text(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", seed="akia"),
        "aws-session-id": "AS" + "IA" + random_text(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", seed="asia"),
        "aws-secret": random_text(38, seed="aws-secret") + "/+",
        "slack": "xo" + "xb-" + random_text(12, "0123456789", seed="s1") + "-" + random_text(13, "0123456789", seed="s2") + "-" + random_text(24, seed="s3"),
        "openai": "sk" + "-proj-" + random_text(48, seed="openai"),
        "stripe": "sk" + "_live_" + random_text(24, seed="stripe"),
        "pem": "-----BEGIN " + "RSA PRIVATE KEY-----\n" + random_text(64, seed="pem") + "\n-----END RSA PRIVATE KEY-----\n",
    }[kind]


def scan_text(path: str, text: str | bytes, kind: str = OWN) -> Finding | None:
    data = text.encode() if isinstance(text, str) else text
    return secret_scan.scan(path, lambda: io.BytesIO(data), len(data), kind)


def big_log(first_line: str, size: int = 2 << 20) -> str:
    filler = "2024-05-01 12:00:00 step finished in 0.25 s\n"
    return first_line + "\n" + filler * (size // len(filler))


# --------------------------------------------------------------------------- the defects: each must now be found


@dataclass(frozen=True)
class Leak:
    path: str
    text: str
    reason: str
    kind: str = OWN
    line: int | None = 1


LEAKS = {
    "kaggle-key-const-in-julia": Leak("src/config.jl", f'const KAGGLE_KEY = "{token("kaggle-key")}"\n', "contains a Kaggle API key"),
    "kaggle-key-in-ENV": Leak("src/run.jl", f'ENV["KAGGLE_KEY"] = "{random_text(20, seed="k20")}"\n', "contains a Kaggle API key"),
    "kaggle-key-in-secrets-env": Leak("config/secrets.env", f"KAGGLE_USERNAME=alice\nKAGGLE_KEY={token('kaggle-key')}\n", "contains a Kaggle API key", line=2),
    "kaggle-key-in-python": Leak("tools/up.py", f"os.environ['KAGGLE_KEY'] = '{token('kaggle-key')}'\n", "contains a Kaggle API key"),
    "kaggle-json-content": Leak("data/cfg.json", '{"username": "alice", "key": "' + token("kaggle-key") + '"}', "contains a Kaggle API key"),
    "kaggle-token-2mb-log": Leak("logs/run.log", big_log(f"auth with {token('kaggle-token')}"), "contains a Kaggle API token"),
    "aws-credentials-asia": Leak(".aws/credentials", f"[default]\naws_access_key_id = {token('aws-session-id')}\n", "AWS credentials", line=None),
    "aws-credentials-secret-only": Leak("home/.aws/credentials", f"[default]\naws_secret_access_key = {token('aws-secret')}\n", "AWS credentials", line=None),
    "aws-asia-id-content": Leak("deploy/aws.ini", f"[default]\naws_access_key_id = {token('aws-session-id')}\n", "contains an AWS access key", line=2),
    "aws-secret-content": Leak("deploy/aws.ini", f"[default]\naws_secret_access_key = {token('aws-secret')}\n", "contains an AWS secret key", line=2),
    "slack-token": Leak("src/notify.jl", f'const HOOK = "{token("slack")}"\n', "contains a Slack token"),
    "openai-project-key": Leak("src/llm.py", f'client = OpenAI(api_key="{token("openai")}")\n', "contains an OpenAI or Anthropic API key"),
    "stripe-live-key": Leak("src/pay.jl", f'x = "{token("stripe")}"\n', "contains a Stripe key"),
    "postgres-url-password": Leak("src/db.jl", 'const DB = "postgres://user:password@host:5432/db"\n', "contains a password in a URL"),
    "private-key-in-code": Leak("src/keys.jl", f'const K = """\n{token("pem")}"""\n', "contains a private key", line=2),
    "toml-api-key": Leak("LocalPreferences.toml", f'[MyAPI]\napi_key = "{random_text(40, seed="toml")}"\n', "contains a secret assigned to api_key", line=2),
    "ini-password-bare": Leak("conf/db.ini", "[db]\npassword = Tr0ub4dor&3x\n", "contains a secret assigned to password", line=2),
    "shell-export-token": Leak("run.sh", f"export HF_HUB_TOKEN={random_text(30, seed='sh')}\n", "contains a secret assigned to HF_HUB_TOKEN"),
    "shell-two-assignments": Leak("run.sh", f"export API_TOKEN={random_text(30, seed='sh2')} USER=alice\n", "contains a secret assigned to API_TOKEN"),
    "julia-dict-pair": Leak("src/client.jl", f'headers = Dict("client_secret" => "{random_text(24, seed="pair")}")\n', "contains a secret assigned to client_secret"),
    "julia-keyword-argument": Leak("src/login.jl", 'login(user="alice", password="Tr0ub4dor&3x")\n', "contains a secret assigned to password"),
    "yaml-camel-case-key": Leak("conf.yml", f"apiKey: {random_text(32, seed='yaml')}\n", "contains a secret assigned to apiKey"),
    # A third-party file is judged by token formats: a real token there is still found.
    "token-in-a-package": Leak(".julia/packages/X/abc/src/X.jl", f'const T = "{token("github")}"\n', "contains a GitHub token", THIRD_PARTY),
    "kaggle-key-in-a-package": Leak(".julia/dev/Mine/src/Mine.jl", f'ENV["KAGGLE_KEY"] = "{token("kaggle-key")}"\n', "contains a Kaggle API key", THIRD_PARTY),
    "kaggle-json-in-a-package": Leak(".julia/packages/X/abc/kaggle.json", "{}", "Kaggle API credentials", THIRD_PARTY, None),
    "netrc-in-an-artifact": Leak(".julia/artifacts/abc/.netrc", "machine x login y password z", "login credentials", THIRD_PARTY, None),
}


@pytest.mark.parametrize("name, leak", LEAKS.items(), ids=list(LEAKS))
def test_every_leak_is_found(name: str, leak: Leak) -> None:
    finding = scan_text(leak.path, leak.text, leak.kind)
    assert finding is not None, name
    assert (finding.path, finding.reason, finding.line) == (leak.path, leak.reason, leak.line)


@pytest.mark.parametrize("name, leak", LEAKS.items(), ids=list(LEAKS))
def test_no_finding_holds_the_secret(name: str, leak: Leak) -> None:
    finding = scan_text(leak.path, leak.text, leak.kind)
    secrets_in_text = [value for value in (token(k) for k in ("kaggle-key", "kaggle-token", "github", "aws-secret", "slack", "openai", "stripe")) if value in leak.text]
    for value in secrets_in_text:
        assert value not in str(finding) and value not in repr(finding) and value[4:12] not in finding.hint


def test_the_hint_is_four_characters_and_the_length() -> None:
    assert scan_text("a.jl", f'x = "{token("kaggle-token")}"').hint == f"KGAT…({len(token('kaggle-token'))} chars)"
    assert scan_text("a.ini", "password = Tr0ub4dor&3x\n").hint == "12 chars"  # a short value: its length only


# --------------------------------------------------------------------------- true negatives


@pytest.mark.parametrize(
    "path, text, kind",
    [
        (".julia/packages/HTTP/abc/test/resources/key.pem", token("pem"), THIRD_PARTY),
        (".julia/packages/HTTP/abc/test/resources/cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", THIRD_PARTY),
        (".julia/packages/MbedTLS/abc/test/clntsrvr/test.key", token("pem"), THIRD_PARTY),
        (".julia/packages/Downloads/abc/test/runtests.jl", 'passwd = "dlctfSMTno8n"\nurl = "https://user:pass123@example.com/x"\n', THIRD_PARTY),
        (".julia/packages/AWSS3/abc/test/utils.jl", 'username="minioadmin", password="minioadmin"\n', THIRD_PARTY),
        (".julia/packages/X/abc/.env", "DB_PASSWORD=hunter2hunter2\n", THIRD_PARTY),
        ("share/julia/stdlib/v1.10/LibGit2/test/keys/valid", token("pem"), THIRD_PARTY),
        ("share/julia/stdlib/v1.10/Pkg/test/new.jl", '@test url == "https://robot:abc123@git.enterprise.com/x.git"\n', THIRD_PARTY),
        ("src/model.jl", f'const MODEL_ID = "{random_text(30, seed="id")}"\nprintln("{random_text(30, seed="id2")}")\n', OWN),
        ("Manifest.toml", f'[[deps.Foo]]\ngit-tree-sha1 = "{random_text(40, HEX, seed="tree")}"\nuuid = "22222222-2222-4222-8222-222222222222"\n', OWN),
        ("src/nlp.jl", 'tokenizer = "bert-base-uncased"\ncache_key = "v2_results_cache_2024"\nsort_key = "name"\n', OWN),
        ("src/auth.jl", 'password = "secret"\napi_key = ENV["API_KEY"]\ntoken = get_token()\npassword = user_password\n', OWN),
        ("src/auth.py", 'API_KEY = os.environ["API_KEY"]\npassword = "${DB_PASSWORD}"\nKAGGLE_KEY = "your-kaggle-key"\nsecret = "$(read_secret())"\n', OWN),
        ("demo.sh", "export KAGGLE_USERNAME=alice KAGGLE_KEY=demo-key\n", OWN),
        ("src/keys.jl", f'public_key = "{random_text(44, seed="pub")}"\nif key == "{random_text(20, seed="cmp")}" end\n', OWN),
        ("src/consts.jl", "SSL_OP_NO_EXTENDED_MASTER_SECRET = 0x00000001\nmax_tokens = 4096\nmonkey = \"a8Fk29dkQ0z8Xc1vB7nM\"\n", OWN),
        ("src/msg.jl", 'password = "Please enter your password"\ntoken = "<your token here>"\n', OWN),
        ("docs/aws.md", "AK" + "IA" + "IOSFODNN7" + "EXAMPLE and " + "gh" + "p_" + "x" * 36 + "\n", OWN),
        ("docs/urls.md", "see https://example.com:8080/path and git@github.com:a/b.git and http://[::1]:8080/\n", OWN),
        ("README.md", "Set `KAGGLE_KEY` in your environment; never write it into a file.\n", OWN),
    ],
)  # fmt: skip
def test_what_is_not_a_secret(path: str, text: str, kind: str) -> None:
    assert scan_text(path, text, kind) is None


class Recorded(io.BytesIO):
    """Remembers how far it was read when closed."""

    def close(self) -> None:
        self.read_to = self.tell()
        super().close()


def test_a_third_party_binary_is_not_read_past_its_first_bytes() -> None:
    data = b"\x7fELF\0\0 " + token("github").encode() + b" " + b"x" * secret_scan.CHUNK
    stream = Recorded(data)
    assert secret_scan.scan(".julia/artifacts/abc/lib/libfoo.so", lambda: stream, len(data), THIRD_PARTY) is None
    assert stream.read_to == secret_scan.SNIFF
    assert scan_text(".julia/artifacts/abc/share/notes.txt", data[7:], THIRD_PARTY).reason == "contains a GitHub token"  # as text, it counts


def test_a_binary_of_the_user_is_scanned_for_tokens_but_not_assignments() -> None:
    data = b"\0\1serialized\0" + token("huggingface").encode() + b"\0"
    assert scan_text("model/cache.bin", data).reason == "contains a Hugging Face token"
    assert scan_text("model/cache.bin", b"\0\1" + b'password = "Tr0ub4dor&3x"\n') is None


def test_a_nul_after_the_sniffed_bytes_leaves_a_file_text() -> None:
    data = b"a" * secret_scan.SNIFF + b"\0\n" + f'api_key = "{random_text(32, seed="nul")}"\n'.encode()
    assert scan_text("data/x.txt", data).reason == "contains a secret assigned to api_key"


# --------------------------------------------------------------------------- streaming: no cap, chunk boundaries, memory


def test_a_token_at_the_end_of_a_file_over_1_mib_is_found() -> None:
    filler = "x = 1\n" * ((3 << 20) // 6)
    finding = scan_text("logs/big.log", filler + token("kaggle-token") + "\n")
    assert finding.reason == "contains a Kaggle API token" and finding.line == filler.count("\n") + 1


@pytest.mark.parametrize("boundary", [secret_scan.SNIFF, secret_scan.SNIFF + secret_scan.CHUNK, secret_scan.SNIFF + 2 * secret_scan.CHUNK])
@pytest.mark.parametrize("newlines", [True, False], ids=["lines", "one-long-line"])
@pytest.mark.parametrize("into", [1, 5, 20])
def test_a_token_split_across_read_chunks_is_found(boundary: int, newlines: bool, into: int) -> None:
    value = token("kaggle-token")
    filler_unit = "abc = 12345 # filler line\n" if newlines else "abc=12345;"
    start = boundary - into  # the token's first ``into`` bytes are in one read, the rest in the next
    filler = (filler_unit * (start // len(filler_unit) + 1))[: start - 1] + " "  # a token starts a word
    data = filler + value + filler_unit * 100
    finding = scan_text("logs/split.log", data)
    assert finding is not None and finding.reason == "contains a Kaggle API token"
    assert finding.line == filler.count("\n") + 1


def test_an_assignment_split_across_read_chunks_is_found() -> None:
    line = f'api_key = "{random_text(32, seed="split")}"\n'
    start = secret_scan.SNIFF + secret_scan.CHUNK - len(line) // 2
    filler = ("n = 1\n" * (start // 6 + 1))[: start - start % 6]
    finding = scan_text("src/long.jl", filler + " " * (start - len(filler)) + line)
    assert finding.reason == "contains a secret assigned to api_key"


class CountingStream(io.RawIOBase):
    """``size`` generated bytes, with the largest read asked for."""

    def __init__(self, size: int, tail: bytes) -> None:
        self.left, self.tail, self.largest = size, tail, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.largest = max(self.largest, n)
        if self.left <= 0:
            data, self.tail = self.tail, b""
            return data
        step = min(n, self.left)
        self.left -= step
        return (b"n = 1 # some text to scan\n" * (step // 26 + 1))[:step]


def test_memory_stays_bounded_on_a_large_file() -> None:
    stream = CountingStream(64 << 20, b"\n" + token("github").encode())
    tracemalloc.start()
    try:
        finding = secret_scan.scan("logs/huge.log", lambda: stream, 64 << 20, OWN)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert finding.reason == "contains a GitHub token"
    assert stream.largest <= secret_scan.CHUNK and peak < 16 << 20, peak


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "path, kind, reason",
    [
        ("kaggle.json", OWN, "Kaggle API credentials"),
        (".julia/packages/X/abc/kaggle.json", THIRD_PARTY, "Kaggle API credentials"),
        (".netrc", THIRD_PARTY, "login credentials"),
        ("_netrc", OWN, "login credentials"),
        (".git-credentials", THIRD_PARTY, "git credentials"),
        (".pypirc", THIRD_PARTY, "PyPI credentials"),
        (".aws/credentials", THIRD_PARTY, "AWS credentials"),
        ("x/.docker/config.json", OWN, "Docker registry credentials"),
        (".julia/servers/pkg.example.net/auth.toml", OWN, "Pkg server credentials"),
        (".env", OWN, "environment file with secrets"),
        ("deploy/.env.local", OWN, "environment file with secrets"),
        ("credentials.json", OWN, "service credentials"),
        (".ssh/id_ed25519", OWN, "SSH private key"),
        ("certs/server.PEM", OWN, "PEM key or certificate"),
        ("tls/server.key", OWN, "private key"),
        ("store.p12", OWN, "PKCS#12 keystore"),
    ],
)
def test_credential_names(path: str, kind: str, reason: str) -> None:
    assert secret_scan.name_reason(path, kind=kind) == reason


@pytest.mark.parametrize(
    "path, kind",
    [(".env.example", OWN), ("id_rsa.pub", OWN), ("kaggle.json.example", OWN), ("credentials", OWN), ("config.json", OWN),
     ("auth.toml", OWN), (".julia/servers/auth.toml", OWN), ("src/keys.jl", OWN),
     (".julia/packages/X/abc/.env", THIRD_PARTY), (".julia/packages/X/abc/test/id_rsa", THIRD_PARTY),
     (".julia/packages/X/abc/credentials.json", THIRD_PARTY), (".julia/artifacts/abc/cert.p12", THIRD_PARTY)],
)  # fmt: skip
def test_harmless_names(path: str, kind: str) -> None:
    assert secret_scan.name_reason(path, kind=kind) is None


def test_a_name_decides_without_opening_the_file() -> None:
    def never() -> io.BytesIO:
        raise AssertionError("opened although the name decided")

    assert secret_scan.scan(".env", never, 10, OWN).reason == "environment file with secrets"
    assert secret_scan.scan("src/empty.jl", never, 0, OWN) is None


# --------------------------------------------------------------------------- kinds: one rule for depot paths


@pytest.mark.parametrize(
    "depot_path, kind",
    [("packages/HTTP/abc/test/key.pem", THIRD_PARTY), ("artifacts/abc/lib/x.so", THIRD_PARTY), ("compiled/v1.10/X/a.ji", THIRD_PARTY),
     ("registries/General.toml", THIRD_PARTY), ("clones/123/objects", THIRD_PARTY), ("dev/X/src/X.jl", THIRD_PARTY),
     ("conda/3/bin/python", THIRD_PARTY), ("datadeps/MNIST/x.gz", THIRD_PARTY),
     ("config/startup.jl", OWN), ("environments/v1.10/Project.toml", OWN), ("prefs/Foo.toml", OWN), ("logs/manifest_usage.toml", OWN),
     ("scratchspaces/uuid/x", OWN), ("servers/pkg.example.net/auth.toml", OWN), ("packagesX/a", OWN), ("something-new/a", OWN)],
)  # fmt: skip
@pytest.mark.parametrize("prefix", ["", ".julia/", "~/.julia/"])
def test_depot_kind_with_and_without_the_prefix(depot_path: str, kind: str, prefix: str) -> None:
    assert secret_scan.depot_kind(prefix + depot_path) == kind


@pytest.mark.parametrize(
    "arcname, role, path, kind",
    [
        (".julia/packages/X/abc/src/X.jl", "depot", ".julia/packages/X/abc/src/X.jl", THIRD_PARTY),
        ("packages/X/abc/src/X.jl", "depot", ".julia/packages/X/abc/src/X.jl", THIRD_PARTY),
        ("./.julia/config/startup.jl", "depot", ".julia/config/startup.jl", OWN),
        (".julia/compiled/v1.10/X/a.ji", "compiled", ".julia/compiled/v1.10/X/a.ji", THIRD_PARTY),
        ("Inference/src/Inference.jl", "app", "src/Inference.jl", OWN),
        ("Inference/.juliapack-depot/compiled/v1.10/Inference/a.ji", "app", ".juliapack-depot/compiled/v1.10/Inference/a.ji", OWN),
        ("julia-1.10.5/share/julia/stdlib/v1.10/Pkg/src/Pkg.jl", "julia", "share/julia/stdlib/v1.10/Pkg/src/Pkg.jl", THIRD_PARTY),
        ("model.jld2", "model", "model.jld2", OWN),
    ],
)
def test_member_paths_and_kinds(arcname: str, role: str, path: str, kind: str) -> None:
    assert secret_scan.member_path(arcname, role=role) == path
    assert secret_scan.kind_of(path, role=role) == kind


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError):
        secret_scan.member_path("a/b", role="extra")


def depot_tree(root: Path) -> Path:
    files = {
        "packages/HTTP/abc/test/resources/key.pem": token("pem"),
        "packages/HTTP/abc/test/runtests.jl": 'password = "secret1234"\n',
        "packages/Leaky/def/src/Leaky.jl": f'const T = "{token("huggingface")}"\n',
        "artifacts/abc/lib/libx.so": "\0ELF" + token("github"),
        "config/startup.jl": f'ENV["KAGGLE_KEY"] = "{token("kaggle-key")}"\n',
        "prefs/MyAPI.toml": f'api_token = "{random_text(40, seed="prefs")}"\n',
        "scratchspaces/uuid/state.toml": "n = 3\n",
        "servers/pkg.example.net/auth.toml": 'access_token = "x"\n',
    }
    for relpath, text in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text)
    return root


@pytest.mark.parametrize("codec", archive.CODECS)
def test_build_and_upload_judge_a_depot_the_same(tmp_path: Path, codec: str) -> None:
    depot = depot_tree(tmp_path / "depot")
    written, collected = archive.pack_tree(depot, tmp_path / "dotjulia", codec=codec, mtime=EPOCH, prefix=".julia")
    walked = secret_scan.scan_entries(collected.entries, role="depot")
    read = secret_scan.scan_tarball(written.path, role="depot")
    assert [(f.path, f.reason, f.line) for f in walked] == [
        (".julia/config/startup.jl", "contains a Kaggle API key", 1),
        (".julia/packages/Leaky/def/src/Leaky.jl", "contains a Hugging Face token", 1),
        (".julia/prefs/MyAPI.toml", "contains a secret assigned to api_token", 1),
        (".julia/servers/pkg.example.net/auth.toml", "Pkg server credentials", None),
    ]
    assert [(f.path, f.reason, f.line, f.hint) for f in read] == [(f.path, f.reason, f.line, f.hint) for f in walked]
    assert {(f.role, f.container) for f in read} == {("depot", "dotjulia")} and {f.role for f in walked} == {"depot"}
    assert str(read[0]).startswith("dotjulia: .julia/config/startup.jl (contains a Kaggle API key, line 1, ")


def test_build_and_upload_name_app_files_alike(tmp_path: Path) -> None:
    app = tmp_path / "Inference"
    (app / "config").mkdir(parents=True)
    (app / "config" / "secrets.env").write_text(f"KAGGLE_KEY={token('kaggle-key')}\n")
    written, collected = archive.pack_tree(app, tmp_path / "inference", codec="zstd", mtime=EPOCH, prefix="Inference")
    walked = secret_scan.scan_entries(collected.entries, role="app")
    read = secret_scan.scan_tarball(written.path, role="app")
    assert [f.path for f in walked] == [f.path for f in read] == ["config/secrets.env"]


# --------------------------------------------------------------------------- the allowlist


def findings_of(*paths: str) -> list[Finding]:
    return [Finding(path, "PEM key or certificate") for path in paths]


def test_an_allowed_file_is_dropped_and_recorded_with_its_reason() -> None:
    allow = Allowlist({"certs/ca.pem": "public CA certificate", "~/.julia/config/startup.jl": "reads the key from a mount"})
    kept = allow.filter(findings_of("certs/ca.pem", ".julia/config/startup.jl", "certs/other.pem"))
    assert [f.path for f in kept] == ["certs/other.pem"]
    assert allow.used == {"certs/ca.pem": "public CA certificate", ".julia/config/startup.jl": "reads the key from a mount"}
    assert allow.unused() == []


def test_globs_stay_inside_folders_unless_double_starred() -> None:
    allow = Allowlist({"certs/*.pem": "test certs", ".julia/packages/Mine/*/test/**": "my package's fixtures"})
    kept = allow.filter(findings_of("certs/a.pem", "certs/sub/b.pem", ".julia/packages/Mine/Ab3/test/keys/k.pem", ".julia/packages/Other/Ab3/test/k.pem"))
    assert [f.path for f in kept] == ["certs/sub/b.pem", ".julia/packages/Other/Ab3/test/k.pem"]
    assert set(allow.used) == {"certs/a.pem", ".julia/packages/Mine/Ab3/test/keys/k.pem"}


def test_entries_that_allowed_nothing_are_reported() -> None:
    allow = Allowlist({"certs/ca.pem": "CA", "old/gone.pem": "was a fixture", "tmp/*.key": "scratch"})
    allow.filter(findings_of("certs/ca.pem"))
    assert allow.unused() == ["old/gone.pem", "tmp/*.key"]


@pytest.mark.parametrize("path, reason", [("/etc/key.pem", "x"), ("../key.pem", "x"), ("", "x"), ("certs/ca.pem", " "), ("certs/ca.pem", "")])
def test_a_bad_allow_entry_is_a_usage_error(path: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Allowlist({path: reason}, option="[build] allow_secrets")
    assert raised.value.what.startswith("[build] allow_secrets entry") and raised.value.fix


# --------------------------------------------------------------------------- the error


ALLOW = "[build] allow_secrets in juliapack.toml (or --allow-secret PATH=REASON)"


def test_the_error_names_five_files_their_reasons_and_the_fix() -> None:
    findings = [Finding(f"src/f{i}.jl", "contains a GitHub token", line=i + 1, hint="ghp_…(40 chars)") for i in range(7)]
    with pytest.raises(SecretsFound) as raised:
        secret_scan.raise_if_found(findings, where="the project /p", allow=ALLOW)
    error = raised.value
    assert error.what == (
        "the project /p holds files that look like secrets: " + ", ".join(f"src/f{i}.jl (contains a GitHub token, line {i + 1}, ghp_…(40 chars))" for i in range(5)) + " and 2 more"
    )
    assert ".juliapackignore" in error.fix and ALLOW in error.fix and "depot" not in error.fix
    assert error.exit_code == ExitCode.INPUT and "\n" not in str(error)


def test_a_depot_finding_says_how_to_take_it_out_of_the_depot() -> None:
    with pytest.raises(SecretsFound) as raised:
        secret_scan.raise_if_found([Finding(".julia/config/startup.jl", "contains a Kaggle API key", line=1, role="depot")], where="the depot", allow=ALLOW)
    fix = raised.value.fix
    assert "out of the depot" in fix and "--env" in fix and ALLOW in fix
    assert "exclude" not in fix  # [build] exclude only leaves files out of the app


def test_findings_in_both_layers_get_both_fixes() -> None:
    with pytest.raises(SecretsFound) as raised:
        findings = [Finding("certs/a.pem", "PEM key or certificate"), Finding(".julia/prefs/x.toml", "contains a secret assigned to token", role="depot")]
        secret_scan.raise_if_found(findings, where="what would be uploaded", allow=ALLOW)
    assert ".juliapackignore" in raised.value.fix and "out of the depot" in raised.value.fix


@pytest.mark.parametrize("role, words", [("julia", "official Julia tarball"), ("model", "model folder"), ("app", ".juliapackignore")])
def test_the_fix_fits_the_layer(role: str, words: str) -> None:
    with pytest.raises(SecretsFound) as raised:
        secret_scan.raise_if_found([Finding("x/kaggle.json", "Kaggle API credentials", role=role)], where="x", allow=ALLOW)
    assert words in raised.value.fix and [text for r, text in secret_scan.REMOVE.items() if r != role and text in raised.value.fix] == []


def test_a_fix_given_replaces_the_default_one() -> None:
    with pytest.raises(SecretsFound) as raised:
        secret_scan.raise_if_found(findings_of("a.pem"), where="x", allow=ALLOW, remove="delete it")
    assert raised.value.fix == f"delete it; or, if one is meant to ship, allow it with {ALLOW}"


def test_no_findings_raise_nothing() -> None:
    assert secret_scan.raise_if_found(iter(()), where="the depot", allow=ALLOW) is None
