"""Files that look like credentials, which must never be packed or uploaded.

Two strictness levels. The user's own files (the app layer, depot settings) are checked by name and by
content. Third-party trees (package sources, artifacts, the Julia distribution) routinely ship test
keys and certificates (HTTP.jl's test/resources/key.pem, say), so there only credential files that
identify a user (kaggle.json, .netrc, ...) count, by name; callers may scan their content for tokens too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable

from juliapack.errors import SecretsFound

CREDENTIAL_FILES = {
    "kaggle.json": "Kaggle API credentials",
    ".netrc": "login credentials",
    ".git-credentials": "git credentials",
    ".pypirc": "PyPI credentials",
    "credentials.json": "service credentials",
}
PRIVATE_KEY_FILES = re.compile(r"^id_(rsa|dsa|ecdsa|ed25519)$")
KEY_SUFFIXES = {".pem": "PEM key or certificate", ".key": "private key", ".p12": "PKCS#12 keystore", ".pfx": "PKCS#12 keystore"}
TOKENS = (
    (re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"), "a private key"),
    (re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), "a GitHub token"),
    (re.compile(rb"\bgithub_pat_[A-Za-z0-9_]{60,}\b"), "a GitHub token"),
    (re.compile(rb"\bhf_[A-Za-z0-9]{30,}\b"), "a Hugging Face token"),
    (re.compile(rb"\bKGAT_[A-Za-z0-9]{24,}\b"), "a Kaggle API token"),
    (re.compile(rb'"key"\s*:\s*"[0-9a-f]{32}"'), "a Kaggle API key"),
    (re.compile(rb"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key"),
)
CONTENT_SCAN_LIMIT = 1 << 20  # larger files are data or binaries, not credentials someone typed
# In a depot, these folders hold third-party code and data; the rest (prefs, config) is the user's.
THIRD_PARTY_DEPOT_DIRS = ("packages", "artifacts", "compiled", "registries", "clones", "dev", "conda")


@dataclass(frozen=True)
class Finding:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


def name_reason(relpath: str, *, third_party: bool = False) -> str | None:
    name = PurePosixPath(relpath).name
    if name in CREDENTIAL_FILES:
        return CREDENTIAL_FILES[name]
    if name == ".env" or (name.startswith(".env.") and name != ".env.example"):
        return "environment file with secrets"
    if third_party:
        return None
    if PRIVATE_KEY_FILES.match(name):
        return "SSH private key"
    suffix = PurePosixPath(name).suffix.lower()
    return KEY_SUFFIXES.get(suffix)


def content_reason(data: bytes) -> str | None:
    if b"\0" in data[:8192]:
        return None  # binary
    for pattern, what in TOKENS:
        if pattern.search(data):
            return f"contains {what}"
    return None


def check(relpath: str, size: int, read, *, third_party: bool = False, scan_content: bool = True) -> Finding | None:
    """Check one file; ``read()`` returns its bytes and is called only when content matters."""
    reason = name_reason(relpath, third_party=third_party)
    if reason is None and scan_content and size <= CONTENT_SCAN_LIMIT:
        reason = content_reason(read())
        if third_party and reason == "contains a private key":
            reason = None
    return Finding(relpath, reason) if reason else None


def is_third_party_depot_path(depot_relpath: str) -> bool:
    return depot_relpath.split("/", 1)[0] in THIRD_PARTY_DEPOT_DIRS


def raise_if_found(findings: Iterable[Finding], *, where: str, fix: str) -> None:
    findings = list(findings)
    if findings:
        listed = ", ".join(str(f) for f in findings[:5]) + (f" and {len(findings) - 5} more" if len(findings) > 5 else "")
        raise SecretsFound(f"{where} holds files that look like secrets: {listed}", fix=fix)
