"""The result store: the only code that writes or queries callscope's database.

``Store.open(url)`` opens SQLite (``sqlite:///path``, the default; see
``engine.store.connect``) or PostgreSQL (``postgresql+psycopg://user:pw@host/db``) and
migrates it to the newest schema.

The ledger, for exactly-once results:

- A call is *done* when the store holds its results; the content hash they were computed from
  is kept with them. A call is *quarantined* when it has no results but a quarantine row.
- ``save_call`` writes a call's results in one transaction, first deleting any previous results
  of the same call_id and the quarantine row of the same (call_id, path). Saving twice leaves
  one copy; a process killed mid-save leaves the previous state (nothing, or the old results).
- ``quarantine`` replaces the quarantine row of the same (call_id, path). When the record names
  a content hash and the stored results came from the same path with a *different* hash, those
  results are stale (the file changed, and the new version failed) and are deleted in the same
  transaction. Results are kept when the hash is unknown (the file could not even be read) or
  the failing file is another path (a duplicate call_id).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, cast

import numpy as np
from sqlalchemy import CursorResult, Engine, Select, delete, func, insert, select
from sqlalchemy.orm import Session

from engine.errors import CallscopeError
from engine.store import rows
from engine.store.calls import CallFilter, filter_clauses
from engine.store.connect import create_store_engine, migrate, resolve_store_url
from engine.store.rows import EXPORT_COLUMNS, ColumnKind, export_row, words_of
from engine.store.schema import (
    Call,
    CallDriver,
    Driver,
    Embedding,
    Flag,
    Quarantine,
    Run,
    SpeakerRow,
    StoreSetting,
    Turn,
    UtteranceRow,
)
from engine.types import (
    CallAnalysis,
    CallMetadata,
    QuarantineRecord,
    Role,
    RunSummary,
    Speaker,
    SpeakerTurn,
    Utterance,
    UtteranceEmbeddings,
)

__all__ = [
    "EXPORT_COLUMNS",
    "STORE_SETTINGS",
    "ColumnKind",
    "ExportView",
    "LedgerEntry",
    "RunRecord",
    "Store",
    "StoreError",
]

if TYPE_CHECKING:
    from engine.store.jobs import JobStore
    from engine.store.keys import KeyStore
    from engine.store.voc import VocStore

log = logging.getLogger(__name__)

LedgerState = Literal["done", "quarantined"]

STORE_SETTINGS: dict[str, tuple[str, ...]] = {"redact_pii": ("on", "off")}
"""Store-wide settings and their values. ``redact_pii``: redact card numbers, phone numbers,
e-mail addresses and spoken digit runs from transcripts before they are stored (on for a store
created empty, off for one that held calls before settings existed)."""


class StoreError(CallscopeError):
    """A store operation that cannot be done (an unknown run, a mismatched call id...)."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the store knows of a call_id: ``done`` (results) or ``quarantined`` (no results)."""

    call_id: str
    content_hash: str | None
    state: LedgerState


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A batch run as stored; status is ``running`` until ``finish_run`` (or forever if killed)."""

    id: int
    archive: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    settings: Mapping[str, str]
    discovered: int
    processed: int
    skipped: int
    quarantined: int
    audio_seconds: float
    wall_seconds: float


class Store:
    """The result store (see module docstring). Thread-safe: every method is its own session."""

    def __init__(self, engine: Engine, reader: Engine, writer: Engine) -> None:
        self._engine = engine
        self._reader = reader
        self._writer = writer

    @classmethod
    def open(cls, url: str | None = None, *, migrate_schema: bool = True) -> Store:
        """Open the store at ``url`` (None: ``default_store_url()``; a bare path: SQLite).

        Creates an SQLite file's folder, and migrates the schema to head unless told not to.
        """
        engine, reader, writer = create_store_engine(resolve_store_url(url))
        try:
            if migrate_schema:
                migrate(reader, writer)
        except BaseException:
            engine.dispose()
            raise
        log.debug("opened the store %s", engine.url.render_as_string(hide_password=True))
        return cls(engine, reader, writer)

    @property
    def url(self) -> str:
        """The store's URL with the password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def voc(self) -> VocStore:
        """The VoC analytics' tables: embeddings, drivers, repeat links, alerts."""
        from engine.store.voc import VocStore

        return VocStore(self)

    @property
    def keys(self) -> KeyStore:
        """The HTTP API's keys."""
        from engine.store.keys import KeyStore

        return KeyStore(self)

    @property
    def jobs(self) -> JobStore:
        """The HTTP API's jobs (batch runs over an archive folder or an upload)."""
        from engine.store.jobs import JobStore

        return JobStore(self)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._reader) as session, session.begin():
            yield session

    # ------------------------------------------------------------------ runs

    def start_run(self, archive: str, settings: Mapping[str, str]) -> int:
        """Record a run as ``running``; returns its id."""
        with self._write() as s:
            run = Run(
                started_at=rows.now(),
                archive=archive,
                settings=rows.dumps(dict(sorted(settings.items()))),
                status="running",
            )
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, summary: RunSummary, status: str = "finished") -> None:
        """Record a run's outcome (counts, audio and wall seconds) and its final status."""
        with self._write() as s:
            run = s.get(Run, summary.run_id)
            if run is None:
                raise StoreError(f"no run {summary.run_id} in the store")
            run.finished_at = rows.now()
            run.status = status
            run.discovered = summary.discovered
            run.processed = summary.processed
            run.skipped = summary.skipped
            run.quarantined = len(summary.quarantined)
            run.audio_seconds = summary.audio_seconds
            run.wall_seconds = summary.wall_seconds

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first."""
        with self._read() as s:
            return [
                RunRecord(
                    id=r.id,
                    archive=r.archive,
                    started_at=r.started_at,
                    finished_at=r.finished_at,
                    status=r.status,
                    settings=json.loads(r.settings),
                    discovered=r.discovered,
                    processed=r.processed,
                    skipped=r.skipped,
                    quarantined=r.quarantined,
                    audio_seconds=r.audio_seconds,
                    wall_seconds=r.wall_seconds,
                )
                for r in s.scalars(select(Run).order_by(Run.id))
            ]

    # ------------------------------------------------------------------ ledger

    def ledger(self, call_id: str, path: str | None = None) -> LedgerEntry | None:
        """The ledger entry of ``call_id``, or None when the store has never seen it.

        ``done`` with the results' content hash when there are results; otherwise the newest
        quarantine row (of ``path`` only, when given) as ``quarantined`` with its hash (None
        when the file could not be hashed).
        """
        with self._read() as s:
            done = s.scalar(select(Call.content_hash).where(Call.call_id == call_id))
            if done is not None:
                return LedgerEntry(call_id, done, "done")
            query = select(Quarantine.content_hash).where(Quarantine.call_id == call_id)
            if path is not None:
                query = query.where(Quarantine.path == path)
            row = s.execute(query.order_by(Quarantine.at.desc(), Quarantine.id.desc())).first()
            return None if row is None else LedgerEntry(call_id, row[0], "quarantined")

    def save_call(
        self, run_id: int, meta: CallMetadata, content_hash: str, call: CallAnalysis
    ) -> None:
        """Store a call's results in one transaction, replacing what the store had for it."""
        if meta.call_id != call.call_id:
            raise StoreError(f"metadata of {meta.call_id!r} given with the call {call.call_id!r}")
        with self._write() as s:
            s.execute(delete(Call).where(Call.call_id == call.call_id))
            s.execute(
                delete(Quarantine).where(
                    Quarantine.call_id == call.call_id, Quarantine.path == meta.path
                )
            )
            row = rows.call_row(run_id, meta, content_hash, call)
            s.add(row)
            s.flush()
            signals = {x.index: x for x in call.signals}
            children = (
                (SpeakerRow, [rows.speaker_row(row.id, i, x) for i, x in enumerate(call.speakers)]),
                (Turn, [rows.turn_row(row.id, i, t) for i, t in enumerate(call.turns)]),
                (
                    UtteranceRow,
                    [
                        rows.utterance_row(row.id, i, u, signals.get(i))
                        for i, u in enumerate(call.utterances)
                    ],
                ),
                (Flag, [rows.spike_row(row.id, x) for x in call.spikes]),
            )
            for model, values in children:
                if values:
                    s.execute(insert(model), values)
            if call.embeddings is not None and len(call.embeddings.vectors):
                ids = dict(
                    s.execute(
                        select(UtteranceRow.idx, UtteranceRow.id).where(
                            UtteranceRow.call_pk == row.id
                        )
                    )
                    .tuples()
                    .all()
                )
                s.execute(
                    insert(Embedding),
                    [
                        {
                            "utterance_id": ids[i],
                            "model": call.embeddings.model,
                            "dim": call.embeddings.dim,
                            "vector": rows.vector_bytes(v),
                        }
                        for i, v in enumerate(call.embeddings.vectors)
                    ],
                )
        log.debug("stored call %s (%d utterances)", call.call_id, len(call.utterances))

    def quarantine(self, run_id: int, meta: CallMetadata, record: QuarantineRecord) -> None:
        """Record a file that could not be processed (see module docstring), one transaction."""
        if meta.call_id != record.call_id:
            raise StoreError(f"metadata of {meta.call_id!r} given with {record.call_id!r}")
        with self._write() as s:
            if record.content_hash is not None:
                stale = s.execute(
                    delete(Call).where(
                        Call.call_id == record.call_id,
                        Call.path == record.path,
                        Call.content_hash != record.content_hash,
                    )
                )
                if cast(CursorResult[Any], stale).rowcount:
                    log.warning("deleted stale results of %s: its new version failed", meta.call_id)
            s.execute(
                delete(Quarantine).where(
                    Quarantine.call_id == record.call_id, Quarantine.path == record.path
                )
            )
            s.add(
                Quarantine(
                    call_id=record.call_id,
                    path=record.path,
                    content_hash=record.content_hash,
                    stage=record.stage,
                    problem=record.problem,
                    detail=record.detail,
                    run_id=run_id,
                    at=rows.now(),
                )
            )

    def quarantined(self, run_id: int | None = None) -> list[QuarantineRecord]:
        """The quarantine (rows last recorded by ``run_id`` only, when given), oldest first."""
        query = select(Quarantine).order_by(Quarantine.at, Quarantine.id)
        if run_id is not None:
            query = query.where(Quarantine.run_id == run_id)
        with self._read() as s:
            return [
                QuarantineRecord(q.call_id, q.path, q.stage, q.problem, q.detail, q.content_hash)
                for q in s.scalars(query)
            ]

    # ------------------------------------------------------------------ calls

    def load_call(self, call_id: str) -> CallAnalysis | None:
        """The stored analysis of ``call_id`` (equal to what was saved), or None."""
        with self._read() as s:
            c = s.scalars(select(Call).where(Call.call_id == call_id)).first()
            if c is None:
                return None
            speakers = s.scalars(_children(SpeakerRow, c.id))
            turns = s.scalars(_children(Turn, c.id))
            utterances = list(s.scalars(_children(UtteranceRow, c.id)))
            signals = [rows.signals_of(u.idx, u) for u in utterances]
            spikes = s.scalars(
                select(Flag)
                .where(Flag.call_pk == c.id, Flag.kind == rows.SPIKE_FLAG)
                .order_by(Flag.start, Flag.id)
            )
            return CallAnalysis(
                call_id=c.call_id,
                audio=rows.audio_of(c),
                language=c.language,
                language_probability=c.language_probability,
                diarisation_method=c.diarisation_method,
                speakers=tuple(
                    Speaker(x.label, Role(x.role), x.confidence, x.method, x.speech_seconds)
                    for x in speakers
                ),
                turns=tuple(SpeakerTurn(t.speaker, t.start, t.end) for t in turns),
                utterances=tuple(
                    Utterance(u.speaker, Role(u.role), u.start, u.end, u.text, words_of(u.words))
                    for u in utterances
                ),
                words=words_of(c.words),
                signals=tuple(x for x in signals if x is not None),
                spikes=tuple(rows.spike_of(f) for f in spikes),
                embeddings=_embeddings_of(s, [u.id for u in utterances]),
            )

    def call_metadata(self, call_id: str) -> CallMetadata | None:
        """The metadata stored with ``call_id``'s results, or None."""
        with self._read() as s:
            c = s.scalars(select(Call).where(Call.call_id == call_id)).first()
            return None if c is None else rows.metadata_of(c)

    def call_ids(self) -> list[str]:
        """The ids of the calls with results, sorted."""
        with self._read() as s:
            return list(s.scalars(select(Call.call_id).order_by(Call.call_id)))

    def count_calls(self) -> int:
        with self._read() as s:
            return s.scalar(select(func.count()).select_from(Call)) or 0

    # ------------------------------------------------------------------ settings

    def setting(self, key: str, default: str | None = None) -> str | None:
        """A store-wide setting (see ``STORE_SETTINGS``), or ``default``."""
        with self._read() as s:
            value = s.scalar(select(StoreSetting.value).where(StoreSetting.key == key))
            return default if value is None else value

    def set_setting(self, key: str, value: str) -> None:
        if key not in STORE_SETTINGS:
            raise StoreError(f"unknown store setting {key!r}; known: {', '.join(STORE_SETTINGS)}")
        if value not in STORE_SETTINGS[key]:
            allowed = ", ".join(STORE_SETTINGS[key])
            raise StoreError(f"store setting {key} takes {allowed}, not {value!r}")
        with self._write() as s:
            row = s.get(StoreSetting, key)
            if row is None:
                s.add(StoreSetting(key=key, value=value))
            else:
                row.value = value

    # ------------------------------------------------------------------ exports

    @contextmanager
    def export_view(self) -> Iterator[ExportView]:
        """A consistent read-only view (one snapshot) of the exportable tables."""
        with self._read() as s:
            yield ExportView(s)


def _embeddings_of(s: Session, utterance_ids: list[int]) -> UtteranceEmbeddings | None:
    """The utterances' embeddings by one model, in order, if every utterance has one."""
    if not utterance_ids:
        return None
    found = s.execute(
        select(Embedding.utterance_id, Embedding.model, Embedding.vector)
        .where(Embedding.utterance_id.in_(utterance_ids))
        .order_by(Embedding.model)
    ).all()
    by_model: dict[str, dict[int, bytes]] = {}
    for uid, model, vector in found:
        by_model.setdefault(model, {})[uid] = vector
    for model, vectors in by_model.items():
        if len(vectors) == len(utterance_ids):
            matrix = np.stack([rows.vector_of(vectors[i]) for i in utterance_ids])
            return UtteranceEmbeddings(model, matrix)
    return None


_Child = type[SpeakerRow] | type[Turn] | type[UtteranceRow]


def _children(model: _Child, pk: int) -> Select[*tuple[Any, ...]]:
    return select(model).where(model.call_pk == pk).order_by(model.idx)


# ---------------------------------------------------------------------- export view


def _export_query(table: str) -> Select[*tuple[Any, ...]]:
    if table == "calls":
        columns = [getattr(Call, name) for name, _ in EXPORT_COLUMNS["calls"]]
        return select(*columns).order_by(Call.call_id)
    if table == "utterances":
        u = UtteranceRow
        return (
            select(Call.call_id, u.idx, u.speaker, u.role, u.start, u.end, u.text, u.words)
            .join(Call, Call.id == u.call_pk)
            .order_by(Call.call_id, u.idx)
        )
    if table == "drivers":
        return (
            select(Call.call_id, Driver.name, CallDriver.rank, CallDriver.score)
            .join(Call, Call.id == CallDriver.call_pk)
            .join(Driver, Driver.id == CallDriver.driver_id)
            .order_by(Call.call_id, CallDriver.rank, Driver.name)
        )
    if table == "flags":
        f = Flag
        return (
            select(Call.call_id, f.kind, f.start, f.end, f.speaker_role, f.score, f.details)
            .join(Call, Call.id == f.call_pk)
            .order_by(Call.call_id, f.start.is_(None), f.start, f.id)
        )
    raise StoreError(f"unknown export table {table!r}; known: {sorted(EXPORT_COLUMNS)}")


_COUNTED = {"calls": Call, "utterances": UtteranceRow, "drivers": CallDriver, "flags": Flag}


class ExportView:
    """Rows of the exportable tables, read in one transaction (see ``Store.export_view``)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @staticmethod
    def columns(table: str) -> tuple[tuple[str, ColumnKind], ...]:
        """The table's (column, kind) pairs, in row order."""
        if table not in EXPORT_COLUMNS:
            raise StoreError(f"unknown export table {table!r}; known: {sorted(EXPORT_COLUMNS)}")
        return EXPORT_COLUMNS[table]

    def count(self, table: str, calls: CallFilter | None = None) -> int:
        """The table's rows (of the calls ``calls`` matches only, when given)."""
        self.columns(table)  # validates the name
        if calls is None:
            return self._session.scalar(select(func.count()).select_from(_COUNTED[table])) or 0
        query = _export_query(table).where(*filter_clauses(calls)).order_by(None)
        return self._session.scalar(select(func.count()).select_from(query.subquery())) or 0

    def rows(
        self, table: str, batch_size: int = 2000, calls: CallFilter | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """The table's rows as tuples in ``columns(table)`` order, streamed (of the calls
        ``calls`` matches only, when given)."""
        query = _export_query(table)
        if calls is not None:
            query = query.where(*filter_clauses(calls))
        for row in self._session.execute(query.execution_options(yield_per=batch_size)):
            yield export_row(table, row)
