"""A store for report tests: the analysis tests' calls (three drivers, a repeat contact, a
volume spike on 2026-11-21) plus two angry calls with signals and emotion spikes, analysed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pytest

from engine.store.repo import Store
from engine.types import (
    EmotionSpike,
    Prosody,
    Role,
    Utterance,
    UtteranceEmbeddings,
    UtteranceSignals,
)
from tests.engine.analytics.fakes import axis_vector
from tests.engine.analytics.test_analyse import MODEL, TEXTS, analysis, fill
from tests.store_fixtures import make_call, make_meta

FIRST, LAST = date(2026, 11, 16), date(2026, 11, 21)


def save_angry_call(store: Store, call_id: str, when: datetime, axis: int, peak: float) -> None:
    """Six utterances; the customer's second one is loud and negative: an emotion spike."""
    lines = (
        (Role.AGENT, 0.0, 3.0, "Thanks for calling, how can I help?", 0.4, -22.0, 2.0),
        (Role.CUSTOMER, 3.2, 7.0, f"{TEXTS[axis]} ({call_id})", -0.3, -24.0, 1.0),
        (Role.AGENT, 7.2, 10.0, "Let me look into that for you.", 0.1, -22.5, 2.5),
        (Role.CUSTOMER, 10.5, 14.0, "This is ridiculous, I am furious!", -0.8, -15.0, 5.0),
        (Role.AGENT, 14.5, 17.0, "I am sorry, I will fix it now.", 0.2, -22.0, 2.0),
        (Role.CUSTOMER, 17.5, 20.0, "Okay, fine.", 0.1, -24.5, 1.0),
    )
    utterances = tuple(
        Utterance("S0" if role is Role.AGENT else "S1", role, start, end, text)
        for role, start, end, text, *_ in lines
    )
    signals = tuple(
        UtteranceSignals(i, sentiment, Prosody(pitch, energy, 4.0), i == 1)
        for i, (_, _, _, _, sentiment, energy, pitch) in enumerate(lines)
    )
    vectors = np.stack([axis_vector(axis) if i == 1 else axis_vector(5) for i in range(6)])
    spike = EmotionSpike(
        10.5, 14.0, "S1", Role.CUSTOMER, peak, -0.8, 8.0, 4.0, 1.0, (3,), ("ridiculous",)
    )
    call = replace(
        make_call(call_id),
        utterances=utterances,
        signals=signals,
        spikes=(spike,),
        embeddings=UtteranceEmbeddings(MODEL, vectors.astype(np.float32)),
    )
    meta = make_meta(call_id, started_at=when, customer_id=f"+44 113 496 {len(call_id):04d}")
    store.save_call(store.start_run("a", {}), meta, "h", call)


def fill_report_store(store: Store) -> Store:
    fill(store)
    save_angry_call(store, "angry1", datetime(2026, 11, 18, 11, tzinfo=UTC), 1, 3.4)
    save_angry_call(store, "angry2", datetime(2026, 11, 20, 15, tzinfo=UTC), 0, 2.8)
    analysis(store).run()
    return store


@pytest.fixture
def report_store(store: Store) -> Store:
    return fill_report_store(store)


@pytest.fixture
def sqlite_report_store(tmp_path) -> Iterator[Store]:
    """The same on SQLite only, for tests of what is drawn rather than what is read."""
    with Store.open(f"sqlite:///{tmp_path}/report-store/callscope.db") as store:
        yield fill_report_store(store)
