"""One reason vector per call: the call's reason utterances pooled, the first stated weighted most.

A call's driver is decided from the whole call rather than by a vote of its utterances: a
customer who says "my new phone won't connect" and then "it keeps dropping the signal" states
one problem twice, and each sentence alone may sit nearer another driver. Pooling the reason
utterances into one vector (weights ``first_weight`` for the first reason statement, 1 for
each later one; the result L2-normalised) and clustering calls gives each call one primary
driver; the utterances keep their own nearest drivers as secondary drivers.

``pool_calls`` turns the utterance-level ``ReasonSet`` into a call-level one with the same
fields (key ``(call_id, CALL_ROW)``), so driver discovery, lineage and analyst edits work on
either level unchanged; ``CallPooling`` remembers which utterance rows make up each call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.types import ReasonSet

__all__ = ["CALL_ROW", "CallPooling", "pool_calls", "pooled_vector"]

CALL_ROW = -1
"""The utterance index in the key of a pooled call row: (call_id, -1)."""


@dataclass(frozen=True, eq=False)
class CallPooling:
    """A call-level ReasonSet and, for each of its rows, the utterance rows it pools."""

    calls: ReasonSet
    members: tuple[tuple[int, ...], ...]

    def __len__(self) -> int:
        return len(self.calls)


def pooled_vector(vectors: np.ndarray, first_weight: float) -> np.ndarray:
    """The weighted, L2-normalised sum of a call's reason vectors (rows in spoken order)."""
    weights = np.ones(len(vectors), dtype=np.float32)
    if len(weights):
        weights[0] = first_weight
    total = (np.asarray(vectors, dtype=np.float32) * weights[:, None]).sum(axis=0)
    return (total / max(float(np.linalg.norm(total)), 1e-12)).astype(np.float32)


def pool_calls(reasons: ReasonSet, first_weight: float = 2.0) -> CallPooling:
    """Pool ``reasons`` (ordered by call, then utterance index) into one row per call.

    A pooled row's driver is the driver most of its utterances' words belong to (their
    drivers agree once a call-level analysis has run), its text the reason utterances joined,
    its weight their words and its id the first reason utterance's row id.
    """
    groups: dict[str, list[int]] = {}
    for i, (call_id, _) in enumerate(reasons.keys):
        groups.setdefault(call_id, []).append(i)
    members = tuple(tuple(rows) for rows in groups.values())
    dim = reasons.vectors.shape[1] if reasons.vectors.ndim == 2 else 0
    vectors = (
        np.stack([pooled_vector(reasons.vectors[list(rows)], first_weight) for rows in members])
        if members
        else np.zeros((0, dim), dtype=np.float32)
    )
    return CallPooling(
        calls=ReasonSet(
            keys=tuple((call_id, CALL_ROW) for call_id in groups),
            ids=np.array([reasons.ids[rows[0]] for rows in members], dtype=np.int64),
            vectors=vectors,
            texts=tuple(" ".join(reasons.texts[i] for i in rows) for rows in members),
            driver_ids=tuple(_call_driver(reasons, rows) for rows in members),
            weights=np.array([reasons.weights[list(rows)].sum() for rows in members]),
            nights=tuple(reasons.nights[rows[0]] for rows in members),
        ),
        members=members,
    )


def _call_driver(reasons: ReasonSet, rows: Sequence[int]) -> int | None:
    shares: dict[int, float] = {}
    for i in rows:
        driver_id = reasons.driver_ids[i]
        if driver_id is not None:
            shares[driver_id] = shares.get(driver_id, 0.0) + float(reasons.weights[i])
    if not shares:
        return None
    return min(shares, key=lambda d: (-shares[d], d))
