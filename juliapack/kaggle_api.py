"""The one module that talks to Kaggle: the few calls juliapack makes, through the official `kaggle` client.

- Credentials are found and checked here, without network and before `kaggle` is imported: the package
  authenticates while it is imported (and prints help on stdout when it cannot).
- Every answer is checked: the HTTP status, and the ``status``/``error`` fields in which Kaggle reports
  refusals with HTTP 200. Failures become CredentialsError, KaggleError or InputError, each with a fix.
- The client retries only a few calls, only on 429 and lost connections, never on 5xx; so every call
  here goes through `_call`: bounded retries with backoff (an injectable sleep), honouring Retry-After.
- Blob uploads are driven here rather than by the client's dataset_create_version, which creates the
  version without a file whose upload failed: the client's StartBlobUpload request and its
  ResumableUploadContext (upload state in $TMPDIR/.kaggle/uploads, reused by the next run), and our own
  PUT loop, which resumes after a dropped connection or a 5xx and reports bytes as they go.
- No message carries a key, a token or an upload URL.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

from juliapack.errors import CredentialsError, JuliapackError, KaggleError
from juliapack.fsutil import atomic_output

T = TypeVar("T")

TOKEN_FIX = (
    "create an API token at kaggle.com/settings → API → Create New Token and save the downloaded kaggle.json "
    "as ~/.kaggle/kaggle.json (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)"
)
NEW_TOKEN_FIX = "the token may be revoked or mistyped: " + TOKEN_FIX
DEFAULT_LICENSE = "other"  # Julia and each package keep their own licenses; the description says so
REPORT_EVERY = 1 << 20  # bytes between progress reports


# --------------------------------------------------------------------------- credentials (offline)


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


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries per call, the first included
    first_delay: float = 2.0  # seconds before the second try; doubles each time
    max_delay: float = 60.0
    max_retry_after: float = 600.0  # longest Retry-After honoured
    call_timeout: float = 120.0  # a read (status, files, metadata) that takes longer is tried again
    transfer_timeout: float = 300.0  # seconds an upload or download may stall

    def backoff(self, failures: int) -> float:
        return min(self.max_delay, self.first_delay * 2 ** (failures - 1))


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int


@dataclass(frozen=True)
class DatasetSummary:
    version: int | None
    url: str
    title: str


@dataclass(frozen=True)
class UploadedBlob:
    token: str = field(repr=False)
    bytes_sent: int
    from_earlier_run: bool  # an earlier, interrupted run finished it; nothing was sent now


@dataclass(frozen=True)
class SavedKernel:
    ref: str
    url: str
    version: int | None


@dataclass(frozen=True)
class KernelStatus:
    state: str  # Kaggle's name: QUEUED, RUNNING, COMPLETE, ERROR, CANCEL_REQUESTED, ...
    failure_message: str


@dataclass(frozen=True)
class OutputFile:
    name: str
    url: str = field(repr=False)


@dataclass(frozen=True)
class KernelOutput:
    files: tuple[OutputFile, ...]
    log: str


class NotFound(KaggleError):
    """Kaggle answered 404."""


class AccessDenied(KaggleError):
    """Kaggle answered 403."""


class _Transient(Exception):
    """A failure worth another try: 429, 5xx, no answer."""

    def __init__(self, message: str, *, fix: str, retry_after: float | None = None, refused: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.retry_after = retry_after
        self.refused = refused  # the server turned the request away unread (429): repeating it is always safe


class _Expired(Exception):
    """The server forgot an upload session: start a new one."""


class _CallTimeout(Exception):
    pass


UNREACHABLE_FIX = "check the internet connection and proxy settings (HTTPS_PROXY), then run again"
OVERLOADED_FIX = "Kaggle may be having trouble; run again later (finished uploads are not sent again)"


# --------------------------------------------------------------------------- the client


class KaggleClient:
    """juliapack's calls to Kaggle. Build it with `from_environment()`; tests pass a fast `sleep`."""

    def __init__(self, credentials: Credentials, *, sleep: Callable[[float], None] = time.sleep, policy: RetryPolicy = RetryPolicy()) -> None:
        self.credentials = credentials
        self.policy = policy
        self._sleep = sleep
        self._username = credentials.username

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str] | None = None, *, sleep: Callable[[float], None] = time.sleep, policy: RetryPolicy = RetryPolicy()
    ) -> KaggleClient:
        return cls(find_credentials(env), sleep=sleep, policy=policy)

    @property
    def username(self) -> str:
        """The authenticated user (asks Kaggle once when the credentials are a bare token)."""
        if self._username is None:
            self._username = self._token_owner()
        return self._username

    # ------------------------------------------------------------------ datasets

    def dataset_status(self, owner: str, slug: str) -> str | None:
        """READY, FAILED or a processing state; None if the dataset does not exist."""
        from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetStatusRequest

        request = _build(ApiGetDatasetStatusRequest, owner_slug=owner, dataset_slug=slug)
        try:
            response = self._read(f"status of dataset {owner}/{slug}", lambda k: k.datasets.dataset_api_client.get_dataset_status(request))
        except NotFound:
            return None
        return response.status.name

    def dataset_description(self, owner: str, slug: str) -> str:
        from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetMetadataRequest

        request = _build(ApiGetDatasetMetadataRequest, owner_slug=owner, dataset_slug=slug)
        what = f"metadata of dataset {owner}/{slug}"
        response = self._read(what, lambda k: k.datasets.dataset_api_client.get_dataset_metadata(request))
        _check_error_message(what, response.error_message)
        return (response.info.description if response.info else None) or ""

    def dataset_files(self, owner: str, slug: str) -> tuple[RemoteFile, ...]:
        """The files of the dataset's current version."""
        from kagglesdk.datasets.types.dataset_api_service import ApiListDatasetFilesRequest

        what = f"file list of dataset {owner}/{slug}"
        files: list[RemoteFile] = []
        page_token = None
        while True:
            request = _build(ApiListDatasetFilesRequest, owner_slug=owner, dataset_slug=slug, page_size=50, page_token=page_token)
            response = self._read(what, lambda k, request=request: k.datasets.dataset_api_client.list_dataset_files(request))
            _check_error_message(what, response.error_message)
            files += [RemoteFile(f.name or "", f.total_bytes or 0) for f in response.dataset_files]
            page_token = response.next_page_token
            if not page_token:
                return tuple(files)

    def dataset_summary(self, owner: str, slug: str) -> DatasetSummary:
        from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetRequest

        request = _build(ApiGetDatasetRequest, owner_slug=owner, dataset_slug=slug)
        response = self._read(f"dataset {owner}/{slug}", lambda k: k.datasets.dataset_api_client.get_dataset(request))
        return DatasetSummary(response.current_version_number, response.url or dataset_url(owner, slug), response.title or "")

    @contextlib.contextmanager
    def blob_uploads(self) -> Iterator[BlobUploads]:
        """Uploads for one dataset. If the block fails, finished uploads are kept for the next run."""
        extended = _kaggle()
        with extended.ResumableUploadContext() as context:
            yield BlobUploads(self, context)

    def create_dataset(
        self,
        owner: str,
        slug: str,
        *,
        title: str,
        description: str,
        tokens: list[str],
        private: bool,
        already_done: Callable[[], bool],
    ) -> str:
        """Create the dataset from uploaded blobs; returns its URL. ``already_done`` guards retries."""
        from kagglesdk.datasets.types.dataset_api_service import ApiCreateDatasetRequest

        request = _build(
            ApiCreateDatasetRequest, owner_slug=owner, slug=slug, title=title, license_name=DEFAULT_LICENSE,
            is_private=private, description=description, files=[_new_file(token) for token in tokens],
        )  # fmt: skip
        what = f"create dataset {owner}/{slug}"
        response = self._call(what, lambda k: k.datasets.dataset_api_client.create_dataset(request), already_done=already_done)
        return _created(what, response) or dataset_url(owner, slug)

    def create_version(
        self, owner: str, slug: str, *, notes: str, description: str, tokens: list[str], already_done: Callable[[], bool]
    ) -> str:
        from kagglesdk.datasets.types.dataset_api_service import ApiCreateDatasetVersionRequest, ApiCreateDatasetVersionRequestBody

        body = _build(ApiCreateDatasetVersionRequestBody, version_notes=notes, description=description, files=[_new_file(t) for t in tokens])
        request = _build(ApiCreateDatasetVersionRequest, owner_slug=owner, dataset_slug=slug, body=body)
        what = f"new version of dataset {owner}/{slug}"
        response = self._call(what, lambda k: k.datasets.dataset_api_client.create_dataset_version(request), already_done=already_done)
        return _created(what, response) or dataset_url(owner, slug)

    # ------------------------------------------------------------------ kernels

    def save_kernel(
        self,
        *,
        ref: str,
        title: str,
        text: str,
        language: str,
        kernel_type: str,
        private: bool,
        gpu: bool,
        internet: bool,
        dataset_sources: list[str],
        competition_sources: list[str],
        kernel_sources: list[str],
    ) -> SavedKernel:
        """Push a new version of the notebook; Kaggle queues a run of it."""
        from kagglesdk.kernels.types.kernels_api_service import ApiSaveKernelRequest

        request = _build(
            ApiSaveKernelRequest, slug=ref, new_title=title, text=text, language=language, kernel_type=kernel_type,
            is_private=private, enable_gpu=gpu, enable_internet=internet, dataset_data_sources=dataset_sources,
            competition_data_sources=competition_sources, kernel_data_sources=kernel_sources,
        )  # fmt: skip
        what = f"push notebook {ref}"
        # Not retried after a 5xx or a lost answer: the push may have gone through, and a retry would run it twice.
        response = self._call(what, lambda k: k.kernels.kernels_api_client.save_kernel(request), idempotent=False)
        if response.error:
            raise KaggleError(f"{what}: Kaggle refused: {response.error}", fix=refusal_fix(response.error))
        unknown = [*response.invalid_dataset_sources, *response.invalid_competition_sources, *response.invalid_kernel_sources]
        if unknown:  # Kaggle saved the notebook anyway, without them: its run cannot find its files
            raise KaggleError(
                f"{what}: Kaggle pushed it without these sources, which it does not know: {', '.join(unknown)}",
                fix="upload the datasets first (juliapack upload), check the names in kernel-metadata.json, and push again",
            )
        return SavedKernel(ref=_kernel_ref(response.ref) or ref, url=response.url or kernel_url(ref), version=response.version_number)

    def kernel_status(self, owner: str, slug: str) -> KernelStatus:
        from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelSessionStatusRequest

        request = _build(ApiGetKernelSessionStatusRequest, user_name=owner, kernel_slug=slug)
        response = self._read(f"status of notebook {owner}/{slug}", lambda k: k.kernels.kernels_api_client.get_kernel_session_status(request))
        return KernelStatus(response.status.name, response.failure_message or "")

    def kernel_output(self, owner: str, slug: str) -> KernelOutput:
        """The output files of the latest run (names and download URLs) and its log."""
        from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputRequest

        files: list[OutputFile] = []
        log = None
        page_token = None
        while True:
            request = _build(ApiListKernelSessionOutputRequest, user_name=owner, kernel_slug=slug, page_size=50, page_token=page_token)
            what = f"output of notebook {owner}/{slug}"
            response = self._read(what, lambda k, request=request: k.kernels.kernels_api_client.list_kernel_session_output(request))
            files += [OutputFile(f.file_name or "", f.url or "") for f in response.files]
            log = response.log if log is None else log
            page_token = response.next_page_token
            if not page_token:
                return KernelOutput(tuple(files), log or "")

    def download(self, url: str, target: Path, *, on_bytes: Callable[[int], None] = lambda n: None) -> int:
        """GET a pre-signed URL (no credentials) into ``target``, atomically; returns its size."""
        failures = 0
        while True:
            try:
                return self._download_once(url, target, on_bytes)
            except _Transient as problem:
                failures += 1
                if failures >= self.policy.attempts:
                    raise KaggleError(f"download of {target.name} failed {failures} times: {problem.message}", fix=problem.fix) from None
                self._sleep(problem.retry_after if problem.retry_after is not None else self.policy.backoff(failures))

    def _download_once(self, url: str, target: Path, on_bytes: Callable[[int], None]) -> int:
        import requests

        try:
            with _transfers() as session, session.get(url, stream=True, timeout=(30, self.policy.transfer_timeout)) as response:
                if response.status_code != 200:
                    raise _transfer_failure(f"download of {target.name}", response)
                size = 0
                with atomic_output(target, large=True) as out:
                    for chunk in response.iter_content(REPORT_EVERY):
                        out.write(chunk)
                        size += len(chunk)
                        on_bytes(len(chunk))
                return size
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            raise _Transient(f"the download broke off ({type(error).__name__})", fix=UNREACHABLE_FIX) from None

    # ------------------------------------------------------------------ calls, retries, failures

    def _token_owner(self) -> str:
        from kagglesdk.security.types.oauth_service import IntrospectTokenRequest

        request = _build(IntrospectTokenRequest, token=self.credentials.token)
        try:
            response = self._read("check the API token", lambda k: k.security.oauth_client.introspect_token(request))
        except (NotFound, AccessDenied):
            response = None
        if response is None or not response.active or not response.username:
            raise CredentialsError(f"Kaggle does not accept the API token from {self.credentials.source}", fix=NEW_TOKEN_FIX)
        return response.username

    def _read(self, what: str, call: Callable[[Any], T]) -> T:
        return self._call(what, call, timeout=self.policy.call_timeout)

    def _call(
        self,
        what: str,
        call: Callable[[Any], T],
        *,
        timeout: float | None = None,
        idempotent: bool = True,
        already_done: Callable[[], bool] | None = None,
    ) -> T | None:
        """Run one RPC with bounded retries; None only when ``already_done`` says an earlier try got through."""
        problem: _Transient | None = None
        for attempt in range(1, self.policy.attempts + 1):
            if problem is not None:
                self._sleep(problem.retry_after if problem.retry_after is not None else self.policy.backoff(attempt - 1))
                if already_done is not None and already_done():
                    return None
            try:
                with self._sdk() as kaggle:
                    return _within(timeout, lambda: call(kaggle))
            except Exception as error:  # noqa: BLE001 - every failure is mapped to a juliapack error or a retry
                problem = self._transient_or_raise(what, error)
                if not idempotent and not problem.refused:
                    raise KaggleError(f"{what}: {problem.message}; it may or may not have gone through", fix="check on kaggle.com before running again") from None
        assert problem is not None
        raise KaggleError(f"{what} failed {self.policy.attempts} times; last: {problem.message}", fix=problem.fix)

    def _sdk(self) -> Any:
        credentials = self.credentials
        return _kaggle().KaggleApi.build_kaggle_client_with_params(
            args=_client_args(),
            username=None if credentials.token else credentials.username,
            password=None if credentials.token else credentials.key,
            api_token=credentials.token,
        )

    def _transient_or_raise(self, what: str, error: Exception) -> _Transient:
        import requests

        if isinstance(error, JuliapackError):
            raise error
        if isinstance(error, requests.HTTPError) and error.response is not None:
            return self._http_failure(what, error)
        if isinstance(error, (requests.ConnectionError, requests.Timeout, _CallTimeout)):
            return _Transient(f"no answer from Kaggle ({type(error).__name__})", fix=UNREACHABLE_FIX)
        raise KaggleError(
            f"{what}: unexpected answer from Kaggle ({type(error).__name__}: {_short(str(error))})",
            fix="upgrade the client (pip install -U 'kaggle>=2.2.4,<2.3'); if that does not help, report it with the --debug output",
        ) from error

    def _http_failure(self, what: str, error: Any) -> _Transient:
        code = _status_code(error)
        message = _short(str(error.args[0]) if error.args else "")
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
            retry_after = _retry_after(error.response.headers.get("Retry-After"), self.policy.max_retry_after)
            return _Transient("rate limited by Kaggle (HTTP 429)", fix="wait a few minutes and run again", retry_after=retry_after, refused=True)
        if code >= 500:
            return _Transient(f"Kaggle answered HTTP {code}", fix=OVERLOADED_FIX)
        raise KaggleError(f"{what}: Kaggle answered HTTP {code} ({message})", fix="check the names and options; run with --debug for details")


class BlobUploads:
    """The files of one dataset version, each sent with Kaggle's resumable upload protocol."""

    def __init__(self, client: KaggleClient, context: Any) -> None:
        self._client = client
        self._context = context

    def send(self, path: Path, *, on_bytes: Callable[[int], None] = lambda n: None) -> UploadedBlob:
        """Upload one file completely, or raise: never a token for a partial upload."""
        size = path.stat().st_size
        upload = self._context.new_resumable_file_upload(str(path), self._start_request(path, size))
        if upload.upload_complete:
            on_bytes(size)
            return UploadedBlob(upload.get_token(), 0, from_earlier_run=True)
        counter = _ByteCounter(on_bytes, size)
        fresh = not upload.can_resume
        if fresh:
            self._start(upload)
        offset: int | None = 0 if fresh else None
        failures = 0
        while True:
            try:
                if offset is None:
                    offset = self._received(upload, size)
                if offset < size or fresh:
                    self._put(upload, path, offset, size, counter)
                upload.upload_completed()
                return UploadedBlob(upload.get_token(), counter.sent, from_earlier_run=False)
            except _Expired:
                failures += 1
                self._give_up_after(failures, path, "the upload session expired")
                self._start(upload)
                offset, fresh = 0, True
            except _Transient as problem:
                failures += 1
                self._give_up_after(failures, path, problem.message, fix=problem.fix)
                self._client._sleep(problem.retry_after if problem.retry_after is not None else self._client.policy.backoff(failures))
                offset, fresh = None, False

    def _give_up_after(self, failures: int, path: Path, message: str, *, fix: str = OVERLOADED_FIX) -> None:
        if failures >= self._client.policy.attempts:
            raise KaggleError(f"upload of {path.name} failed {failures} times; last: {message}", fix=fix)

    def _start_request(self, path: Path, size: int) -> Any:
        from kagglesdk.blobs.types.blob_api_service import ApiBlobType, ApiStartBlobUploadRequest

        return _build(
            ApiStartBlobUploadRequest, type=ApiBlobType.DATASET, name=path.name, content_length=size,
            last_modified_epoch_seconds=int(path.stat().st_mtime),
        )  # fmt: skip

    def _start(self, upload: Any) -> None:
        request = upload.start_blob_upload_request
        what = f"start the upload of {request.name}"
        response = self._client._read(what, lambda k: k.blobs.blob_api_client.start_blob_upload(request))
        if not response.token or not response.create_url:
            raise KaggleError(f"{what}: Kaggle gave no upload URL", fix=OVERLOADED_FIX)
        upload.upload_initiated(response)

    def _received(self, upload: Any, size: int) -> int:
        """How many bytes the server holds (the resume query of the protocol)."""
        import requests

        headers = {"Content-Length": "0", "Content-Range": f"bytes */{size}"}
        try:
            with _transfers() as session:
                response = session.put(upload.start_blob_upload_response.create_url, headers=headers, timeout=(30, self._client.policy.call_timeout))
        except (requests.ConnectionError, requests.Timeout) as error:
            raise _Transient(f"no answer to the resume query ({type(error).__name__})", fix=UNREACHABLE_FIX) from None
        if response.status_code in (200, 201):
            return size
        if response.status_code == 308:
            return _range_end(response.headers.get("Range"))
        raise _transfer_failure(f"upload of {upload.start_blob_upload_request.name}", response)

    def _put(self, upload: Any, path: Path, offset: int, size: int, counter: _ByteCounter) -> None:
        import requests

        headers = {"Content-Length": str(size - offset)}
        if offset:
            headers["Content-Range"] = f"bytes {offset}-{size - 1}/{size}"
        counter.restart_at(offset)
        try:
            with open(path, "rb") as stream, _transfers() as session:
                stream.seek(offset)
                body = _CountingBody(stream, size - offset, counter) if size > offset else b""
                response = session.put(
                    upload.start_blob_upload_response.create_url, data=body, headers=headers, timeout=(30, self._client.policy.transfer_timeout)
                )
        except (requests.ConnectionError, requests.Timeout) as error:
            raise _Transient(f"the upload broke off ({type(error).__name__})", fix=UNREACHABLE_FIX) from None
        if response.status_code in (200, 201):
            return
        if response.status_code == 308:
            raise _Transient("the server kept only part of the upload", fix=OVERLOADED_FIX, retry_after=0)
        raise _transfer_failure(f"upload of {path.name}", response)


class _ByteCounter:
    """Counts bytes sent; moves the progress display to the furthest byte reached (a resend does not)."""

    def __init__(self, on_bytes: Callable[[int], None], size: int) -> None:
        self.sent = 0
        self._on_bytes = on_bytes
        self._size = size
        self._position = 0
        self._shown = 0

    def restart_at(self, offset: int) -> None:
        self._position = offset
        self._report()

    def add(self, amount: int) -> None:
        self.sent += amount
        self._position += amount
        if self._position - self._shown >= REPORT_EVERY or self._position >= self._size:
            self._report()

    def _report(self) -> None:
        if self._position > self._shown:
            self._on_bytes(self._position - self._shown)
            self._shown = self._position


class _CountingBody:
    """A file-like request body of a known length that counts what the HTTP library reads."""

    def __init__(self, stream: io.BufferedReader, length: int, counter: _ByteCounter) -> None:
        self._stream = stream
        self._remaining = length
        self._counter = counter

    def __len__(self) -> int:
        return self._remaining

    def read(self, size: int = -1) -> bytes:
        wanted = self._remaining if size is None or size < 0 else min(size, self._remaining)
        chunk = self._stream.read(wanted)
        self._remaining -= len(chunk)
        self._counter.add(len(chunk))
        return chunk


# --------------------------------------------------------------------------- helpers


def dataset_url(owner: str, slug: str) -> str:
    return f"https://www.kaggle.com/datasets/{owner}/{slug}"


def kernel_url(ref: str) -> str:
    return f"https://www.kaggle.com/code/{ref}"


def _kernel_ref(answer: str | None) -> str | None:
    """owner/slug from SaveKernel's ref, which may come as a path ("/code/owner/slug")."""
    parts = [part for part in (answer or "").split("/") if part]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def refusal_fix(error: str) -> str:
    """What to do about a logical error Kaggle reports in an answer's ``error`` field."""
    text = error.lower()
    if "gpu" in text and "quota" in text:
        return "wait for the weekly GPU quota to reset, or push with enable_gpu false in kernel-metadata.json"
    if "quota" in text or "exceed" in text:
        return "free space: delete old datasets or versions on kaggle.com (private datasets share one quota), then run again"
    if "title" in text and "in use" in text:
        return "choose another title or slug (title/slug in juliapack.toml, or --dataset OWNER/SLUG)"
    if "slug" in text or "title" in text:
        return "use a slug and a title of 6-50 characters; slugs take lowercase letters, digits and dashes"
    return "fix what Kaggle names, then run again"


def _kaggle() -> Any:
    """The client's module, imported quietly: `import kaggle` authenticates and prints help when it cannot."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from kaggle.api import kaggle_api_extended
    return kaggle_api_extended


def _client_args() -> list[str]:
    # The client reads KAGGLE_API_ENVIRONMENT once, at import; the environment in force now decides here.
    return ["--local"] if os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST" else []


def _transfers() -> Any:
    """A requests session for blob PUTs and output downloads (no credentials: the URLs are pre-signed)."""
    import requests

    return requests.Session()


def _build(cls: type[T], **fields: Any) -> T:
    instance = cls()
    for name, value in fields.items():
        if value is not None:
            setattr(instance, name, value)
    return instance


def _new_file(token: str) -> Any:
    from kagglesdk.datasets.types.dataset_api_service import ApiDatasetNewFile

    return _build(ApiDatasetNewFile, token=token)


def _created(what: str, response: Any) -> str:
    """The URL from a create answer, after checking its status/error fields ("" if an earlier try did it)."""
    if response is None:
        return ""
    status = (response.status or "").lower()
    if status != "ok" or response.error:
        reason = response.error or f"status {response.status!r}"
        raise KaggleError(f"{what}: Kaggle refused: {_short(reason)}", fix=refusal_fix(reason))
    return response.url or ""


def _check_error_message(what: str, message: str | None) -> None:
    if message:
        raise KaggleError(f"{what}: Kaggle answered with an error: {_short(message)}", fix="check the owner and slug, then run again")


def _status_code(error: Any) -> int:
    code = error.response.status_code
    if code < 400:  # a JSON body with "code" >= 400 raises even on HTTP 200
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            code = int(error.response.json().get("code", code))
    return code


def _transfer_failure(what: str, response: Any) -> Exception:
    code = response.status_code
    if code in (404, 410):
        return _Expired()
    if code == 429:
        return _Transient("rate limited (HTTP 429)", fix="wait a few minutes and run again", retry_after=_retry_after(response.headers.get("Retry-After"), 600.0))
    if code >= 500:
        return _Transient(f"the storage server answered HTTP {code}", fix=OVERLOADED_FIX)
    return KaggleError(f"{what}: refused with HTTP {code}", fix="run juliapack again; if it persists, report it with the --debug output")


def _range_end(header: str | None) -> int:
    """The next byte to send after a 308's ``Range: bytes=0-K`` (0 without one, or if it is malformed)."""
    if not header or "-" not in header:
        return 0
    try:
        return int(header.rsplit("-", 1)[1]) + 1
    except ValueError:
        return 0


def _retry_after(value: str | None, cap: float) -> float | None:
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


def _within(timeout: float | None, call: Callable[[], T]) -> T:
    """Run ``call``; give up waiting after ``timeout`` seconds (the client sets no timeout of its own)."""
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
    worker.join(timeout)
    if worker.is_alive():
        raise _CallTimeout(f"no answer within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
