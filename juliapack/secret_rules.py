"""The content rules of juliapack.secret_scan: token formats, and secret-looking assignments in the user's files.

Speed: every token rule starts with a literal (``ghp_``, ``KGAT_``, ``://``), which ``re`` finds with
its prefix scan at a few GB/s, so each rule searches a piece on its own. One alternation of all rules
loses that scan and ran at 7 MB/s on package source; a depot holds a few hundred MB of it.

Token rules hold for every file: their formats are specific enough that a match in a package is a real
token (a placeholder body, ``ghp_xxxx...`` or AWS's documented ``...EXAMPLE`` key, does not count). The
rules marked ``own_only`` (private keys, passwords in URLs, assignments) catch what third-party packages
ship as test fixtures and samples, so they hold only for the user's own files.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable

WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
NAME = WORD | frozenset(b".-")
HINT_FROM = 16  # shorter values are hinted by their length only: four characters of a password are too many


@dataclass(frozen=True)
class Hit:
    what: str
    offset: int  # in the piece searched
    hint: str = ""
    line: int | None = None

    def at_line(self, line: int) -> "Hit":
        return replace(self, line=line)


def hint(value: bytes) -> str:
    """The value redacted: its first four characters (for long values, where those are a format's prefix) and its length."""
    shown = value[:4].decode("ascii", "replace") + "…" if len(value) >= HINT_FROM else ""
    return f"{shown}({len(value)} chars)" if shown else f"{len(value)} chars"


# --------------------------------------------------------------------------- value filters


PLACEHOLDER_BODY = re.compile(rb"(?i)example|xxxxx|placeholder")
PLACEHOLDER_VALUE = re.compile(rb"(?i)example|sample|placeholder|change[_-]?me|your|xxxx|\*\*\*|dummy|redacted|\.\.\.|password|secret|token|todo|[<>]")
REFERENCE = re.compile(rb"^(?:\$|%\(|%s|\{\{|\{[A-Za-z_]*\}|ENV\b)|getenv|environ|ENV\[")
IDENTIFIER = re.compile(rb"^[A-Za-z_][A-Za-z0-9_.]*$")
NUMBER = re.compile(rb"^(?:0[xXbBoO][0-9a-fA-F_]+|[0-9][0-9_.eE+\-]*)$")
WORDS = re.compile(rb"^[A-Za-z0-9]+(?:[_\-./:][A-Za-z0-9]+)+$")
NON_HEX_LETTER = re.compile(rb"[g-zG-Z]")
REST_OF_LINE = re.compile(rb"[ \t]*(?:[#;].*)?(?:\r?\n|$)|[ \t]+[A-Za-z_][A-Za-z0-9_]*=")  # or the next shell assignment


def looks_random(body: bytes) -> bool:
    """A token's body: not a run of a few characters, not a documented placeholder."""
    return len(set(body)) >= 6 and not PLACEHOLDER_BODY.search(body)


def entropy(value: bytes) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def is_template(value: bytes) -> bool:
    return not value or value[:1] in b"${%<*" or REFERENCE.search(value) is not None


def _joined_words(value: bytes) -> bool:
    """``model_v2``, ``bert-base-uncased``, ``data/train.csv``: names, not keys (unless all hex, as a UUID)."""
    if not WORDS.match(value) or not NON_HEX_LETTER.search(value):
        return False
    return all(part.islower() or part.isupper() or part.isdigit() for part in re.split(rb"[_\-./:]+", value))


# --------------------------------------------------------------------------- token rules


@dataclass(frozen=True)
class TokenRule:
    what: str
    pattern: bytes  # starts with a literal; group "value" is the secret, else all of the match
    own_only: bool = False
    word_start: bool = True  # the match must not continue a word
    valid: Callable[[bytes], bool] = looks_random

    def first(self, piece: bytes, compiled: re.Pattern) -> Hit | None:
        found = compiled.search(piece)
        while found:
            start = found.start()
            value = found.group("value") if "value" in compiled.groupindex else found.group()
            if not (self.word_start and start and piece[start - 1] in WORD) and self.valid(value):
                return Hit(self.what, start, hint(value) if self.what != PRIVATE_KEY else "")
            found = compiled.search(piece, start + 1)
        return None


PRIVATE_KEY = "a private key"
KAGGLE_KEY = "a Kaggle API key"
OPERATOR = rb"""["']?\]?[ \t]*(?:=>|:=|=|:)[ \t]*["']?"""
AWS_SECRET = OPERATOR + rb"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
TOKEN_RULES = (
    TokenRule(PRIVATE_KEY, rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", own_only=True, word_start=False, valid=bool),
    TokenRule("a GitHub token", rb"gh[pousr]_[A-Za-z0-9]{36,255}"),
    TokenRule("a GitHub token", rb"github_pat_[A-Za-z0-9_]{60,255}"),
    TokenRule("a GitLab token", rb"glpat-[A-Za-z0-9_\-]{20,}"),
    TokenRule("a Hugging Face token", rb"hf_[A-Za-z0-9]{30,}"),
    TokenRule("a Kaggle API token", rb"KGAT_[A-Za-z0-9]{24,}"),
    TokenRule(KAGGLE_KEY, rb'"username"\s*:\s*"[^"\n]{1,100}"\s*,\s*"key"\s*:\s*"(?P<value>[0-9a-f]{32})"', word_start=False),
    TokenRule(KAGGLE_KEY, rb"KAGGLE_(?:API_)?(?:KEY|TOKEN)" + OPERATOR + rb"(?P<value>[0-9a-f]{32})(?![0-9A-Za-z])"),
    TokenRule("an AWS access key", rb"A[KS]IA[0-9A-Z]{16}(?![0-9A-Za-z])"),
    TokenRule("an AWS secret key", rb"aws_secret_access_key" + AWS_SECRET),  # two rules: a case-insensitive
    TokenRule("an AWS secret key", rb"AWS_SECRET_ACCESS_KEY" + AWS_SECRET),  # one loses the prefix scan
    TokenRule("a Slack token", rb"xox[abposr]-[0-9A-Za-z\-]{10,}"),
    TokenRule("a Slack webhook", rb"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/(?P<value>[A-Za-z0-9]{16,})", word_start=False),
    TokenRule("an OpenAI or Anthropic API key",
              rb"sk-(?:(?:proj|svcacct|admin|ant-(?:api|admin)\d\d)-[A-Za-z0-9_\-]{20,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48}(?![A-Za-z0-9]))"),  # fmt: skip
    TokenRule("a Stripe key", rb"sk_live_[0-9a-zA-Z]{24,}"),
    TokenRule("a Stripe key", rb"rk_live_[0-9a-zA-Z]{24,}"),
    TokenRule("a Google API key", rb"AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"),
    TokenRule("a PyPI token", rb"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}"),
    TokenRule("an npm token", rb"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),
    TokenRule("a password in a URL", rb"""://[^\s:/@"'<>]{1,64}:(?P<value>[^\s/@"'<>]{1,128})@[A-Za-z0-9\[]""",
              own_only=True, word_start=False, valid=lambda value: not is_template(value)),  # fmt: skip
)


# --------------------------------------------------------------------------- assignments (the user's own text files)

# A secret-ish word ending a name, then an assignment operator (Julia, Python, shell, TOML, INI, .env,
# YAML, JSON: =, :=, :, =>), not a comparison (==, =~) nor a type (::). Searched in the lower-cased text,
# one keyword at a time, for the prefix scan (see the module's docstring).
OPERATOR_AFTER_NAME = rb"""["']?\]?[ \t]*(?:=>|:=|=(?![=~])|:(?![:=]))[ \t]*"""
KEYWORDS = (rb"pass(?:word|wd|phrase)?", rb"pwd", rb"secret", rb"token", rb"key", rb"credentials?")
SHORT_KEYWORDS = (b"key", b"pwd", b"pass")  # must start a name segment: api_key, apiKey, apikey, but not monkey
PASSWORDISH = re.compile(rb"(?i)pass|pwd|secret")
KAGGLE_NAME = re.compile(rb"(?i)^KAGGLE_(?:API_)?(?:KEY|TOKEN)$")
PUBLIC_NAME = re.compile(rb"(?i)public[_\-.]?key$")
VALUE = re.compile(rb""""(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s"'#;,()\[\]{}<>]+)""")


def assignment_hit(piece: bytes, found: re.Match) -> Hit | None:
    """A literal that looks like a secret, assigned to a name that says it is one.

    ``found`` matched the lower-cased ``piece``: its offsets hold in ``piece``, its group is lower case.
    """
    start = _name_start(piece, found.start("assign"))
    name, keyword = piece[start : found.end("assign")], found.group("assign")
    if keyword in SHORT_KEYWORDS and not (_segment_start(piece, start, found.start("assign")) or name.lower().endswith(b"apikey")):
        return None
    if PUBLIC_NAME.search(name):
        return None
    value = _literal(piece, found.end())
    if value is None or is_template(value):
        return None
    if KAGGLE_NAME.match(name):
        return Hit(KAGGLE_KEY, start, hint(value)) if _password_like(value) and not _joined_words(value) else None
    judge = _password_like if PASSWORDISH.search(name) else _key_like
    return Hit(f"a secret assigned to {name.decode('ascii', 'replace')}", start, hint(value)) if judge(value) else None


def _name_start(piece: bytes, keyword_start: int) -> int:
    start = keyword_start
    while start and piece[start - 1] in NAME:
        start -= 1
    return start


def _segment_start(piece: bytes, name_start: int, keyword_start: int) -> bool:
    if keyword_start == name_start or piece[keyword_start - 1] in b"_.-":
        return True
    return chr(piece[keyword_start - 1]).islower() and chr(piece[keyword_start]).isupper()  # apiKey


def _literal(piece: bytes, at: int) -> bytes | None:
    """The quoted string or bare word assigned; a bare word only where it ends the line (.env, INI, shell)."""
    found = VALUE.match(piece, at)
    if not found:
        return None
    if found.group("bare") is None:
        return found.group("dq") if found.group("dq") is not None else found.group("sq")
    bare = found.group("bare")
    if not REST_OF_LINE.match(piece, found.end()) or NUMBER.match(bare) or (IDENTIFIER.match(bare) and not any(c in b"0123456789" for c in bare)):
        return None  # code: a call, a variable, a number
    return bare


def _password_like(value: bytes) -> bool:
    return len(value) >= 8 and not any(c in b" \t" for c in value) and not PLACEHOLDER_VALUE.search(value)


def _key_like(value: bytes) -> bool:
    if len(value) < 16 or not _password_like(value) or _joined_words(value):
        return False
    has_digit = any(48 <= c <= 57 for c in value)
    has_letter = any(65 <= c <= 90 or 97 <= c <= 122 for c in value)
    return has_digit and has_letter and entropy(value) >= 3.0


# --------------------------------------------------------------------------- searching


@dataclass(frozen=True)
class Checks:
    tokens: tuple[tuple[TokenRule, re.Pattern], ...]
    assignments: tuple[re.Pattern, ...]  # searched in the lower-cased text


@lru_cache(maxsize=None)
def checks_for(*, own: bool, text: bool) -> Checks:
    """The rules for a file of the user's (``own``) or a third party's, text or binary."""
    tokens = tuple((rule, re.compile(rule.pattern)) for rule in TOKEN_RULES if own or not rule.own_only)
    keywords = KEYWORDS if own and text else ()
    return Checks(tokens, tuple(re.compile(b"(?P<assign>%s)%s" % (keyword, OPERATOR_AFTER_NAME)) for keyword in keywords))


def first_hit(piece: bytes, checks: Checks) -> Hit | None:
    """The token nearest the start of ``piece``; failing any, the nearest secret assignment.

    A token names what leaks (``api_key = "sk-proj-..."`` is an OpenAI key), so it goes first.
    """
    hits = [hit for rule, compiled in checks.tokens if (hit := rule.first(piece, compiled))]
    if not hits and checks.assignments:
        lowered = piece.lower()
        hits = [hit for compiled in checks.assignments for hit in _first_assignment(piece, lowered, compiled)]
    return min(hits, key=lambda hit: hit.offset, default=None)


def _first_assignment(piece: bytes, lowered: bytes, compiled: re.Pattern) -> list[Hit]:
    for found in compiled.finditer(lowered):
        hit = assignment_hit(piece, found)
        if hit:
            return [hit]
    return []
