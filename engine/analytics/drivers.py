"""Call drivers over the stored reason utterances: discovery, stable IDs, analyst edits.

Two ways to update the drivers, both ending in the same bookkeeping (``_finish``):

- **incremental** (the nightly default): utterances that have no driver yet are assigned to
  the nearest active driver when the cosine to its centroid clears the clusterer's
  ``predict`` threshold; what is left (this night's misfits plus earlier noise) is clustered
  on its own, and each cluster it forms becomes a new driver. Existing members never move,
  so a driver's ID means the same thing from night to night.
- **full re-clustering** (``recluster=True``, or when there are no drivers yet): every reason
  utterance is clustered afresh and ``engine.analytics.lineage.reconcile`` maps the clusters
  onto the existing IDs, keeping analysts' merges and splits.

Bookkeeping: each active driver's centroid (normalised mean of its members), size, keywords
(class-based TF-IDF), name (unless an analyst named it) and exemplars are recomputed, and
every call gets its drivers ranked by their share of the call's reason words: rank 1 is the
primary driver; others with at least ``secondary_share`` are secondary.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.analytics.call_vectors import CallPooling, pool_calls
from engine.analytics.clustering import ClusterOptions, DriverClusterer, best_two, normalise
from engine.analytics.lineage import LineageOptions, reconcile, split_members
from engine.analytics.naming import exemplars, keywords, name_of
from engine.errors import ConfigError
from engine.types import CallDriverLink, Driver, ReasonSet

__all__ = ["DriverAnalyser", "DriverOptions", "DriverUpdate"]

log = logging.getLogger(__name__)

Key = tuple[str, int]
Event = tuple[str, int, int | None, Mapping[str, Any]]


@dataclass(frozen=True)
class DriverOptions:
    """secondary_share: share of a call's reason words a non-primary driver needs to be listed
    as a secondary driver (0.25); exemplars: exemplar utterances kept per driver (3);
    keywords: keywords kept per driver (8); level: what is clustered, "call" (default: one
    pooled reason vector per call, see engine.analytics.call_vectors; a driver's size counts
    calls) or "utterance" (every reason utterance; a call's primary driver is the one most of
    its reason words belong to); first_weight: the weight of a call's first reason statement
    in its pooled vector (2.0; later ones weigh 1); secondary_similarity: at call level, a
    reason utterance counts towards another driver than its call's when that driver's
    centroid is nearest to it at this cosine or more (0.5)."""

    secondary_share: float = 0.25
    exemplars: int = 3
    keywords: int = 8
    lineage: LineageOptions = field(default_factory=LineageOptions)
    level: str = "call"
    first_weight: float = 2.0
    secondary_similarity: float = 0.5

    def __post_init__(self) -> None:
        if self.level not in ("call", "utterance"):
            raise ConfigError(f"level must be 'call' or 'utterance', got {self.level!r}")
        if self.first_weight <= 0:
            raise ConfigError(f"first_weight must be positive, got {self.first_weight}")


@dataclass(frozen=True)
class DriverUpdate:
    """What a driver analysis writes: driver rows, centroids, per-utterance and per-call links.

    unassigned: reason utterances left without a driver (noise), as a share of all.
    """

    drivers: tuple[Driver, ...]
    centroids: dict[int, np.ndarray]
    utterance_drivers: dict[int, tuple[int | None, float | None]]
    call_links: dict[str, tuple[CallDriverLink, ...]]
    events: tuple[Event, ...]
    unassigned: float
    mode: str


ClustererFactory = Callable[[], DriverClusterer]


class DriverAnalyser:
    """Updates the drivers from the reason utterances (see the module docstring)."""

    def __init__(
        self, clusterer: ClustererFactory | None = None, options: DriverOptions | None = None
    ) -> None:
        self.options = options or DriverOptions()
        self.new_clusterer = clusterer or self._default_clusterer

    def _default_clusterer(self) -> DriverClusterer:
        # a call is one contact that needs a driver: HDBSCAN's noise goes to the nearest
        # driver at the assignment cosine even when a second one is about as near
        if self.options.level == "call":
            return DriverClusterer(ClusterOptions(assign_margin=0.0))
        return DriverClusterer()

    # ------------------------------------------------------------------ updates

    def update(
        self,
        reasons: ReasonSet,
        drivers: Sequence[Driver],
        centroids: Mapping[int, np.ndarray],
        next_id: int,
        recluster: bool = False,
    ) -> DriverUpdate:
        active = [d for d in drivers if d.status == "active" and d.id in centroids]
        pooling = self._pool(reasons)
        rows = reasons if pooling is None else pooling.calls
        if recluster or not active:
            update = self._recluster(rows, drivers, centroids, next_id)
        else:
            update = self._incremental(rows, drivers, centroids, next_id)
        return self._expand(reasons, pooling, update)

    def _pool(self, reasons: ReasonSet) -> CallPooling | None:
        """The call-level rows of ``reasons`` (None when clustering utterances)."""
        if self.options.level != "call":
            return None
        return pool_calls(reasons, self.options.first_weight)

    def _expand(
        self, reasons: ReasonSet, pooling: CallPooling | None, update: DriverUpdate
    ) -> DriverUpdate:
        """A call-level update as the utterance-level one the store keeps: every reason
        utterance of a call gets the call's driver; the call's links rank that driver first
        and add the drivers nearest to its other reason utterances as secondary."""
        if pooling is None:
            return update
        utterance_drivers: dict[int, tuple[int | None, float | None]] = {}
        links: dict[str, tuple[CallDriverLink, ...]] = {}
        active = sorted(update.centroids)
        C = np.stack([update.centroids[d] for d in active]) if active else None
        for j, members in enumerate(pooling.members):
            owner, score = update.utterance_drivers[int(pooling.calls.ids[j])]
            for i in members:
                utterance_drivers[int(reasons.ids[i])] = (owner, score)
            call_id = pooling.calls.keys[j][0]
            if owner is None:
                links[call_id] = ()
                continue
            links[call_id] = self._call_links(call_id, owner, reasons, members, active, C)
        # exemplars are single utterances (the pooled rows' texts join a call's reasons)
        by_driver: dict[int, list[int]] = defaultdict(list)
        for i, uid in enumerate(reasons.ids):
            owner = utterance_drivers.get(int(uid), (None, None))[0]
            if owner is not None:
                by_driver[owner].append(i)
        drivers = tuple(
            replace(
                d,
                exemplars=_exemplars(
                    reasons, by_driver[d.id], update.centroids[d.id], self.options.exemplars
                ),
            )
            if d.id in by_driver and d.id in update.centroids
            else d
            for d in update.drivers
        )
        return replace(
            update, drivers=drivers, utterance_drivers=utterance_drivers, call_links=links
        )

    def _call_links(
        self,
        call_id: str,
        owner: int,
        reasons: ReasonSet,
        members: Sequence[int],
        active: Sequence[int],
        C: np.ndarray | None,
    ) -> tuple[CallDriverLink, ...]:
        shares: dict[int, float] = defaultdict(float)
        weights = reasons.weights[list(members)]
        nearest = [owner] * len(members)
        if C is not None and len(active) > 1:
            best, top, _ = best_two(normalise(reasons.vectors[list(members)]) @ C.T)
            nearest = [
                active[int(b)] if t >= self.options.secondary_similarity else owner
                for b, t in zip(best, top, strict=True)
            ]
        for driver_id, w in zip(nearest, weights, strict=True):
            shares[driver_id] += float(w)
        total = sum(shares.values()) or 1.0
        others = sorted(
            (
                (d, w)
                for d, w in shares.items()
                if d != owner and w / total >= self.options.secondary_share
            ),
            key=lambda kv: (-kv[1], kv[0]),
        )
        ranked = [(owner, shares.get(owner, 0.0)), *others]
        return tuple(
            CallDriverLink(call_id, d, rank, round(w / total, 4))
            for rank, (d, w) in enumerate(ranked, start=1)
        )

    def _recluster(
        self,
        reasons: ReasonSet,
        drivers: Sequence[Driver],
        centroids: Mapping[int, np.ndarray],
        next_id: int,
    ) -> DriverUpdate:
        if len(reasons) == 0:
            return self._finish(reasons, {}, {}, list(drivers), [], "recluster")
        model = self.new_clusterer().fit(reasons.vectors)
        labels = {k: int(x) for k, x in zip(reasons.keys, model.labels_, strict=True)}
        old = {k: d for k, d in zip(reasons.keys, reasons.driver_ids, strict=True) if d is not None}
        new_centroids = {i: c for i, c in enumerate(model.centroids_)}
        vectors = dict(zip(reasons.keys, reasons.vectors, strict=True))
        lineage = reconcile(
            old,
            drivers,
            labels,
            new_centroids,
            centroids,
            next_id,
            self.options.lineage,
            vectors=vectors,
        )
        scores = {k: float(p) for k, p in zip(reasons.keys, model.probabilities_, strict=True)}
        rows = {d.id: d for d in drivers}
        for driver_id, parent in lineage.created:
            rows[driver_id] = Driver(driver_id, f"driver_{driver_id}", (), (), 0, parent_id=parent)
        for driver_id in lineage.retired:
            rows[driver_id] = replace(rows[driver_id], status="retired", size=0)
        events: list[Event] = [
            (f"lineage_{e.kind}", e.driver_id, e.other_id, {"detail": e.detail})
            for e in lineage.events
        ]
        return self._finish(
            reasons, lineage.assignment, scores, list(rows.values()), events, "recluster"
        )

    def _incremental(
        self,
        reasons: ReasonSet,
        drivers: Sequence[Driver],
        centroids: Mapping[int, np.ndarray],
        next_id: int,
    ) -> DriverUpdate:
        rows = {d.id: d for d in drivers}
        active = [d.id for d in drivers if d.status == "active" and d.id in centroids]
        assignment: dict[Key, int] = {}
        scores: dict[Key, float] = {}
        pending: list[int] = []
        for i, (key, driver_id) in enumerate(zip(reasons.keys, reasons.driver_ids, strict=True)):
            target = _resolve(driver_id, rows)
            if target is not None and rows[target].status == "active":
                assignment[key] = target
            else:
                pending.append(i)
        events: list[Event] = []
        if pending:
            reference = self.new_clusterer()
            # a clusterer that has "learnt" the current drivers: predict assigns to them
            reference.centroids_ = np.stack([centroids[d] for d in active])
            reference.n_clusters_ = len(active)
            labels, sims = reference.predict(reasons.vectors[pending])
            leftover = []
            for i, label, sim in zip(pending, labels, sims, strict=True):
                if label >= 0:
                    assignment[reasons.keys[i]] = active[int(label)]
                    scores[reasons.keys[i]] = float(sim)
                else:
                    leftover.append(i)
            if leftover:
                fresh = self.new_clusterer().fit(reasons.vectors[leftover])
                created: dict[int, int] = {}
                for i, label, p in zip(leftover, fresh.labels_, fresh.probabilities_, strict=True):
                    if label < 0:
                        continue
                    if label not in created:
                        created[int(label)] = next_id
                        rows[next_id] = Driver(next_id, f"driver_{next_id}", (), (), 0)
                        events.append(("created", next_id, None, {"mode": "incremental"}))
                        next_id += 1
                    assignment[reasons.keys[i]] = created[int(label)]
                    scores[reasons.keys[i]] = float(p)
        return self._finish(reasons, assignment, scores, list(rows.values()), events, "incremental")

    # ------------------------------------------------------------------ analyst edits

    def merge(
        self, reasons: ReasonSet, drivers: Sequence[Driver], target: int, sources: Sequence[int]
    ) -> DriverUpdate:
        """Merge ``sources`` into ``target``: their members join it; they point at it."""
        rows = {d.id: d for d in drivers}
        for driver_id in (target, *sources):
            if driver_id not in rows or rows[driver_id].status != "active":
                raise ConfigError(f"driver {driver_id} is not an active driver")
        if target in sources:
            raise ConfigError("a driver cannot be merged into itself")
        pooling = self._pool(reasons)
        if pooling is not None:
            return self._expand(reasons, pooling, self._merge(pooling.calls, rows, target, sources))
        return self._merge(reasons, rows, target, sources)

    def _merge(
        self, reasons: ReasonSet, rows: dict[int, Driver], target: int, sources: Sequence[int]
    ) -> DriverUpdate:
        assignment = self._current(reasons, rows)
        for key, driver_id in assignment.items():
            if driver_id in sources:
                assignment[key] = target
        for source in sources:
            rows[source] = replace(rows[source], status="merged", merged_into=target, size=0)
        events: list[Event] = [("merge", s, target, {}) for s in sources]
        return self._finish(reasons, assignment, {}, list(rows.values()), events, "merge")

    def split(
        self,
        reasons: ReasonSet,
        drivers: Sequence[Driver],
        driver_id: int,
        parts: int,
        next_id: int,
    ) -> DriverUpdate:
        """Split a driver into ``parts`` children by k-means over its members' embeddings."""
        rows = {d.id: d for d in drivers}
        if driver_id not in rows or rows[driver_id].status != "active":
            raise ConfigError(f"driver {driver_id} is not an active driver")
        pooling = self._pool(reasons)
        if pooling is not None:
            update = self._split(pooling.calls, rows, driver_id, parts, next_id)
            return self._expand(reasons, pooling, update)
        return self._split(reasons, rows, driver_id, parts, next_id)

    def _split(
        self,
        reasons: ReasonSet,
        rows: dict[int, Driver],
        driver_id: int,
        parts: int,
        next_id: int,
    ) -> DriverUpdate:
        assignment = self._current(reasons, rows)
        members = [i for i, k in enumerate(reasons.keys) if assignment.get(k) == driver_id]
        if not 2 <= parts <= len(members):
            raise ConfigError(
                f"driver {driver_id} has {len(members)} members: cannot split into {parts}"
            )
        keys = [reasons.keys[i] for i in members]
        part_of = split_members(keys, reasons.vectors[members], parts)
        children = list(range(next_id, next_id + parts))
        for key, part in part_of.items():
            assignment[key] = children[part]
        for child in children:
            rows[child] = Driver(child, f"driver_{child}", (), (), 0, parent_id=driver_id)
        rows[driver_id] = replace(rows[driver_id], status="split", size=0)
        events: list[Event] = [("split", driver_id, c, {}) for c in children]
        return self._finish(reasons, assignment, {}, list(rows.values()), events, "split")

    @staticmethod
    def _current(reasons: ReasonSet, rows: Mapping[int, Driver]) -> dict[Key, int]:
        out = {}
        for key, driver_id in zip(reasons.keys, reasons.driver_ids, strict=True):
            target = _resolve(driver_id, rows)
            if target is not None:
                out[key] = target
        return out

    # ------------------------------------------------------------------ bookkeeping

    def _finish(
        self,
        reasons: ReasonSet,
        assignment: Mapping[Key, int],
        scores: Mapping[Key, float],
        drivers: list[Driver],
        events: list[Event],
        mode: str,
    ) -> DriverUpdate:
        rows = {d.id: d for d in drivers}
        index = {k: i for i, k in enumerate(reasons.keys)}
        members: dict[int, list[int]] = defaultdict(list)
        for key, driver_id in assignment.items():
            if key in index:
                members[driver_id].append(index[key])
        centroids: dict[int, np.ndarray] = {}
        texts: dict[int, list[str]] = {}
        for driver_id, idx in members.items():
            mean = reasons.vectors[idx].mean(axis=0)
            centroids[driver_id] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(
                np.float32
            )
            texts[driver_id] = [reasons.texts[i] for i in idx]
        words = keywords(texts) if texts else {}
        taken = {d.name for d in drivers if d.name_source == "analyst" and d.status == "active"}
        for driver_id in sorted(members):
            d = rows[driver_id]
            found = tuple(words.get(driver_id, ()))[: self.options.keywords]
            name = d.name
            if d.name_source != "analyst":
                name = _unique(name_of(found) if found else f"driver_{driver_id}", taken)
            taken.add(name)
            idx = members[driver_id]
            examples = _exemplars(reasons, idx, centroids[driver_id], self.options.exemplars)
            rows[driver_id] = replace(
                d, name=name, keywords=found, exemplars=examples, size=len(idx), status="active"
            )
        for driver_id, d in rows.items():
            if d.status == "active" and driver_id not in members:
                rows[driver_id] = replace(d, size=0)
        utterance_drivers: dict[int, tuple[int | None, float | None]] = {}
        for i, key in enumerate(reasons.keys):
            owner = assignment.get(key)
            score = scores.get(key, 1.0) if owner is not None else None
            utterance_drivers[int(reasons.ids[i])] = (owner, score)
        unassigned = (
            sum(1 for k in reasons.keys if k not in assignment) / len(reasons)
            if len(reasons)
            else 0.0
        )
        log.info(
            "drivers (%s): %d active, %d reason utterances, %.1f%% unassigned",
            mode,
            len(members),
            len(reasons),
            100 * unassigned,
        )
        return DriverUpdate(
            drivers=tuple(sorted(rows.values(), key=lambda d: d.id)),
            centroids=centroids,
            utterance_drivers=utterance_drivers,
            call_links=self.call_links(reasons, assignment),
            events=tuple(events),
            unassigned=unassigned,
            mode=mode,
        )

    def call_links(
        self, reasons: ReasonSet, assignment: Mapping[Key, int]
    ) -> dict[str, tuple[CallDriverLink, ...]]:
        """Each call's drivers ranked by their share of its reason words."""
        weight: dict[str, dict[int, float]] = {}  # in call order
        for i, key in enumerate(reasons.keys):
            shares = weight.setdefault(key[0], defaultdict(float))
            driver_id = assignment.get(key)
            if driver_id is not None:
                shares[driver_id] += float(reasons.weights[i])
        out: dict[str, tuple[CallDriverLink, ...]] = {}
        for call_id, shares in weight.items():
            total = sum(shares.values())
            ranked = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
            links = [
                CallDriverLink(call_id, d, rank, round(w / total, 4))
                for rank, (d, w) in enumerate(ranked, start=1)
                if rank == 1 or w / total >= self.options.secondary_share
            ]
            out[call_id] = tuple(links)
        return out


def _resolve(driver_id: int | None, rows: Mapping[int, Driver]) -> int | None:
    """Follow ``merged_into`` from a driver to the driver that now holds its members."""
    seen = set()
    while driver_id is not None and driver_id in rows and driver_id not in seen:
        seen.add(driver_id)
        d = rows[driver_id]
        if d.status == "merged" and d.merged_into is not None:
            driver_id = d.merged_into
            continue
        return driver_id
    return None


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def _exemplars(reasons: ReasonSet, idx: list[int], centroid: np.ndarray, k: int) -> tuple[str, ...]:
    picked = exemplars(
        [reasons.texts[i] for i in idx],
        reasons.vectors[idx],
        np.zeros(len(idx), dtype=int),
        centroid[None, :],
        k=k,
    )
    return tuple(picked.get(0, ()))
