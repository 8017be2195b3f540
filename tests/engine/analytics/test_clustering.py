"""DriverClusterer on synthetic embeddings: blobs on the unit sphere with known membership."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from engine.analytics.clustering import (
    NOISE,
    Clusterer,
    ClusterOptions,
    DriverClusterer,
    NoClustering,
    SingleCluster,
)
from engine.errors import ConfigError

DIM = 48


def blobs(
    sizes: list[int], spread: float = 0.04, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors around random centres (one per size): points, true labels, centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    X = centres[truth] + rng.normal(scale=spread, size=(len(truth), DIM))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), truth, centres.astype(np.float32)


@pytest.fixture(scope="module")
def fitted() -> tuple[DriverClusterer, np.ndarray, np.ndarray, np.ndarray]:
    X, truth, centres = blobs([40, 60, 80, 50, 70, 45, 55, 65])
    return DriverClusterer().fit(X), X, truth, centres


def test_separable_blobs_are_recovered(fitted) -> None:
    model, _, truth, _ = fitted
    assert adjusted_rand_score(truth, model.labels_) > 0.95
    assert model.n_clusters_ == 8
    assert model.unassigned_share_ < 0.05


def test_learnt_attributes_follow_the_sklearn_contract(fitted) -> None:
    model, X, _, _ = fitted
    assert not [name for name in vars(DriverClusterer()) if name.endswith("_")]
    assert model.labels_.shape == (len(X),)
    assert model.labels_.min() >= NOISE
    assert model.labels_.max() == model.n_clusters_ - 1
    sizes = np.bincount(model.labels_[model.labels_ >= 0])
    assert (np.diff(sizes) <= 0).all(), "clusters are numbered by decreasing size"
    assert model.centroids_.shape == (model.n_clusters_, DIM)
    np.testing.assert_allclose(np.linalg.norm(model.centroids_, axis=1), 1.0, atol=1e-5)
    assert ((model.probabilities_ >= 0) & (model.probabilities_ <= 1)).all()
    assert (model.probabilities_[model.labels_ == NOISE] == 0).all()
    assert isinstance(model, Clusterer)


def test_fit_returns_self_and_fit_predict_its_labels() -> None:
    X, _, _ = blobs([15, 15, 15])
    model = DriverClusterer()
    assert model.fit(X) is model
    np.testing.assert_array_equal(DriverClusterer().fit_predict(X), model.labels_)


def test_predict_assigns_points_near_a_centroid_and_rejects_far_ones(fitted) -> None:
    model, _, truth, centres = fitted
    near, _, _ = blobs([1] * len(centres), seed=0)  # same centres, fresh noise
    labels, scores = model.predict(near)
    expected = [
        np.bincount(model.labels_[truth == t][model.labels_[truth == t] >= 0]).argmax()
        for t in range(len(centres))
    ]
    np.testing.assert_array_equal(labels, expected)
    assert (scores > 0.9).all()
    far = -model.centroids_.mean(axis=0, keepdims=True)
    far_labels, far_scores = model.predict(far)
    assert far_labels.tolist() == [NOISE]
    assert far_scores[0] < model.options.assign_threshold


def test_noise_points_stay_unassigned_when_not_confident(fitted) -> None:
    _, X, _, _ = fitted
    rng = np.random.default_rng(7)
    stray = rng.normal(size=(10, DIM)).astype(np.float32)  # nowhere near any blob
    both = DriverClusterer().fit(np.vstack([X, stray]))
    assert (both.labels_[-10:] == NOISE).all()


def test_seeded_runs_are_identical() -> None:
    X, _, _ = blobs([30, 40, 50], spread=0.08, seed=3)
    first = DriverClusterer(ClusterOptions(seed=5)).fit(X)
    again = DriverClusterer(ClusterOptions(seed=5)).fit(X)
    np.testing.assert_array_equal(first.labels_, again.labels_)
    np.testing.assert_allclose(first.centroids_, again.centroids_)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 9])
def test_tiny_sets_are_all_unassigned(n: int) -> None:
    model = DriverClusterer().fit(np.ones((n, DIM), dtype=np.float32))
    assert model.labels_.tolist() == [NOISE] * n
    assert model.n_clusters_ == 0
    assert model.centroids_.shape == (0, DIM)
    labels, _ = model.predict(np.ones((2, DIM), dtype=np.float32))
    assert labels.tolist() == [NOISE, NOISE]


def test_a_small_night_without_umap_still_clusters() -> None:
    X, truth, _ = blobs([8, 10, 12])  # 30 utterances: below reduce_min_samples
    model = DriverClusterer().fit(X)
    assert adjusted_rand_score(truth, model.labels_) > 0.95


def test_one_tight_group_is_one_driver_not_noise() -> None:
    X, _, _ = blobs([25])
    model = DriverClusterer().fit(X)
    assert model.n_clusters_ == 1
    assert model.unassigned_share_ < 0.1


def test_large_sets_fit_a_sample_and_assign_the_rest() -> None:
    X, truth, _ = blobs([150, 120, 130])
    model = DriverClusterer(ClusterOptions(max_fit_samples=120)).fit(X)
    assert model.n_clusters_ == 3
    assert adjusted_rand_score(truth, model.labels_) > 0.95


def test_min_cluster_size_scales_with_n() -> None:
    opts = ClusterOptions()
    assert opts.cluster_size(150) == 3
    assert opts.cluster_size(3000) == 12
    assert opts.cluster_size(20_000) == 80
    assert opts.samples(3) == 1
    assert ClusterOptions(min_cluster_size=7).cluster_size(10_000) == 7


@pytest.mark.parametrize(
    "bad",
    [{"n_components": 1}, {"assign_threshold": 2.0}, {"assign_margin": -0.1}, {"min_share": 1.5}],
)
def test_bad_options_are_refused(bad: dict) -> None:
    with pytest.raises(ConfigError):
        ClusterOptions(**bad)


def test_trivial_clusterers() -> None:
    X, _, _ = blobs([5, 5])
    off = NoClustering().fit(X)
    assert (off.labels_ == NOISE).all() and off.centroids_.shape == (0, DIM)
    one = SingleCluster().fit(X)
    assert (one.labels_ == 0).all() and one.centroids_.shape == (1, DIM)
    assert isinstance(off, Clusterer) and isinstance(one, Clusterer)
