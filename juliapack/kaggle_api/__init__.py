"""The one package that talks to Kaggle (the only `import kaggle`, made lazily), through the official client.

`KaggleClient` holds one command's `Calls` (credentials, retry policy, reporter) and gives the two
families of calls juliapack makes: `client.datasets` and `client.kernels`. Credentials are found
offline first (`credentials`); every answer is checked (`calls`); uploads resume (`blobs`).
"""

from __future__ import annotations

import time
from typing import Mapping

from juliapack.kaggle_api.blobs import BlobUploads, UploadedBlob
from juliapack.kaggle_api.calls import TITLE_IN_USE_FIX, AccessDenied, Calls, NotFound, RetryPolicy, refusal_fix
from juliapack.kaggle_api.credentials import Credentials, configured_username, find_credentials, kaggle_config_dir
from juliapack.kaggle_api.datasets import DatasetsApi, DatasetSummary, RemoteFile, dataset_url
from juliapack.kaggle_api.kernels import KernelOutput, KernelPush, KernelsApi, KernelStatus, OutputFile, SavedKernel, kernel_url
from juliapack.kaggle_api.users import token_owner
from juliapack.report import NullReporter, Reporter
from juliapack.retry import Sleep

__all__ = [
    "TITLE_IN_USE_FIX", "AccessDenied", "BlobUploads", "Credentials", "DatasetSummary", "KaggleClient", "KernelOutput", "KernelPush",
    "KernelStatus", "NotFound", "OutputFile", "RemoteFile", "RetryPolicy", "SavedKernel", "UploadedBlob",
    "configured_username", "dataset_url", "find_credentials", "kaggle_config_dir", "kernel_url", "refusal_fix",
]  # fmt: skip


class KaggleClient:
    """juliapack's calls to Kaggle. Build it with `from_environment()`; tests pass a fast `sleep`."""

    def __init__(self, credentials: Credentials, *, sleep: Sleep = time.sleep, policy: RetryPolicy = RetryPolicy(), reporter: Reporter = NullReporter()) -> None:
        self.calls = Calls(credentials, sleep=sleep, policy=policy, reporter=reporter)
        self.datasets = DatasetsApi(self.calls)
        self.kernels = KernelsApi(self.calls)
        self._username = credentials.username

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str] | None = None, *, sleep: Sleep = time.sleep, policy: RetryPolicy = RetryPolicy(), reporter: Reporter = NullReporter()
    ) -> KaggleClient:
        return cls(find_credentials(env), sleep=sleep, policy=policy, reporter=reporter)

    @property
    def username(self) -> str:
        """The authenticated user (asks Kaggle once when the credentials are a bare token)."""
        if self._username is None:
            self._username = token_owner(self.calls)
        return self._username
