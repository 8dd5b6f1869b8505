"""Kaggle's accelerators, as juliapack names them: what kernel-metadata.json asks for (machine_shape),
what the notebook checks it got (the GPU's name), and what CUDA needs to know (compute capability).

Kaggle picks the hardware by ``machine_shape``; ``enable_gpu`` alone gives a P100 (kaggle-cli #821).
Julia cannot use a TPU, so the TPU shapes are not offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from juliapack.errors import ConfigError

Capability = tuple[int, int]


@dataclass(frozen=True)
class Accelerator:
    name: str  # juliapack's name: --accelerator NAME
    machine_shape: str | None  # Kaggle's kernel-metadata machine_shape; None: a CPU
    gpu: str  # what `nvidia-smi --query-gpu=name` says contains, e.g. "T4"; "" without a GPU
    capability: Capability | None  # CUDA compute capability; None without a GPU
    count: int = 1  # GPUs in the machine

    @property
    def has_gpu(self) -> bool:
        return self.machine_shape is not None


ACCELERATORS = {
    accelerator.name: accelerator
    for accelerator in (
        Accelerator("none", None, "", None, count=0),
        Accelerator("t4x2", "NvidiaTeslaT4", "T4", (7, 5), count=2),
        Accelerator("p100", "NvidiaTeslaP100", "P100", (6, 0)),
        Accelerator("l4", "NvidiaL4", "L4", (8, 9), count=4),
        Accelerator("l4x1", "NvidiaL4X1", "L4", (8, 9)),
        Accelerator("a100", "NvidiaTeslaA100", "A100", (8, 0)),
        Accelerator("h100", "NvidiaH100", "H100", (9, 0)),
        Accelerator("rtxpro6000", "NvidiaRtxPro6000", "RTX PRO 6000", (12, 0)),
    )
}
DEFAULT_GPU = "t4x2"  # Kaggle's default GPU ("GPU T4 x2")


def accelerator(name: str) -> Accelerator:
    if name not in ACCELERATORS:
        raise ConfigError(f"unknown accelerator {name!r}", fix=f"use one of {', '.join(ACCELERATORS)}")
    return ACCELERATORS[name]


def as_accelerator(value: Any, where: Any) -> str:
    text = str(value).strip().lower()
    if text not in ACCELERATORS:
        hint = " (Julia cannot use a TPU)" if text.startswith("tpu") else ""
        raise ConfigError(f"{where} is '{value}', not an accelerator{hint}", fix=f"use one of: {', '.join(ACCELERATORS)}")
    return text


def for_build(requested: str | None, *, image: str, image_cuda: str | None) -> Accelerator:
    """The accelerator a notebook of this build runs on: the one asked for, else the image's kind
    (a GPU image: Kaggle's default GPU; a CPU image: none). A GPU without CUDA in the image cannot work."""
    if requested is None:
        return ACCELERATORS[DEFAULT_GPU if image_cuda else "none"]
    chosen = accelerator(requested)
    if chosen.has_gpu and not image_cuda:
        raise ConfigError(
            f"--accelerator {chosen.name} asks for a GPU, but the build image {image} has no CUDA",
            fix="build with the Kaggle GPU image (juliapack build without --cpu), or choose --accelerator none",
        )
    return chosen
