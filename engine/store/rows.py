"""Conversions between callscope's types and the store's rows (pure functions, no database).

Used by ``engine.store.repo``. Word arrays are compact JSON ``[[text, start, end, prob,
channel], ...]``; Python's JSON writes floats exactly, so a stored call reads back equal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from engine.store.schema import Call
from engine.types import (
    AudioInfo,
    CallAnalysis,
    CallMetadata,
    EmotionSpike,
    Prosody,
    Role,
    Speaker,
    SpeakerTurn,
    Utterance,
    UtteranceSignals,
    Word,
)

ColumnKind = Literal["str", "int", "float", "datetime"]


def now() -> datetime:
    return datetime.now(UTC)


def dumps(value: object) -> str:
    """Compact JSON text, not ASCII-escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def words_json(words: Sequence[Word]) -> str:
    return dumps([[w.text, w.start, w.end, w.probability, w.channel] for w in words])


def words_of(text: str) -> tuple[Word, ...]:
    return tuple(Word(t, s, e, p, c) for t, s, e, p, c in json.loads(text))


def call_row(run_id: int, meta: CallMetadata, content_hash: str, call: CallAnalysis) -> Call:
    a = call.audio
    return Call(
        call_id=call.call_id,
        content_hash=content_hash,
        path=meta.path,
        night=meta.night,
        started_at=meta.started_at,
        customer_id=meta.customer_id,
        agent_id=meta.agent_id,
        queue=meta.queue,
        channel_layout=meta.channel_layout,
        derived=dumps(list(meta.derived)),
        language=call.language,
        language_probability=call.language_probability,
        duration=a.duration,
        diarisation_method=call.diarisation_method,
        audio_path=a.path,
        container=a.container,
        codec=a.codec,
        sample_rate=a.sample_rate,
        channels=a.channels,
        size_bytes=a.size_bytes,
        words=words_json(call.words),
        run_id=run_id,
        processed_at=now(),
    )


def audio_of(c: Call) -> AudioInfo:
    return AudioInfo(
        path=c.audio_path,
        container=c.container,
        codec=c.codec,
        sample_rate=c.sample_rate,
        channels=c.channels,
        duration=c.duration,
        size_bytes=c.size_bytes,
    )


def metadata_of(c: Call) -> CallMetadata:
    return CallMetadata(
        call_id=c.call_id,
        path=c.path,
        night=c.night,
        started_at=c.started_at,
        customer_id=c.customer_id,
        agent_id=c.agent_id,
        queue=c.queue,
        channel_layout=c.channel_layout,
        derived=tuple(json.loads(c.derived)),
    )


def speaker_row(pk: int, idx: int, x: Speaker) -> dict[str, Any]:
    return {
        "call_pk": pk,
        "idx": idx,
        "label": x.label,
        "role": x.role.value,
        "confidence": x.confidence,
        "method": x.method,
        "speech_seconds": x.speech_seconds,
    }


def turn_row(pk: int, idx: int, t: SpeakerTurn) -> dict[str, Any]:
    return {"call_pk": pk, "idx": idx, "speaker": t.speaker, "start": t.start, "end": t.end}


def utterance_row(
    pk: int, idx: int, u: Utterance, signals: UtteranceSignals | None = None
) -> dict[str, Any]:
    prosody = signals.prosody if signals is not None else None
    return {
        "call_pk": pk,
        "idx": idx,
        "speaker": u.speaker,
        "role": u.role.value,
        "start": u.start,
        "end": u.end,
        "text": u.text,
        "words": words_json(u.words),
        "sentiment": signals.sentiment if signals is not None else None,
        "pitch": prosody.pitch if prosody is not None else None,
        "energy_db": prosody.energy_db if prosody is not None else None,
        "rate": prosody.rate if prosody is not None else None,
        "is_reason": signals.is_reason if signals is not None else False,
        "cue_reason": signals.is_reason if signals is not None else False,
    }


def signals_of(idx: int, row: Any) -> UtteranceSignals | None:
    """An utterance row's stored signals (None when the call was stored without them)."""
    if row.sentiment is None:
        return None
    prosody = None if row.energy_db is None else Prosody(row.pitch, row.energy_db, row.rate or 0.0)
    return UtteranceSignals(idx, row.sentiment, prosody, bool(row.is_reason))


SPIKE_FLAG = "emotion_spike"


def spike_row(pk: int, x: EmotionSpike) -> dict[str, Any]:
    details = {
        "speaker": x.speaker,
        "sentiment": x.sentiment,
        "energy_delta_db": x.energy_delta_db,
        "pitch_delta": x.pitch_delta,
        "rate_ratio": x.rate_ratio,
        "utterances": list(x.utterances),
        "words": list(x.words),
    }
    return {
        "call_pk": pk,
        "kind": SPIKE_FLAG,
        "start": x.start,
        "end": x.end,
        "speaker_role": x.role.value,
        "score": x.score,
        "details": dumps(details),
    }


def spike_of(row: Any) -> EmotionSpike:
    d = json.loads(row.details)
    return EmotionSpike(
        start=row.start,
        end=row.end,
        speaker=d["speaker"],
        role=Role(row.speaker_role),
        score=row.score,
        sentiment=d["sentiment"],
        energy_delta_db=d["energy_delta_db"],
        pitch_delta=d["pitch_delta"],
        rate_ratio=d["rate_ratio"],
        utterances=tuple(d["utterances"]),
        words=tuple(d["words"]),
    )


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_of(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


EXPORT_COLUMNS: Mapping[str, tuple[tuple[str, ColumnKind], ...]] = {
    "calls": (
        ("call_id", "str"),
        ("night", "str"),
        ("started_at", "datetime"),
        ("customer_id", "str"),
        ("agent_id", "str"),
        ("queue", "str"),
        ("channel_layout", "str"),
        ("derived", "str"),
        ("path", "str"),
        ("content_hash", "str"),
        ("language", "str"),
        ("language_probability", "float"),
        ("duration", "float"),
        ("diarisation_method", "str"),
        ("container", "str"),
        ("codec", "str"),
        ("sample_rate", "int"),
        ("channels", "int"),
        ("size_bytes", "int"),
        ("run_id", "int"),
        ("processed_at", "datetime"),
    ),
    "utterances": (
        ("call_id", "str"),
        ("idx", "int"),
        ("speaker", "str"),
        ("role", "str"),
        ("start", "float"),
        ("end", "float"),
        ("text", "str"),
        ("word_count", "int"),
    ),
    "drivers": (
        ("call_id", "str"),
        ("driver", "str"),
        ("rank", "int"),
        ("score", "float"),
    ),
    "flags": (
        ("call_id", "str"),
        ("kind", "str"),
        ("start", "float"),
        ("end", "float"),
        ("speaker_role", "str"),
        ("score", "float"),
        ("details", "str"),
    ),
}
"""The exportable tables: (column, kind) in order. ``derived`` is the comma-separated names of
the derived metadata fields; ``details`` is JSON text; ``drivers`` has one row per (call,
driver), with the driver's name; ``word_count`` counts an utterance's words."""


def export_row(table: str, row: Sequence[Any]) -> tuple[Any, ...]:
    """A row of the export query of ``table`` (see repo) as the values of its columns."""
    if table == "calls":
        values = list(row)
        values[7] = ",".join(json.loads(values[7]))
        return tuple(values)
    if table == "utterances":
        return (*row[:7], len(json.loads(row[7])))
    return tuple(row)
