"""The result store's tables, as SQLAlchemy 2 declarative models.

Only ``engine.store.repo`` uses these models; every other module goes through its ``Store``.
The Alembic migrations in ``engine/store/migrations/versions`` create exactly these tables;
a change here needs a new migration (see ``engine.store.repo.alembic_config``).

Conventions:

- Times within a call (``start``, ``end``, durations) are seconds as double precision;
  wall-clock times are timezone-aware UTC (``UTCDateTime``).
- JSON-valued columns (``settings``, ``derived``, ``words``, ``keywords``, ``details``) are
  compact JSON text written and read by the repo, identical on SQLite and PostgreSQL.
- Word arrays are ``[[text, start, end, probability, channel], ...]``: a call's words live
  with its utterances, not one row per word.
- A call's children reference ``calls.id`` with ``ON DELETE CASCADE``: deleting the call row
  deletes its speakers, turns, utterances (and their embeddings), drivers and flags.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AlertRow",
    "AnalysisRun",
    "ApiKeyRow",
    "Base",
    "Call",
    "CallDriver",
    "Driver",
    "DriverEdit",
    "Embedding",
    "Flag",
    "JobRow",
    "Quarantine",
    "RepeatLinkRow",
    "Run",
    "SpeakerRow",
    "Turn",
    "UTCDateTime",
    "UtteranceRow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Stable constraint names, so migrations can refer to them on every backend."""

# A 64-bit key on PostgreSQL; on SQLite only INTEGER PRIMARY KEY autoincrements (and is 64-bit).
BigKey = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; naive values are taken to be UTC already.

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time as text. Reads always
    return aware UTC datetimes, so an aware value round-trips equal on both backends.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    """One batch run over an archive; counts are filled in when it finishes."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archive: Mapped[str] = mapped_column(Text)
    settings: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String())
    discovered: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[float] = mapped_column(Double, default=0.0)
    wall_seconds: Mapped[float] = mapped_column(Double, default=0.0)


class Call(Base):
    """One analysed call: its metadata, its audio and the ledger's content hash."""

    __tablename__ = "calls"
    __table_args__ = (
        Index(None, "started_at", "call_id"),  # the calls list's order and cursor
        Index(None, "customer_id"),
        Index(None, "agent_id"),
        Index(None, "night"),
        Index(None, "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(), unique=True)
    content_hash: Mapped[str] = mapped_column(String())
    path: Mapped[str] = mapped_column(Text)
    night: Mapped[str | None] = mapped_column(String())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customer_id: Mapped[str | None] = mapped_column(String())
    agent_id: Mapped[str | None] = mapped_column(String())
    queue: Mapped[str | None] = mapped_column(String())
    channel_layout: Mapped[str | None] = mapped_column(String())
    derived: Mapped[str] = mapped_column(Text, default="[]")
    language: Mapped[str] = mapped_column(String())
    language_probability: Mapped[float] = mapped_column(Double)
    duration: Mapped[float] = mapped_column(Double)
    diarisation_method: Mapped[str] = mapped_column(String())
    audio_path: Mapped[str] = mapped_column(Text)
    container: Mapped[str] = mapped_column(String())
    codec: Mapped[str] = mapped_column(String())
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    words: Mapped[str] = mapped_column(Text, default="[]")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _call_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))


class SpeakerRow(Base):
    """A speaker of a call with their role; ``idx`` keeps the analysis' order."""

    __tablename__ = "speakers"
    __table_args__ = (UniqueConstraint("call_pk", "idx"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    call_pk: Mapped[int] = _call_fk()
    idx: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String())
    role: Mapped[str] = mapped_column(String())
    confidence: Mapped[float] = mapped_column(Double)
    method: Mapped[str] = mapped_column(String())
    speech_seconds: Mapped[float] = mapped_column(Double)


class Turn(Base):
    """A diarisation turn: who spoke from ``start`` to ``end`` (seconds)."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("call_pk", "idx"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    call_pk: Mapped[int] = _call_fk()
    idx: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String())
    start: Mapped[float] = mapped_column(Double)
    end: Mapped[float] = mapped_column(Double)


class UtteranceRow(Base):
    """An utterance with its speaker, role, times, text and compact word array."""

    __tablename__ = "utterances"
    __table_args__ = (UniqueConstraint("call_pk", "idx"), Index(None, "role"))

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    call_pk: Mapped[int] = _call_fk()
    idx: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String())
    role: Mapped[str] = mapped_column(String())
    start: Mapped[float] = mapped_column(Double)
    end: Mapped[float] = mapped_column(Double)
    text: Mapped[str] = mapped_column(Text)
    words: Mapped[str] = mapped_column(Text, default="[]")
    sentiment: Mapped[float | None] = mapped_column(Double)
    pitch: Mapped[float | None] = mapped_column(Double)
    energy_db: Mapped[float | None] = mapped_column(Double)
    rate: Mapped[float | None] = mapped_column(Double)
    is_reason: Mapped[bool] = mapped_column(Boolean, default=False)
    # the per-call cues' verdict; is_reason is what the night analysis decided (NULL: same)
    cue_reason: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # drivers are never deleted (they change status), so no foreign key is needed
    driver_id: Mapped[int | None] = mapped_column(Integer, index=True)
    driver_score: Mapped[float | None] = mapped_column(Double)


class Embedding(Base):
    """An utterance's embedding by one model: ``dim`` little-endian float32 values."""

    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("utterance_id", "model"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    utterance_id: Mapped[int] = mapped_column(
        BigKey, ForeignKey("utterances.id", ondelete="CASCADE")
    )
    model: Mapped[str] = mapped_column(String())
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class Driver(Base):
    """A call driver (why customers call): found by clustering, maybe edited by an analyst.

    Rows are never deleted: a driver that is merged, split or no longer found changes status,
    so links and lineage keep pointing at it. ``centroid`` is the L2-normalised mean embedding
    of its reason utterances (float32, little-endian) under ``model``.
    """

    __tablename__ = "drivers"
    __table_args__ = (Index(None, "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String())
    name_source: Mapped[str] = mapped_column(String(), default="auto")
    keywords: Mapped[str] = mapped_column(Text, default="[]")
    exemplars: Mapped[str] = mapped_column(Text, default="[]")
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(), default="active")
    merged_into: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String())
    centroid: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DriverEdit(Base):
    """The audit log of driver changes: analysts' edits and re-clustering lineage events."""

    __tablename__ = "driver_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String())
    driver_id: Mapped[int] = mapped_column(Integer, index=True)
    other_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[str] = mapped_column(Text, default="{}")


class RepeatLinkRow(Base):
    """A repeat contact: this call is the customer calling back after ``earlier_call_id``.

    The earlier call is named by call_id (its row is replaced when its file is reprocessed).
    """

    __tablename__ = "repeat_links"
    __table_args__ = (Index(None, "earlier_call_id"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    call_pk: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), unique=True)
    earlier_call_id: Mapped[str] = mapped_column(String())
    gap_days: Mapped[float] = mapped_column(Double)
    driver_id: Mapped[int | None] = mapped_column(Integer)
    similarity: Mapped[float] = mapped_column(Double)


class AnalysisRun(Base):
    """One VoC analysis: how the drivers were updated and what it found."""

    __tablename__ = "analysis_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    mode: Mapped[str] = mapped_column(String())
    model: Mapped[str] = mapped_column(String())
    reason_utterances: Mapped[int] = mapped_column(Integer)
    active_drivers: Mapped[int] = mapped_column(Integer)
    new_drivers: Mapped[int] = mapped_column(Integer)
    unassigned: Mapped[float] = mapped_column(Double)
    repeats: Mapped[int] = mapped_column(Integer)
    alerts: Mapped[int] = mapped_column(Integer)
    wall_seconds: Mapped[float] = mapped_column(Double)


class ApiKeyRow(Base):
    """An API key: only a SHA-256 of its secret is kept; ``prefix`` finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String())
    role: Mapped[str] = mapped_column(String())
    prefix: Mapped[str] = mapped_column(String(), unique=True)
    secret_hash: Mapped[str] = mapped_column(String())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StoreSetting(Base):
    """A store-wide setting (``redact_pii``: on/off)."""

    __tablename__ = "store_settings"

    key: Mapped[str] = mapped_column(String(), primary_key=True)
    value: Mapped[str] = mapped_column(String())


class AlertRow(Base):
    """A driver metric out of line with its trailing baseline on one day."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("driver_id", "day", "metric", "kind"), Index(None, "day"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    driver_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[str] = mapped_column(String(10))
    metric: Mapped[str] = mapped_column(String())
    kind: Mapped[str] = mapped_column(String())
    observed: Mapped[float] = mapped_column(Double)
    baseline: Mapped[float] = mapped_column(Double)
    p_value: Mapped[float] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CallDriver(Base):
    """A driver of a call, ranked (1 = main driver) with the analytics' score."""

    __tablename__ = "call_drivers"
    __table_args__ = (UniqueConstraint("call_pk", "driver_id"), Index(None, "driver_id"))

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    call_pk: Mapped[int] = _call_fk()
    driver_id: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Double)


class Flag(Base):
    """Something the analytics flagged in a call (an emotion spike, a repeat contact, ...)."""

    __tablename__ = "flags"
    __table_args__ = (Index(None, "call_pk", "kind"), Index(None, "kind"))

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    call_pk: Mapped[int] = _call_fk()
    kind: Mapped[str] = mapped_column(String())
    start: Mapped[float | None] = mapped_column(Double)
    end: Mapped[float | None] = mapped_column(Double)
    speaker_role: Mapped[str | None] = mapped_column(String())
    score: Mapped[float | None] = mapped_column(Double)
    details: Mapped[str] = mapped_column(Text, default="{}")


class Quarantine(Base):
    """A recording that could not be processed, one row per (call_id, path)."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("call_id", "path"), Index(None, "run_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String())
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String())
    stage: Mapped[str] = mapped_column(String())
    problem: Mapped[str] = mapped_column(String())
    detail: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobRow(Base):
    """A job of the HTTP API: a batch run over an archive folder or over an upload's folder.

    ``status`` moves queued -> running -> finished | failed (running goes back to queued when
    the server stops mid-job); ``files`` is the JSON list of an upload's recordings.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index(None, "status", "created_at"), Index(None, "created_at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String())
    status: Mapped[str] = mapped_column(String())
    source: Mapped[str] = mapped_column(Text)
    since: Mapped[str | None] = mapped_column(String(10))
    files: Mapped[str] = mapped_column(Text, default="[]")
    submitted_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
