"""Driver names: c-TF-IDF keywords, unique snake_case names, exemplars nearest the centroid."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analytics.naming import (
    UNNAMED,
    Driver,
    DriverNamer,
    NamingOptions,
    exemplars,
    keywords,
    name_of,
    unique_names,
)
from engine.errors import ConfigError

PIN = [
    "I want to change my card PIN",
    "how do I change the PIN on my card",
    "my card PIN needs changing, I forgot the PIN",
    "can I change my PIN at an ATM",
]
REFUND = [
    "where is my refund for the returned order",
    "the refund has not arrived yet",
    "I am still waiting on a refund from the merchant",
]
TOP_UP = [
    "my top up failed",
    "why did the top up fail on my card",
    "top up did not go through",
]


def test_keywords_distinguish_the_clusters() -> None:
    words = keywords({0: PIN, 1: REFUND, 2: TOP_UP, -1: ["whatever, nothing"]})
    assert set(words) == {0, 1, 2}, "noise gets no keywords"
    assert words[0][0] == "pin"
    assert words[1][0] == "refund"
    assert "top" in words[2][:3]
    assert "did" not in words[2], "spoken fillers are stop words"
    assert not {"i", "my", "the"} & {w for ws in words.values() for w in ws}, "stop words out"
    assert not set(words[0][:3]) & set(words[1][:3])


def test_shared_words_rank_below_distinctive_ones() -> None:
    words = keywords({0: PIN, 2: TOP_UP})  # "card" is in both
    assert words[0].index("pin") < words[0].index("card")


def test_bigrams_are_keywords_too() -> None:
    assert "top up" in keywords({0: PIN, 1: TOP_UP})[1]


def test_clusters_of_stop_words_get_no_keywords() -> None:
    assert keywords({0: ["the and of"], 1: ["it is"]}) == {0: (), 1: ()}
    assert keywords({}) == {}


def test_name_of_takes_distinct_words_in_order() -> None:
    assert name_of(("pin", "change pin", "card", "atm")) == "pin_change_card"
    assert name_of(("top up", "top", "failed")) == "top_up_failed"
    assert name_of(("Refund",), n_words=3) == "refund"
    assert name_of(()) == UNNAMED


def test_names_are_unique_within_a_set() -> None:
    names = unique_names(
        {
            0: ("card", "pin", "change", "atm"),
            1: ("card", "pin", "change", "blocked"),
            2: ("card", "pin", "change"),
            3: (),
            4: (),
        }
    )
    assert names[0] == "card_pin_change"
    assert names[1] == "card_pin_change_blocked"
    assert names[2] == "card_pin_change_2"
    assert len(set(names.values())) == len(names)
    assert names[3] == UNNAMED and names[4] == "unnamed_2"


def test_exemplars_are_the_members_nearest_the_centroid() -> None:
    texts = ["far", "nearest", "middle", "other cluster", "near", "near"]
    angles = np.array([1.0, 0.05, 0.5, 3.0, 0.2, 0.2])
    X = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    labels = np.array([0, 0, 0, 1, 0, 0])
    centroids = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    shown = exemplars(texts, X, labels, centroids, k=3)
    assert shown[0] == ("nearest", "near", "middle"), "nearest first, repeats skipped"
    assert shown[1] == ("other cluster",)
    assert exemplars(texts, X, labels, centroids, k=0) == {0: (), 1: ()}


def test_driver_namer_describes_every_cluster() -> None:
    texts = PIN + REFUND + ["noise utterance"]
    labels = np.array([0] * len(PIN) + [1] * len(REFUND) + [-1])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(texts), 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    centroids = np.stack([X[labels == c].mean(axis=0) for c in (0, 1)])
    drivers = DriverNamer(NamingOptions(n_exemplars=2)).describe(texts, X, labels, centroids)
    assert set(drivers) == {0, 1}
    assert isinstance(drivers[0], Driver)
    assert drivers[0].name.startswith("pin") and drivers[1].name.startswith("refund")
    assert drivers[0].size == len(PIN) and len(drivers[0].exemplars) == 2
    assert set(drivers[1].exemplars) <= set(REFUND)


@pytest.mark.parametrize("bad", [{"top_keywords": 0}, {"ngram_range": (2, 1)}])
def test_bad_options_are_refused(bad: dict) -> None:
    with pytest.raises(ConfigError):
        NamingOptions(**bad)
