"""Emergent call drivers: cluster the utterances that carry the customer's reason for calling.

Pipeline of `DriverClusterer.fit` on L2-normalised sentence embeddings (n × d):

1. exact cosine k-nearest neighbours by blocked matrix products (UMAP's own path for n < 4096
   is a Python loop over every pair, about 20 s for 3,000 utterances);
2. UMAP to a few dimensions from that neighbour graph (fixed seed, so deterministic);
3. HDBSCAN on the reduced points, with `min_cluster_size` and `min_samples` scaled with n;
4. clusters whose centroids are near-duplicates are merged;
5. a member far from its cluster's centroid in the original space (cosine below the
   assignment threshold: UMAP pulls isolated points into some cluster) is made noise again;
6. soft assignment: a point HDBSCAN left as noise joins the cluster whose centroid (in the
   original embedding space) is nearest by cosine, when that cosine clears a threshold and
   beats the runner-up by a margin; what is left is the "unassigned" share.

Above `max_fit_samples` utterances the steps run on a seeded random sample and every other
utterance is assigned like a new one (`predict`): that keeps 100k utterances well under a minute
on two cores, and a driver of 0.4% (400 of 100k utterances) is still found.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

import numpy as np

from engine.errors import ConfigError

log = logging.getLogger(__name__)

NOISE = -1


@dataclass(frozen=True)
class ClusterOptions:
    """How utterance embeddings become driver clusters.

    seed: random state of UMAP and of the sample taken above `max_fit_samples` (default 42).
    n_components: UMAP output dimensions HDBSCAN works in (default 10; 5–10 measure alike on
        Banking77, 10 a little better after soft assignment).
    n_neighbors: UMAP neighbourhood, capped at n - 1 (default 15, UMAP's own).
    n_epochs: UMAP optimisation epochs; None is UMAP's default (500 below 10k points, 200 above).
    umap_init: UMAP's starting layout (default "pca": as good as UMAP's "spectral" on
        Banking77, and the spectral eigensolver alone can take 2–15 s on 13k–20k points).
    min_cluster_size: HDBSCAN's smallest cluster; None scales it with the n utterances fitted
        as max(min_size_floor, round(min_share · n)): 3 for a night of 150 utterances (drivers
        of 3–20 each), 12 for 3,000, 52 for 13,000, 80 for a 20k fit sample. A fixed size
        splits every driver of a large set into many, or loses the small drivers of a night.
    min_share / min_size_floor: that rule's constants (0.004, i.e. a driver is at least 0.4%
        of the utterances once there are enough of them; 3).
    min_samples: HDBSCAN's density smoothing; None is clip(round(min_samples_ratio ·
        min_cluster_size), 1, min_samples_cap): 1 at the floor, 4 for 3,000 utterances.
        Higher marks more points as noise.
    min_samples_ratio / min_samples_cap: that rule's constants (0.3, 10).
    assign_threshold: cosine to a centroid a noise point needs to be soft-assigned, and a new
        point needs in `predict` (default 0.5; members of Banking77 clusters sit at 0.6–0.8).
    assign_margin: how far the best centroid's cosine must beat the second best for a soft
        assignment (default 0.02), so a point between two drivers stays unassigned.
    merge_threshold: clusters whose centroids have at least this cosine are merged (default
        0.92; HDBSCAN sometimes splits one driver into two dense lobes); None disables it.
    reduce_min_samples: below this many utterances UMAP is skipped and HDBSCAN runs on the
        embeddings themselves (default 50; UMAP's layout is unreliable that small). So it is
        when the embeddings have no more than n_components dimensions.
    min_utterances: below this many utterances nothing is clustered: every one is noise
        (default 10; there is no telling a driver from chance that small).
    max_fit_samples: above this many utterances the clusters are learnt from a seeded sample of
        this size and the rest are assigned to them (default 20,000).
    """

    seed: int = 42
    n_components: int = 10
    n_neighbors: int = 15
    n_epochs: int | None = None
    umap_init: str = "pca"
    min_cluster_size: int | None = None
    min_share: float = 0.004
    min_size_floor: int = 3
    min_samples: int | None = None
    min_samples_ratio: float = 0.3
    min_samples_cap: int = 10
    assign_threshold: float = 0.5
    assign_margin: float = 0.02
    merge_threshold: float | None = 0.92
    reduce_min_samples: int = 50
    min_utterances: int = 10
    max_fit_samples: int = 20_000

    def __post_init__(self) -> None:
        if self.n_components < 2:
            raise ConfigError(f"n_components must be >= 2, got {self.n_components}")
        if self.n_neighbors < 2:
            raise ConfigError(f"n_neighbors must be >= 2, got {self.n_neighbors}")
        if self.min_cluster_size is not None and self.min_cluster_size < 2:
            raise ConfigError(f"min_cluster_size must be >= 2, got {self.min_cluster_size}")
        if self.min_samples is not None and self.min_samples < 1:
            raise ConfigError(f"min_samples must be >= 1, got {self.min_samples}")
        if not -1.0 <= self.assign_threshold <= 1.0:
            raise ConfigError(f"assign_threshold must be a cosine, got {self.assign_threshold}")
        if self.assign_margin < 0:
            raise ConfigError(f"assign_margin must be >= 0, got {self.assign_margin}")
        if self.min_size_floor < 2:
            raise ConfigError(f"min_size_floor must be >= 2, got {self.min_size_floor}")
        if not 0 <= self.min_share < 1:
            raise ConfigError(f"min_share must be in [0, 1), got {self.min_share}")
        if self.min_utterances < 2:
            raise ConfigError(f"min_utterances must be >= 2, got {self.min_utterances}")
        if self.max_fit_samples < self.min_utterances:
            raise ConfigError("max_fit_samples must be >= min_utterances")

    def cluster_size(self, n: int) -> int:
        """HDBSCAN's min_cluster_size for n utterances (the option, or the share rule)."""
        if self.min_cluster_size is not None:
            return self.min_cluster_size
        return max(self.min_size_floor, round(self.min_share * n))

    def samples(self, cluster_size: int) -> int:
        """HDBSCAN's min_samples for a given min_cluster_size."""
        if self.min_samples is not None:
            return min(self.min_samples, cluster_size)
        return min(max(1, round(self.min_samples_ratio * cluster_size)), self.min_samples_cap)


@runtime_checkable
class Clusterer(Protocol):
    """What the driver analytics needs from a clusterer (sklearn-style, learnt attributes_)."""

    labels_: np.ndarray
    centroids_: np.ndarray

    def fit(self, X: np.ndarray) -> Self: ...


def normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32 (zero rows stay zero)."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


def centroids(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """k × d L2-normalised mean embedding of each cluster 0..k-1 (noise ignored)."""
    from scipy.sparse import csr_matrix

    member = labels >= 0
    rows = labels[member]
    onehot = csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, np.flatnonzero(member))),
        shape=(k, len(labels)),
    )
    return normalise(np.asarray(onehot @ X))


def best_two(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the index of the highest score, that score, and the second highest."""
    best = scores.argmax(axis=1)
    top = scores[np.arange(len(scores)), best]
    if scores.shape[1] < 2:
        return best, top, np.full_like(top, -1.0)
    second = np.partition(scores, -2, axis=1)[:, -2]
    return best, top, second


def knn_graph(X: np.ndarray, k: int, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self included) of unit rows: indices and cosine distances."""
    import torch

    T = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    indices = np.empty((len(X), k), dtype=np.int64)
    distances = np.empty((len(X), k), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(X), block):
            sims, idx = (T[start : start + block] @ T.T).topk(k, dim=1)
            indices[start : start + block] = idx.numpy()
            distances[start : start + block] = (1.0 - sims).clamp_(min=0.0).numpy()
    return indices, distances


def merge_close(C: np.ndarray, threshold: float) -> np.ndarray:
    """Map from cluster to merged cluster: groups of centroids linked by cosine >= threshold."""
    parent = np.arange(len(C))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    sims = C @ C.T
    for i, j in zip(*np.nonzero(np.triu(sims, 1) >= threshold), strict=True):
        parent[root(int(i))] = root(int(j))
    return np.array([root(i) for i in range(len(C))])


def by_size(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..k-1 by decreasing size (ties by old label); noise stays -1."""
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    lookup = np.full(int(labels.max(initial=-1)) + 2, NOISE)
    lookup[order] = np.arange(len(order))
    return np.where(labels >= 0, lookup[labels], NOISE)


class DriverClusterer:
    """UMAP → HDBSCAN → merge → confident soft assignment; see the module docstring.

    Learnt attributes after `fit`: labels_ (-1 = unassigned after soft assignment, clusters
    numbered by decreasing size), probabilities_ (HDBSCAN's membership strength for its own
    members, the cosine to the centroid clipped to 0..1 for soft-assigned ones, 0 for noise),
    centroids_ (k × d, L2-normalised mean embedding of each cluster), n_clusters_,
    min_cluster_size_ (the size HDBSCAN was given), n_soft_assigned_ (HDBSCAN's noise that soft
    assignment placed), unassigned_share_, timings_ (seconds spent in each step: knn, umap,
    hdbscan, assign).
    """

    def __init__(self, options: ClusterOptions = ClusterOptions()) -> None:
        self.options = options

    def fit(self, X: np.ndarray) -> Self:
        X = normalise(X)
        n = len(X)
        opts = self.options
        self.labels_ = np.full(n, NOISE, dtype=np.int64)
        self.probabilities_ = np.zeros(n, dtype=np.float32)
        self.n_soft_assigned_ = 0
        self.timings_: dict[str, float] = {}
        self.min_cluster_size_ = opts.cluster_size(min(n, opts.max_fit_samples))
        if n < opts.min_utterances:
            log.info("%d utterances: too few to cluster, all unassigned", n)
            self._set_centroids(X, 0)
            return self
        fit_idx = np.arange(n)
        if n > opts.max_fit_samples:
            rng = np.random.default_rng(opts.seed)
            fit_idx = np.sort(rng.choice(n, opts.max_fit_samples, replace=False))
        labels, probs = self._clusters(X[fit_idx])
        self.labels_[fit_idx] = labels
        self.probabilities_[fit_idx] = probs * (labels >= 0)
        started = time.perf_counter()
        k = self._assign(X, fit_idx, int(labels.max(initial=-1)) + 1)
        self.timings_["assign"] = time.perf_counter() - started
        log.debug("driver clustering step times: %s", self.timings_)
        log.info(
            "%d utterances → %d drivers (min_cluster_size %d), %d soft-assigned, %.1f%% unassigned",
            n,
            k,
            self.min_cluster_size_,
            self.n_soft_assigned_,
            100.0 * self.unassigned_share_,
        )
        return self

    def fit_predict(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).labels_

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Assign new utterances to the learnt drivers: (labels, cosine to the chosen centroid).

        A label is the driver whose centroid is nearest by cosine, or -1 where that cosine is
        below `assign_threshold` (no margin is asked: a new call goes to its best driver).
        """
        X = normalise(X)
        if self.n_clusters_ == 0 or len(X) == 0:
            return np.full(len(X), NOISE, dtype=np.int64), np.zeros(len(X), dtype=np.float32)
        scores = X @ self.centroids_.T
        best, top, _ = best_two(scores)
        labels = np.where(top >= self.options.assign_threshold, best, NOISE)
        return labels.astype(np.int64), top.astype(np.float32)

    @property
    def unassigned_share_(self) -> float:
        """Share of the fitted utterances left as noise after soft assignment."""
        return float(np.mean(self.labels_ == NOISE)) if len(self.labels_) else 0.0

    def _clusters(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """HDBSCAN's clusters of X, near-duplicates merged, numbered by size; and strengths."""
        labels, probs = self._hdbscan(X)
        k = int(labels.max(initial=-1)) + 1
        if self.options.merge_threshold is not None and k > 1:
            groups = merge_close(centroids(X, labels, k), self.options.merge_threshold)
            labels = np.where(labels >= 0, groups[np.maximum(labels, 0)], NOISE)
        return by_size(labels), probs

    def _hdbscan(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """HDBSCAN labels and membership strengths, on UMAP output unless X is small."""
        import hdbscan

        opts = self.options
        size = opts.cluster_size(len(X))
        small = len(X) < opts.reduce_min_samples or X.shape[1] <= opts.n_components
        points = X if small else self._reduce(X)
        started = time.perf_counter()
        model = hdbscan.HDBSCAN(min_cluster_size=size, min_samples=opts.samples(size))
        model.fit(points)
        if model.labels_.max(initial=-1) < 0:
            # HDBSCAN never returns its root as a cluster by default, so one tight group
            # (a night where every caller wants the same thing) would come back all noise
            model.set_params(allow_single_cluster=True).fit(points)
        self.timings_["hdbscan"] = time.perf_counter() - started
        return np.asarray(model.labels_, dtype=np.int64), model.probabilities_.astype(np.float32)

    def _reduce(self, X: np.ndarray) -> np.ndarray:
        import umap

        opts = self.options
        k = min(opts.n_neighbors, len(X) - 1)
        started = time.perf_counter()
        indices, distances = knn_graph(X, k)
        self.timings_["knn"] = time.perf_counter() - started
        reducer = umap.UMAP(
            n_neighbors=k,
            n_components=opts.n_components,
            n_epochs=opts.n_epochs,
            min_dist=0.0,
            init=opts.umap_init,
            metric="cosine",
            random_state=opts.seed,
            n_jobs=1,
            precomputed_knn=(indices, distances, None),
        )
        with warnings.catch_warnings():
            # "no search index": we never call transform; new points go by centroid instead
            warnings.simplefilter("ignore", UserWarning)
            reduced = np.asarray(reducer.fit_transform(X), dtype=np.float32)
        self.timings_["umap"] = time.perf_counter() - started - self.timings_["knn"]
        return reduced

    def _assign(self, X: np.ndarray, fit_idx: np.ndarray, k: int) -> int:
        """Outliers out, confident noise in, the rest of a large set by `predict`; final k."""
        self._set_centroids(X, k)
        if k == 0:
            return 0
        self._drop_outliers(X, fit_idx)
        self._soft_assign(X, fit_idx)
        rest = np.setdiff1d(np.arange(len(X)), fit_idx, assume_unique=True)
        if len(rest):
            self._set_centroids(X, k)
            labels, scores = self.predict(X[rest])
            self.labels_[rest] = labels
            self.probabilities_[rest] = np.clip(scores, 0.0, 1.0) * (labels >= 0)
        # soft members can change the order; a cluster left with no member drops out
        self.labels_ = by_size(self.labels_)
        k = int(self.labels_.max(initial=-1)) + 1
        self._set_centroids(X, k)
        return k

    def _drop_outliers(self, X: np.ndarray, fit_idx: np.ndarray) -> None:
        """Unassign HDBSCAN members that sit far from their centroid in the original space.

        UMAP pulls an isolated point into some cluster's neighbourhood; a member whose cosine to
        its centroid is below `assign_threshold` is sent back to noise (and so to soft
        assignment, where another driver may take it).
        """
        idx = fit_idx[self.labels_[fit_idx] >= 0]
        cos = np.sum(X[idx] * self.centroids_[self.labels_[idx]], axis=1)
        far = idx[cos < self.options.assign_threshold]
        self.labels_[far] = NOISE
        self.probabilities_[far] = 0.0

    def _soft_assign(self, X: np.ndarray, fit_idx: np.ndarray) -> None:
        """Give HDBSCAN's noise to the nearest centroid when confident (see ClusterOptions)."""
        opts = self.options
        todo = fit_idx[self.labels_[fit_idx] == NOISE]
        if len(todo) == 0:
            return
        best, top, second = best_two(X[todo] @ self.centroids_.T)
        ok = (top >= opts.assign_threshold) & (top - second >= opts.assign_margin)
        self.labels_[todo[ok]] = best[ok]
        self.probabilities_[todo[ok]] = np.clip(top[ok], 0.0, 1.0)
        self.n_soft_assigned_ = int(ok.sum())

    def _set_centroids(self, X: np.ndarray, k: int) -> None:
        self.centroids_ = centroids(X, self.labels_, k)
        self.n_clusters_ = k


class NoClustering:
    """Driver clustering switched off: every utterance unassigned, no centroids."""

    def fit(self, X: np.ndarray) -> Self:
        X = np.asarray(X)
        self.labels_ = np.full(len(X), NOISE, dtype=np.int64)
        self.probabilities_ = np.zeros(len(X), dtype=np.float32)
        self.centroids_ = np.zeros((0, X.shape[1] if X.ndim == 2 else 0), dtype=np.float32)
        self.n_clusters_ = 0
        return self


class SingleCluster:
    """Every utterance in one driver (tests, and a baseline): label 0, the mean as centroid."""

    def fit(self, X: np.ndarray) -> Self:
        X = normalise(X)
        n = len(X)
        self.labels_ = np.zeros(n, dtype=np.int64)
        self.probabilities_ = np.ones(n, dtype=np.float32)
        self.n_clusters_ = 1 if n else 0
        self.centroids_ = centroids(X, self.labels_, self.n_clusters_)
        return self
