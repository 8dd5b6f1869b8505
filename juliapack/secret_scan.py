"""What must never be packed or uploaded: credential files by name, live tokens and secret assignments by content.

One rule for build and upload. A file is named by its member path, the same whether build walks the work
tree or upload reads the tarball: app files relative to the project, depot files as ``.julia/<path>``,
Julia files relative to the distribution. Its kind follows from that path and the layer's role:

- the user's own files (the app, and the user-writable depot: config/, environments/, prefs/, logs/,
  scratchspaces/, servers/, anything unknown) are judged strictly: credential-looking names (.env,
  id_rsa, *.pem, ...) and any token, private key, password URL or ``NAME = "secret-looking value"``;
- third-party trees (packages, artifacts, compiled caches, registries, the Julia distribution, ...)
  ship test keys, sample passwords and certificates, so there only files that identify a user count
  by name (kaggle.json, .netrc, .aws/credentials, ...) and only live-token formats count by content.

Content is streamed in chunks, line-aligned with an overlap for overlong lines, so memory stays bounded
and a token across a read boundary is still seen. Binary files (a NUL in the first 8 KiB) of third-party
trees are not read further: they are most of a depot's bytes, and tokens are typed into text. A Finding
names the file, the rule and a redacted hint (first 4 characters and the length), never the value.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field, replace
from functools import partial
from typing import IO, Callable, Iterable, Iterator, Mapping

from juliapack import secret_rules as rules
from juliapack.errors import ConfigError, SecretsFound

OWN = "own"
THIRD_PARTY = "third-party"
ROLES = ("app", "depot", "compiled", "julia", "model")
DEPOT_ROLES = ("depot", "compiled")  # layers whose members are depot paths (.julia/...)
DEPOT_PREFIX = ".julia/"
# Depot folders holding code and data that Pkg, packages or Conda put there; the rest is the user's.
THIRD_PARTY_DEPOT_DIRS = frozenset(("packages", "artifacts", "compiled", "registries", "clones", "dev", "conda", "datadeps", "juliaup"))

# Files that identify the user wherever they are, third-party trees included.
USER_CREDENTIAL_FILES = {
    "kaggle.json": "Kaggle API credentials",
    ".netrc": "login credentials",
    "_netrc": "login credentials",
    ".git-credentials": "git credentials",
    ".pypirc": "PyPI credentials",
}
USER_CREDENTIAL_PATHS = (  # (parent folder, name): the file only counts in that folder
    (".aws", "credentials", "AWS credentials"),
    (".docker", "config.json", "Docker registry credentials"),
)
PKG_SERVER_AUTH = re.compile(r"^servers/[^/]+/auth\.toml$")  # depot-relative
# Names that are credentials in the user's own files, and routine test fixtures in a package.
OWN_CREDENTIAL_FILES = {"credentials.json": "service credentials"}
SSH_PRIVATE_KEY = re.compile(r"^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$")
KEY_SUFFIXES = {".pem": "PEM key or certificate", ".key": "private key", ".p12": "PKCS#12 keystore", ".pfx": "PKCS#12 keystore"}
ENV_FILE_TEMPLATES = (".example", ".sample", ".template", ".dist")

SNIFF = 8192  # bytes read to tell text from binary
CHUNK = 1 << 20
LONG_LINE = 64 << 10  # a line longer than this is scanned in pieces, overlapping by OVERLAP
OVERLAP = 512  # longer than any token or assignment a rule matches

Opener = Callable[[], IO[bytes]]


@dataclass(frozen=True)
class Finding:
    path: str  # the member path: what an allow entry names
    reason: str
    line: int | None = None
    hint: str = ""  # redacted: never the value
    role: str = "app"  # the layer it is in: says how to take it out
    container: str = ""  # the uploaded file holding it, when scanned from a tarball

    def __str__(self) -> str:
        details = ", ".join(part for part in (self.reason, f"line {self.line}" if self.line else "", self.hint) if part)
        return f"{self.container + ': ' if self.container else ''}{self.path} ({details})"


# --------------------------------------------------------------------------- paths and kinds


def member_path(arcname: str, *, role: str) -> str:
    """The path that names an archive member in findings and allow entries, for build and upload alike.

    ``arcname`` is the name in the layer tarball (or the Entry.arcname build packs): app members start
    with the project folder and Julia members with the distribution folder, both dropped; depot members
    keep (or get) their ``.julia/`` prefix, so a depot file is never confused with an app file.
    """
    if role not in ROLES:
        raise ValueError(f"unknown layer role {role!r}")
    name = posixpath.normpath(arcname.lstrip("/")) if arcname.strip("/") else ""
    if role in DEPOT_ROLES:
        return DEPOT_PREFIX + _without_depot_prefix(name)
    if role == "model":
        return name
    return name.split("/", 1)[1] if "/" in name else ""


def _without_depot_prefix(path: str) -> str:
    path = path.removeprefix("~/")
    if path == DEPOT_PREFIX.rstrip("/"):
        return ""
    return path[len(DEPOT_PREFIX) :] if path.startswith(DEPOT_PREFIX) else path


def depot_kind(depot_path: str) -> str:
    """OWN or THIRD_PARTY for a path in a depot, given with or without the ``.julia/`` prefix."""
    top = _without_depot_prefix(depot_path).split("/", 1)[0]
    return THIRD_PARTY if top in THIRD_PARTY_DEPOT_DIRS else OWN


def kind_of(path: str, *, role: str) -> str:
    """The kind of a member path (as member_path returns it) in a layer of ``role``."""
    if role == "julia":
        return THIRD_PARTY
    return depot_kind(path) if role in DEPOT_ROLES else OWN


# --------------------------------------------------------------------------- names


def name_reason(path: str, *, kind: str) -> str | None:
    """Why the file's name alone makes it a credential, or None."""
    parent, _, name = path.rpartition("/")
    if name in USER_CREDENTIAL_FILES:
        return USER_CREDENTIAL_FILES[name]
    for folder, file, what in USER_CREDENTIAL_PATHS:
        if name == file and parent.rpartition("/")[2] == folder:
            return what
    if path.startswith(DEPOT_PREFIX) and PKG_SERVER_AUTH.match(path[len(DEPOT_PREFIX) :]):
        return "Pkg server credentials"
    if kind == THIRD_PARTY:
        return None
    if name == ".env" or (name.startswith(".env.") and not name.endswith(ENV_FILE_TEMPLATES)):
        return "environment file with secrets"
    if name in OWN_CREDENTIAL_FILES:
        return OWN_CREDENTIAL_FILES[name]
    if SSH_PRIVATE_KEY.match(name):
        return "SSH private key"
    return KEY_SUFFIXES.get(posixpath.splitext(name)[1].lower())


# --------------------------------------------------------------------------- content


def scan(path: str, open_binary: Opener, size: int, kind: str) -> Finding | None:
    """The first reason this file must not ship, by name, then by its whole content (streamed).

    ``open_binary()`` is called only when the name does not decide, and not for an empty file.
    """
    reason = name_reason(path, kind=kind)
    if reason:
        return Finding(path, reason)
    if size == 0:
        return None
    with open_binary() as stream:
        hit = scan_stream(stream, kind=kind)
    return Finding(path, f"contains {hit.what}", line=hit.line, hint=hit.hint) if hit else None


def scan_stream(stream: IO[bytes], *, kind: str) -> rules.Hit | None:
    """The first rule the stream's content breaks, read to its end in bounded memory."""
    head = stream.read(SNIFF)
    binary = b"\0" in head
    if binary and kind == THIRD_PARTY:
        return None
    checks = rules.checks_for(own=kind == OWN, text=not binary)
    for piece, first_line in _pieces(head, stream):
        hit = rules.first_hit(piece, checks)
        if hit:
            return hit.at_line(first_line + piece.count(b"\n", 0, hit.offset))
    return None


def _pieces(head: bytes, stream: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """Line-aligned pieces of ``head`` + the rest of ``stream``, each with the number of its first line.

    A piece ends after a newline, so a token or an assignment is never cut; a line longer than
    LONG_LINE is cut anyway, and its last OVERLAP bytes start the next piece again.
    """
    tail, line, chunk = b"", 1, head
    while chunk:
        buffer = tail + chunk
        cut = buffer.rfind(b"\n") + 1
        if cut:
            yield buffer[:cut], line
            line += buffer.count(b"\n", 0, cut)
            tail = buffer[cut:]
        elif len(buffer) > LONG_LINE:
            yield buffer, line
            tail = buffer[-OVERLAP:]
        else:
            tail = buffer
        chunk = stream.read(CHUNK)
    if tail:
        yield tail, line


def scan_entries(entries: Iterable, *, role: str) -> list[Finding]:
    """Findings in the files of a walked tree (archive.Entry: arcname, path, kind, size), as build packs it."""
    found = []
    for entry in entries:
        if entry.kind != "file":
            continue
        path = member_path(entry.arcname, role=role)
        finding = scan(path, partial(open, entry.path, "rb"), entry.size, kind_of(path, role=role))
        if finding:
            found.append(replace(finding, role=role))
    return found


def scan_tarball(tarball, *, role: str) -> list[Finding]:
    """Findings in the regular files of a layer tarball, named as scan_entries names them."""
    from juliapack import archive

    found = []
    for info, reader in archive.iter_members(tarball):
        path = member_path(info.name, role=role)
        if reader is None or not path:
            continue
        finding = scan(path, partial(_Borrowed, reader), info.size, kind_of(path, role=role))
        if finding:
            found.append(replace(finding, role=role, container=tarball.name))
    return found


class _Borrowed:
    """A tar member's reader as a context manager that leaves it open: the tar stream owns it."""

    def __init__(self, reader: IO[bytes]) -> None:
        self.reader = reader

    def __enter__(self) -> IO[bytes]:
        return self.reader

    def __exit__(self, *exc) -> None:
        return None


# --------------------------------------------------------------------------- allowing named files


@dataclass
class Allowlist:
    """Files the user allows to ship: member path (or glob: ``*``, ``?``, ``**/``) -> the reason why.

    ``filter`` drops the findings an entry allows and records which entry allowed what; ``unused``
    names the entries that allowed nothing, so a stale entry does not silently allow a later file.
    """

    entries: Mapping[str, str] = field(default_factory=dict)
    option: str = "allow_secrets"  # how the user wrote them, for the error about a bad entry
    used: dict[str, str] = field(default_factory=dict, init=False)  # allowed member path -> reason

    def __post_init__(self) -> None:
        self.entries = {_checked_entry(path, reason, self.option): reason.strip() for path, reason in self.entries.items()}
        self._globs = [(re.compile(_glob_regex(p)), p) for p in self.entries if "*" in p or "?" in p]
        self._matched: set[str] = set()

    def reason_for(self, path: str) -> str | None:
        entry = path if path in self.entries else next((p for regex, p in self._globs if regex.fullmatch(path)), None)
        if entry is None:
            return None
        self._matched.add(entry)
        self.used[path] = self.entries[entry]
        return self.entries[entry]

    def filter(self, findings: Iterable[Finding]) -> list[Finding]:
        return [finding for finding in findings if self.reason_for(finding.path) is None]

    def unused(self) -> list[str]:
        return sorted(set(self.entries) - self._matched)


def _checked_entry(path: str, reason: str, option: str) -> str:
    normal = path.strip().removeprefix("~/")
    if not normal or normal.startswith("/") or ".." in normal.split("/"):
        raise ConfigError(f"{option} entry {path!r} is not a relative path", fix="name the file as the secrets error names it, e.g. src/test.pem")
    if not reason or not reason.strip():
        raise ConfigError(f"{option} entry {path!r} has no reason", fix=f"say why it may ship: {normal}=REASON (the reason goes into the lock)")
    return normal


def _glob_regex(pattern: str) -> str:
    """``*`` and ``?`` stay inside one folder, ``**/`` is any number of folders, a final ``**`` anything below."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------- refusing


SHOWN = 5
ALLOW_OPTION = '[build] allow_secrets = {"PATH" = "why it may ship"} in juliapack.toml (or --allow-secret PATH=REASON)'
REMOVE = {  # how to take a file out of each layer
    "app": "delete them from the project or leave them out with .juliapackignore (or --exclude)",
    "depot": "take them out of the depot: a build step, a --volume or a package wrote them there (pass secrets with --env, "
    "which stays out of the depot, instead of writing them into ~/.julia), then build again",
    "compiled": "build again with --fresh: the compiled caches are Julia's own output",
    "julia": "build with the official Julia tarball",
    "model": "take them out of the model folder",
}


def raise_if_found(findings: Iterable[Finding], *, where: str, allow: str, remove: str | None = None) -> None:
    """Raise SecretsFound naming up to SHOWN files, each with its reason, and how to fix it.

    ``allow`` is how to allow a file (the option's name, e.g. "[build] allow_secrets or --allow-secret
    PATH=REASON"); ``remove`` how to take the files out, by default what fits the layers they are in.
    """
    findings = list(findings)
    if not findings:
        return
    listed = ", ".join(str(f) for f in findings[:SHOWN]) + (f" and {len(findings) - SHOWN} more" if len(findings) > SHOWN else "")
    roles = {f.role for f in findings}
    remove = remove or "; ".join(text for role, text in REMOVE.items() if role in roles)
    raise SecretsFound(f"{where} holds files that look like secrets: {listed}", fix=f"{remove}; or, if one is meant to ship, allow it with {allow}")
