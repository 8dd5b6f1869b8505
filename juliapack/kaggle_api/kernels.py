"""Kaggle kernels: push a new version, its run's status, its output files and log."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from juliapack.errors import KaggleError
from juliapack.fsutil import atomic_output
from juliapack.kaggle_api.blobs import REPORT_EVERY, transfer_failure, transfers
from juliapack.kaggle_api.calls import UNREACHABLE_FIX, Calls, build_request, refusal_fix
from juliapack.retry import Transient


@dataclass(frozen=True)
class KernelPush:
    """What SaveKernel gets: the notebook and every field of kernel-metadata.json that Kaggle reads."""

    ref: str
    title: str
    text: str  # the notebook (or script) as Kaggle wants it
    language: str
    kernel_type: str
    private: bool
    gpu: bool
    internet: bool
    dataset_sources: tuple[str, ...] = ()
    competition_sources: tuple[str, ...] = ()
    kernel_sources: tuple[str, ...] = ()
    model_sources: tuple[str, ...] = ()
    machine_shape: str | None = None  # None: Kaggle's default (a CPU)
    docker_image_pinning_type: str | None = None  # "original" or "latest"


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


class KernelsApi:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def save(self, push: KernelPush) -> SavedKernel:
        """Push a new version of the notebook; Kaggle queues a run of it."""
        from kagglesdk.kernels.types.kernels_api_service import ApiSaveKernelRequest

        request = build_request(
            ApiSaveKernelRequest, slug=push.ref, new_title=push.title, text=push.text, language=push.language,
            kernel_type=push.kernel_type, is_private=push.private, enable_gpu=push.gpu, enable_tpu=False,
            enable_internet=push.internet, dataset_data_sources=list(push.dataset_sources),
            competition_data_sources=list(push.competition_sources), kernel_data_sources=list(push.kernel_sources),
            model_data_sources=list(push.model_sources), machine_shape=push.machine_shape,
            docker_image_pinning_type=push.docker_image_pinning_type,
        )  # fmt: skip
        what = f"push notebook {push.ref}"
        # Not retried after a 5xx or a lost answer: the push may have gone through, and a retry would run it twice.
        response = self.calls.call(what, lambda k: k.kernels.kernels_api_client.save_kernel(request), idempotent=False)
        if response.error:
            raise KaggleError(f"{what}: Kaggle refused: {response.error}", fix=refusal_fix(response.error))
        _refuse_unknown_sources(what, response)
        return SavedKernel(ref=_kernel_ref(response.ref) or push.ref, url=response.url or kernel_url(push.ref), version=response.version_number)

    def status(self, owner: str, slug: str) -> KernelStatus:
        from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelSessionStatusRequest

        request = build_request(ApiGetKernelSessionStatusRequest, user_name=owner, kernel_slug=slug)
        response = self.calls.read(f"status of notebook {owner}/{slug}", lambda k: k.kernels.kernels_api_client.get_kernel_session_status(request))
        return KernelStatus(response.status.name, response.failure_message or "")

    def output(self, owner: str, slug: str) -> KernelOutput:
        """The output files of the latest run (names and download URLs) and its log."""
        from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputRequest

        files: list[OutputFile] = []
        log = None
        page_token = None
        while True:
            request = build_request(ApiListKernelSessionOutputRequest, user_name=owner, kernel_slug=slug, page_size=50, page_token=page_token)
            what = f"output of notebook {owner}/{slug}"
            response = self.calls.read(what, lambda k, request=request: k.kernels.kernels_api_client.list_kernel_session_output(request))
            files += [OutputFile(f.file_name or "", f.url or "") for f in response.files]
            log = response.log if log is None else log
            page_token = response.next_page_token
            if not page_token:
                return KernelOutput(tuple(files), log or "")

    def download(self, url: str, target: Path, *, on_bytes: Callable[[int], None] = lambda n: None) -> int:
        """GET a pre-signed URL (no credentials) into ``target``, atomically; returns its size."""
        return self.calls.retrying(f"download of {target.name}", lambda: self._download_once(url, target, on_bytes))

    def _download_once(self, url: str, target: Path, on_bytes: Callable[[int], None]) -> int:
        import requests

        try:
            with transfers() as session, session.get(url, stream=True, timeout=(30, self.calls.policy.transfer_timeout)) as response:
                if response.status_code in (404, 410):
                    raise KaggleError(f"download of {target.name}: the file is gone (HTTP {response.status_code})", fix="fetch again: juliapack fetch")
                if response.status_code != 200:
                    raise transfer_failure(f"download of {target.name}", response)
                size = 0
                with atomic_output(target, large=True) as out:
                    for chunk in response.iter_content(REPORT_EVERY):
                        out.write(chunk)
                        size += len(chunk)
                        on_bytes(len(chunk))
                return size
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            raise Transient(f"the download broke off ({type(error).__name__})", fix=UNREACHABLE_FIX) from None


def _refuse_unknown_sources(what: str, response) -> None:
    """Kaggle saves a notebook without the sources it does not know (and the CLI still reports success):
    its run then cannot find its files, so any of them is fatal here. Model sources too, which the CLI
    never prints."""
    unknown = [
        *response.invalid_dataset_sources, *response.invalid_competition_sources,
        *response.invalid_kernel_sources, *(response.invalid_model_sources or []),
    ]  # fmt: skip
    if unknown:
        raise KaggleError(
            f"{what}: Kaggle pushed it without these sources, which it does not know: {', '.join(unknown)}",
            fix="upload the datasets first (juliapack upload), check the names in kernel-metadata.json, and push again",
        )


def kernel_url(ref: str) -> str:
    return f"https://www.kaggle.com/code/{ref}"


def _kernel_ref(answer: str | None) -> str | None:
    """owner/slug from SaveKernel's ref, which may come as a path ("/code/owner/slug")."""
    parts = [part for part in (answer or "").split("/") if part]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None
