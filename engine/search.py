"""Semantic search: the stored utterances most similar to a free-text query.

``UtteranceIndex`` holds every utterance embedding of one sentence model in memory: an
L2-normalised float32 matrix with aligned arrays of utterance and call row ids, roles, reason
flags, call start times and each call's primary driver. It is loaded from the store once, then
kept current cheaply: at most every ``check_seconds`` it asks the store for the (count,
highest id) of the model's embeddings and of the call-driver links, and

- appends the embeddings with ids above the highest it holds (into spare capacity, so the
  rows searches are reading are never moved);
- when the count says some were deleted or replaced, marks the rows whose ids are gone as
  dead (reloading everything once dead rows pass ``compact_share``);
- when the links changed (an analysis or a driver edit), re-reads each call's primary driver.

A search is one matrix-vector product over the rows the filters keep (boolean masks), a
top-k by ``np.argpartition``, and one store read for the hits' texts. Searches read an
immutable snapshot without locking; refreshes are serialised by a lock, and while one runs
other searches go on with the previous snapshot.

The query is encoded by the encoder of the model the store's embeddings were made with (the
last analysis' model when it has embeddings, else the model with the most); a store without
embeddings, or an encoder of another model, is refused with ``SearchError``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import CallscopeError
from engine.store.repo import Store
from engine.store.voc import EmbeddingRows
from engine.types import Role

if TYPE_CHECKING:
    from models.sentence import SentenceEncoder

__all__ = [
    "SearchError",
    "SearchFilter",
    "SearchHit",
    "SearchOptions",
    "SearchResult",
    "UtteranceIndex",
]

log = logging.getLogger(__name__)

_ROLES = tuple(Role)
_ROLE_CODES = {r.value: i for i, r in enumerate(_ROLES)}
_NO_DRIVER = -1


class SearchError(CallscopeError):
    """A search that cannot be answered: nothing to search, or the wrong encoder."""


@dataclass(frozen=True)
class SearchOptions:
    """max_query_chars: the longest query text (500); max_limit: the most hits one search
    returns (100); check_seconds: the least time between two asks of the store for changes
    (2.0; 0: before every search); compact_share: the share of dead rows (deleted or
    replaced embeddings) above which the index is reloaded whole (0.25)."""

    max_query_chars: int = 500
    max_limit: int = 100
    check_seconds: float = 2.0
    compact_share: float = 0.25

    def __post_init__(self) -> None:
        if self.max_query_chars < 1 or self.max_limit < 1:
            raise ValueError("max_query_chars and max_limit must be positive")
        if self.check_seconds < 0 or not 0 < self.compact_share <= 1:
            raise ValueError("check_seconds must be >= 0 and compact_share in (0, 1]")


@dataclass(frozen=True)
class SearchFilter:
    """Which utterances a search may return; None (or False) means any.

    driver_id: the call's primary driver; started_from / started_to: the call's start (from
    inclusive, to exclusive; calls without a start time are left out when either is given);
    reasons_only: reason utterances only.
    """

    role: Role | None = None
    driver_id: int | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    call_id: str | None = None
    reasons_only: bool = False


@dataclass(frozen=True)
class SearchHit:
    """A found utterance; ``score`` is the cosine similarity to the query, ``driver_id``
    the call's primary driver."""

    call_id: str
    index: int
    speaker: str
    role: str
    start: float
    end: float
    text: str
    score: float
    driver_id: int | None
    started_at: datetime | None


@dataclass(frozen=True)
class SearchResult:
    query: str
    model: str
    hits: tuple[SearchHit, ...]


@dataclass(frozen=True, eq=False)
class _Snapshot:
    """Views of the index's first ``n`` rows; never changed once published."""

    vectors: np.ndarray
    utterance_ids: np.ndarray
    call_pks: np.ndarray
    roles: np.ndarray
    reasons: np.ndarray
    started: np.ndarray
    alive: np.ndarray
    drivers: np.ndarray
    calls: dict[str, int]

    def __len__(self) -> int:
        return len(self.utterance_ids)


class _Rows:
    """Append-only row storage with spare capacity (grown 1.5x when full)."""

    def __init__(self, dim: int, capacity: int) -> None:
        self.dim = dim
        self.n = 0
        capacity = max(capacity, 1024)
        self.vectors = np.zeros((capacity, dim), dtype=np.float32)
        self.ids = np.zeros(capacity, dtype=np.int64)
        self.utterance_ids = np.zeros(capacity, dtype=np.int64)
        self.call_pks = np.zeros(capacity, dtype=np.int64)
        self.roles = np.zeros(capacity, dtype=np.int8)
        self.reasons = np.zeros(capacity, dtype=bool)
        self.started = np.zeros(capacity, dtype=np.float64)

    _FIELDS = ("vectors", "ids", "utterance_ids", "call_pks", "roles", "reasons", "started")

    def _grow(self, needed: int) -> None:
        capacity = max(needed, int(len(self.ids) * 1.5))
        for name in self._FIELDS:
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def append(self, rows: EmbeddingRows) -> None:
        m = len(rows)
        if rows.vectors.shape[1] != self.dim:
            raise SearchError(f"embeddings of {rows.vectors.shape[1]} dimensions among {self.dim}")
        if self.n + m > len(self.ids):
            self._grow(self.n + m)
        lo, hi = self.n, self.n + m
        vectors = np.asarray(rows.vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vectors[lo:hi] = vectors / np.maximum(norms, 1e-12)
        self.ids[lo:hi] = rows.ids
        self.utterance_ids[lo:hi] = rows.utterance_ids
        self.call_pks[lo:hi] = rows.call_pks
        self.roles[lo:hi] = [_ROLE_CODES.get(r, _ROLE_CODES[Role.UNKNOWN]) for r in rows.roles]
        self.reasons[lo:hi] = rows.reasons
        self.started[lo:hi] = rows.started
        self.n = hi


class UtteranceIndex:
    """The in-memory search index of one store's utterance embeddings (see module docstring).

    model: the sentence model whose embeddings to search (None: the store's, see above).
    """

    def __init__(
        self,
        model: str | None = None,
        options: SearchOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or SearchOptions()
        self._asked = model
        self._model = model
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: _Rows | None = None
        self._alive = np.zeros(0, dtype=bool)
        self._calls: dict[str, int] = {}
        self._driver_stamp: tuple[int, int] | None = None
        self._drivers = np.zeros(0, dtype=np.int64)
        self._top_id = 0
        self._checked: float | None = None
        self._snapshot: _Snapshot | None = None

    @property
    def model(self) -> str | None:
        """The model searched (None until the first refresh when the store's is used)."""
        return self._model

    def __len__(self) -> int:
        snap = self._snapshot
        return 0 if snap is None else int(snap.alive.sum())

    # ------------------------------------------------------------------ loading

    def prepare(self, store: Store) -> str:
        """Refresh when due (see ``SearchOptions.check_seconds``); the model searched.

        While another thread refreshes, returns at once with the previous snapshot (waits
        only when there is none yet). Raises SearchError when there is nothing to search.
        """
        due = self._checked is None or (self._clock() - self._checked >= self.options.check_seconds)
        if (due or self._snapshot is None) and self._lock.acquire(blocking=self._snapshot is None):
            try:
                self._refresh(store)
            finally:
                self._lock.release()
        if self._snapshot is None or self._model is None:
            raise SearchError("the store has no utterance embeddings to search")
        return self._model

    def refresh(self, store: Store) -> bool:
        """Bring the index up to date with the store now; whether anything changed."""
        with self._lock:
            return self._refresh(store)

    def _choose_model(self, store: Store) -> str | None:
        counts = store.voc.embedding_models()
        if not counts:
            return None
        last = store.voc.last_analysis()
        if last is not None and counts.get(last.model):
            return last.model
        return max(counts, key=lambda m: (counts[m], m))

    def _reset(self, keep_snapshot: bool = False) -> None:
        """Forget every row (searches go on with the published snapshot when kept)."""
        self._rows, self._top_id = None, 0
        if not keep_snapshot:
            self._snapshot = None
        self._alive = np.zeros(0, dtype=bool)
        self._drivers = np.zeros(0, dtype=np.int64)
        self._calls, self._driver_stamp = {}, None

    def _refresh(self, store: Store) -> bool:
        self._checked = self._clock()
        voc = store.voc
        if self._model is None:
            self._model = self._choose_model(store)
            if self._model is None:
                return False
        count, top = voc.embedding_stamp(self._model)
        if count == 0:
            had = self._snapshot is not None
            self._reset()
            self._model = self._asked
            return had
        changed = False
        alive_count = int(self._alive.sum())
        if top > self._top_id:
            changed = self._append(store, self._model, self._top_id, count)
            alive_count = int(self._alive.sum())
        if count != alive_count and self._rows is not None:
            n = self._rows.n
            alive = np.isin(self._rows.ids[:n], voc.embedding_ids(self._model))
            dead = n - int(alive.sum())
            log.debug("search index: %d of %d rows deleted or replaced", dead, n)
            if dead > self.options.compact_share * n:
                log.info("search index: reloading (%d of %d rows dead)", dead, n)
                self._reset(keep_snapshot=True)
                self._append(store, self._model, 0, count)
            else:
                self._alive = alive
            changed = True
        stamp = voc.call_driver_stamp()
        if changed or stamp != self._driver_stamp:
            self._driver_stamp = stamp
            self._drivers = self._primary_drivers(store)
            changed = True
        if changed and self._rows is not None:
            n = self._rows.n
            r = self._rows
            self._snapshot = _Snapshot(
                r.vectors[:n],
                r.utterance_ids[:n],
                r.call_pks[:n],
                r.roles[:n],
                r.reasons[:n],
                r.started[:n],
                self._alive,
                self._drivers,
                dict(self._calls),
            )
        return changed

    def _append(self, store: Store, model: str, after: int, expected: int) -> bool:
        started = time.perf_counter()
        added = 0
        for part in store.voc.embedding_rows(model, after):
            if self._rows is None:
                self._rows = _Rows(part.vectors.shape[1], int(expected * 1.1) + 1)
            self._rows.append(part)
            self._alive = np.concatenate([self._alive, np.ones(len(part), dtype=bool)])
            for pk, call_id in part.calls.items():
                if pk >= self._calls.get(call_id, -1):
                    self._calls[call_id] = pk
            self._top_id = max(self._top_id, int(part.ids[-1]))
            added += len(part)
        if added:
            log.info(
                "search index: %d embeddings by %s added in %.2f s (%d rows)",
                added,
                model,
                time.perf_counter() - started,
                0 if self._rows is None else self._rows.n,
            )
        return added > 0

    def _primary_drivers(self, store: Store) -> np.ndarray:
        if self._rows is None:
            return np.zeros(0, dtype=np.int64)
        pks = self._rows.call_pks[: self._rows.n]
        primary = store.voc.primary_drivers()
        if not primary or not len(pks):
            return np.full(len(pks), _NO_DRIVER, dtype=np.int64)
        size = max(int(pks.max()), max(primary)) + 1
        lookup = np.full(size, _NO_DRIVER, dtype=np.int64)
        lookup[np.fromiter(primary.keys(), dtype=np.int64)] = np.fromiter(
            primary.values(), dtype=np.int64
        )
        return lookup[pks]

    # ------------------------------------------------------------------ searching

    def search(
        self, store: Store, vector: np.ndarray, f: SearchFilter | None = None, limit: int = 20
    ) -> tuple[SearchHit, ...]:
        """The ``limit`` utterances whose embeddings are nearest ``vector`` (cosine), best
        first, among those ``f`` keeps."""
        if not 1 <= limit <= self.options.max_limit:
            raise SearchError(f"limit must be 1 to {self.options.max_limit}, not {limit}")
        self.prepare(store)
        snap = self._snapshot
        if snap is None:
            raise SearchError("the store has no utterance embeddings to search")
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if q.shape[0] != snap.vectors.shape[1]:
            raise SearchError(
                f"a query vector of {q.shape[0]} dimensions for embeddings of "
                f"{snap.vectors.shape[1]}"
            )
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        mask = self._mask(snap, f or SearchFilter())
        kept = int(np.count_nonzero(mask))
        k = min(limit, kept)
        if k == 0:
            return ()
        if kept * 8 < len(snap):  # few rows kept: score only those
            candidates = np.flatnonzero(mask)
            scores = snap.vectors[candidates] @ q
        else:
            candidates = np.arange(len(snap))
            scores = snap.vectors @ q
            np.putmask(scores, ~mask, -np.inf)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[np.isfinite(scores[top])]
        chosen = candidates[top]
        found = store.voc.utterances_by_id([int(i) for i in snap.utterance_ids[chosen]])
        hits = []
        for row, score in zip(chosen, scores[top], strict=True):
            u = found.get(int(snap.utterance_ids[row]))
            if u is None:  # deleted since the snapshot
                continue
            driver = int(snap.drivers[row])
            hits.append(
                SearchHit(
                    call_id=u.call_id,
                    index=u.index,
                    speaker=u.speaker,
                    role=u.role,
                    start=u.start,
                    end=u.end,
                    text=u.text,
                    score=round(float(score), 6),
                    driver_id=None if driver == _NO_DRIVER else driver,
                    started_at=u.started_at,
                )
            )
        return tuple(hits)

    @staticmethod
    def _mask(snap: _Snapshot, f: SearchFilter) -> np.ndarray:
        """The live rows ``f`` keeps."""
        if f == SearchFilter():
            return snap.alive
        mask = snap.alive.copy()
        if f.role is not None:
            mask &= snap.roles == _ROLE_CODES[Role(f.role).value]
        if f.driver_id is not None:
            mask &= snap.drivers == f.driver_id
        if f.started_from is not None:
            mask &= snap.started >= _seconds(f.started_from)
        if f.started_to is not None:
            mask &= snap.started < _seconds(f.started_to)
        if f.reasons_only:
            mask &= snap.reasons
        if f.call_id is not None:
            pk = snap.calls.get(f.call_id)
            mask &= snap.call_pks == (pk if pk is not None else -1)
        return mask

    def query(
        self,
        store: Store,
        encoder: SentenceEncoder,
        text: str,
        f: SearchFilter | None = None,
        limit: int = 20,
    ) -> SearchResult:
        """Encode ``text`` with ``encoder`` (of the model searched) and search for it."""
        text = " ".join(text.split())
        if not text or len(text) > self.options.max_query_chars:
            raise SearchError(f"a query needs 1 to {self.options.max_query_chars} characters")
        model = self.prepare(store)
        if encoder.name != model:
            raise SearchError(
                f"the store's embeddings are by {model!r}; the query encoder is {encoder.name!r}"
            )
        vector = encoder.encode([text], 1)[0]
        return SearchResult(text, model, self.search(store, vector, f, limit))


def _seconds(when: datetime) -> float:
    """POSIX seconds of ``when`` (a naive time is taken to be UTC, as the store does)."""
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()
