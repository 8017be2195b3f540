"""The night-level analysis over a store (SQLite and PostgreSQL): drivers from stored
embeddings, analyst edits surviving a re-clustering, repeats and alerts stored."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.analytics.analyse import AnalyseOptions, VocAnalysis
from engine.analytics.drivers import DriverAnalyser
from engine.analytics.edits import DriverEditor
from engine.errors import ConfigError
from engine.types import Role, Utterance, UtteranceEmbeddings, UtteranceSignals
from tests.engine.analytics.fakes import AxisClusterer, axis_vector
from tests.store_fixtures import make_call, make_meta

MODEL = "axis"
TEXTS = ("I need to change my card pin", "I was charged twice", "the exchange rate is wrong")
T0 = datetime(2026, 11, 16, 9, tzinfo=UTC)


def no_encoder():
    raise AssertionError("every stored call already has embeddings")


def save_call(store, run: int, call_id: str, axis: int, when: datetime, customer: str) -> None:
    base = make_call(call_id)
    utterances = (
        Utterance("S0", Role.AGENT, 0.0, 1.0, "Thanks for calling"),
        Utterance("S1", Role.CUSTOMER, 1.2, 3.0, f"{TEXTS[axis]} ({call_id})"),
    )
    vectors = np.stack([axis_vector(5), axis_vector(axis, wobble=0.02 * (hash(call_id) % 3))])
    call = replace(
        base,
        utterances=utterances,
        signals=(
            UtteranceSignals(0, 0.0, None, False),
            UtteranceSignals(1, -0.2, None, True),
        ),
        embeddings=UtteranceEmbeddings(MODEL, vectors.astype(np.float32)),
    )
    store.save_call(run, make_meta(call_id, started_at=when, customer_id=customer), "h", call)


def fill(store) -> None:
    run = store.start_run("a", {})
    n = 0
    for day in range(5):
        for axis in (0, 1, 2):
            for _ in range(2):
                when = T0 + timedelta(days=day, minutes=7 * n)
                save_call(store, run, f"c{n:03d}", axis, when, f"+44 20 7946 {n:04d}")
                n += 1
    # a customer calling back a day later about the same thing: a repeat
    save_call(store, run, "r001", 0, T0 + timedelta(days=1, hours=5), "+44 20 7946 0000")
    # a burst of the exchange-rate driver on the last day: a spike
    for k in range(8):
        when = T0 + timedelta(days=5, minutes=10 * k)
        save_call(store, run, f"s{k:03d}", 2, when, f"+44 161 496 {k:04d}")
    for k in range(2):
        save_call(store, run, f"t{k:03d}", 0, T0 + timedelta(days=5, hours=2 + k), f"+44 1{k}")


def analysis(store, **options) -> VocAnalysis:
    return VocAnalysis(
        store,
        no_encoder,
        AnalyseOptions(sentence_model=MODEL, **options),
        DriverAnalyser(clusterer=AxisClusterer),
    )


def test_analysis_finds_drivers_repeats_and_the_spike(store):
    fill(store)
    report = analysis(store).run()
    assert report.mode == "recluster" and report.active_drivers == 3 and report.unassigned == 0
    parts = ("embed", "scaffolding", "read", "clustering", "store", "repeats", "metrics")
    assert set(report.seconds) == set(parts) and all(v >= 0 for v in report.seconds.values())
    drivers = {d.id: d for d in store.voc.drivers(["active"])}
    exchange = next(d for d in drivers.values() if "exchange" in d.name)
    assert [(x.call_id, x.earlier_call_id) for x in store.voc.repeat_links()] == [("r001", "c000")]
    alerts = store.voc.alerts()
    assert [(a.driver_id, str(a.day), a.kind) for a in alerts] == [
        (exchange.id, "2026-11-21", "spike")
    ]
    primary = {c: links[0].driver_id for c, links in store.voc.call_drivers().items()}
    assert primary["s000"] == exchange.id and len(primary) == len(store.call_ids())
    again = analysis(store).run()  # nothing new: incremental, same drivers
    assert again.mode == "incremental" and again.new_drivers == 0
    assert {c: links[0].driver_id for c, links in store.voc.call_drivers().items()} == primary


def test_rename_and_merge_survive_a_reclustering(store):
    fill(store)
    analysis(store).run()
    drivers = sorted(store.voc.drivers(["active"]), key=lambda d: d.id)
    editor = DriverEditor(store, MODEL, DriverAnalyser(clusterer=AxisClusterer))
    editor.rename(drivers[0].id, "  PIN   changes ")
    editor.merge(drivers[1].id, [drivers[2].id])
    with pytest.raises(ConfigError):
        editor.rename(drivers[1].id, "PIN changes")  # names of active drivers stay unique
    report = analysis(store, recluster=True).run()
    assert report.mode == "recluster"
    after = {d.id: d for d in store.voc.drivers()}
    assert after[drivers[0].id].name == "PIN changes"
    assert after[drivers[0].id].name_source == "analyst"
    assert after[drivers[2].id].status == "merged"
    assert after[drivers[2].id].merged_into == drivers[1].id
    owners = set(store.voc.reason_set(MODEL).driver_ids)
    assert owners == {drivers[0].id, drivers[1].id}
    actions = [a for a, _, _ in store.voc.driver_history()]
    assert "rename" in actions and "merge" in actions
