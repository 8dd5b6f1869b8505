"""One RPC to Kaggle through the official client: bounded retries, every answer checked.

The client retries only a few calls, only on 429 and lost connections, never on 5xx; so every call
goes through `Calls.call`: `juliapack.retry` with backoff (an injectable sleep), honouring
Retry-After, and saying what it waits for. Failures become CredentialsError or KaggleError, each with
a fix; a JSON body with ``code >= 400`` counts as the HTTP error it names, even on HTTP 200.
No message carries a key, a token or an upload URL.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, TypeVar

from juliapack.errors import CredentialsError, JuliapackError, KaggleError
from juliapack.kaggle_api.credentials import NEW_TOKEN_FIX, Credentials
from juliapack.report import NullReporter, Reporter
from juliapack.retry import Backoff, Sleep, Transient, retrying

T = TypeVar("T")
UNREACHABLE_FIX = "check the internet connection and proxy settings (HTTPS_PROXY), then run again"
OVERLOADED_FIX = "Kaggle may be having trouble; run again later (finished uploads are not sent again)"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries per call, the first included
    first_delay: float = 2.0  # seconds before the second try; doubles each time
    max_delay: float = 60.0
    max_retry_after: float = 600.0  # longest Retry-After honoured
    call_timeout: float = 120.0  # a read (status, files, metadata) that takes longer is tried again
    slow_notice: float = 15.0  # seconds without an answer after which the wait is announced
    transfer_timeout: float = 300.0  # seconds an upload or download may stall

    def as_backoff(self) -> Backoff:
        return Backoff(attempts=self.attempts, first_delay=self.first_delay, max_delay=self.max_delay)

    def backoff(self, failures: int) -> float:
        return self.as_backoff().delay(failures)


class NotFound(KaggleError):
    """Kaggle answered 404."""


class AccessDenied(KaggleError):
    """Kaggle answered 403."""


class _CallTimeout(Exception):
    pass


class Calls:
    """The calls of one juliapack command to Kaggle, with one set of credentials and one retry policy."""

    def __init__(self, credentials: Credentials, *, sleep: Sleep = time.sleep, policy: RetryPolicy = RetryPolicy(), reporter: Reporter = NullReporter()) -> None:
        self.credentials = credentials
        self.policy = policy
        self.sleep = sleep
        self.reporter = reporter

    def read(self, what: str, call: Callable[[Any], T]) -> T:
        """A call that only reads (status, files, metadata): retried, and given up after call_timeout."""
        return self.call(what, call, timeout=self.policy.call_timeout)

    def call(
        self,
        what: str,
        call: Callable[[Any], T],
        *,
        timeout: float | None = None,
        idempotent: bool = True,
        already_done: Callable[[], bool] | None = None,
    ) -> T | None:
        """Run one RPC with bounded retries; None only when ``already_done`` says an earlier try got through."""

        def attempt() -> T:
            try:
                with self._sdk() as kaggle:
                    return _within(timeout, lambda: call(kaggle), notice_after=self.policy.slow_notice, on_slow=lambda limit: self._say_slow(what, limit))
            except Exception as error:  # noqa: BLE001 - every failure is mapped to a juliapack error or a retry
                problem = self._transient_or_raise(what, error)
            if not idempotent and not problem.refused:
                raise KaggleError(f"{what}: {problem.message}; it may or may not have gone through", fix="check on kaggle.com before running again")
            raise problem

        return self.retrying(what, attempt, done_meanwhile=already_done)

    def retrying(self, what: str, attempt: Callable[[], T], *, done_meanwhile: Callable[[], bool] | None = None) -> T | None:
        """``attempt()`` under this policy, each pause announced through the reporter."""

        def give_up(problem: Transient, tries: int) -> KaggleError:
            return KaggleError(f"{what} failed {tries} times; last: {problem.message}", fix=problem.fix or OVERLOADED_FIX)

        def say(problem: Transient, delay: float, next_try: int) -> None:
            wait = f"waiting {delay:g} s as Kaggle asks" if problem.retry_after is not None else f"retrying in {delay:g} s"
            self.reporter.warn(f"{what}: {problem.message}; {wait} (try {next_try} of {self.policy.attempts})")

        return retrying(attempt, backoff=self.policy.as_backoff(), sleep=self.sleep, give_up=give_up, on_retry=say, done_meanwhile=done_meanwhile)

    def _say_slow(self, what: str, timeout: float) -> None:
        self.reporter.info(f"{what}: no answer from Kaggle after {self.policy.slow_notice:g} s; waiting up to {timeout:g} s in all, then asking again")

    def _sdk(self) -> Any:
        credentials = self.credentials
        return kaggle_module().KaggleApi.build_kaggle_client_with_params(
            args=_client_args(),
            username=None if credentials.token else credentials.username,
            password=None if credentials.token else credentials.key,
            api_token=credentials.token,
        )

    def _transient_or_raise(self, what: str, error: Exception) -> Transient:
        import requests

        if isinstance(error, JuliapackError):
            raise error
        if isinstance(error, requests.HTTPError) and error.response is not None:
            return self._http_failure(what, error)
        if isinstance(error, _CallTimeout):
            return Transient(str(error), fix=UNREACHABLE_FIX)
        if isinstance(error, (requests.ConnectionError, requests.Timeout)):
            return Transient(f"no answer from Kaggle ({type(error).__name__})", fix=UNREACHABLE_FIX)
        raise KaggleError(
            f"{what}: unexpected answer from Kaggle ({type(error).__name__}: {short(str(error))})",
            fix="upgrade the client (pip install -U 'kaggle>=2.2.4,<2.3'); if that does not help, report it with the --debug output",
        ) from error

    def _http_failure(self, what: str, error: Any) -> Transient:
        code = _status_code(error)
        message = short(str(error.args[0]) if error.args else "")
        if code == 401:
            raise CredentialsError(f"Kaggle rejected the credentials from {self.credentials.source} (HTTP 401)", fix=NEW_TOKEN_FIX)
        if code == 403:
            raise AccessDenied(
                f"{what}: Kaggle denied access (HTTP 403: {message})",
                fix="check the owner in the name: you can write only to your own datasets and notebooks (e.g. --dataset YOUR_USER/slug)",
            )
        if code == 404:
            raise NotFound(f"{what}: not found on Kaggle", fix="check the owner and slug")
        if code == 429:
            retry_after = retry_after_seconds(error.response.headers.get("Retry-After"), self.policy.max_retry_after)
            return Transient("rate limited by Kaggle (HTTP 429)", fix="wait a few minutes and run again", retry_after=retry_after, refused=True)
        if code >= 500:
            return Transient(f"Kaggle answered HTTP {code}", fix=OVERLOADED_FIX)
        raise KaggleError(f"{what}: Kaggle answered HTTP {code} ({message})", fix="check the names and options; run with --debug for details")


TITLE_IN_USE_FIX = "give the datasets another title: --title TITLE, or title = \"TITLE\" in [upload] of juliapack.toml (they are titled 'TITLE (Julia)' and so on)"


def refusal_fix(error: str) -> str:
    """What to do about a logical error Kaggle reports in an answer's ``error`` field."""
    text = error.lower()
    if "gpu" in text and "quota" in text:
        return "wait for the weekly GPU quota to reset, or push with enable_gpu false in kernel-metadata.json"
    if "quota" in text or "exceed" in text:
        return "free space: delete old datasets or versions on kaggle.com (private datasets share one quota), then run again"
    if "title" in text and "in use" in text:
        return TITLE_IN_USE_FIX
    if "slug" in text or "title" in text:
        return "use a slug and a title of 6-50 characters; slugs take lowercase letters, digits and dashes"
    return "fix what Kaggle names, then run again"


def kaggle_module() -> Any:
    """The client's module, imported quietly: `import kaggle` authenticates and prints help when it cannot."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from kaggle.api import kaggle_api_extended
    return kaggle_api_extended


def _client_args() -> list[str]:
    # The client reads KAGGLE_API_ENVIRONMENT once, at import; the environment in force now decides here.
    return ["--local"] if os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST" else []


def build_request(cls: type[T], **fields: Any) -> T:
    instance = cls()
    for name, value in fields.items():
        if value is not None:
            setattr(instance, name, value)
    return instance


def created_url(what: str, response: Any) -> str:
    """The URL from a create answer, after checking its status/error fields ("" if an earlier try did it)."""
    if response is None:
        return ""
    status = (response.status or "").lower()
    if status != "ok" or response.error:
        reason = response.error or f"status {response.status!r}"
        raise KaggleError(f"{what}: Kaggle refused: {short(reason)}", fix=refusal_fix(reason))
    return response.url or ""


def check_error_message(what: str, message: str | None) -> None:
    if message:
        raise KaggleError(f"{what}: Kaggle answered with an error: {short(message)}", fix="check the owner and slug, then run again")


def _status_code(error: Any) -> int:
    code = error.response.status_code
    if code < 400:  # a JSON body with "code" >= 400 raises even on HTTP 200
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            code = int(error.response.json().get("code", code))
    return code


def retry_after_seconds(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(cap, seconds))


def _within(timeout: float | None, call: Callable[[], T], *, notice_after: float, on_slow: Callable[[float], None]) -> T:
    """Run ``call``; give up waiting after ``timeout`` seconds (the client sets no timeout of its own), and
    call ``on_slow(timeout)`` once if no answer has come after ``notice_after`` seconds."""
    if timeout is None:
        return call()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as error:  # noqa: BLE001 - handed over to the waiting thread
            box["error"] = error

    worker = threading.Thread(target=run, name="kaggle-call", daemon=True)
    worker.start()
    worker.join(min(notice_after, timeout))
    if worker.is_alive() and notice_after < timeout:
        on_slow(timeout)
        worker.join(timeout - notice_after)
    if worker.is_alive():
        raise _CallTimeout(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
