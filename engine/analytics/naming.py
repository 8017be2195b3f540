"""Names for call drivers: distinctive keywords (class-based TF-IDF) and exemplar utterances.

c-TF-IDF is BERTopic's: the utterances of each cluster are joined into one document, and a
term t in cluster c weighs tf(t, c) · log(1 + A / f(t)), where tf is the term's share of the
cluster's terms, f(t) its count over all clusters and A the mean number of terms per cluster.
A term frequent in one driver and rare in the others ranks first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError

UNNAMED = "unnamed"

# sklearn's English list drops words that name contact-centre drivers ("top up", "call back",
# "bill", "amount", "name change"); those are kept, and spoken fillers and the stems the
# default tokeniser leaves of contractions ("didn't" → "didn") are dropped too.
KEPT_WORDS = frozenset(
    {"amount", "back", "bill", "call", "detail", "down", "empty", "full", "interest", "move"}
    | {"name", "off", "system", "top", "up"}
)
FILLER_WORDS = frozenset(
    {"able", "did", "does", "doing", "got", "hello", "hi", "just", "know", "like", "need"}
    | {"needs", "ok", "okay", "really", "tell", "thank", "thanks", "trying", "uh", "um", "want"}
    | {"wanted", "yeah", "yes", "aren", "couldn", "didn", "doesn", "don", "hadn", "hasn"}
    | {"haven", "isn", "ll", "shouldn", "ve", "wasn", "weren", "won", "wouldn"}
)


def call_stop_words() -> frozenset[str]:
    """sklearn's English stop words, less KEPT_WORDS, plus FILLER_WORDS."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return (frozenset(ENGLISH_STOP_WORDS) - KEPT_WORDS) | FILLER_WORDS


@dataclass(frozen=True)
class NamingOptions:
    """How drivers are described.

    top_keywords: keywords kept per driver, best first (default 10).
    name_words: distinct words a driver's name is made of (default 3: "card_pin_change").
    n_exemplars: utterances shown per driver, the members nearest its centroid (default 3).
    ngram_range: word n-grams counted (default (1, 2): "top up" and "pin" both count).
    stop_words: words never counted; None (default) is `call_stop_words()`, sklearn's English
        list adapted to calls; an empty set counts every word.
    """

    top_keywords: int = 10
    name_words: int = 3
    n_exemplars: int = 3
    ngram_range: tuple[int, int] = (1, 2)
    stop_words: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.top_keywords < 1 or self.name_words < 1 or self.n_exemplars < 0:
            raise ConfigError("top_keywords and name_words must be >= 1, n_exemplars >= 0")
        low, high = self.ngram_range
        if not 1 <= low <= high:
            raise ConfigError(f"ngram_range must be (low, high) with 1 <= low <= high, got {low}")


@dataclass(frozen=True, slots=True)
class Driver:
    """One emergent call driver: its label, name, keywords, exemplars and size."""

    label: int
    name: str
    keywords: tuple[str, ...]
    exemplars: tuple[str, ...]
    size: int


def keywords(
    texts_by_cluster: Mapping[int, Sequence[str]], options: NamingOptions = NamingOptions()
) -> dict[int, tuple[str, ...]]:
    """The top c-TF-IDF terms of each cluster, best first; noise (-1) is left out.

    A cluster whose utterances hold only stop words gets no keywords.
    """
    from scipy.sparse import diags
    from sklearn.feature_extraction.text import CountVectorizer

    labels = sorted(c for c in texts_by_cluster if c >= 0)
    docs = [" ".join(texts_by_cluster[c]) for c in labels]
    stop = call_stop_words() if options.stop_words is None else options.stop_words
    vectorizer = CountVectorizer(stop_words=sorted(stop) or None, ngram_range=options.ngram_range)
    try:
        counts = vectorizer.fit_transform(docs).astype(np.float64).tocsr()
    except ValueError:  # empty vocabulary: nothing but stop words (or nothing at all)
        return {c: () for c in labels}
    terms = vectorizer.get_feature_names_out()
    per_cluster = np.asarray(counts.sum(axis=1)).ravel()
    idf = np.log1p(per_cluster.mean() / np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1.0))
    idf[[not _distinct(str(t)) for t in terms]] = 0.0
    scores = diags(1.0 / np.maximum(per_cluster, 1.0)) @ counts @ diags(idf)
    result: dict[int, tuple[str, ...]] = {}
    for row, c in enumerate(labels):
        found = scores.getrow(row).tocoo()
        order = np.lexsort((found.col, -found.data))[: options.top_keywords]
        result[c] = tuple(str(terms[found.col[i]]) for i in order if found.data[i] > 0)
    return result


def _distinct(term: str) -> bool:
    """False for n-grams that repeat one word ("payment payment", left by stop-word removal)."""
    words = term.split()
    return len(set(words)) == len(words)


def name_of(words: Iterable[str], n_words: int = 3) -> str:
    """A snake_case name from the first `n_words` distinct words of the keywords, in order.

    ("pin", "change pin", "card") → "pin_change_card"; no keywords → "unnamed".
    """
    chosen: list[str] = []
    for keyword in words:
        for word in keyword.lower().split():
            if word not in chosen and len(chosen) < n_words:
                chosen.append(word)
    return "_".join(chosen) or UNNAMED


def unique_names(
    keywords_by_cluster: Mapping[int, Sequence[str]], n_words: int = 3
) -> dict[int, str]:
    """A name per cluster, distinct within the set.

    Clusters are named in label order (the largest first when labels are by size); a clash
    takes one more keyword word at a time, then a numeric suffix.
    """
    names: dict[int, str] = {}
    taken: set[str] = set()
    for c in sorted(keywords_by_cluster):
        words = keywords_by_cluster[c]
        name = name_of(words, n_words)
        extra = n_words
        while name in taken and name_of(words, extra + 1) != name_of(words, extra):
            extra += 1
            name = name_of(words, extra)
        base, suffix = name, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        names[c] = name
        taken.add(name)
    return names


def exemplars(
    texts: Sequence[str],
    X: np.ndarray,
    labels: np.ndarray,
    centroids: np.ndarray,
    k: int = 3,
) -> dict[int, tuple[str, ...]]:
    """Per cluster, up to k member texts nearest its centroid by cosine (repeats skipped).

    X holds the L2-normalised embeddings of `texts`; labels and centroids are a clusterer's.
    """
    labels = np.asarray(labels)
    result: dict[int, tuple[str, ...]] = {}
    for c in range(len(centroids)):
        members = np.flatnonzero(labels == c)
        sims = X[members] @ centroids[c]
        chosen: list[str] = []
        seen: set[str] = set()
        for i in members[np.argsort(-sims, kind="stable")]:
            if len(chosen) >= k:
                break
            key = " ".join(texts[i].lower().split())
            if key not in seen:
                seen.add(key)
                chosen.append(texts[i])
        result[c] = tuple(chosen)
    return result


class DriverNamer:
    """Keywords, a unique name and exemplars for every cluster a clusterer found."""

    def __init__(self, options: NamingOptions = NamingOptions()) -> None:
        self.options = options

    def describe(
        self, texts: Sequence[str], X: np.ndarray, labels: np.ndarray, centroids: np.ndarray
    ) -> dict[int, Driver]:
        """One `Driver` per cluster 0..k-1 (k = len(centroids)); noise is not a driver."""
        labels = np.asarray(labels)
        k = len(centroids)
        by_cluster: dict[int, list[str]] = {c: [] for c in range(k)}
        for text, c in zip(texts, labels, strict=True):
            if 0 <= c < k:
                by_cluster[int(c)].append(text)
        words = keywords(by_cluster, self.options)
        names = unique_names(words, self.options.name_words)
        shown = exemplars(texts, X, labels, centroids, self.options.n_exemplars)
        return {c: Driver(c, names[c], words[c], shown[c], len(by_cluster[c])) for c in range(k)}
