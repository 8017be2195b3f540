"""The store's VoC side, on SQLite and PostgreSQL: signals, spikes, embeddings, drivers,
repeat links, alerts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np

from engine.types import (
    CallDriverLink,
    Driver,
    DriverAlert,
    EmotionSpike,
    Prosody,
    RepeatLink,
    Role,
    UtteranceEmbeddings,
    UtteranceSignals,
)
from tests.store_fixtures import make_call, make_meta


def with_signals(call_id: str, started: datetime, vector: list[float]):
    call = make_call(call_id)
    vectors = np.array([[1.0, 0.0, 0.0], vector], dtype=np.float32)
    return replace(
        call,
        signals=(
            UtteranceSignals(0, 0.5, Prosody(2.0, -20.5, 4.25), False),
            UtteranceSignals(1, -0.75, Prosody(None, -18.0, 5.5), True),
        ),
        spikes=(
            EmotionSpike(
                2.1, 5.2, "S1", Role.CUSTOMER, 2.5, -0.75, 6.0, 3.0, 1.15, (1,), ("wasted",)
            ),
        ),
        embeddings=UtteranceEmbeddings("m", vectors),
    ), make_meta(call_id, started_at=started)


def test_signals_spikes_and_embeddings_round_trip(store):
    call, meta = with_signals("c1", datetime(2026, 11, 16, 9, tzinfo=UTC), [0.0, 1.0, 0.0])
    store.save_call(store.start_run("a", {}), meta, "h", call)
    loaded = store.load_call("c1")
    assert loaded == call
    assert loaded.spikes[0].words == ("wasted",) and loaded.signals[1].prosody.pitch is None


def test_reason_set_facts_drivers_repeats_and_alerts(store):
    run = store.start_run("a", {})
    t0 = datetime(2026, 11, 16, 9, tzinfo=UTC)
    for i, vector in enumerate(([0.0, 1.0, 0.0], [0.0, 0.8, 0.6])):
        call, meta = with_signals(f"c{i}", t0 + timedelta(days=i), vector)
        store.save_call(run, meta, "h", call)
    voc = store.voc
    assert voc.calls_without_embeddings("m") == []
    assert voc.calls_without_embeddings("other") == ["c0", "c1"]
    reasons = voc.reason_set("m")
    assert reasons.keys == (("c0", 1), ("c1", 1))
    np.testing.assert_allclose(reasons.vectors[1], [0.0, 0.8, 0.6], rtol=1e-6)
    assert reasons.driver_ids == (None, None)
    assert len(voc.reason_set("m", until=t0 + timedelta(hours=1))) == 1

    driver = Driver(1, "card_pin", ("card", "pin"), ("change my pin",), 2)
    links = {
        "c0": (CallDriverLink("c0", 1, 1, 1.0),),
        "c1": (CallDriverLink("c1", 1, 1, 1.0),),
    }
    assignment = {int(uid): (1, 0.9) for uid in reasons.ids}
    centroid = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    voc.save_drivers("m", [driver], {1: centroid}, assignment, links, [("created", 1, None, {})])
    assert voc.drivers() == [driver]
    np.testing.assert_array_equal(voc.centroids("m")[1], centroid)
    assert voc.centroids("other") == {}
    assert voc.next_driver_id() == 2
    assert voc.reason_set("m").driver_ids == (1, 1)
    assert voc.call_drivers()["c1"] == [CallDriverLink("c1", 1, 1, 1.0)]
    assert voc.driver_history() == [("created", 1, None)]

    facts = voc.call_facts("m")
    assert [f.call_id for f in facts] == ["c0", "c1"]
    assert facts[0].driver_id == 1 and facts[0].negative_emotion
    np.testing.assert_allclose(facts[1].reason_vector, [0.0, 0.8, 0.6], rtol=1e-6)

    link = RepeatLink("c1", "c0", 1.0, 1, 0.8)
    voc.save_repeats([link])
    voc.save_repeats([link])  # replaces, never duplicates
    assert voc.repeat_links() == [link] == voc.repeat_links("c1")
    assert voc.repeat_links("c0") == []
    assert voc.call_drivers("c0") == {"c0": [CallDriverLink("c0", 1, 1, 1.0)]}
    alert = DriverAlert(1, date(2026, 11, 17), "volume", "spike", 7.0, 2.0, 0.004)
    voc.save_alerts([alert])
    assert voc.alerts() == [alert]

    # re-saving a call drops its driver links and repeat link with the old rows
    call, meta = with_signals("c1", t0 + timedelta(days=1), [0.0, 0.8, 0.6])
    store.save_call(run, meta, "h2", call)
    assert "c1" not in voc.call_drivers() and voc.repeat_links() == []
    assert voc.reason_set("m").driver_ids == (1, None)


def test_the_analytics_migration_downgrades_and_upgrades(store_url):
    from alembic import command

    from engine.store.connect import alembic_config
    from engine.store.repo import Store

    Store.open(store_url).close()
    command.downgrade(alembic_config(store_url), "0001")
    command.upgrade(alembic_config(store_url), "head")
    with Store.open(store_url) as store:
        assert store.voc.drivers() == [] and store.voc.next_driver_id() == 1
