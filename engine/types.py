"""Core types shared by every stage: immutable, typed, times in seconds (ms precision).

Every hand-over between pipeline stages is one of these frozen dataclasses;
no stage passes dicts to another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
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
class Prosody:
    """Acoustic measurements of one utterance, taken on its speaker's channel.

    pitch: median F0 of the voiced frames in semitones relative to 100 Hz (None when too few
    frames are voiced); energy_db: RMS level of the speech in dBFS; rate: syllable-like energy
    peaks (or, without audio evidence, words) per second of speech.
    """

    pitch: float | None
    energy_db: float
    rate: float


@dataclass(frozen=True, slots=True)
class UtteranceSignals:
    """What the emotion analytics reads of one utterance (``index`` into the call's utterances).

    sentiment: text sentiment in [-1, 1] (VADER compound; negative is negative);
    is_reason: the utterance states why the customer called (used for call drivers).
    """

    index: int
    sentiment: float
    prosody: Prosody | None
    is_reason: bool = False


@dataclass(frozen=True, slots=True)
class EmotionSpike:
    """A moment where a speaker's tone and words turn, with the evidence.

    score: the spike score the threshold is applied to (see engine.analytics.emotion);
    deltas are against the same speaker's baseline in the call: energy in dB, pitch in
    semitones, rate as a ratio; words: the negative words found in the text.
    """

    start: float
    end: float
    speaker: str
    role: Role
    score: float
    sentiment: float
    energy_delta_db: float
    pitch_delta: float
    rate_ratio: float
    utterances: tuple[int, ...]
    words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ms(self.start))
        object.__setattr__(self, "end", ms(self.end))


@dataclass(frozen=True, slots=True, eq=False)
class UtteranceEmbeddings:
    """Sentence embeddings of a call's utterances: row i belongs to utterance i (L2-normalised)."""

    model: str
    vectors: np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UtteranceEmbeddings):
            return NotImplemented
        return self.model == other.model and np.array_equal(self.vectors, other.vectors)

    __hash__ = None  # type: ignore[assignment]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0


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
    signals: tuple[UtteranceSignals, ...] = field(default=())
    spikes: tuple[EmotionSpike, ...] = field(default=())
    embeddings: UtteranceEmbeddings | None = None

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


@dataclass(frozen=True, slots=True)
class Driver:
    """A call driver: why customers call, as found by clustering (or edited by an analyst).

    status: "active", "merged" (into ``merged_into``), "split" (into children) or "retired"
    (no longer found); name_source: "auto" (from keywords) or "analyst" (kept on re-clustering).
    """

    id: int
    name: str
    keywords: tuple[str, ...]
    exemplars: tuple[str, ...]
    size: int
    status: str = "active"
    name_source: str = "auto"
    merged_into: int | None = None
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class CallDriverLink:
    """A driver of a call: rank 1 is the primary driver; score is its share of the reason."""

    call_id: str
    driver_id: int
    rank: int
    score: float


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the night-level analytics (repeats, metrics) need to know about one stored call."""

    call_id: str
    started_at: datetime
    duration: float
    customer_id: str | None
    agent_id: str | None
    queue: str | None
    driver_id: int | None
    negative_emotion: bool = False
    reason_vector: np.ndarray | None = field(default=None, compare=False)
    mentions_earlier_contact: bool = False


@dataclass(frozen=True, slots=True)
class RepeatLink:
    """A repeat contact: ``call_id`` is the same customer calling back after ``earlier_call_id``."""

    call_id: str
    earlier_call_id: str
    gap_days: float
    driver_id: int | None
    similarity: float


@dataclass(frozen=True, slots=True)
class DriverDay:
    """One driver's figures for one day (handle time in seconds, cost in currency units)."""

    driver_id: int
    day: date
    volume: int
    share: float
    handle_time: float
    cost: float
    repeat_rate: float
    negative_share: float


@dataclass(frozen=True, slots=True)
class DriverAlert:
    """A driver metric out of line with its trailing baseline on one day."""

    driver_id: int
    day: date
    metric: str
    kind: str
    observed: float
    baseline: float
    p_value: float


@dataclass(frozen=True, eq=False)
class ReasonSet:
    """The reason utterances with embeddings by one model, in a stable order.

    keys: (call_id, utterance index); ids: utterance row ids; driver_ids: the current driver
    of each (None: unassigned); weights: words per utterance (at least 1).
    """

    keys: tuple[tuple[str, int], ...]
    ids: np.ndarray
    vectors: np.ndarray
    texts: tuple[str, ...]
    driver_ids: tuple[int | None, ...]
    weights: np.ndarray
    nights: tuple[str | None, ...]

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True, eq=False)
class UtteranceSet:
    """Every utterance with an embedding by one model, ordered by call start, call id and
    utterance index: what reason selection over the whole store reads.

    keys: (call_id, utterance index); ids: utterance row ids; roles: role values; reasons:
    the per-call cues' verdicts (engine.analytics.reasons); starts: start times (s).
    """

    keys: tuple[tuple[str, int], ...]
    ids: np.ndarray
    vectors: np.ndarray
    texts: tuple[str, ...]
    roles: tuple[str, ...]
    reasons: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)
