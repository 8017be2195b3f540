"""Driver updates over reason utterances: discovery, incremental nights, merge, split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from engine.analytics.drivers import DriverAnalyser, DriverUpdate
from engine.errors import ConfigError
from engine.types import ReasonSet
from tests.engine.analytics.fakes import AxisClusterer, axis_vector

TEXTS = {
    0: "my card pin is blocked and I need to change the pin",
    1: "I was charged twice for one card payment",
    2: "the exchange rate on my transfer looks wrong",
    3: "how do I close my account for good",
}


def reason_set(items: Sequence[tuple[str, int]], drivers: Sequence[int | None] = ()) -> ReasonSet:
    """items: (call_id, axis); one reason utterance each, utterance ids from 1."""
    n = len(items)
    return ReasonSet(
        keys=tuple((call, 1) for call, _ in items),
        ids=np.arange(1, n + 1, dtype=np.int64),
        vectors=np.stack([axis_vector(a, wobble=0.05 * (i % 3)) for i, (_, a) in enumerate(items)]),
        texts=tuple(f"{TEXTS[a]} {i}" for i, (_, a) in enumerate(items)),
        driver_ids=tuple(drivers) if drivers else (None,) * n,
        weights=np.ones(n),
        nights=(None,) * n,
    )


def analyser() -> DriverAnalyser:
    return DriverAnalyser(clusterer=AxisClusterer)


def apply(reasons: ReasonSet, update: DriverUpdate) -> ReasonSet:
    """The reason set as the store would return it after saving ``update``."""
    ids = tuple(update.utterance_drivers[int(i)][0] for i in reasons.ids)
    return replace(reasons, driver_ids=ids)


def night_one() -> tuple[ReasonSet, DriverUpdate]:
    items = [(f"a{i}", i % 2) for i in range(8)]
    reasons = reason_set(items)
    return reasons, analyser().update(reasons, [], {}, next_id=1)


def test_first_analysis_discovers_named_drivers_and_ranks_call_drivers():
    _, update = night_one()
    assert update.mode == "recluster" and update.unassigned == 0.0
    active = [d for d in update.drivers if d.status == "active"]
    assert sorted(d.size for d in active) == [4, 4]
    names = {d.name for d in active}
    assert len(names) == 2 and any("pin" in n for n in names)
    pin = next(d for d in active if "pin" in d.name)
    assert "pin" in pin.keywords and len(pin.exemplars) == 3
    assert update.call_links["a0"][0].driver_id == pin.id and update.call_links["a0"][0].rank == 1
    for d in active:
        centroid = update.centroids[d.id]
        np.testing.assert_allclose(np.linalg.norm(centroid), 1.0, rtol=1e-5)


def test_a_new_night_keeps_ids_assigns_fits_and_forms_new_drivers():
    reasons, update = night_one()
    drivers, centroids = list(update.drivers), update.centroids
    before = apply(reasons, update)
    new = reason_set([("b0", 0), ("b1", 1), ("b2", 2), ("b3", 2), ("b4", 2)])
    combined = ReasonSet(
        keys=before.keys + new.keys,
        ids=np.concatenate([before.ids, new.ids + 100]),
        vectors=np.concatenate([before.vectors, new.vectors]),
        texts=before.texts + new.texts,
        driver_ids=before.driver_ids + new.driver_ids,
        weights=np.ones(len(before) + len(new)),
        nights=(None,) * (len(before) + len(new)),
    )
    second = analyser().update(combined, drivers, centroids, next_id=3)
    assert second.mode == "incremental"
    pairs = zip(combined.keys, combined.ids, strict=True)
    owner = {k: second.utterance_drivers[int(i)][0] for k, i in pairs}
    for key, old in zip(before.keys, before.driver_ids, strict=True):
        assert owner[key] == old  # existing members never move
    assert owner[("b0", 1)] == owner[("a0", 1)] and owner[("b1", 1)] == owner[("a1", 1)]
    assert owner[("b2", 1)] == owner[("b3", 1)] == 3  # a new driver from what fits none
    assert any(e[0] == "created" and e[1] == 3 for e in second.events)


def test_merge_moves_members_and_survives_reclustering():
    reasons, update = night_one()
    a, b = (d.id for d in update.drivers if d.status == "active")
    merged = analyser().merge(apply(reasons, update), list(update.drivers), a, [b])
    source = next(d for d in merged.drivers if d.id == b)
    assert source.status == "merged" and source.merged_into == a
    assert {v[0] for v in merged.utterance_drivers.values()} == {a}
    again = analyser().update(
        apply(reasons, merged), list(merged.drivers), merged.centroids, 3, recluster=True
    )
    assert {v[0] for v in again.utterance_drivers.values()} == {a}
    assert next(d for d in again.drivers if d.id == b).status == "merged"


def test_split_makes_children_and_refuses_nonsense():
    items = [(f"a{i}", 0 if i < 6 else 1) for i in range(9)]
    reasons = reason_set(items)
    first = analyser().update(reasons, [], {}, next_id=1)
    big = max((d for d in first.drivers), key=lambda d: d.size)
    vectors = reasons.vectors.copy()
    vectors[:3, 2] = 0.4  # two groups inside the big driver
    current = replace(apply(reasons, first), vectors=vectors)
    split = analyser().split(current, list(first.drivers), big.id, 2, next_id=3)
    parent = next(d for d in split.drivers if d.id == big.id)
    children = [d for d in split.drivers if d.parent_id == big.id]
    assert parent.status == "split" and sorted(d.size for d in children) == [3, 3]
    with pytest.raises(ConfigError):
        analyser().split(current, list(first.drivers), big.id, 99, next_id=3)
    with pytest.raises(ConfigError):
        analyser().merge(current, list(first.drivers), big.id, [big.id])
