"""Response models: the API's contract, separate from the engine's types."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.types import DriverDay, EmotionSpike


class CallSummary(BaseModel):
    call_id: str
    started_at: datetime | None
    duration: float = Field(description="seconds")
    customer_id: str | None
    agent_id: str | None
    queue: str | None
    language: str
    channel_layout: str | None
    driver_id: int | None = Field(description="the primary driver")
    driver_name: str | None
    repeat_of: str | None = Field(description="the earlier call this one repeats")
    emotion_spikes: int


class CallPage(BaseModel):
    items: list[CallSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class WordOut(BaseModel):
    text: str
    start: float
    end: float
    probability: float


class UtteranceOut(BaseModel):
    speaker: str
    role: str
    start: float
    end: float
    text: str
    sentiment: float | None
    is_reason: bool
    words: list[WordOut]


class SpeakerOut(BaseModel):
    label: str
    role: str
    confidence: float
    speech_seconds: float


class TurnOut(BaseModel):
    speaker: str
    role: str
    start: float
    end: float


class SpikeOut(BaseModel):
    start: float
    end: float
    speaker: str
    role: str
    score: float
    sentiment: float
    energy_delta_db: float
    pitch_delta: float = Field(description="semitones")
    rate_ratio: float
    words: list[str]


def spike_fields(x: EmotionSpike) -> dict[str, Any]:
    """A spike's fields as ``SpikeOut`` (and ``SpikeListOut``) take them."""
    return {
        "start": x.start,
        "end": x.end,
        "speaker": x.speaker,
        "role": x.role.value,
        "score": x.score,
        "sentiment": x.sentiment,
        "energy_delta_db": x.energy_delta_db,
        "pitch_delta": x.pitch_delta,
        "rate_ratio": x.rate_ratio,
        "words": list(x.words),
    }


class DriverLinkOut(BaseModel):
    driver_id: int
    rank: int
    score: float


class CallDetail(BaseModel):
    call_id: str
    duration: float
    language: str
    diarisation_method: str
    speakers: list[SpeakerOut]
    turns: list[TurnOut] = Field(description="speaker turns from diarisation")
    utterances: list[UtteranceOut]
    emotion_spikes: list[SpikeOut]
    drivers: list[DriverLinkOut]
    repeat_of: str | None


class DriverOut(BaseModel):
    id: int
    name: str
    status: str
    name_source: str
    keywords: list[str]
    exemplars: list[str]
    size: int = Field(
        description="calls whose primary driver it is (reason utterances when drivers are"
        " clustered per utterance)"
    )
    merged_into: int | None
    parent_id: int | None


class DriverRename(BaseModel):
    name: str = Field(min_length=1, max_length=120)


MAX_ID = 2**31 - 1
"""The largest driver id (a 32-bit column): larger ids are refused as invalid."""
DriverId = Annotated[int, Field(ge=0, le=MAX_ID)]


class DriverMerge(BaseModel):
    target: DriverId
    sources: list[DriverId] = Field(min_length=1, max_length=50)


class DriverSplit(BaseModel):
    parts: int = Field(ge=2, le=20)


class DayOut(BaseModel):
    day: str
    volume: int
    share: float
    handle_time: float
    cost: float
    repeat_rate: float
    negative_share: float

    @classmethod
    def of(cls, d: DriverDay) -> DayOut:
        return cls(
            day=d.day.isoformat(),
            volume=d.volume,
            share=d.share,
            handle_time=d.handle_time,
            cost=d.cost,
            repeat_rate=d.repeat_rate,
            negative_share=d.negative_share,
        )


class AlertOut(BaseModel):
    day: str
    metric: str
    kind: str = Field(description="spike or trend")
    observed: float
    baseline: float
    p_value: float


class DriverMetricsOut(BaseModel):
    driver_id: int
    name: str | None
    volume: int
    share: float = Field(description="of all calls in the period")
    handle_time: float = Field(description="mean seconds")
    cost: float
    repeat_rate: float
    negative_share: float = Field(description="share of calls with an emotion spike")
    alert: bool = Field(description="an alert was raised in the period")
    alerts: list[AlertOut]
    daily: list[DayOut]


class RepeatOut(BaseModel):
    call_id: str
    earlier_call_id: str
    gap_days: float
    driver_id: int | None
    similarity: float


class SpikeListOut(SpikeOut):
    call_id: str


class DriverDetail(DriverOut):
    first: str | None = Field(description="the first day of the daily series")
    last: str | None = Field(description="the last day of the daily series")
    daily: list[DayOut] = Field(description="the days with calls of this driver")
    calls: list[CallSummary] = Field(description="its newest calls (primary driver)")
    calls_next: str | None = Field(description="the next page of its calls, newest first")


class SearchHitOut(BaseModel):
    call_id: str
    index: int = Field(description="the utterance's position in the call")
    speaker: str
    role: str
    start: float
    end: float
    text: str
    score: float = Field(description="cosine similarity to the query")
    driver_id: int | None = Field(description="the call's primary driver")
    started_at: datetime | None


class SearchOut(BaseModel):
    query: str
    model: str = Field(description="the sentence model of the embeddings searched")
    items: list[SearchHitOut]


# --------------------------------------------------------------------------------------
# Jobs and uploads (issue 5): /v1/jobs
# --------------------------------------------------------------------------------------


class ArchiveJobIn(BaseModel):
    """A batch run over a folder of the server (inside one of its archive roots)."""

    model_config = ConfigDict(extra="forbid")

    archive: str = Field(min_length=1, max_length=4096, description="an absolute server path")
    since: date | None = Field(None, description="only nights/calls on or after this date")


class JobCounts(BaseModel):
    processed: int
    skipped: int = Field(description="calls the store already held unchanged")
    quarantined: int


class JobFileOut(BaseModel):
    name: str = Field(description="the file name the client sent")
    call_id: str
    size_bytes: int
    duration: float = Field(description="seconds, as the file states")
    container: str


class JobOut(BaseModel):
    id: str
    kind: Literal["archive", "upload"]
    status: Literal["queued", "running", "finished", "failed"]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: JobCounts
    error: str | None
    run_id: int | None = Field(description="the batch run, once finished")
    archive: str | None = Field(description="the archive folder (archive jobs)")
    since: date | None
    files: list[JobFileOut] = Field(description="the recordings (upload jobs)")
