"""Settings for every command: defaults < juliapack.toml < JULIAPACK_* environment < flags.

All validation happens here, so the stages receive frozen dataclasses they can trust. Each error names
where the bad value came from (the flag, the variable, or the juliapack.toml line/field) and how to fix it.
`layers` reads the sources, `values` parses one value, and one module per command family holds its
settings: `build`, `notebook` (notebook and verify), `kaggle` (upload, push, status, fetch).
"""

from juliapack.config.build import (
    DEFAULT_SOURCE_DATE_EPOCH,
    KAGGLE_CPU_IMAGE,
    KAGGLE_GPU_IMAGE,
    BuildConfig,
    LayerNames,
    load_build,
)
from juliapack.config.kaggle import (
    FetchConfig,
    PushConfig,
    StatusConfig,
    UploadConfig,
    load_fetch,
    load_push,
    load_status,
    load_upload,
)
from juliapack.config.layers import has_section
from juliapack.config.notebook import NotebookConfig, load_notebook
from juliapack.config.values import ModelRef, Source

__all__ = [
    "DEFAULT_SOURCE_DATE_EPOCH", "KAGGLE_CPU_IMAGE", "KAGGLE_GPU_IMAGE", "BuildConfig", "FetchConfig", "LayerNames",
    "ModelRef", "NotebookConfig", "PushConfig", "Source", "StatusConfig", "UploadConfig", "has_section", "load_build",
    "load_fetch", "load_notebook", "load_push", "load_status", "load_upload",
]  # fmt: skip
