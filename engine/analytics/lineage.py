"""Driver lineage: map a full re-clustering onto the existing driver IDs so they stay stable.

A full re-clustering gives every reason utterance (a member, keyed by any hashable, in practice
``(call_id, utterance_index)``) a new cluster label. ``reconcile`` decides, per new cluster,
which existing driver it continues, and which clusters are new drivers, from member overlap
with the old assignment (Hungarian matching), with a centroid fallback for clusters that share
no member with the old assignment. Analyst edits survive:

- rename: IDs survive, and names are kept per ID by the store (nothing here touches names);
- merge (B merged into A): B's members count for A, and every cluster whose members mostly
  came from A continues A, even when the new clustering separates them again;
- split (P split into children): a cluster whose members mostly came from P's family is
  partitioned member by member to the nearest child centroid.

Everything here is pure: no store access, no mutation of the inputs.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

from engine.errors import ConfigError
from engine.types import Driver

__all__ = [
    "NOISE",
    "Contingency",
    "Lineage",
    "LineageEvent",
    "LineageOptions",
    "agreement",
    "contingency",
    "reconcile",
    "split_members",
]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

NOISE = -1
"""The cluster label of members the clustering left unassigned; they get no driver."""

EVENT_KINDS = ("continued", "new", "split_off", "retired")


@dataclass(frozen=True)
class LineageOptions:
    """How new clusters are matched to old drivers.

    min_overlap: a cluster continues an old driver only when at least this share of its
        members that had an old driver came from that driver (default 0.5, a majority).
        The same share decides a split-family cluster and a new driver's parent.
    centroid_threshold: a cluster sharing no member with the old assignment continues the
        unmatched old active driver with the most similar centroid when the cosine
        similarity is at least this (default 0.8); otherwise it is a new driver.
    """

    min_overlap: float = 0.5
    centroid_threshold: float = 0.8

    def __post_init__(self) -> None:
        if not 0 < self.min_overlap <= 1:
            raise ConfigError(f"min_overlap must be in (0, 1], got {self.min_overlap}")
        if not -1 <= self.centroid_threshold <= 1:
            raise ConfigError(
                f"centroid_threshold must be in [-1, 1], got {self.centroid_threshold}"
            )


_DEFAULT_OPTIONS = LineageOptions()


@dataclass(frozen=True, slots=True)
class LineageEvent:
    """One line of the audit log of a reconciliation.

    kind: "continued" (driver_id continues; other_id is the split parent when the cluster was
    partitioned among a split driver's children), "new" (driver_id created, no parent),
    "split_off" (driver_id created from other_id's members) or "retired" (driver_id no longer
    found). detail says which cluster and how many members, for people.
    """

    kind: str
    driver_id: int
    other_id: int | None
    detail: str


@dataclass(frozen=True)
class Lineage(Generic[K]):
    """The outcome of a reconciliation.

    assignment: member -> driver id after (noise members are absent);
    created: (new driver id, parent id or None), in id order;
    retired: old active drivers that no cluster continues, in id order;
    continued: new label -> the old driver it continues (for a cluster partitioned among a
        split driver's children: the child that received most of its members);
    events: the audit log;
    labels: every new label but noise -> its driver (``continued`` plus the created ones).
    """

    assignment: dict[K, int]
    created: tuple[tuple[int, int | None], ...]
    retired: tuple[int, ...]
    continued: dict[int, int]
    events: tuple[LineageEvent, ...]
    labels: dict[int, int]


@dataclass(frozen=True, slots=True, eq=False)
class Contingency:
    """Counts of keys per (row label, column label) over the keys two labellings share."""

    rows: tuple[int, ...]
    cols: tuple[int, ...]
    counts: np.ndarray


def contingency(a: Mapping[K, int], b: Mapping[K, int]) -> Contingency:
    """The contingency table of two labellings over the keys both have (labels sorted)."""
    shared = [key for key in a if key in b]
    rows = tuple(sorted({a[key] for key in shared}))
    cols = tuple(sorted({b[key] for key in shared}))
    row_at = {label: i for i, label in enumerate(rows)}
    col_at = {label: j for j, label in enumerate(cols)}
    counts = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for key in shared:
        counts[row_at[a[key]], col_at[b[key]]] += 1
    return Contingency(rows, cols, counts)


def agreement(a: Mapping[K, int], b: Mapping[K, int]) -> float:
    """Share of the keys in both mappings whose labels agree under the best one-to-one mapping
    of a's labels onto b's (Hungarian on the contingency table). Every label, -1 included, is
    an ordinary label: drop noise first if it should not count. No shared key gives 0.0."""
    table = contingency(a, b)
    total = int(table.counts.sum())
    if total == 0:
        log.warning("agreement: the two labellings share no key")
        return 0.0
    rows, cols = linear_sum_assignment(table.counts, maximize=True)
    return float(table.counts[rows, cols].sum()) / total


def split_members(members: Sequence[K], vectors: np.ndarray, k: int, seed: int = 0) -> dict[K, int]:
    """The analyst split: KMeans with k clusters (n_init=10, random_state=seed) over the
    members' vectors (row i belongs to members[i]). Children are numbered 0..k-1 by size,
    largest first (ties: the child whose first member comes first)."""
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != len(members):
        raise ValueError(f"need one vector row per member: {matrix.shape} for {len(members)}")
    if not 1 <= k <= len(members):
        raise ValueError(f"k must be in 1..{len(members)}, got {k}")
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(matrix)
    first = {int(label): i for i, label in reversed(list(enumerate(labels)))}
    sizes = Counter(int(label) for label in labels)
    order = sorted(sizes, key=lambda label: (-sizes[label], first[label]))
    renumber = {label: child for child, label in enumerate(order)}
    return {member: renumber[int(label)] for member, label in zip(members, labels, strict=True)}


@dataclass(frozen=True)
class _Family:
    """What the drivers say about each other: merge resolution and split families.

    leaf: driver id -> the active (or split) driver its members count for after following
    merged_into; unit: such a driver -> what it is matched as (a split family's root for the
    children of a split driver, the driver itself otherwise); leaves: split root -> its active
    descendants; merge_targets: active drivers some merged driver resolves to.
    """

    leaf: dict[int, int]
    unit: dict[int, int]
    leaves: dict[int, tuple[int, ...]]
    merge_targets: frozenset[int]
    active: tuple[int, ...]


def _family(drivers: Sequence[Driver]) -> _Family:
    by_id = {d.id: d for d in drivers}
    leaf: dict[int, int] = {}
    for driver in drivers:
        seen: set[int] = set()
        current: Driver | None = driver
        while current is not None and current.status == "merged" and current.id not in seen:
            seen.add(current.id)
            target = current.merged_into
            current = by_id.get(target) if target is not None else None
        if current is not None and current.status in ("active", "split"):
            leaf[driver.id] = current.id
        elif current is not None and current.status == "merged":
            log.warning("driver %d: merged_into chain loops; its members count for none", driver.id)
    children: dict[int, list[int]] = defaultdict(list)
    for driver in drivers:
        if driver.parent_id is not None:
            children[driver.parent_id].append(driver.id)
    leaves: dict[int, tuple[int, ...]] = {}
    for driver in drivers:
        parent = by_id.get(driver.parent_id) if driver.parent_id is not None else None
        if driver.status == "split" and (parent is None or parent.status != "split"):
            leaves[driver.id] = _active_descendants(driver.id, by_id, children)
    unit: dict[int, int] = {}
    for root, family in leaves.items():
        if family:
            unit.update({member: root for member in (root, *_split_nodes(root, by_id, children))})
            unit.update({member: root for member in family})
    for driver in drivers:
        if driver.status == "active":
            unit.setdefault(driver.id, driver.id)
    targets = {leaf[d.id] for d in drivers if d.status == "merged" and d.id in leaf}
    return _Family(
        leaf={d: to for d, to in leaf.items() if to in unit},
        unit=unit,
        leaves={root: family for root, family in leaves.items() if family},
        merge_targets=frozenset(t for t in targets if by_id[t].status == "active"),
        active=tuple(sorted(d.id for d in drivers if d.status == "active")),
    )


def _split_nodes(
    root: int, by_id: Mapping[int, Driver], children: Mapping[int, list[int]]
) -> list[int]:
    """The split drivers below a split root (nested analyst splits)."""
    found: list[int] = []
    stack = list(children.get(root, ()))
    while stack:
        node = stack.pop()
        if by_id[node].status == "split" and node != root and node not in found:
            found.append(node)
            stack.extend(children.get(node, ()))
    return found


def _active_descendants(
    root: int, by_id: Mapping[int, Driver], children: Mapping[int, list[int]]
) -> tuple[int, ...]:
    nodes = [root, *_split_nodes(root, by_id, children)]
    return tuple(
        sorted(c for n in nodes for c in children.get(n, ()) if by_id[c].status == "active")
    )


def _top(counts: Counter[int]) -> tuple[int, int] | None:
    """The most frequent label and its count (ties: the smallest label)."""
    if not counts:
        return None
    label = min(counts, key=lambda x: (-counts[x], x))
    return label, counts[label]


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _nearest(
    rows: np.ndarray, ids: Sequence[int], centroids: Mapping[int, np.ndarray]
) -> np.ndarray:
    """For each row vector, the id whose centroid has the highest cosine similarity."""
    stack = np.stack([_unit(np.asarray(centroids[i], dtype=np.float64)) for i in ids])
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    sims = (rows / np.where(norms > 0, norms, 1.0)) @ stack.T
    return np.asarray(ids)[np.argmax(sims, axis=1)]


@dataclass(frozen=True)
class _Clusters(Generic[K]):
    """The new clusters with what their members were before."""

    members: dict[int, list[K]]
    old_leaf: dict[K, int]
    units: dict[int, Counter[int]]

    @property
    def labels(self) -> list[int]:
        return sorted(self.members)

    def had_old(self, label: int) -> int:
        return sum(self.units[label].values())

    def majority(self, label: int, share: float, within: Iterable[int] | None = None) -> int | None:
        """The old unit (or, given ``within``, the old active driver among those) most of the
        cluster's members came from, when it holds ``share`` of those that had an old driver."""
        if within is None:
            counts = self.units[label]
        else:
            allowed = set(within)
            counts = Counter(
                self.old_leaf[m]
                for m in self.members[label]
                if m in self.old_leaf and self.old_leaf[m] in allowed
            )
        top = _top(counts)
        if top is None or top[1] < share * self.had_old(label):
            return None
        return top[0]


def _clusters(
    old_assignment: Mapping[K, int], new_labels: Mapping[K, int], family: _Family
) -> _Clusters[K]:
    members: dict[int, list[K]] = defaultdict(list)
    for member, label in new_labels.items():
        if label != NOISE:
            members[label].append(member)
    old_leaf = {m: family.leaf[d] for m, d in old_assignment.items() if d in family.leaf}
    units = {
        label: Counter(family.unit[old_leaf[m]] for m in group if m in old_leaf)
        for label, group in members.items()
    }
    return _Clusters(dict(members), old_leaf, units)


def _match_overlap(
    labels: Sequence[int], clusters: _Clusters[K], family: _Family, options: LineageOptions
) -> dict[int, int]:
    """One-to-one matching of clusters to old drivers maximising the overlap, each pair
    needing min_overlap of the cluster's members that had an old driver."""
    drivers = sorted({u for label in labels for u in clusters.units[label]} - set(family.leaves))
    if not labels or not drivers:
        return {}
    counts = np.array(
        [[clusters.units[label][d] for d in drivers] for label in labels], dtype=np.float64
    )
    need = np.array([options.min_overlap * clusters.had_old(label) for label in labels])
    counts[counts < need[:, None]] = 0.0
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return {labels[r]: drivers[c] for r, c in zip(rows, cols, strict=True) if counts[r, c] > 0}


def _match_centroids(
    labels: Sequence[int],
    candidates: Sequence[int],
    new_centroids: Mapping[int, np.ndarray],
    old_centroids: Mapping[int, np.ndarray],
    threshold: float,
) -> dict[int, tuple[int, float]]:
    """One-to-one matching of clusters to old drivers by centroid cosine, each pair needing
    at least the threshold: label -> (driver, cosine)."""
    labels = [label for label in labels if label in new_centroids]
    candidates = [d for d in candidates if d in old_centroids]
    if not labels or not candidates:
        return {}
    new = np.stack([_unit(np.asarray(new_centroids[x], dtype=np.float64)) for x in labels])
    old = np.stack([_unit(np.asarray(old_centroids[d], dtype=np.float64)) for d in candidates])
    sims = new @ old.T
    ok = sims >= threshold
    rows, cols = linear_sum_assignment(np.where(ok, sims + 2.0, 0.0), maximize=True)
    return {
        labels[r]: (candidates[c], float(sims[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if ok[r, c]
    }


def _partition(
    members: Sequence[K],
    leaves: Sequence[int],
    old_leaf: Mapping[K, int],
    vectors: Mapping[K, np.ndarray] | None,
    old_centroids: Mapping[int, np.ndarray],
    centroid: np.ndarray | None,
) -> dict[K, int]:
    """Members of a split family's cluster -> a child: the nearest child centroid for members
    with a vector; otherwise the member's previous child, or (new members) the child most of
    the cluster came from (none: the child nearest the cluster centroid, else the first)."""
    with_centroid = [c for c in leaves if c in old_centroids]
    prior = _top(Counter(old_leaf[m] for m in members if old_leaf.get(m) in leaves))
    if prior is not None:
        fallback = prior[0]
    elif centroid is not None and with_centroid:
        row = np.asarray(centroid, dtype=np.float64)[None, :]
        fallback = int(_nearest(row, with_centroid, old_centroids)[0])
    else:
        fallback = leaves[0]
    out = {m: old_leaf[m] if old_leaf.get(m) in leaves else fallback for m in members}
    if vectors is not None and with_centroid:
        embedded = [m for m in members if m in vectors]
        if embedded:
            rows = np.stack([np.asarray(vectors[m], dtype=np.float64) for m in embedded])
            nearest = _nearest(rows, with_centroid, old_centroids)
            out.update((m, int(c)) for m, c in zip(embedded, nearest, strict=True))
    return out


def _describe(label: int, clusters: _Clusters[K], driver: int | None = None) -> str:
    size = len(clusters.members[label])
    had = clusters.had_old(label)
    if driver is None:
        return f"cluster {label}: {size} members, {had} with an old driver"
    overlap = clusters.units[label][driver]
    return f"cluster {label}: {size} members, {overlap} of {had} with an old driver from it"


def reconcile(
    old_assignment: Mapping[K, int],
    drivers: Sequence[Driver],
    new_labels: Mapping[K, int],
    new_centroids: Mapping[int, np.ndarray],
    old_centroids: Mapping[int, np.ndarray],
    next_id: int,
    options: LineageOptions = _DEFAULT_OPTIONS,
    vectors: Mapping[K, np.ndarray] | None = None,
) -> Lineage[K]:
    """Map a full re-clustering (new_labels, -1 = noise) onto the old drivers.

    old_assignment: member -> driver id before (any status; ids not in ``drivers`` and
    retired drivers count as no old driver); old_centroids: driver id -> centroid (used for the
    no-overlap fallback and for partitioning split families); vectors: member -> embedding
    (only needed to partition split families by nearest child centroid). New drivers get ids
    from next_id upwards, largest cluster first.
    """
    if drivers and next_id <= max(d.id for d in drivers):
        raise ValueError(f"next_id {next_id} is not above the existing driver ids")
    known = {d.id for d in drivers}
    unknown = {d for d in old_assignment.values() if d not in known}
    if unknown:
        log.warning("old assignment names %d unknown driver ids; ignored", len(unknown))
    family = _family(drivers)
    clusters = _clusters(old_assignment, new_labels, family)
    events: list[LineageEvent] = []
    assignment: dict[K, int] = {}
    continued: dict[int, int] = {}

    majority = {x: clusters.majority(x, options.min_overlap) for x in clusters.labels}
    split_of = {x: u for x, u in majority.items() if u is not None and u in family.leaves}
    rest = [x for x in clusters.labels if x not in split_of]
    matched = _match_overlap(rest, clusters, family, options)
    for label in rest:
        target = majority[label]
        if label not in matched and target is not None and target in family.merge_targets:
            matched[label] = target  # many-to-one: the analyst merged these
    for label, driver in sorted(matched.items()):
        continued[label] = driver
        assignment.update((m, driver) for m in clusters.members[label])
        events.append(LineageEvent("continued", driver, None, _describe(label, clusters, driver)))

    for label, root in sorted(split_of.items()):
        parts = _partition(
            clusters.members[label],
            family.leaves[root],
            clusters.old_leaf,
            vectors,
            old_centroids,
            new_centroids.get(label),
        )
        assignment.update(parts)
        sizes = Counter(parts.values())
        top_child = _top(sizes)
        if top_child is not None:
            continued[label] = top_child[0]
        for child, size in sorted(sizes.items()):
            detail = f"cluster {label}: {size} members partitioned to child of split {root}"
            events.append(LineageEvent("continued", child, root, detail))

    used = set(assignment.values())
    orphans = [x for x in rest if x not in matched and clusters.had_old(x) == 0]
    candidates = [d for d in family.active if d not in used]
    by_centroid = _match_centroids(
        orphans, candidates, new_centroids, old_centroids, options.centroid_threshold
    )
    for label, (driver, cosine) in sorted(by_centroid.items()):
        continued[label] = driver
        assignment.update((m, driver) for m in clusters.members[label])
        detail = f"{_describe(label, clusters)}; centroid cosine {cosine:.3f}"
        events.append(LineageEvent("continued", driver, None, detail))

    created: list[tuple[int, int | None]] = []
    labels = dict(continued)
    fresh = [x for x in rest if x not in matched and x not in by_centroid]
    for label in sorted(fresh, key=lambda x: (-len(clusters.members[x]), x)):
        driver = next_id + len(created)
        parent = clusters.majority(label, options.min_overlap, within=family.active)
        created.append((driver, parent))
        labels[label] = driver
        assignment.update((m, driver) for m in clusters.members[label])
        kind = "new" if parent is None else "split_off"
        events.append(LineageEvent(kind, driver, parent, _describe(label, clusters)))

    used = set(assignment.values())
    retired = tuple(d for d in family.active if d not in used)
    events.extend(LineageEvent("retired", d, None, "no cluster continues it") for d in retired)
    log.info(
        "lineage: %d clusters, %d continued, %d created, %d retired",
        len(clusters.members),
        len(continued),
        len(created),
        len(retired),
    )
    return Lineage(
        assignment=assignment,
        created=tuple(created),
        retired=retired,
        continued=continued,
        events=tuple(events),
        labels=dict(sorted(labels.items())),
    )
