"""Errors callscope raises: each names the file (or model) and the reason."""

from __future__ import annotations

from enum import StrEnum

from models.errors import ModelError

__all__ = ["AudioError", "AudioProblem", "CallscopeError", "ConfigError", "ModelError"]


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
