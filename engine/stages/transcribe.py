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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from engine.config import TranscribeOptions
from engine.errors import ConfigError, out_of_memory_names
from engine.stages.window_language import LanguageTap, call_language
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
    """Speech to words for one channel, or for each channel of a stereo call (the pipeline's
    view of a transcription stage)."""

    def __call__(
        self, samples: np.ndarray, channel: int = 0, vad: bool | None = None
    ) -> Transcript: ...

    def channels(self, channels: Sequence[np.ndarray]) -> tuple[Transcript, ...]: ...


WHISPER_BEAM_SIZE = 5
"""Whisper's reference beam, for a Transcriber used without the pipeline's device defaults."""

JOINT_GAP_S = 2.0
"""Silence between channels laid end to end: longer than VAD's minimum silence plus its padding
on both sides, so no speech chunk spans two channels."""


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

    model: a faster-whisper WhisperModel; batched: a BatchedInferencePipeline over it, used
    for passes whose batch size (``options.batch_size``, ``options.channels_batch_size``) is
    above 1 (``Transcriber.build`` makes it when one is); without it, ``model`` serves all.
    """

    def __init__(
        self,
        model: WhisperLike,
        options: TranscribeOptions = TranscribeOptions(),
        batched: WhisperLike | None = None,
        tap: LanguageTap | None = None,
    ):
        self.model = model
        self.options = options
        self.batched = batched
        self.tap = tap if options.language is None and options.window_language else None

    @classmethod
    def build(cls, model: Any, options: TranscribeOptions) -> Transcriber:
        """A transcriber over a WhisperModel, with the batched pipeline when a pass batches,
        and the language heard per window (``options.window_language``) when the model is
        multilingual."""
        supported = getattr(model, "supported_languages", None)
        if supported is not None:
            for name in ("language", "language_guess"):
                value = getattr(options, name)
                if value is not None and value not in supported:
                    raise ConfigError(
                        f"{name} {value!r} is not a language this Whisper model knows "
                        f"(ISO codes such as {', '.join(list(supported)[:5])})"
                    )
        batched: WhisperLike | None = None
        if max(options.batch_size or 1, options.channels_batch_size or 1) > 1:
            from faster_whisper import BatchedInferencePipeline

            batched = BatchedInferencePipeline(model=model)
        tap = None
        multilingual = getattr(getattr(model, "model", None), "is_multilingual", False)
        if options.language is None and options.window_language and multilingual:
            tap = LanguageTap.install(model)
        return cls(model, options, batched, tap)

    def _kwargs(self, vad: bool, batch_size: int = 1) -> dict[str, Any]:
        o = self.options
        kwargs: dict[str, Any] = {
            "language": o.language,
            "beam_size": o.beam_size or WHISPER_BEAM_SIZE,
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
        if batch_size > 1:
            kwargs["batch_size"] = batch_size
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
        words, language, probability = self._words(
            samples, use_vad, channel, self.options.batch_size or 1
        )
        return Transcript(tuple(words), language, probability, duration, channel)

    def channels(self, channels: Sequence[np.ndarray]) -> tuple[Transcript, ...]:
        """Transcribe each channel of one call (with VAD: the other party's turns are silence
        on a channel). With ``options.joint_channels`` the channels are laid end to end,
        ``JOINT_GAP_S`` of silence apart, and transcribed in one pass; each word goes back to
        its channel with that channel's times."""
        if not self.options.joint_channels or len(channels) < 2:
            return tuple(self(c, channel=i, vad=True) for i, c in enumerate(channels))
        gap = np.zeros(int(JOINT_GAP_S * SAMPLE_RATE), dtype=np.float32)
        starts, parts, position = [], [], 0
        for c in channels:
            starts.append(position / SAMPLE_RATE)
            parts += [np.asarray(c, dtype=np.float32), gap]
            position += len(c) + len(gap)
        joined = np.concatenate(parts[:-1])
        durations = [ms(len(c) / SAMPLE_RATE) for c in channels]
        if not np.any(joined):
            language = self.options.language or ""
            return tuple(Transcript((), language, 0.0, d, i) for i, d in enumerate(durations))
        words, language, probability = self._words(
            joined, True, 0, self.options.channels_batch_size or 1, joint=True
        )
        placed: list[list[Word]] = [[] for _ in channels]
        for w in words:
            middle = (w.start + w.end) / 2
            i = max(
                k for k, start in enumerate(starts) if k == 0 or middle >= start - JOINT_GAP_S / 2
            )
            begin = starts[i]
            placed[i].append(
                Word(
                    w.text,
                    min(max(w.start - begin, 0.0), durations[i]),
                    min(max(w.end - begin, 0.0), durations[i]),
                    w.probability,
                    i,
                )
            )
        return tuple(
            Transcript(tuple(placed[i]), language, probability, durations[i], i)
            for i in range(len(channels))
        )

    def _words(
        self, samples: np.ndarray, use_vad: bool, channel: int, batch_size: int, joint: bool = False
    ) -> tuple[list[Word], str, float]:
        """The kept words of ``samples``, the language and its probability."""
        kwargs = self._kwargs(use_vad, batch_size)
        if self.tap is None:
            return self._pass(samples, channel, batch_size, kwargs, joint)
        guess = self.options.language_guess
        with self.tap.recording() as windows:
            words, _, _ = self._pass(
                samples,
                channel,
                batch_size,
                {**kwargs, "language": guess, "multilingual": True},
                joint,
            )
        heard = call_language(windows)
        if heard is None:  # nothing was decoded (no speech)
            return words, "", 0.0
        if not (heard.unanimous and heard.language == guess):
            log.info(
                "windows heard %s (%s); decoding again in %s",
                heard.language,
                ", ".join(w.language for w in windows),
                heard.language,
            )
            words, _, _ = self._pass(
                samples, channel, batch_size, {**kwargs, "language": heard.language}, joint
            )
        return words, heard.language, heard.probability

    def _pass(
        self,
        samples: np.ndarray,
        channel: int,
        batch_size: int,
        kwargs: dict[str, Any],
        joint: bool = False,
    ) -> tuple[list[Word], str, float]:
        """One faster-whisper pass: the kept words, the language and its probability.
        joint: the pass over a stereo call's channels laid end to end (``channels_batch_size``;
        named in an out-of-memory error)."""
        audio = np.ascontiguousarray(samples, dtype=np.float32)
        engine = self.batched if batch_size > 1 and self.batched is not None else self.model
        option = "--channels-batch-size" if joint else "--batch-size"
        with out_of_memory_names("transcription", batch_size, option):
            segments, info = engine.transcribe(audio, **kwargs)
            kept = [(s, _judge(s, self.options)) for s in segments]
        words: list[Word] = []
        for segment, decision in kept:
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
        return words, str(info.language), round(float(info.language_probability), 4)
