"""Errors callscope raises: each names the file (or model) and the reason."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from models.errors import ModelError

__all__ = [
    "AudioError",
    "AudioProblem",
    "CallscopeError",
    "ConfigError",
    "ModelError",
    "OutOfMemory",
    "is_out_of_memory",
    "out_of_memory_names",
]


class CallscopeError(Exception):
    """Base class of every error callscope raises on purpose."""


class AudioProblem(StrEnum):
    """Why a recording was refused; stable codes for quarantine records and tests."""

    NOT_FOUND = "not_found"
    UNREADABLE = "unreadable"
    EMPTY = "empty"
    NOT_AUDIO = "not_audio"
    NO_AUDIO_STREAM = "no_audio_stream"
    ZERO_DURATION = "zero_duration"
    TOO_LONG = "too_long"
    TOO_LARGE = "too_large"
    UNSUPPORTED_RATE = "unsupported_rate"
    UNSUPPORTED_CHANNELS = "unsupported_channels"
    CORRUPT = "corrupt"
    PARTIAL_DECODE = "partial_decode"


class AudioError(CallscopeError):
    """A recording that cannot be used, with the file and a specific reason."""

    def __init__(self, path: str, problem: AudioProblem, detail: str) -> None:
        self.path = path
        self.problem = problem
        self.detail = detail
        super().__init__(f"{path}: {problem.value}: {detail}")


class ConfigError(CallscopeError):
    """An option value that makes no sense."""


class OutOfMemory(CallscopeError):
    """A model ran out of (GPU) memory at a batch size: the run stops rather than quarantine
    every call, and the message names the batch size and the option that sets it."""

    def __init__(self, stage: str, batch_size: int, option: str, detail: str) -> None:
        self.stage = stage
        self.batch_size = batch_size
        self.option = option
        super().__init__(
            f"out of memory in {stage} at batch size {batch_size}: lower {option} "
            f"(now {batch_size}), or free the device's memory ({detail})"
        )


@contextmanager
def out_of_memory_names(stage: str, batch_size: int, option: str) -> Iterator[None]:
    """Turn running out of memory inside the block into ``OutOfMemory`` naming the batch size."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise OutOfMemory(stage, batch_size, option, str(exc)) from exc


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA out-of-memory as CTranslate2 ("CUDA failed with error out of memory") and torch
    (torch.cuda.OutOfMemoryError, "CUDA out of memory") raise it, or a host MemoryError."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
