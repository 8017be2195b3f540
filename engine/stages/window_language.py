"""A call's language from the windows Whisper decodes, without a separate detection pass.

faster-whisper's language detection encodes the first 30 s of speech once more before
transcribing: on short telephone calls (one or two 30 s windows) that is a third to a half of
the encoder's work. With ``multilingual=True`` faster-whisper instead detects the language of
every window from the encoder output it computes anyway, and decodes the window in it.
``LanguageTap`` sits in front of the CTranslate2 model and keeps those per-window languages, so
the transcriber can tell the call's language and check that the call was decoded in one
language (see ``Transcriber``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WindowLanguage:
    """The most likely language of one decoded window, and its probability."""

    language: str
    probability: float


@dataclass(frozen=True)
class CallLanguage:
    """language: the language most windows were heard in (ties: the larger summed
    probability); probability: its mean over those windows; unanimous: every window agreed."""

    language: str
    probability: float
    unanimous: bool


def call_language(windows: Sequence[WindowLanguage]) -> CallLanguage | None:
    """The call's language from its windows; None when no window was decoded."""
    if not windows:
        return None
    votes: dict[str, list[float]] = {}
    for w in windows:
        votes.setdefault(w.language, []).append(w.probability)
    language = max(votes, key=lambda k: (len(votes[k]), sum(votes[k])))
    probs = votes[language]
    return CallLanguage(language, round(sum(probs) / len(probs), 4), len(votes) == 1)


class LanguageTap:
    """Forwards everything to a CTranslate2 Whisper model and, inside ``recording()``, keeps
    the top language of every ``detect_language`` call made on this thread."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._local = threading.local()

    @classmethod
    def install(cls, whisper: Any) -> LanguageTap:
        """Put a tap in front of ``whisper.model`` (a faster-whisper WhisperModel), once."""
        if isinstance(whisper.model, LanguageTap):
            return whisper.model
        tap = cls(whisper.model)
        whisper.model = tap
        return tap

    @contextmanager
    def recording(self) -> Iterator[list[WindowLanguage]]:
        heard: list[WindowLanguage] = []
        self._local.heard = heard
        try:
            yield heard
        finally:
            self._local.heard = None

    def detect_language(self, *args: Any, **kwargs: Any) -> Any:
        results = self._inner.detect_language(*args, **kwargs)
        heard = getattr(self._local, "heard", None)
        if heard is not None:
            for ranked in results:
                token, probability = ranked[0]
                heard.append(WindowLanguage(token.strip("<|>"), float(probability)))
        return results

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
