"""The store's VoC-analytics side: embeddings and reasons, drivers, repeat links, alerts.

Reached as ``Store.voc``; like the rest of ``engine.store`` it is the only code that reads or
writes these tables. Every write is one transaction.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update

from engine.store import rows
from engine.store.schema import (
    AlertRow,
    AnalysisRun,
    Call,
    CallDriver,
    Driver,
    DriverEdit,
    Embedding,
    Flag,
    RepeatLinkRow,
    UtteranceRow,
)
from engine.types import (
    CallDriverLink,
    CallFacts,
    DriverAlert,
    EmotionSpike,
    ReasonSet,
    RepeatLink,
    Role,
    Utterance,
    UtteranceSet,
)
from engine.types import (
    Driver as DriverType,
)

if TYPE_CHECKING:
    from engine.store.repo import Store

__all__ = ["AnalysisRecord", "EmbeddingRows", "ReasonSet", "StoredUtterance", "VocStore"]


@dataclass(frozen=True, eq=False)
class EmbeddingRows:
    """Utterance embeddings by one model with what search filters on, in embedding id order.

    ids: embedding row ids; utterance_ids: utterance row ids; call_pks: call row ids; roles:
    role values; reasons: the reason flags; started: each call's start as POSIX seconds (NaN:
    unknown); vectors: (n, dim) float32 as stored; calls: call row id -> call id.
    """

    ids: np.ndarray
    utterance_ids: np.ndarray
    call_pks: np.ndarray
    roles: tuple[str, ...]
    reasons: np.ndarray
    started: np.ndarray
    vectors: np.ndarray
    calls: dict[int, str]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class StoredUtterance:
    """An utterance as a search hit shows it (``index``: its position in the call)."""

    call_id: str
    index: int
    speaker: str
    role: str
    start: float
    end: float
    text: str
    started_at: datetime | None


@dataclass(frozen=True)
class AnalysisRecord:
    """What one analysis did (see ``engine.analytics.analyse``)."""

    mode: str
    model: str
    reason_utterances: int
    active_drivers: int
    new_drivers: int
    unassigned: float
    repeats: int
    alerts: int
    wall_seconds: float


def _driver(d: Driver) -> DriverType:
    return DriverType(
        id=d.id,
        name=d.name,
        keywords=tuple(json.loads(d.keywords)),
        exemplars=tuple(json.loads(d.exemplars)),
        size=d.size,
        status=d.status,
        name_source=d.name_source,
        merged_into=d.merged_into,
        parent_id=d.parent_id,
    )


class VocStore:
    """See the module docstring."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # ------------------------------------------------------------ embeddings and reasons

    def calls_without_embeddings(self, model: str) -> list[str]:
        """Call ids with at least one utterance that has no embedding by ``model``."""
        embedded = select(Embedding.utterance_id).where(Embedding.model == model)
        query = (
            select(Call.call_id)
            .join(UtteranceRow, UtteranceRow.call_pk == Call.id)
            .where(UtteranceRow.id.not_in(embedded))
            .distinct()
            .order_by(Call.call_id)
        )
        with self._store._read() as s:
            return list(s.scalars(query))

    def utterances(self, call_id: str) -> list[Utterance]:
        """A stored call's utterances in order (without words)."""
        query = (
            select(UtteranceRow)
            .join(Call, Call.id == UtteranceRow.call_pk)
            .where(Call.call_id == call_id)
            .order_by(UtteranceRow.idx)
        )
        with self._store._read() as s:
            return [
                Utterance(u.speaker, Role(u.role), u.start, u.end, u.text) for u in s.scalars(query)
            ]

    def save_embeddings(
        self, call_id: str, model: str, vectors: np.ndarray, reasons: Sequence[bool]
    ) -> None:
        """Store a call's utterance embeddings by ``model`` (row i = utterance i) and reasons."""
        with self._store._write() as s:
            ids = list(
                s.scalars(
                    select(UtteranceRow.id)
                    .join(Call, Call.id == UtteranceRow.call_pk)
                    .where(Call.call_id == call_id)
                    .order_by(UtteranceRow.idx)
                )
            )
            if len(ids) != len(vectors) or len(ids) != len(reasons):
                raise ValueError(f"{call_id}: {len(ids)} utterances, {len(vectors)} vectors")
            s.execute(
                delete(Embedding).where(Embedding.utterance_id.in_(ids), Embedding.model == model)
            )
            if ids:
                s.execute(
                    insert(Embedding),
                    [
                        {
                            "utterance_id": i,
                            "model": model,
                            "dim": int(v.shape[0]),
                            "vector": rows.vector_bytes(v),
                        }
                        for i, v in zip(ids, vectors, strict=True)
                    ],
                )
                for flag in (True, False):
                    chosen = [i for i, r in zip(ids, reasons, strict=True) if bool(r) is flag]
                    if chosen:
                        s.execute(
                            update(UtteranceRow)
                            .where(UtteranceRow.id.in_(chosen))
                            .values(is_reason=flag, cue_reason=flag)
                        )

    def reason_set(self, model: str, until: datetime | None = None) -> ReasonSet:
        """Every reason utterance with an embedding by ``model`` (calls started before
        ``until`` only, when given), ordered by call start, call id and utterance index."""
        u = UtteranceRow
        query = (
            select(
                Call.call_id,
                u.idx,
                u.id,
                u.text,
                u.driver_id,
                u.words,
                Call.night,
                Embedding.vector,
            )
            .join(Call, Call.id == u.call_pk)
            .join(Embedding, (Embedding.utterance_id == u.id) & (Embedding.model == model))
            .where(u.is_reason.is_(True))
            .order_by(Call.started_at, Call.call_id, u.idx)
        )
        if until is not None:
            query = query.where(Call.started_at < until)
        with self._store._read() as s:
            found = s.execute(query).all()
        keys = tuple((r[0], r[1]) for r in found)
        dim = len(found[0][7]) // 4 if found else 0
        vectors = (
            np.stack([rows.vector_of(r[7]) for r in found])
            if found
            else np.zeros((0, dim), dtype=np.float32)
        )
        return ReasonSet(
            keys=keys,
            ids=np.array([r[2] for r in found], dtype=np.int64),
            vectors=vectors,
            texts=tuple(r[3] for r in found),
            driver_ids=tuple(r[4] for r in found),
            weights=np.array([max(1, len(r[3].split())) for r in found], dtype=np.float64),
            nights=tuple(r[6] for r in found),
        )

    def utterance_set(self, model: str, until: datetime | None = None) -> UtteranceSet:
        """Every utterance with an embedding by ``model`` (of calls started before ``until``
        when given), ordered by call start, call id and utterance index; ``reasons`` holds the
        per-call cues' verdicts."""
        u = UtteranceRow
        cue = func.coalesce(u.cue_reason, u.is_reason)
        query = (
            select(Call.call_id, u.idx, u.id, u.text, u.role, cue, u.start, Embedding.vector)
            .join(Call, Call.id == u.call_pk)
            .join(Embedding, (Embedding.utterance_id == u.id) & (Embedding.model == model))
            .order_by(Call.started_at, Call.call_id, u.idx)
        )
        if until is not None:
            query = query.where(Call.started_at < until)
        with self._store._read() as s:
            found = s.execute(query).all()
        dim = len(found[0][7]) // 4 if found else 0
        return UtteranceSet(
            keys=tuple((r[0], r[1]) for r in found),
            ids=np.array([r[2] for r in found], dtype=np.int64),
            vectors=(
                np.stack([rows.vector_of(r[7]) for r in found])
                if found
                else np.zeros((0, dim), dtype=np.float32)
            ),
            texts=tuple(r[3] for r in found),
            roles=tuple(r[4] for r in found),
            reasons=np.array([bool(r[5]) for r in found], dtype=bool),
            starts=np.array([r[6] for r in found], dtype=np.float64),
        )

    def set_reason_flags(self, flags: Mapping[int, bool]) -> None:
        """Mark utterances (row id -> flag) as reason utterances or not (the cues' verdict
        is kept apart: rows that had none get their old flag as it)."""
        with self._store._write() as s:
            s.execute(
                update(UtteranceRow)
                .where(UtteranceRow.cue_reason.is_(None))
                .values(cue_reason=UtteranceRow.is_reason)
            )
            for flag in (True, False):
                chosen = [i for i, f in flags.items() if f is flag]
                for lo in range(0, len(chosen), 500):
                    s.execute(
                        update(UtteranceRow)
                        .where(UtteranceRow.id.in_(chosen[lo : lo + 500]))
                        .values(is_reason=flag)
                    )

    # ------------------------------------------------------------------ search

    def embedding_models(self) -> dict[str, int]:
        """How many utterance embeddings each model has in the store."""
        query = select(Embedding.model, func.count()).group_by(Embedding.model)
        with self._store._read() as s:
            return {m: int(n) for m, n in s.execute(query).tuples()}

    def embedding_stamp(self, model: str) -> tuple[int, int]:
        """(count, highest row id) of ``model``'s embeddings: changes whenever any is added,
        replaced or deleted (a replaced embedding gets a new, higher id)."""
        query = select(func.count(), func.max(Embedding.id)).where(Embedding.model == model)
        with self._store._read() as s:
            count, top = s.execute(query).one()
        return int(count or 0), int(top or 0)

    def embedding_ids(self, model: str) -> np.ndarray:
        """The row ids of ``model``'s embeddings, ascending."""
        query = select(Embedding.id).where(Embedding.model == model).order_by(Embedding.id)
        with self._store._read() as s:
            return np.fromiter(s.scalars(query), dtype=np.int64)

    def embedding_rows(
        self, model: str, after_id: int = 0, batch_size: int = 20_000
    ) -> Iterator[EmbeddingRows]:
        """``model``'s embeddings with row ids above ``after_id``, in id order, in batches
        of at most ``batch_size`` rows (one read transaction)."""
        u = UtteranceRow
        query = (
            select(
                Embedding.id,
                Embedding.utterance_id,
                u.call_pk,
                u.role,
                u.is_reason,
                Embedding.vector,
            )
            .join(u, u.id == Embedding.utterance_id)
            .where(Embedding.model == model, Embedding.id > after_id)
            .order_by(Embedding.id)
            .execution_options(yield_per=batch_size)
        )
        with self._store._read() as s:
            for part in s.execute(query).tuples().partitions():
                blob = b"".join(r[5] for r in part)
                dim = len(part[0][5]) // 4
                if len(blob) != 4 * dim * len(part):
                    raise ValueError(f"embeddings by {model!r} of different sizes in the store")
                pks = np.array([r[2] for r in part], dtype=np.int64)
                known = np.unique(pks)
                calls = s.execute(
                    select(Call.id, Call.call_id, Call.started_at).where(
                        Call.id.in_([int(pk) for pk in known])
                    )
                ).all()
                starts = {pk: when.timestamp() if when else np.nan for pk, _, when in calls}
                started = np.array([starts.get(int(pk), np.nan) for pk in known])
                yield EmbeddingRows(
                    ids=np.array([r[0] for r in part], dtype=np.int64),
                    utterance_ids=np.array([r[1] for r in part], dtype=np.int64),
                    call_pks=pks,
                    roles=tuple(r[3] for r in part),
                    reasons=np.array([bool(r[4]) for r in part], dtype=bool),
                    started=started[np.searchsorted(known, pks)],
                    vectors=np.frombuffer(blob, dtype="<f4").reshape(len(part), dim),
                    calls={pk: call_id for pk, call_id, _ in calls},
                )

    def call_driver_stamp(self) -> tuple[int, int]:
        """(count, highest row id) of the call-driver links: changes with every analysis or
        driver edit that rewrites links (rewritten links get new ids)."""
        query = select(func.count(), func.max(CallDriver.id))
        with self._store._read() as s:
            count, top = s.execute(query).one()
        return int(count or 0), int(top or 0)

    def primary_drivers(self) -> dict[int, int]:
        """Call row id -> its primary driver (rank 1), for the calls that have one."""
        query = select(CallDriver.call_pk, CallDriver.driver_id).where(CallDriver.rank == 1)
        with self._store._read() as s:
            return {int(pk): int(d) for pk, d in s.execute(query).tuples()}

    def utterances_by_id(self, utterance_ids: Sequence[int]) -> dict[int, StoredUtterance]:
        """The utterances with these row ids (ids no longer stored are left out)."""
        if not utterance_ids:
            return {}
        u = UtteranceRow
        query = (
            select(
                u.id,
                Call.call_id,
                u.idx,
                u.speaker,
                u.role,
                u.start,
                u.end,
                u.text,
                Call.started_at,
            )
            .join(Call, Call.id == u.call_pk)
            .where(u.id.in_([int(i) for i in utterance_ids]))
        )
        with self._store._read() as s:
            return {
                int(r[0]): StoredUtterance(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
                for r in s.execute(query).tuples()
            }

    # ------------------------------------------------------------------ drivers

    def drivers(self, statuses: Iterable[str] | None = None) -> list[DriverType]:
        query = select(Driver).order_by(Driver.id)
        if statuses is not None:
            query = query.where(Driver.status.in_(list(statuses)))
        with self._store._read() as s:
            return [_driver(d) for d in s.scalars(query)]

    def driver(self, driver_id: int) -> DriverType | None:
        with self._store._read() as s:
            d = s.get(Driver, driver_id)
            return None if d is None else _driver(d)

    def centroids(self, model: str) -> dict[int, np.ndarray]:
        """Each driver's centroid under ``model`` (drivers of another model are left out)."""
        query = select(Driver.id, Driver.centroid).where(
            Driver.model == model, Driver.centroid.is_not(None)
        )
        with self._store._read() as s:
            return {i: rows.vector_of(c) for i, c in s.execute(query).tuples() if c is not None}

    def next_driver_id(self) -> int:
        with self._store._read() as s:
            return int(s.scalar(select(func.max(Driver.id))) or 0) + 1

    def save_drivers(
        self,
        model: str,
        drivers: Sequence[DriverType],
        centroids: Mapping[int, np.ndarray],
        utterance_drivers: Mapping[int, tuple[int | None, float | None]],
        call_links: Mapping[str, Sequence[CallDriverLink]],
        events: Sequence[tuple[str, int, int | None, Mapping[str, Any]]] = (),
    ) -> None:
        """Write a driver analysis in one transaction.

        drivers: rows to insert or update (by id); utterance_drivers: utterance row id ->
        (driver id or None, score); call_links: call id -> its ranked drivers (replacing what
        the call had); events: (action, driver id, other id, details) for the audit log.
        """
        now = rows.now()
        with self._store._write() as s:
            for d in drivers:
                row = s.get(Driver, d.id)
                if row is None:
                    row = Driver(id=d.id, created_at=now)
                    s.add(row)
                row.name = d.name
                row.name_source = d.name_source
                row.keywords = rows.dumps(list(d.keywords))
                row.exemplars = rows.dumps(list(d.exemplars))
                row.size = d.size
                row.status = d.status
                row.merged_into = d.merged_into
                row.parent_id = d.parent_id
                row.model = model
                centroid = centroids.get(d.id)
                if centroid is not None:
                    row.centroid = rows.vector_bytes(centroid)
                row.updated_at = now
            s.flush()
            by_driver: dict[tuple[int | None, float | None], list[int]] = defaultdict(list)
            for uid, value in utterance_drivers.items():
                by_driver[value].append(int(uid))
            for (driver_id, score), uids in by_driver.items():
                for lo in range(0, len(uids), 500):
                    s.execute(
                        update(UtteranceRow)
                        .where(UtteranceRow.id.in_(uids[lo : lo + 500]))
                        .values(driver_id=driver_id, driver_score=score)
                    )
            if call_links:
                pks = dict(
                    s.execute(
                        select(Call.call_id, Call.id).where(Call.call_id.in_(list(call_links)))
                    )
                    .tuples()
                    .all()
                )
                s.execute(delete(CallDriver).where(CallDriver.call_pk.in_(list(pks.values()))))
                values = [
                    {
                        "call_pk": pks[call_id],
                        "driver_id": x.driver_id,
                        "rank": x.rank,
                        "score": x.score,
                    }
                    for call_id, links in call_links.items()
                    if call_id in pks
                    for x in links
                ]
                if values:
                    s.execute(insert(CallDriver), values)
            for action, driver_id, other_id, details in events:
                s.add(
                    DriverEdit(
                        at=now,
                        action=action,
                        driver_id=driver_id,
                        other_id=other_id,
                        details=rows.dumps(dict(details)),
                    )
                )

    def rename_driver(self, driver_id: int, name: str) -> None:
        """An analyst's name for a driver, kept by later analyses; logged as "rename"."""
        with self._store._write() as s:
            row = s.get(Driver, driver_id)
            if row is None:
                raise ValueError(f"no driver {driver_id}")
            row.name, row.name_source, row.updated_at = name, "analyst", rows.now()
            s.add(
                DriverEdit(
                    at=rows.now(),
                    action="rename",
                    driver_id=driver_id,
                    other_id=None,
                    details=rows.dumps({"name": name}),
                )
            )

    def driver_history(self, driver_id: int | None = None) -> list[tuple[str, int, int | None]]:
        """The audit log as (action, driver id, other id), oldest first."""
        query = select(DriverEdit.action, DriverEdit.driver_id, DriverEdit.other_id).order_by(
            DriverEdit.id
        )
        if driver_id is not None:
            query = query.where(
                (DriverEdit.driver_id == driver_id) | (DriverEdit.other_id == driver_id)
            )
        with self._store._read() as s:
            return [(a, d, o) for a, d, o in s.execute(query).tuples()]

    def call_drivers(self, call_id: str | None = None) -> dict[str, list[CallDriverLink]]:
        """Every call's ranked drivers (of ``call_id`` only, when given)."""
        query = (
            select(Call.call_id, CallDriver.driver_id, CallDriver.rank, CallDriver.score)
            .join(Call, Call.id == CallDriver.call_pk)
            .order_by(Call.call_id, CallDriver.rank)
        )
        if call_id is not None:
            query = query.where(Call.call_id == call_id)
        out: dict[str, list[CallDriverLink]] = defaultdict(list)
        with self._store._read() as s:
            for call_id, driver_id, rank, score in s.execute(query).tuples():
                out[call_id].append(CallDriverLink(call_id, driver_id, rank, score))
        return dict(out)

    # ------------------------------------------------------------ facts, repeats, alerts

    def call_facts(
        self, model: str | None, until: datetime | None = None, since: datetime | None = None
    ) -> list[CallFacts]:
        """What repeats and metrics need of every call (started before ``until`` and, when
        given, at or after ``since``), by start.

        driver_id: the primary driver; negative_emotion: the call has an emotion spike;
        reason_vector: the normalised mean embedding of its reason utterances by ``model``
        (None: not read).
        """
        query = select(
            Call.id,
            Call.call_id,
            Call.started_at,
            Call.duration,
            Call.customer_id,
            Call.agent_id,
            Call.queue,
        ).order_by(Call.started_at, Call.call_id)
        if until is not None:
            query = query.where(Call.started_at < until)
        if since is not None:
            query = query.where(Call.started_at >= since)
        with self._store._read() as s:
            calls = s.execute(query).all()
            primary = dict(
                s.execute(
                    select(CallDriver.call_pk, CallDriver.driver_id).where(CallDriver.rank == 1)
                )
                .tuples()
                .all()
            )
            spiky = set(
                s.scalars(select(Flag.call_pk).where(Flag.kind == rows.SPIKE_FLAG).distinct())
            )
            sums: dict[int, np.ndarray] = {}
            reason_vectors = (
                s.execute(
                    select(UtteranceRow.call_pk, Embedding.vector)
                    .join(Embedding, Embedding.utterance_id == UtteranceRow.id)
                    .where(UtteranceRow.is_reason.is_(True), Embedding.model == model)
                ).tuples()
                if model is not None
                else ()
            )
            for pk, vector in reason_vectors:
                v = rows.vector_of(vector)
                sums[pk] = sums[pk] + v if pk in sums else v
        facts = []
        for pk, call_id, started, duration, customer, agent, queue in calls:
            if started is None:
                continue
            total = sums.get(pk)
            norm = float(np.linalg.norm(total)) if total is not None else 0.0
            facts.append(
                CallFacts(
                    call_id=call_id,
                    started_at=started,
                    duration=duration,
                    customer_id=customer,
                    agent_id=agent,
                    queue=queue,
                    driver_id=primary.get(pk),
                    negative_emotion=pk in spiky,
                    reason_vector=total / norm if total is not None and norm > 0 else None,
                )
            )
        return facts

    def facts_version(self) -> tuple[object, ...]:
        """A token that changes whenever ``call_facts``, ``repeat_links`` or ``alerts`` may have:
        calls added, replaced or removed, an analysis recorded, a driver edited."""
        with self._store._read() as s:
            row = s.execute(
                select(
                    select(func.count(Call.id)).scalar_subquery(),
                    select(func.coalesce(func.max(Call.id), 0)).scalar_subquery(),
                    # a replaced newest call may get its old id back (SQLite): its time tells
                    select(func.max(Call.processed_at)).scalar_subquery(),
                    select(func.coalesce(func.max(AnalysisRun.id), 0)).scalar_subquery(),
                    select(func.coalesce(func.max(DriverEdit.id), 0)).scalar_subquery(),
                    select(func.count(RepeatLinkRow.call_pk)).scalar_subquery(),
                    select(func.count(AlertRow.id)).scalar_subquery(),
                )
            ).one()
        return tuple(row)

    def last_call_start(self) -> datetime | None:
        """When the newest call in the store started (None: no call with a start time)."""
        with self._store._read() as s:
            return s.scalar(select(func.max(Call.started_at)))

    def call_texts(self, until: datetime | None = None) -> dict[str, str]:
        """Each call's speech (every speaker) as one text, in utterance order."""
        query = (
            select(Call.call_id, UtteranceRow.text)
            .join(Call, Call.id == UtteranceRow.call_pk)
            .order_by(Call.call_id, UtteranceRow.idx)
        )
        if until is not None:
            query = query.where(Call.started_at < until)
        spoken: dict[str, list[str]] = defaultdict(list)
        with self._store._read() as s:
            for call_id, text in s.execute(query).tuples():
                spoken[call_id].append(text)
        return {call_id: " ".join(parts) for call_id, parts in spoken.items()}

    def save_repeats(self, links: Sequence[RepeatLink]) -> None:
        """Replace every repeat link with ``links`` (repeats are recomputed as a whole)."""
        with self._store._write() as s:
            pks = dict(s.execute(select(Call.call_id, Call.id)).tuples().all())
            s.execute(delete(RepeatLinkRow))
            values = [
                {
                    "call_pk": pks[x.call_id],
                    "earlier_call_id": x.earlier_call_id,
                    "gap_days": x.gap_days,
                    "driver_id": x.driver_id,
                    "similarity": x.similarity,
                }
                for x in links
                if x.call_id in pks
            ]
            if values:
                s.execute(insert(RepeatLinkRow), values)

    def repeat_links(self, call_id: str | None = None) -> list[RepeatLink]:
        """Every repeat link (``call_id``'s only, when given), in call start order."""
        query = (
            select(Call.call_id, RepeatLinkRow)
            .join(Call, Call.id == RepeatLinkRow.call_pk)
            .order_by(Call.started_at, Call.call_id)
        )
        if call_id is not None:
            query = query.where(Call.call_id == call_id)
        with self._store._read() as s:
            return [
                RepeatLink(call_id, r.earlier_call_id, r.gap_days, r.driver_id, r.similarity)
                for call_id, r in s.execute(query).tuples()
            ]

    def spikes(
        self,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
        role: str | None = None,
        limit: int = 100,
    ) -> list[tuple[str, EmotionSpike]]:
        """Emotion spikes with their call id, by call start then spike start."""
        query = (
            select(Call.call_id, Flag)
            .join(Call, Call.id == Flag.call_pk)
            .where(Flag.kind == rows.SPIKE_FLAG)
            .order_by(Call.started_at, Call.call_id, Flag.start)
            .limit(limit)
        )
        if started_from is not None:
            query = query.where(Call.started_at >= started_from)
        if started_to is not None:
            query = query.where(Call.started_at < started_to)
        if role is not None:
            query = query.where(Flag.speaker_role == role)
        with self._store._read() as s:
            return [(call_id, rows.spike_of(f)) for call_id, f in s.execute(query).tuples()]

    def save_alerts(self, alerts: Sequence[DriverAlert]) -> None:
        """Replace every alert with ``alerts`` (recomputed from the daily figures)."""
        now = rows.now()
        with self._store._write() as s:
            s.execute(delete(AlertRow))
            if alerts:
                s.execute(
                    insert(AlertRow),
                    [
                        {
                            "driver_id": a.driver_id,
                            "day": a.day.isoformat(),
                            "metric": a.metric,
                            "kind": a.kind,
                            "observed": a.observed,
                            "baseline": a.baseline,
                            "p_value": a.p_value,
                            "created_at": now,
                        }
                        for a in alerts
                    ],
                )

    def record_analysis(self, run: AnalysisRecord) -> None:
        with self._store._write() as s:
            s.add(AnalysisRun(at=rows.now(), **asdict(run)))

    def last_analysis(self, mode: str | None = None) -> AnalysisRecord | None:
        """The newest analysis (of ``mode`` only, when given)."""
        query = select(AnalysisRun).order_by(AnalysisRun.id.desc()).limit(1)
        if mode is not None:
            query = query.where(AnalysisRun.mode == mode)
        with self._store._read() as s:
            r = s.scalars(query).first()
            if r is None:
                return None
            return AnalysisRecord(
                r.mode,
                r.model,
                r.reason_utterances,
                r.active_drivers,
                r.new_drivers,
                r.unassigned,
                r.repeats,
                r.alerts,
                r.wall_seconds,
            )

    def alerts(self) -> list[DriverAlert]:
        with self._store._read() as s:
            return [
                DriverAlert(
                    a.driver_id,
                    date.fromisoformat(a.day),
                    a.metric,
                    a.kind,
                    a.observed,
                    a.baseline,
                    a.p_value,
                )
                for a in s.scalars(select(AlertRow).order_by(AlertRow.day, AlertRow.driver_id))
            ]
