"""Blob uploads: the files of one dataset version, each sent with Kaggle's resumable upload protocol.

The client's StartBlobUpload request and its ResumableUploadContext (upload state in
$TMPDIR/.kaggle/uploads, reused by the next run), and our own PUT loop, which resumes after a
dropped connection or a 5xx and reports bytes as they go. A file's token is handed out only once
the whole file is on the server.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from juliapack.errors import KaggleError
from juliapack.kaggle_api.calls import OVERLOADED_FIX, UNREACHABLE_FIX, Calls, build_request, retry_after_seconds
from juliapack.retry import Transient

REPORT_EVERY = 1 << 20  # bytes between progress reports


@dataclass(frozen=True)
class UploadedBlob:
    token: str = field(repr=False)
    bytes_sent: int
    from_earlier_run: bool  # an earlier, interrupted run finished it; nothing was sent now


class _Expired(Exception):
    """The server forgot an upload session: start a new one."""


@dataclass
class _Session:
    """Where one file's upload stands between tries."""

    needs_start: bool  # a new upload session must be asked for first
    offset: int | None = None  # the next byte to send; None: ask the server
    fresh: bool = False  # the session is new: send even an empty file


class BlobUploads:
    def __init__(self, calls: Calls, context: Any) -> None:
        self.calls = calls
        self.context = context

    def send(self, path: Path, *, on_bytes: Callable[[int], None] = lambda n: None) -> UploadedBlob:
        """Upload one file completely, or raise: never a token for a partial upload."""
        size = path.stat().st_size
        upload = self.context.new_resumable_file_upload(str(path), self._start_request(path, size))
        if upload.upload_complete:
            on_bytes(size)
            return UploadedBlob(upload.get_token(), 0, from_earlier_run=True)
        counter = _ByteCounter(on_bytes, size)
        session = _Session(needs_start=not upload.can_resume)

        def attempt() -> UploadedBlob:
            self._send_once(upload, path, size, session, counter)
            upload.upload_completed()
            return UploadedBlob(upload.get_token(), counter.sent, from_earlier_run=False)

        return self.calls.retrying(f"upload of {path.name}", attempt)

    def _send_once(self, upload: Any, path: Path, size: int, session: _Session, counter: _ByteCounter) -> None:
        if session.needs_start:
            self._start(upload)
            session.needs_start, session.offset, session.fresh = False, 0, True
        try:
            if session.offset is None:
                session.offset = self._received(upload, size)
            if session.offset < size or session.fresh:
                self._put(upload, path, session.offset, size, counter)
        except _Expired:
            session.needs_start = True
            raise Transient("the upload session expired", fix=OVERLOADED_FIX, retry_after=0) from None
        except Transient:
            session.offset, session.fresh = None, False
            raise

    def _start_request(self, path: Path, size: int) -> Any:
        from kagglesdk.blobs.types.blob_api_service import ApiBlobType, ApiStartBlobUploadRequest

        return build_request(
            ApiStartBlobUploadRequest, type=ApiBlobType.DATASET, name=path.name, content_length=size,
            last_modified_epoch_seconds=int(path.stat().st_mtime),
        )  # fmt: skip

    def _start(self, upload: Any) -> None:
        request = upload.start_blob_upload_request
        what = f"start the upload of {request.name}"
        response = self.calls.read(what, lambda k: k.blobs.blob_api_client.start_blob_upload(request))
        if not response.token or not response.create_url:
            raise KaggleError(f"{what}: Kaggle gave no upload URL", fix=OVERLOADED_FIX)
        upload.upload_initiated(response)

    def _received(self, upload: Any, size: int) -> int:
        """How many bytes the server holds (the resume query of the protocol)."""
        import requests

        headers = {"Content-Length": "0", "Content-Range": f"bytes */{size}"}
        try:
            with transfers() as session:
                response = session.put(upload.start_blob_upload_response.create_url, headers=headers, timeout=(30, self.calls.policy.call_timeout))
        except (requests.ConnectionError, requests.Timeout) as error:
            raise Transient(f"no answer to the resume query ({type(error).__name__})", fix=UNREACHABLE_FIX) from None
        if response.status_code in (200, 201):
            return size
        if response.status_code == 308:
            return _range_end(response.headers.get("Range"))
        raise transfer_failure(f"upload of {upload.start_blob_upload_request.name}", response)

    def _put(self, upload: Any, path: Path, offset: int, size: int, counter: _ByteCounter) -> None:
        import requests

        headers = {"Content-Length": str(size - offset)}
        if offset:
            headers["Content-Range"] = f"bytes {offset}-{size - 1}/{size}"
        counter.restart_at(offset)
        try:
            with open(path, "rb") as stream, transfers() as session:
                stream.seek(offset)
                body = _CountingBody(stream, size - offset, counter) if size > offset else b""
                response = session.put(
                    upload.start_blob_upload_response.create_url, data=body, headers=headers, timeout=(30, self.calls.policy.transfer_timeout)
                )
        except (requests.ConnectionError, requests.Timeout) as error:
            raise Transient(f"the upload broke off ({type(error).__name__})", fix=UNREACHABLE_FIX) from None
        if response.status_code in (200, 201):
            return
        if response.status_code == 308:
            raise Transient("the server kept only part of the upload", fix=OVERLOADED_FIX, retry_after=0)
        raise transfer_failure(f"upload of {path.name}", response)


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


def transfers() -> Any:
    """A requests session for blob PUTs and output downloads (no credentials: the URLs are pre-signed)."""
    import requests

    return requests.Session()


def transfer_failure(what: str, response: Any) -> Exception:
    code = response.status_code
    if code in (404, 410):
        return _Expired()
    if code == 429:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"), 600.0)
        return Transient("rate limited (HTTP 429)", fix="wait a few minutes and run again", retry_after=retry_after)
    if code >= 500:
        return Transient(f"the storage server answered HTTP {code}", fix=OVERLOADED_FIX)
    return KaggleError(f"{what}: refused with HTTP {code}", fix="run juliapack again; if it persists, report it with the --debug output")


def _range_end(header: str | None) -> int:
    """The next byte to send after a 308's ``Range: bytes=0-K`` (0 without one, or if it is malformed)."""
    if not header or "-" not in header:
        return 0
    try:
        return int(header.rsplit("-", 1)[1]) + 1
    except ValueError:
        return 0

