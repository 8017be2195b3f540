"""Scaffolding learnt from the store: customer utterances that occur whatever the driver.

Greetings, identity and security checks, holds, thanks and closings recur in almost every
call, and their wording is the contact centre's, not the problem's. The per-call reason
selector (engine.analytics.reasons) removes what its hand-written cues recognise; this
detector finds the rest from the calls themselves, whatever words a contact centre uses:

1. the customer utterances that could state a reason (the candidates) are clustered;
2. every call gets a provisional driver: its current reason utterances pooled into one
   vector (engine.analytics.call_vectors) and the calls clustered;
3. a candidate cluster is **scaffolding** when its calls are spread over the drivers as a
   random sample of calls would be (a permutation test of the share of its calls that hold
   its most common driver: p-value at least ``alpha``) and it also
   - mostly holds redaction placeholders ([NAME], [DIGITS]...: "identity" checks), or
   - sits at the end of calls (median position among the call's customer utterances at
     least ``closing_position``: thanks and goodbyes, "closing"), or
   - covers many calls (at least ``min_call_share`` of the labelled calls: "spread");
   a cluster whose calls share a driver more than chance is a reason, however common;
4. its members stop being reasons; steps 2-3 run again (``rounds``) with the provisional
   drivers rebuilt from what is left, so scaffolding the cues missed no longer shapes them.

A call left with no reason keeps one of the utterances the cues allowed: the first outside any
scaffolding cluster (else the longest), so every call with customer speech still has a
driver. ``ScaffoldReport`` says how many candidates each rule removed and describes every
cluster judged.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.analytics.call_vectors import pooled_vector
from engine.analytics.clustering import Clusterer, DriverClusterer
from engine.errors import ConfigError

__all__ = ["ScaffoldCluster", "ScaffoldDetector", "ScaffoldOptions", "ScaffoldReport"]

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")


@dataclass(frozen=True)
class ScaffoldOptions:
    """How scaffolding is told from reasons (see the module docstring).

    enabled: run the detector at all (default True).
    alpha: a cluster whose calls hold one driver more often than a random sample of calls
        would, at this significance, is a reason (default 0.05).
    min_calls: clusters spanning fewer calls are not judged (default 3).
    min_call_share: "covers many calls": at least this share of the labelled calls (0.1;
        with 10 or more drivers of similar size no one driver's reason reaches it by chance,
        and a common driver's reasons are concentrated anyway).
    closing_position: "at the end of calls": median relative position among the call's
        customer utterances at or above this (0.9; 0 = first, 1 = last).
    placeholder_share: "identity checks": this share of members holding a placeholder (0.5).
    first_weight: the first reason statement's weight in the provisional call vectors (2.0).
    rounds: how often drivers are rebuilt and clusters judged again (2).
    draws: random samples drawn for the permutation test (999).
    seed: the random state of the test (42).
    """

    enabled: bool = True
    alpha: float = 0.05
    min_calls: int = 3
    min_call_share: float = 0.1
    closing_position: float = 0.9
    placeholder_share: float = 0.5
    first_weight: float = 2.0
    rounds: int = 2
    draws: int = 999
    seed: int = 42

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.min_calls < 2:
            raise ConfigError(f"min_calls must be >= 2, got {self.min_calls}")
        if self.rounds < 1 or self.draws < 1:
            raise ConfigError("rounds and draws must be >= 1")


@dataclass(frozen=True)
class ScaffoldCluster:
    """One judged cluster of candidate utterances and the evidence.

    purity: share of its (labelled) calls holding its most common provisional driver;
    p_value: chance of that purity or more in a random sample of as many calls; position:
    median relative position in the call; placeholders: share of members with a placeholder;
    why: "" (a reason), "spread", "closing" or "identity" (scaffolding, by the first rule met).
    """

    size: int
    calls: int
    purity: float
    p_value: float
    position: float
    placeholders: float
    why: str
    exemplar: str


@dataclass(frozen=True)
class ScaffoldReport:
    """What the detector removed: candidates, removed by the cues (prior) and by the data."""

    candidates: int
    prior_removed: int
    data_removed: int
    clusters: tuple[ScaffoldCluster, ...] = field(default_factory=tuple)

    @property
    def removed_share(self) -> float:
        return (self.prior_removed + self.data_removed) / max(1, self.candidates)

    def summary(self) -> str:
        by: Counter[str] = Counter()
        for c in self.clusters:
            if c.why:
                by[c.why] += c.size
        parts = ", ".join(f"{why} {n}" for why, n in sorted(by.items())) or "none"
        return (
            f"scaffolding: {self.prior_removed + self.data_removed} of {self.candidates} "
            f"candidate utterances ({100 * self.removed_share:.1f}%) not reasons: "
            f"{self.prior_removed} by the cues, {self.data_removed} by the data ({parts})"
        )


class ScaffoldDetector:
    """Marks scaffolding among candidate reason utterances (see the module docstring)."""

    def __init__(
        self,
        options: ScaffoldOptions | None = None,
        clusterer: Callable[[], Clusterer] = DriverClusterer,
    ) -> None:
        self.options = options or ScaffoldOptions()
        self.new_clusterer = clusterer

    def detect(
        self,
        calls: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str],
        positions: np.ndarray,
        prior: np.ndarray,
    ) -> tuple[np.ndarray, ScaffoldReport]:
        """Reason flags for the candidates (row i: call ``calls[i]``, embedding, text, relative
        position in its call 0..1, the cues' verdict), in call order; and the report."""
        prior = np.asarray(prior, dtype=bool)
        n = len(calls)
        o = self.options
        if not o.enabled or n == 0:
            return prior.copy(), ScaffoldReport(n, int((~prior).sum()), 0)
        clusters = np.asarray(self.new_clusterer().fit(vectors).labels_, dtype=np.int64)
        placeholder = np.array([bool(_PLACEHOLDER.search(t)) for t in texts])
        reason = prior.copy()
        judged: tuple[ScaffoldCluster, ...] = ()
        scaffold = np.zeros(n, dtype=bool)
        for _ in range(o.rounds):
            labels = self._call_drivers(calls, vectors, reason)
            judged, scaffold = self._judge(calls, clusters, labels, positions, placeholder, texts)
            reason = prior & ~scaffold
        reason = self._keep_one_per_call(calls, texts, prior, reason, scaffold)
        report = ScaffoldReport(
            candidates=n,
            prior_removed=int((~prior).sum()),
            data_removed=int((prior & ~reason).sum()),
            clusters=judged,
        )
        log.info("%s", report.summary())
        return reason, report

    def _call_drivers(
        self, calls: Sequence[str], vectors: np.ndarray, reason: np.ndarray
    ) -> dict[str, int]:
        """Provisional drivers: each call's reason rows pooled, the calls clustered."""
        rows: dict[str, list[int]] = {}
        for i, call_id in enumerate(calls):
            if reason[i]:
                rows.setdefault(call_id, []).append(i)
        if not rows:
            return {}
        pooled = np.stack(
            [pooled_vector(vectors[idx], self.options.first_weight) for idx in rows.values()]
        )
        labels = self.new_clusterer().fit(pooled).labels_
        return {c: int(x) for c, x in zip(rows, labels, strict=True) if x >= 0}

    def _judge(
        self,
        calls: Sequence[str],
        clusters: np.ndarray,
        labels: dict[str, int],
        positions: np.ndarray,
        placeholder: np.ndarray,
        texts: Sequence[str],
    ) -> tuple[tuple[ScaffoldCluster, ...], np.ndarray]:
        o = self.options
        scaffold = np.zeros(len(calls), dtype=bool)
        population = np.array(list(labels.values()), dtype=np.int64)
        rng = np.random.default_rng(o.seed)
        judged = []
        for k in np.unique(clusters[clusters >= 0]):
            members = np.flatnonzero(clusters == k)
            member_calls = {calls[int(i)] for i in members}
            held = [labels[c] for c in member_calls if c in labels]
            if len(held) < o.min_calls:
                continue
            purity = Counter(held).most_common(1)[0][1] / len(held)
            p = _purity_p_value(population, len(held), purity, o.draws, rng)
            position = float(np.median(positions[members]))
            share = float(placeholder[members].mean())
            why = ""
            if p >= o.alpha:
                if share >= o.placeholder_share:
                    why = "identity"
                elif position >= o.closing_position:
                    why = "closing"
                elif len(held) >= o.min_call_share * len(population):
                    why = "spread"
            if why:
                scaffold[members] = True
            judged.append(
                ScaffoldCluster(
                    size=len(members),
                    calls=len(member_calls),
                    purity=round(purity, 3),
                    p_value=round(p, 4),
                    position=round(position, 3),
                    placeholders=round(share, 3),
                    why=why,
                    exemplar=texts[int(members[0])],
                )
            )
        return tuple(judged), scaffold

    @staticmethod
    def _keep_one_per_call(
        calls: Sequence[str],
        texts: Sequence[str],
        prior: np.ndarray,
        reason: np.ndarray,
        scaffold: np.ndarray,
    ) -> np.ndarray:
        """A call that had reasons by the cues but lost them all keeps one of those: the
        first outside scaffolding clusters, else the longest."""
        out = reason.copy()
        rows: dict[str, list[int]] = {}
        for i, call_id in enumerate(calls):
            rows.setdefault(call_id, []).append(i)
        for idx in rows.values():
            if out[idx].any() or not prior[idx].any():
                continue
            allowed = [i for i in idx if prior[i]]
            kept = [i for i in allowed if not scaffold[i]]
            chosen = kept[0] if kept else max(allowed, key=lambda i: len(texts[i]))
            out[chosen] = True
        return out


def _purity_p_value(
    population: np.ndarray, size: int, observed: float, draws: int, rng: np.random.Generator
) -> float:
    """P(purity >= observed) for ``size`` calls drawn without replacement from ``population``."""
    hits = 0
    for _ in range(draws):
        sample = rng.choice(population, size=size, replace=False)
        hits += np.bincount(sample).max() / size >= observed - 1e-9
    return (1 + hits) / (1 + draws)
