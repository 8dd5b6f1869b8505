"""Kaggle datasets: status, files, metadata, and new datasets or versions made from uploaded blobs.

Blob uploads are driven by `kaggle_api.blobs` rather than by the client's dataset_create_version,
which creates the version without a file whose upload failed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

from juliapack.errors import KaggleError
from juliapack.kaggle_api.blobs import BlobUploads
from juliapack.report import Reporter
from juliapack.kaggle_api.calls import Calls, NotFound, build_request, check_error_message, created_url, kaggle_module

FIRST_POLL = 2.0
MAX_POLL = 30.0
TITLES_PAGE = 20  # the official client's page size
TITLES_MAX_PAGES = 50
DEFAULT_LICENSE = "other"  # Julia and each package keep their own licenses; the description says so


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int


@dataclass(frozen=True)
class DatasetSummary:
    version: int | None
    url: str
    title: str


class DatasetsApi:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls


    def status(self, owner: str, slug: str) -> str | None:
        """READY, FAILED or a processing state; None if the dataset does not exist."""
        from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetStatusRequest

        request = build_request(ApiGetDatasetStatusRequest, owner_slug=owner, dataset_slug=slug)
        try:
            response = self.calls.read(f"status of dataset {owner}/{slug}", lambda k: k.datasets.dataset_api_client.get_dataset_status(request))
        except NotFound:
            return None
        return response.status.name

    def description(self, owner: str, slug: str) -> str:
        from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetMetadataRequest

        request = build_request(ApiGetDatasetMetadataRequest, owner_slug=owner, dataset_slug=slug)
        what = f"metadata of dataset {owner}/{slug}"
        response = self.calls.read(what, lambda k: k.datasets.dataset_api_client.get_dataset_metadata(request))
        check_error_message(what, response.error_message)
        return (response.info.description if response.info else None) or ""

    def files(self, owner: str, slug: str) -> tuple[RemoteFile, ...]:
        """The files of the dataset's current version."""
        from kagglesdk.datasets.types.dataset_api_service import ApiListDatasetFilesRequest

        what = f"file list of dataset {owner}/{slug}"
        files: list[RemoteFile] = []
        page_token = None
        while True:
            request = build_request(ApiListDatasetFilesRequest, owner_slug=owner, dataset_slug=slug, page_size=50, page_token=page_token)
            response = self.calls.read(what, lambda k, request=request: k.datasets.dataset_api_client.list_dataset_files(request))
            check_error_message(what, response.error_message)
            files += [RemoteFile(f.name or "", f.total_bytes or 0) for f in response.dataset_files]
            page_token = response.next_page_token
            if not page_token:
                return tuple(files)

    def summary(self, owner: str, slug: str) -> DatasetSummary:
        from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetRequest

        request = build_request(ApiGetDatasetRequest, owner_slug=owner, dataset_slug=slug)
        response = self.calls.read(f"dataset {owner}/{slug}", lambda k: k.datasets.dataset_api_client.get_dataset(request))
        return DatasetSummary(response.current_version_number, response.url or dataset_url(owner, slug), response.title or "")

    def titles(self, owner: str) -> dict[str, str]:
        """The titles of the signed-in ``owner``'s datasets, lowercased, each with its dataset's ref."""
        from kagglesdk.datasets.types.dataset_api_service import ApiListDatasetsRequest
        from kagglesdk.datasets.types.dataset_enums import DatasetSelectionGroup

        found: dict[str, str] = {}
        for page in range(1, TITLES_MAX_PAGES + 1):
            request = build_request(ApiListDatasetsRequest, group=DatasetSelectionGroup.DATASET_SELECTION_GROUP_MY, page=page, page_size=TITLES_PAGE)
            response = self.calls.read(f"datasets of {owner}", lambda k, request=request: k.datasets.dataset_api_client.list_datasets(request))
            before = len(found)
            found |= {(d.title or "").lower(): d.ref or "" for d in response.datasets if d.title}
            if len(response.datasets) < TITLES_PAGE or len(found) == before:  # a server that repeats its one page ends the listing too
                break
        return found

    def until_processed(self, owner: str, slug: str, *, status: str | None = None, timeout: float, reporter: Reporter) -> str:
        """READY or FAILED, once Kaggle has processed the dataset's latest version; polls with backoff."""
        waited, delay, ref = 0.0, FIRST_POLL, f"{owner}/{slug}"
        status = status or self.status(owner, slug)
        if status is None:
            raise KaggleError(f"dataset {ref} is not on Kaggle", fix="upload it first: juliapack upload")
        while status not in ("READY", "FAILED"):
            if status is None:
                raise KaggleError(f"dataset {ref} disappeared while Kaggle processed it", fix="run juliapack upload again")
            if waited >= timeout:
                raise KaggleError(
                    f"Kaggle is still processing {ref} after {waited / 60:.0f} min (status {status})",
                    fix="run juliapack upload again later: it checks the version then, without sending the files again",
                )
            if waited == 0:
                reporter.info(f"{ref}: Kaggle is processing the files ({status.lower()})")
            self.calls.sleep(delay)
            waited, delay = waited + delay, min(delay * 2, MAX_POLL)
            status = self.status(owner, slug)
        return status

    @contextlib.contextmanager
    def blob_uploads(self) -> Iterator[BlobUploads]:
        """Uploads for one dataset. If the block fails, finished uploads are kept for the next run."""
        extended = kaggle_module()
        with extended.ResumableUploadContext() as context:
            yield BlobUploads(self.calls, context)

    def create(
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

        request = build_request(
            ApiCreateDatasetRequest, owner_slug=owner, slug=slug, title=title, license_name=DEFAULT_LICENSE,
            is_private=private, description=description, files=[_new_file(token) for token in tokens],
        )  # fmt: skip
        what = f"create dataset {owner}/{slug}"
        response = self.calls.call(what, lambda k: k.datasets.dataset_api_client.create_dataset(request), already_done=already_done)
        return created_url(what, response) or dataset_url(owner, slug)

    def create_version(
        self, owner: str, slug: str, *, notes: str, description: str, tokens: list[str], already_done: Callable[[], bool]
    ) -> str:
        from kagglesdk.datasets.types.dataset_api_service import ApiCreateDatasetVersionRequest, ApiCreateDatasetVersionRequestBody

        body = build_request(ApiCreateDatasetVersionRequestBody, version_notes=notes, description=description, files=[_new_file(t) for t in tokens])
        request = build_request(ApiCreateDatasetVersionRequest, owner_slug=owner, dataset_slug=slug, body=body)
        what = f"new version of dataset {owner}/{slug}"
        response = self.calls.call(what, lambda k: k.datasets.dataset_api_client.create_dataset_version(request), already_done=already_done)
        return created_url(what, response) or dataset_url(owner, slug)

    # ------------------------------------------------------------------ kernels


def dataset_url(owner: str, slug: str) -> str:
    return f"https://www.kaggle.com/datasets/{owner}/{slug}"


def _new_file(token: str):
    from kagglesdk.datasets.types.dataset_api_service import ApiDatasetNewFile

    return build_request(ApiDatasetNewFile, token=token)
