import numpy as np
import pytest

from engine.stages.diarise import SingleSpeakerDiariser, choose_clusters


def blobs(centres: list[np.ndarray], per: int, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([c + rng.normal(0, noise, (per, c.size)) for c in centres])


def directions(k: int, dim: int = 32, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [v / np.linalg.norm(v) for v in rng.normal(size=(k, dim))]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("k", [2, 3])
def test_separate_speakers_are_found(k):
    x = blobs(directions(k), per=6, noise=0.05)
    truth = np.repeat(np.arange(k), 6)
    labels = choose_clusters(x, 1, 3, same_speaker_similarity=0.85)
    assert same_partition(labels, truth)


def test_one_speaker_stays_one():
    x = blobs(directions(1), per=10, noise=0.05)
    assert set(choose_clusters(x, 1, 3, 0.85).tolist()) == {0}


def test_minimum_forces_a_split():
    x = blobs(directions(1), per=10, noise=0.05)
    assert len(set(choose_clusters(x, 2, 3, 0.85).tolist())) == 2


def test_maximum_caps_the_count():
    x = blobs(directions(3), per=5, noise=0.05)
    assert len(set(choose_clusters(x, 1, 2, 0.85).tolist())) == 2


def test_tiny_inputs():
    assert choose_clusters(np.ones((1, 8)), 1, 3, 0.85).tolist() == [0]
    two = np.vstack(directions(2, dim=8))
    assert sorted(choose_clusters(two, 1, 3, 0.85).tolist()) == [0, 1]


def test_single_speaker_diariser_covers_the_audio():
    d = SingleSpeakerDiariser()(np.zeros(16000 * 3, np.float32))
    assert [(t.speaker, t.start, t.end) for t in d.turns] == [("SPEAKER_00", 0.0, 3.0)]
    assert SingleSpeakerDiariser()(np.zeros(0, np.float32)).turns == ()
