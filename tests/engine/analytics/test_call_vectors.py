"""Call-level drivers: a call's reason utterances pooled, one primary driver per call."""

from __future__ import annotations

import numpy as np

from engine.analytics.call_vectors import CALL_ROW, pool_calls, pooled_vector
from engine.analytics.drivers import DriverAnalyser, DriverOptions
from engine.types import ReasonSet
from tests.engine.analytics.fakes import AxisClusterer, axis_vector


def reasons_of(calls: list[tuple[str, list[int]]], dim: int = 6) -> ReasonSet:
    """calls: (call_id, the axes of its reason utterances in spoken order)."""
    keys, vectors, texts = [], [], []
    for call_id, axes in calls:
        for idx, axis in enumerate(axes):
            keys.append((call_id, idx))
            vectors.append(axis_vector(axis, dim))
            texts.append(f"topic{axis} words here")
    n = len(keys)
    return ReasonSet(
        keys=tuple(keys),
        ids=np.arange(1, n + 1, dtype=np.int64),
        vectors=np.stack(vectors),
        texts=tuple(texts),
        driver_ids=(None,) * n,
        weights=np.full(n, 3.0),
        nights=(None,) * n,
    )


def test_the_first_reason_statement_weighs_most():
    first, second = axis_vector(0), axis_vector(1)
    pooled = pooled_vector(np.stack([first, second]), first_weight=2.0)
    assert np.isclose(np.linalg.norm(pooled), 1.0)
    assert pooled @ first > pooled @ second > 0
    equal = pooled_vector(np.stack([first, second]), first_weight=1.0)
    assert np.isclose(equal @ first, equal @ second)


def test_pooling_gives_one_row_per_call_with_its_members_and_majority_driver():
    reasons = reasons_of([("a", [0, 0, 1]), ("b", [2])])
    reasons = ReasonSet(
        reasons.keys,
        reasons.ids,
        reasons.vectors,
        reasons.texts,
        (7, 7, 9, None),
        reasons.weights,
        reasons.nights,
    )
    pooling = pool_calls(reasons)
    assert pooling.calls.keys == (("a", CALL_ROW), ("b", CALL_ROW))
    assert pooling.members == ((0, 1, 2), (3,))
    assert pooling.calls.driver_ids == (7, None)
    assert pooling.calls.texts[0].count("words") == 3
    assert list(pooling.calls.weights) == [9.0, 3.0]


def test_a_call_gets_one_primary_driver_and_its_other_problem_as_secondary():
    # six calls about axis 0, six about axis 1; call "mixed" states axis 0 first, then axis 1
    calls = [(f"p{i}", [0]) for i in range(6)] + [(f"q{i}", [1, 1]) for i in range(6)]
    calls.append(("mixed", [0, 1]))
    reasons = reasons_of(calls)
    update = DriverAnalyser(
        clusterer=lambda: AxisClusterer(cos=0.8), options=DriverOptions(level="call")
    ).update(reasons, [], {}, next_id=1)
    links = update.call_links["mixed"]
    p_driver = update.call_links["p0"][0].driver_id
    q_driver = update.call_links["q0"][0].driver_id
    assert p_driver != q_driver
    assert links[0].driver_id == p_driver and links[0].rank == 1
    assert [(x.driver_id, x.rank, x.score) for x in links[1:]] == [(q_driver, 2, 0.5)]
    # every reason utterance of a call carries the call's driver
    mixed_rows = [int(i) for k, i in zip(reasons.keys, reasons.ids, strict=True) if k[0] == "mixed"]
    assert {update.utterance_drivers[i][0] for i in mixed_rows} == {p_driver}
    sizes = {d.id: d.size for d in update.drivers}
    assert sizes[p_driver] == 7 and sizes[q_driver] == 6  # calls, not utterances
    # exemplars are single utterances, not a call's joined reasons
    for d in update.drivers:
        assert all(e.count("words") == 1 for e in d.exemplars)


def test_utterance_level_is_still_available():
    calls = [(f"q{i}", [1, 1]) for i in range(3)] + [("p", [0])]
    update = DriverAnalyser(
        clusterer=lambda: AxisClusterer(cos=0.8), options=DriverOptions(level="utterance")
    ).update(reasons_of(calls), [], {}, next_id=1)
    assert sorted(d.size for d in update.drivers) == [1, 6]
