"""The in-memory utterance index over a store (SQLite and PostgreSQL): ranking on planted
vectors, filters as masks, incremental refresh, and clear refusals."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.search import SearchError, SearchFilter, SearchOptions, UtteranceIndex
from engine.store.voc import VocStore
from engine.types import (
    CallDriverLink,
    Driver,
    Role,
    Utterance,
    UtteranceEmbeddings,
    UtteranceSignals,
)
from tests.store_fixtures import make_call, make_meta

MODEL = "planted"
DIM = 8
T0 = datetime(2026, 11, 16, 9, tzinfo=UTC)


def unit(*weights: tuple[int, float]) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    for axis, w in weights:
        v[axis] = w
    return v / np.linalg.norm(v)


def save(store, call_id: str, vectors, when: datetime, reasons=None, model: str = MODEL) -> None:
    """A call whose utterance i is said by the agent (even i) or the customer (odd i)."""
    roles = [Role.AGENT if i % 2 == 0 else Role.CUSTOMER for i in range(len(vectors))]
    utterances = tuple(
        Utterance(f"S{i % 2}", role, float(i), i + 0.9, f"{call_id} line {i}")
        for i, role in enumerate(roles)
    )
    reasons = reasons or [role is Role.CUSTOMER for role in roles]
    call = replace(
        make_call(call_id),
        utterances=utterances,
        signals=tuple(UtteranceSignals(i, 0.0, None, r) for i, r in enumerate(reasons)),
        embeddings=UtteranceEmbeddings(model, np.stack(vectors).astype(np.float32)),
    )
    run = store.start_run("a", {})
    store.save_call(run, make_meta(call_id, started_at=when), "h", call)


def fill(store) -> None:
    save(store, "a", [unit((0, 1.0)), unit((1, 1.0))], T0)
    save(store, "b", [unit((2, 1.0)), unit((0, 0.8), (1, 0.6))], T0 + timedelta(days=1))
    save(store, "c", [unit((0, 0.6), (2, 0.8)), unit((3, 1.0))], T0 + timedelta(days=2))


def index(**options) -> UtteranceIndex:
    return UtteranceIndex(options=SearchOptions(check_seconds=0, **options))


def keys(hits) -> list[tuple[str, int]]:
    return [(h.call_id, h.index) for h in hits]


def test_ranks_planted_vectors_by_cosine(store):
    fill(store)
    idx = index()
    hits = idx.search(store, unit((0, 1.0)), limit=4)
    assert keys(hits) == [("a", 0), ("b", 1), ("c", 0), ("a", 1)]
    assert [h.score for h in hits] == pytest.approx([1.0, 0.8, 0.6, 0.0], abs=1e-6)
    best = hits[0]
    assert (best.text, best.role, best.speaker, best.start) == ("a line 0", "agent", "S0", 0.0)
    assert best.started_at == T0 and best.driver_id is None
    assert idx.model == MODEL and len(idx) == 6
    # an unnormalised query is normalised; limit bounds the hits
    assert keys(idx.search(store, 5 * unit((3, 1.0)), limit=1)) == [("c", 1)]
    with pytest.raises(SearchError, match="limit"):
        idx.search(store, unit((0, 1.0)), limit=101)
    with pytest.raises(SearchError, match="dimensions"):
        idx.search(store, np.ones(3), limit=1)


def test_filters_are_masks_before_the_top_k(store):
    fill(store)
    pin = Driver(7, "pin", (), (), 1)
    links = {"b": (CallDriverLink("b", 7, 1, 0.9),), "c": (CallDriverLink("c", 8, 1, 0.9),)}
    store.voc.save_drivers(MODEL, [pin, replace(pin, id=8, name="fees")], {}, {}, links)
    idx = index()
    q = unit((0, 1.0))

    def found(**f) -> list[tuple[str, int]]:
        return keys(idx.search(store, q, SearchFilter(**f), limit=10))

    assert found(role=Role.CUSTOMER) == [("b", 1), ("a", 1), ("c", 1)]
    assert found(role=Role.AGENT)[:2] == [("a", 0), ("c", 0)]
    assert found(call_id="c") == [("c", 0), ("c", 1)]
    assert found(call_id="nope") == []
    assert found(driver_id=7) == [("b", 1), ("b", 0)]
    later = found(started_from=T0 + timedelta(days=1))
    assert later[:2] == [("b", 1), ("c", 0)] and sorted(later[2:]) == [("b", 0), ("c", 1)]
    assert found(started_to=T0 + timedelta(days=1)) == [("a", 0), ("a", 1)]
    naive = (T0 + timedelta(days=2)).replace(tzinfo=None)  # taken as UTC
    assert found(started_from=naive) == [("c", 0), ("c", 1)]
    assert found(reasons_only=True, role=Role.CUSTOMER, driver_id=8) == [("c", 1)]
    hits = idx.search(store, q, SearchFilter(driver_id=7), limit=1)
    assert hits[0].driver_id == 7


def test_new_replaced_and_relinked_calls_are_picked_up_incrementally(store, monkeypatch):
    fill(store)
    idx = index()
    q = unit((4, 1.0))
    assert idx.search(store, q, limit=1)[0].score == pytest.approx(0.0, abs=1e-6)
    reads: list[int] = []
    original = VocStore.embedding_rows

    def counted(self, model, after_id=0, batch_size=20_000):
        reads.append(after_id)
        return original(self, model, after_id, batch_size)

    monkeypatch.setattr(VocStore, "embedding_rows", counted)
    save(store, "d", [unit((4, 1.0)), unit((5, 1.0))], T0 + timedelta(days=3))
    assert keys(idx.search(store, q, limit=1)) == [("d", 0)]
    assert len(reads) == 1 and reads[0] > 0  # only the new rows were read
    assert len(idx) == 8

    # the call processed again: its rows replaced (new ids), the old ones dead, no reload
    save(store, "a", [unit((4, 1.0)), unit((1, 1.0))], T0)
    hits = idx.search(store, q, limit=3)
    assert keys(hits)[:2] in ([("a", 0), ("d", 0)], [("d", 0), ("a", 0)])
    assert len(idx) == 8 and len(reads) == 2 and reads[1] > 0
    assert not idx.refresh(store)  # nothing changed since

    # a driver analysis links calls without new embeddings
    store.voc.save_drivers(
        MODEL, [Driver(3, "x", (), (), 1)], {}, {}, {"d": (CallDriverLink("d", 3, 1, 1.0),)}
    )
    assert [h.call_id for h in idx.search(store, q, SearchFilter(driver_id=3), limit=5)] == [
        "d",
        "d",
    ]
    assert len(reads) == 2


def test_many_dead_rows_reload_the_index(store):
    fill(store)
    idx = index(compact_share=0.2)
    idx.refresh(store)
    save(store, "b", [unit((6, 1.0)), unit((7, 1.0))], T0 + timedelta(days=1))
    save(store, "c", [unit((6, 1.0)), unit((7, 1.0))], T0 + timedelta(days=2))
    assert idx.refresh(store)
    assert len(idx) == 6
    assert keys(idx.search(store, unit((6, 1.0)), limit=2)) == [("b", 0), ("c", 0)]


def test_checks_the_store_at_most_every_check_seconds(store):
    fill(store)
    now = [100.0]
    idx = UtteranceIndex(options=SearchOptions(check_seconds=5), clock=lambda: now[0])
    q = unit((4, 1.0))
    idx.search(store, q, limit=1)
    save(store, "d", [unit((4, 1.0)), unit((5, 1.0))], T0)
    now[0] += 4
    assert idx.search(store, q, limit=1)[0].call_id != "d"
    now[0] += 2
    assert idx.search(store, q, limit=1)[0].call_id == "d"


class FakeEncoder:
    name = MODEL
    dim = DIM

    def encode(self, texts, batch_size):
        return np.stack([unit((3, 1.0)) if "wrong" in t else unit((0, 1.0)) for t in texts])


def test_query_encodes_with_the_stores_model_and_refuses_clearly(store):
    idx = index()
    with pytest.raises(SearchError, match="no utterance embeddings"):
        idx.query(store, FakeEncoder(), "anything")
    fill(store)
    save(store, "other", [unit((1, 1.0))], T0, model="another-model")
    result = idx.query(store, FakeEncoder(), "  something   wrong  ")
    assert result.query == "something wrong" and result.model == MODEL
    assert keys(result.hits)[0] == ("c", 1)
    other = FakeEncoder()
    other.name = "another-model"
    with pytest.raises(SearchError, match="the query encoder is 'another-model'"):
        idx.query(store, other, "x")
    with pytest.raises(SearchError, match="1 to 500"):
        idx.query(store, FakeEncoder(), "x" * 501)
    with pytest.raises(SearchError, match="1 to 500"):
        idx.query(store, FakeEncoder(), "   ")
    # a model asked for by name: only its embeddings
    chosen = UtteranceIndex("another-model", SearchOptions(check_seconds=0))
    assert keys(chosen.search(store, unit((1, 1.0)), limit=5)) == [("other", 0)]


def test_searches_go_on_while_calls_are_added(store):
    fill(store)
    idx = index()
    idx.refresh(store)
    errors: list[BaseException] = []

    def searching() -> None:
        try:
            for _ in range(20):
                hits = idx.search(store, unit((0, 1.0)), limit=3)
                assert hits[0].score == pytest.approx(1.0, abs=1e-6)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=searching) for _ in range(3)]
    for t in threads:
        t.start()
    for k in range(5):
        save(store, f"n{k}", [unit((5, 1.0)), unit((6, 1.0))], T0 + timedelta(hours=k))
    for t in threads:
        t.join()
    assert not errors
    idx.refresh(store)
    assert len(idx) == 16
