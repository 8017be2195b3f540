"""engine.analytics.lineage: stable driver IDs across a full re-clustering."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from engine.analytics.lineage import (
    NOISE,
    LineageOptions,
    agreement,
    contingency,
    reconcile,
    split_members,
)
from engine.errors import ConfigError
from engine.types import Driver

Key = tuple[str, int]
DIM = 8


def driver(
    driver_id: int,
    status: str = "active",
    merged_into: int | None = None,
    parent_id: int | None = None,
    name: str | None = None,
) -> Driver:
    return Driver(
        id=driver_id,
        name=name or f"driver {driver_id}",
        keywords=(),
        exemplars=(),
        size=0,
        status=status,
        name_source="auto" if name is None else "analyst",
        merged_into=merged_into,
        parent_id=parent_id,
    )


def keys(prefix: str, n: int) -> list[Key]:
    return [(f"{prefix}{i}", 0) for i in range(n)]


def axis(i: int) -> np.ndarray:
    v = np.zeros(DIM)
    v[i] = 1.0
    return v


def blob(direction: np.ndarray, n: int, seed: int, spread: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = direction + spread * rng.standard_normal((n, DIM))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def three_drivers() -> tuple[dict[Key, int], list[Driver], dict[int, np.ndarray]]:
    old: dict[Key, int] = {}
    for driver_id, prefix, n in ((1, "a", 20), (2, "b", 15), (3, "c", 10)):
        old.update(dict.fromkeys(keys(prefix, n), driver_id))
    centroids = {1: axis(0), 2: axis(1), 3: axis(2)}
    return old, [driver(1, name="Billing dispute"), driver(2), driver(3)], centroids


def test_identical_reclustering_keeps_every_id_whatever_the_labels() -> None:
    old, drivers, centroids = three_drivers()
    relabel = {1: 7, 2: 0, 3: 3}
    new = {k: relabel[d] for k, d in old.items()}
    new_centroids = {relabel[d]: c for d, c in centroids.items()}

    lineage = reconcile(old, drivers, new, new_centroids, centroids, next_id=10)

    assert lineage.assignment == old
    assert lineage.continued == {7: 1, 0: 2, 3: 3}
    assert lineage.created == ()
    assert lineage.retired == ()
    assert {e.kind for e in lineage.events} == {"continued"}


def test_rename_survives_because_the_id_does() -> None:
    # the analyst renamed driver 1; the store keeps names per id, so the id must survive
    # a re-clustering that moves a few members and adds new ones
    old, drivers, centroids = three_drivers()
    new = {k: 0 if d == 1 else d for k, d in old.items()}
    new[("a0", 0)] = 2
    new.update(dict.fromkeys(keys("new", 5), 0))

    lineage = reconcile(old, drivers, new, {}, centroids, next_id=10)

    assert lineage.continued[0] == 1
    assert all(lineage.assignment[k] == 1 for k in keys("a", 20)[1:])


def test_a_cluster_that_gains_new_members_keeps_its_id() -> None:
    old, drivers, centroids = three_drivers()
    new = dict(old)
    new.update(dict.fromkeys(keys("fresh", 30), 2))  # more new members than old ones

    lineage = reconcile(old, drivers, new, centroids, centroids, next_id=10)

    assert all(lineage.assignment[k] == 2 for k in keys("fresh", 30))
    assert lineage.created == ()


def test_a_truly_new_cluster_gets_next_id_without_parent() -> None:
    old, drivers, centroids = three_drivers()
    new = dict(old)
    new.update(dict.fromkeys(keys("x", 12), 9))
    new_centroids = {**centroids, 9: axis(5)}

    lineage = reconcile(old, drivers, new, new_centroids, centroids, next_id=10)

    assert lineage.created == ((10, None),)
    assert all(lineage.assignment[k] == 10 for k in keys("x", 12))
    assert [(e.driver_id, e.other_id) for e in lineage.events if e.kind == "new"] == [(10, None)]


def test_new_ids_go_to_the_largest_cluster_first() -> None:
    old, drivers, centroids = three_drivers()
    new = dict(old)
    new.update(dict.fromkeys(keys("small", 3), 4))
    new.update(dict.fromkeys(keys("large", 8), 5))

    lineage = reconcile(old, drivers, new, {}, centroids, next_id=10)

    assert lineage.created == ((10, None), (11, None))
    assert lineage.labels[5] == 10
    assert lineage.labels[4] == 11
    assert 4 not in lineage.continued


def test_a_cluster_without_overlap_continues_an_unmatched_driver_with_a_close_centroid() -> None:
    old, drivers, centroids = three_drivers()
    new = {k: d for k, d in old.items() if d != 3}  # driver 3's old members are gone
    new.update(dict.fromkeys(keys("later", 6), 8))
    near_three = axis(2) + 0.1 * axis(4)

    lineage = reconcile(old, drivers, new, {8: near_three}, centroids, next_id=10)

    assert lineage.continued[8] == 3
    assert lineage.created == ()
    assert lineage.retired == ()


def test_the_centroid_fallback_needs_the_threshold() -> None:
    old, drivers, centroids = three_drivers()
    new = {k: d for k, d in old.items() if d != 3}
    new.update(dict.fromkeys(keys("later", 6), 8))
    halfway = axis(2) + axis(4)  # cosine 0.71 with driver 3

    lineage = reconcile(old, drivers, new, {8: halfway}, centroids, next_id=10)

    assert lineage.created == ((10, None),)
    assert lineage.retired == (3,)


def test_an_old_driver_absent_after_reclustering_is_retired() -> None:
    old, drivers, centroids = three_drivers()
    new = {k: (NOISE if d == 3 else d) for k, d in old.items()}

    lineage = reconcile(old, drivers, new, centroids, centroids, next_id=10)

    assert lineage.retired == (3,)
    assert not any(k in lineage.assignment for k in keys("c", 10))  # noise gets no driver
    assert [(e.kind, e.driver_id) for e in lineage.events if e.kind == "retired"] == [
        ("retired", 3)
    ]


@pytest.mark.parametrize("store_rewrote_links", [False, True])
def test_merge_survives_a_reclustering_that_separates_them_again(
    store_rewrote_links: bool,
) -> None:
    a_keys, b_keys = keys("a", 20), keys("b", 12)
    old = {**dict.fromkeys(a_keys, 1), **dict.fromkeys(b_keys, 1 if store_rewrote_links else 2)}
    drivers = [driver(1, name="Refunds"), driver(2, status="merged", merged_into=1)]
    new = {**dict.fromkeys(a_keys, 0), **dict.fromkeys(b_keys, 1)}

    lineage = reconcile(old, drivers, new, {}, {1: axis(0), 2: axis(1)}, next_id=3)

    assert set(lineage.assignment.values()) == {1}
    assert lineage.continued == {0: 1, 1: 1}
    assert lineage.created == ()
    assert lineage.retired == ()


def test_merge_chains_resolve_to_the_last_active_driver() -> None:
    old = {**dict.fromkeys(keys("a", 5), 1), **dict.fromkeys(keys("c", 9), 3)}
    drivers = [
        driver(1),
        driver(2, status="merged", merged_into=1),
        driver(3, status="merged", merged_into=2),
    ]
    new = {**dict.fromkeys(keys("a", 5), 0), **dict.fromkeys(keys("c", 9), 1)}

    lineage = reconcile(old, drivers, new, {}, {}, next_id=4)

    assert set(lineage.assignment.values()) == {1}


def split_scenario() -> tuple[
    dict[Key, int], list[Driver], dict[Key, np.ndarray], dict[int, np.ndarray]
]:
    c1_keys, c2_keys = keys("p", 15), keys("q", 10)
    vectors = {
        **dict(zip(c1_keys, blob(axis(0), 15, seed=1), strict=True)),
        **dict(zip(c2_keys, blob(axis(1), 10, seed=2), strict=True)),
    }
    old = {**dict.fromkeys(c1_keys, 6), **dict.fromkeys(c2_keys, 7)}
    drivers = [
        driver(5, status="split"),
        driver(6, parent_id=5, name="Lost card"),
        driver(7, parent_id=5, name="Stolen card"),
    ]
    return old, drivers, vectors, {6: axis(0), 7: axis(1)}


def test_split_survives_a_reclustering_that_joins_the_children_again() -> None:
    old, drivers, vectors, centroids = split_scenario()
    newcomers = keys("n", 2)
    vectors = {**vectors, **dict(zip(newcomers, blob(axis(1), 2, seed=3), strict=True))}
    moved = ("p0", 0)  # was the first child's, now nearest the second child's centroid
    vectors[moved] = axis(1)
    new = dict.fromkeys([*old, *newcomers], 0)

    lineage = reconcile(
        old, drivers, new, {0: axis(0) + axis(1)}, centroids, next_id=8, vectors=vectors
    )

    for k, v in vectors.items():
        expected = 6 if float(v @ axis(0)) > float(v @ axis(1)) else 7
        assert lineage.assignment[k] == expected
    assert lineage.assignment[moved] == 7
    assert all(lineage.assignment[k] == 7 for k in newcomers)
    assert lineage.created == ()
    assert lineage.retired == ()
    assert lineage.continued == {0: 6}  # 14 members to child 6, 13 to child 7
    partitioned = [e for e in lineage.events if e.other_id == 5]
    assert sorted(e.driver_id for e in partitioned) == [6, 7]


def test_split_without_vectors_keeps_previous_children() -> None:
    old, drivers, _, centroids = split_scenario()
    newcomers = keys("n", 4)
    new = dict.fromkeys([*old, *newcomers], 0)

    lineage = reconcile(old, drivers, new, {}, centroids, next_id=8)

    assert all(lineage.assignment[k] == d for k, d in old.items())
    assert all(lineage.assignment[k] == 6 for k in newcomers)  # the child with most overlap


def test_members_of_the_split_parent_itself_are_partitioned_too() -> None:
    old, drivers, vectors, centroids = split_scenario()
    before_split = dict.fromkeys(old, 5)  # links not yet moved to the children
    new = dict.fromkeys(old, 0)

    lineage = reconcile(before_split, drivers, new, {}, centroids, next_id=8, vectors=vectors)

    assert lineage.assignment == old


def test_a_cluster_splitting_off_most_of_a_driver_keeps_the_id_for_the_larger_part() -> None:
    members = keys("m", 100)
    old = dict.fromkeys(members, 1)
    new = {k: 0 if i < 70 else 1 for i, k in enumerate(members)}

    lineage = reconcile(old, [driver(1)], new, {}, {1: axis(0)}, next_id=2)

    assert lineage.continued == {0: 1}
    assert lineage.labels == {0: 1, 1: 2}
    assert lineage.created == ((2, 1),)
    assert all(lineage.assignment[k] == 2 for k in members[70:])
    split_off = [e for e in lineage.events if e.kind == "split_off"]
    assert [(e.driver_id, e.other_id) for e in split_off] == [(2, 1)]


def test_a_minority_overlap_does_not_continue_a_driver() -> None:
    old = dict.fromkeys(keys("a", 4), 1)
    old.update(dict.fromkeys(keys("b", 6), 2))
    new = dict.fromkeys([*old], 0)  # one cluster: 4 from driver 1, 6 from driver 2
    new.update(dict.fromkeys(keys("z", 3), 1))

    lineage = reconcile(
        old, [driver(1), driver(2)], new, {}, {}, next_id=3, options=LineageOptions(0.7)
    )

    assert lineage.continued == {}
    assert lineage.labels == {0: 3, 1: 4}
    assert lineage.created == ((3, None), (4, None))
    assert lineage.retired == (1, 2)


def test_unknown_driver_ids_count_as_no_old_driver(caplog: pytest.LogCaptureFixture) -> None:
    old = {**dict.fromkeys(keys("a", 5), 1), **dict.fromkeys(keys("b", 5), 99)}
    new = dict.fromkeys(old, 0)

    with caplog.at_level(logging.WARNING):
        lineage = reconcile(old, [driver(1)], new, {}, {}, next_id=2)

    assert lineage.continued == {0: 1}
    assert "unknown driver ids" in caplog.text


def test_next_id_must_be_above_existing_ids() -> None:
    with pytest.raises(ValueError, match="next_id"):
        reconcile({}, [driver(4)], {}, {}, {}, next_id=4)


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        LineageOptions(min_overlap=0.0)
    with pytest.raises(ConfigError):
        LineageOptions(centroid_threshold=1.5)


def test_agreement_is_one_for_relabelled_identical_partitions() -> None:
    a = {i: i % 3 for i in range(30)}
    b = {i: {0: 12, 1: 5, 2: 40}[label] for i, label in a.items()}
    assert agreement(a, b) == 1.0


def test_agreement_is_lower_for_different_partitions() -> None:
    a = {i: i // 10 for i in range(30)}
    b = dict(a)
    b.update({0: 1, 1: 1, 2: 2})  # three of thirty keys move
    assert agreement(a, b) == pytest.approx(27 / 30)
    assert agreement(a, dict.fromkeys(a, 0)) == pytest.approx(10 / 30)


def test_agreement_counts_only_keys_in_both_mappings() -> None:
    a = {i: i // 10 for i in range(30)}
    b = {i: 7 - i // 10 for i in range(15, 45)}
    assert agreement(a, b) == 1.0
    assert agreement(a, {100: 1}) == 0.0


def test_contingency_counts_shared_keys() -> None:
    table = contingency({1: 0, 2: 0, 3: 1, 4: 1}, {1: 5, 2: 6, 3: 6, 9: 5})
    assert table.rows == (0, 1)
    assert table.cols == (5, 6)
    assert table.counts.tolist() == [[1, 1], [0, 1]]


def test_split_members_is_deterministic_and_separates_groups() -> None:
    members = keys("s", 30)
    vectors = np.vstack([blob(axis(0), 18, seed=4), blob(axis(3), 12, seed=5)])

    first = split_members(members, vectors, k=2, seed=0)
    again = split_members(members, vectors, k=2, seed=0)

    assert first == again
    assert {first[k] for k in members[:18]} == {0}  # the larger child is child 0
    assert {first[k] for k in members[18:]} == {1}


def test_split_members_checks_its_input() -> None:
    with pytest.raises(ValueError):
        split_members(keys("s", 3), np.zeros((2, DIM)), k=2)
    with pytest.raises(ValueError):
        split_members(keys("s", 3), np.zeros((3, DIM)), k=4)
