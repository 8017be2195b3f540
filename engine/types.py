"""Core types shared by every stage: immutable, typed, times in seconds (ms precision).

Every hand-over between pipeline stages is one of these frozen dataclasses;
no stage passes dicts to another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np


def ms(t: float) -> float:
    """Round a time in seconds to the millisecond, the precision of every stored time."""
    return round(float(t), 3)


class Role(StrEnum):
    """Who a speaker is in a contact-centre call."""

    AGENT = "agent"
    CUSTOMER = "customer"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its time span and recogniser confidence (0..1)."""

    text: str
    start: float
    end: float
    probability: float = 1.0
    channel: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ms(self.start))
        object.__setattr__(self, "end", ms(max(self.end, self.start)))
        object.__setattr__(self, "probability", round(float(self.probability), 4))


@dataclass(frozen=True, slots=True)
class Transcript:
    """The recogniser's output for one audio channel."""

    words: tuple[Word, ...]
    language: str
    language_probability: float
    duration: float
    channel: int = 0

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """A stretch of time during which one speaker talks (turns of two speakers may overlap)."""

    speaker: str
    start: float
    end: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ms(self.start))
        object.__setattr__(self, "end", ms(self.end))
        if self.end < self.start:
            raise ValueError(f"turn ends before it starts: {self.start} > {self.end}")

    @property
    def duration(self) -> float:
        return ms(self.end - self.start)


@dataclass(frozen=True, slots=True)
class Diarisation:
    """Who spoke when: the turns plus how they were found."""

    turns: tuple[SpeakerTurn, ...]
    method: str
    speakers: tuple[str, ...] = ()

    @property
    def speaker_labels(self) -> tuple[str, ...]:
        if self.speakers:
            return self.speakers
        return tuple(sorted({t.speaker for t in self.turns}))


@dataclass(frozen=True, slots=True)
class Speaker:
    """A speaker of a call with the role assigned to them and how sure that is (0..1)."""

    label: str
    role: Role
    confidence: float
    method: str
    speech_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Utterance:
    """A speaker turn with its words: the unit every analytic works on."""

    speaker: str
    role: Role
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ms(self.start))
        object.__setattr__(self, "end", ms(self.end))


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What the probe found in a recording before decoding it."""

    path: str
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration: float
    size_bytes: int


@dataclass(frozen=True, slots=True, eq=False)
class DecodedAudio:
    """A decoded recording: float32 samples in [-1, 1], shape (channels, samples)."""

    info: AudioInfo
    samples: np.ndarray
    sample_rate: int

    @property
    def num_channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return ms(self.samples.shape[1] / self.sample_rate)

    def channel(self, index: int) -> np.ndarray:
        return self.samples[index]

    def mono(self) -> np.ndarray:
        """The channels mixed down (the mean keeps the level of a mono mix)."""
        if self.num_channels == 1:
            return self.samples[0]
        return self.samples.mean(axis=0).astype(np.float32)


@dataclass(frozen=True, slots=True)
class CallAnalysis:
    """Everything callscope knows about one call after transcription and diarisation."""

    call_id: str
    audio: AudioInfo
    language: str
    language_probability: float
    diarisation_method: str
    speakers: tuple[Speaker, ...]
    turns: tuple[SpeakerTurn, ...]
    utterances: tuple[Utterance, ...]
    words: tuple[Word, ...] = field(default=())

    @property
    def duration(self) -> float:
        return self.audio.duration


@dataclass(frozen=True, slots=True)
class CallMetadata:
    """What the recording system says about a call (or what was derived when it said nothing).

    derived: names of the fields that were not in the metadata and were derived
    (call_id from the file name, started_at from the file time, layout from the channels).
    """

    call_id: str
    path: str
    night: str | None = None
    started_at: datetime | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    channel_layout: str | None = None
    derived: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """A recording that could not be processed: where it failed and why. The file is untouched."""

    call_id: str
    path: str
    stage: str
    problem: str
    detail: str
    content_hash: str | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The outcome of one batch run."""

    run_id: int
    discovered: int
    processed: int
    skipped: int
    quarantined: tuple[QuarantineRecord, ...]
    audio_seconds: float
    wall_seconds: float

    @property
    def realtime_factor(self) -> float:
        """Audio seconds processed per wall second."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def calls_per_hour(self) -> float:
        return self.processed * 3600 / self.wall_seconds if self.wall_seconds > 0 else 0.0
