"""Transcription stage: faster-whisper over one channel, words with timestamps.

Guards against Whisper's invented text on silence and hold music:
- Silero VAD (inside faster-whisper) skips non-speech before decoding when enabled;
- Whisper's own no-speech / log-probability / compression-ratio checks;
- a segment whose words are all unsure (mean word probability under
  ``hallucination_max_word_prob``) and that Whisper itself thought was probably
  not speech is dropped, and so is a segment that only repeats a stock phrase
  Whisper is known to invent ("thank you for watching", ...) with low confidence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from engine.config import TranscribeOptions
from engine.types import Transcript, Word, ms

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000

# Phrases Whisper produces from music or silence (seen in the Whisper issue tracker).
_STOCK_HALLUCINATIONS = re.compile(
    r"^\s*(thank you( so much)? for watching|thanks for watching|please subscribe|"
    r"subtitles by|transcribed by|you|bye\.?|thank you\.?|\.+|music)\W*$",
    re.IGNORECASE,
)


class WordLike(Protocol):
    word: str
    start: float
    end: float
    probability: float


class SegmentLike(Protocol):
    text: str
    start: float
    end: float
    no_speech_prob: float
    avg_logprob: float
    words: list[Any] | None


class WhisperLike(Protocol):
    """The part of faster-whisper's WhisperModel / BatchedInferencePipeline used here."""

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> tuple[Iterable[Any], Any]: ...


class ChannelTranscriber(Protocol):
    """Speech to words for one channel (the pipeline's view of a transcription stage)."""

    def __call__(
        self, samples: np.ndarray, channel: int = 0, vad: bool | None = None
    ) -> Transcript: ...


@dataclass(frozen=True)
class _Decision:
    keep: bool
    reason: str = ""


def _judge(segment: SegmentLike, options: TranscribeOptions) -> _Decision:
    words = segment.words or []
    if not words:
        return _Decision(False, "no words")
    mean_prob = float(np.mean([w.probability for w in words]))
    unsure = mean_prob < options.hallucination_max_word_prob
    if unsure and segment.no_speech_prob > options.no_speech_threshold / 2:
        return _Decision(False, f"unsure words ({mean_prob:.2f}) where speech is doubtful")
    if _STOCK_HALLUCINATIONS.match(segment.text) and (
        mean_prob < 0.6 or segment.no_speech_prob > options.no_speech_threshold
    ):
        return _Decision(False, f"stock phrase {segment.text.strip()!r} with low confidence")
    return _Decision(True)


class Transcriber:
    """Speech to words for one channel of 16 kHz float32 audio.

    model: a faster-whisper WhisperModel (or BatchedInferencePipeline when
    ``options.batch_size`` > 1; build it with ``Transcriber.wrap``).
    """

    def __init__(self, model: WhisperLike, options: TranscribeOptions = TranscribeOptions()):
        self.model = model
        self.options = options

    @staticmethod
    def wrap(model: Any, options: TranscribeOptions) -> WhisperLike:
        """The batched pipeline over ``model`` when batching is asked for, else the model."""
        if (options.batch_size or 1) > 1:
            from faster_whisper import BatchedInferencePipeline

            pipeline: WhisperLike = BatchedInferencePipeline(model=model)
            return pipeline
        whisper: WhisperLike = model
        return whisper

    def _kwargs(self, vad: bool) -> dict[str, Any]:
        o = self.options
        kwargs: dict[str, Any] = {
            "language": o.language,
            "beam_size": o.beam_size,
            "word_timestamps": o.word_timestamps,
            "condition_on_previous_text": o.condition_on_previous_text,
            "no_speech_threshold": o.no_speech_threshold,
            "log_prob_threshold": o.log_prob_threshold,
            "compression_ratio_threshold": o.compression_ratio_threshold,
            "initial_prompt": o.initial_prompt,
            "vad_filter": vad,
        }
        if vad:
            kwargs["vad_parameters"] = {
                "min_silence_duration_ms": o.vad_min_silence_ms,
                "speech_pad_ms": o.vad_speech_pad_ms,
            }
        if (o.batch_size or 1) > 1:
            kwargs["batch_size"] = o.batch_size
            kwargs["vad_filter"] = True  # the batched pipeline cuts on VAD
            kwargs.pop("condition_on_previous_text")
        return kwargs

    def __call__(
        self, samples: np.ndarray, channel: int = 0, vad: bool | None = None
    ) -> Transcript:
        """Transcribe one channel. vad: override ``options.vad_filter`` for this call."""
        duration = ms(len(samples) / SAMPLE_RATE)
        if samples.size == 0 or not np.any(samples):
            return Transcript((), self.options.language or "", 0.0, duration, channel)
        use_vad = self.options.vad_filter if vad is None else vad
        audio = np.ascontiguousarray(samples, dtype=np.float32)
        segments, info = self.model.transcribe(audio, **self._kwargs(use_vad))
        words: list[Word] = []
        for segment in segments:
            decision = _judge(segment, self.options)
            if not decision.keep:
                log.info(
                    "dropped segment %.2f-%.2f %r: %s",
                    segment.start,
                    segment.end,
                    segment.text,
                    decision.reason,
                )
                continue
            words.extend(
                Word(w.word, w.start, w.end, w.probability, channel) for w in segment.words or []
            )
        return Transcript(
            words=tuple(words),
            language=str(info.language),
            language_probability=round(float(info.language_probability), 4),
            duration=duration,
            channel=channel,
        )
