"""Text sentiment of utterances: a pluggable scorer, VADER by default.

VADER (Hutto & Gilbert 2014) is a lexicon-and-rules model tuned on short informal text; it
needs no model weights and scores an utterance in tens of microseconds. Its ``compound`` score
is in [-1, 1]: about -0.05 or lower reads negative, 0.05 or higher positive.

Limits: VADER knows words, not situations. Complaints without emotive words ("why do I have to
keep calling you about this!") score 0, and polite closings can read negative ("nope, that's
it"), so text is evidence for the emotion analytics, never the whole verdict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["NoSentiment", "SentimentScorer", "VaderSentiment"]

_TOKEN = re.compile(r"[a-z][a-z'\-]*")


@runtime_checkable
class SentimentScorer(Protocol):
    """Scores the sentiment of texts in [-1, 1] (negative is negative)."""

    def score(self, texts: Sequence[str]) -> tuple[float, ...]:
        """One score per text, in order."""
        ...

    def negative_words(self, text: str) -> tuple[str, ...]:
        """The words of ``text`` that carry negative sentiment (lower case, first-seen order)."""
        ...


class VaderSentiment:
    """VADER's compound score; negative words are those with a negative lexicon valence."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()
        self._lexicon: dict[str, float] = self._analyzer.lexicon

    def score(self, texts: Sequence[str]) -> tuple[float, ...]:
        return tuple(
            float(self._analyzer.polarity_scores(t)["compound"]) if t.strip() else 0.0
            for t in texts
        )

    def negative_words(self, text: str) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for token in _TOKEN.findall(text.lower()):
            word = token.strip("'-")
            if self._lexicon.get(word, 0.0) < 0:
                found.setdefault(word)
        return tuple(found)


class NoSentiment:
    """Sentiment switched off: every text scores 0.0 and has no negative words."""

    def score(self, texts: Sequence[str]) -> tuple[float, ...]:
        return tuple(0.0 for _ in texts)

    def negative_words(self, text: str) -> tuple[str, ...]:
        return ()
