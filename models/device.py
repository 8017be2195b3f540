"""Device and compute-type choice, resolved once per process or batch.

``auto`` means CUDA with float16 when a GPU is visible, else CPU with int8
(CTranslate2's quantised kernels are the fast path on CPU).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from models.errors import ModelError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
COMPUTE_TYPES = (
    "auto",
    "default",
    "int8",
    "int8_float16",
    "int8_float32",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)


@dataclass(frozen=True)
class DeviceChoice:
    """Where models run and at which precision.

    device: "cpu" or "cuda".
    compute_type: CTranslate2 compute type for Whisper.
    device_indices: the GPUs to use (one worker per GPU); (0,) on CPU.
    cpu_threads: threads per CPU worker (0 = library default).
    """

    device: str
    compute_type: str
    device_indices: tuple[int, ...] = (0,)
    cpu_threads: int = 0

    @property
    def torch_device(self) -> str:
        """The torch device string of the first index ("cpu" or "cuda:N")."""
        return "cpu" if self.device == "cpu" else f"cuda:{self.device_indices[0]}"

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"


def cuda_device_count() -> int:
    """GPUs visible to CTranslate2 (cheap: no torch import, no CUDA context)."""
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception as exc:  # a broken CUDA install must not break CPU use
        log.debug("CUDA probe failed: %s", exc)
        return 0


def resolve_device(
    device: str = "auto",
    compute_type: str = "auto",
    device_indices: tuple[int, ...] | None = None,
    cpu_threads: int = 0,
    *,
    gpu_count: Callable[[], int] = cuda_device_count,
) -> DeviceChoice:
    """Turn user settings into a concrete choice; raise ModelError for impossible ones."""
    device = device.lower()
    if device not in DEVICES:
        raise ModelError("device", f"unknown device {device!r}; choose one of {DEVICES}")
    if compute_type not in COMPUTE_TYPES:
        raise ModelError("device", f"unknown compute type {compute_type!r}; one of {COMPUTE_TYPES}")
    count = gpu_count() if device in ("auto", "cuda") else 0
    if device == "cuda" and count == 0:
        raise ModelError("device", "device 'cuda' was asked for but no CUDA GPU is visible")
    concrete = "cuda" if (device == "cuda" or (device == "auto" and count > 0)) else "cpu"
    if concrete == "cuda":
        indices = device_indices if device_indices else tuple(range(count))
        bad = [i for i in indices if not 0 <= i < count]
        if bad:
            raise ModelError("device", f"GPU indices {bad} not visible ({count} GPU(s))")
        ctype = "float16" if compute_type == "auto" else compute_type
    else:
        indices = (0,)
        if compute_type in ("float16", "int8_float16", "bfloat16", "int8_bfloat16"):
            raise ModelError("device", f"compute type {compute_type!r} needs a GPU")
        ctype = "int8" if compute_type == "auto" else compute_type
    threads = cpu_threads or (os.cpu_count() or 1)
    choice = DeviceChoice(concrete, ctype, indices, threads)
    log.info("device resolved: %s", choice)
    return choice


def release_memory() -> None:
    """Return freed model memory: Python garbage, and the CUDA cache when torch uses a GPU."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
