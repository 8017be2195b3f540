"""A transparent clusterer for driver tests: a point belongs to the axis it points along."""

from __future__ import annotations

from typing import Self

import numpy as np


class AxisClusterer:
    """fit: label = the axis a row is within ``cos`` of (else -1), numbered in order of first
    appearance; predict: cosine to ``centroids_`` of at least ``cos``."""

    def __init__(self, cos: float = 0.9) -> None:
        self.cos = cos

    def fit(self, X: np.ndarray) -> Self:
        axes = np.argmax(np.abs(X), axis=1)
        strong = X[np.arange(len(X)), axes] >= self.cos
        order: dict[int, int] = {}
        labels = []
        for axis, ok in zip(axes, strong, strict=True):
            if not ok:
                labels.append(-1)
                continue
            labels.append(order.setdefault(int(axis), len(order)))
        self.labels_ = np.array(labels, dtype=int)
        self.probabilities_ = np.where(self.labels_ >= 0, 1.0, 0.0)
        centroids = [X[self.labels_ == k].mean(axis=0) for k in range(len(order))]
        self.centroids_ = (
            np.stack([c / np.linalg.norm(c) for c in centroids])
            if centroids
            else np.zeros((0, X.shape[1]))
        )
        self.n_clusters_ = len(order)
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims = X @ self.centroids_.T
        best = sims.argmax(axis=1)
        score = sims[np.arange(len(X)), best]
        return np.where(score >= self.cos, best, -1), score


def axis_vector(axis: int, dim: int = 6, wobble: float = 0.0) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[axis] = 1.0
    v[(axis + 1) % dim] = wobble
    return v / np.linalg.norm(v)
