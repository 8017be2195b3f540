from __future__ import annotations

import pytest

from engine.stages.sentiment import NoSentiment, SentimentScorer, VaderSentiment


@pytest.fixture(scope="module")
def vader() -> VaderSentiment:
    return VaderSentiment()


def test_vader_scores_negative_and_positive_text(vader: VaderSentiment) -> None:
    angry, happy, neutral = vader.score(
        [
            "I'm really fed up with this, it's completely unacceptable!",
            "Thank you so much, that's brilliant, you've been really helpful.",
            "My card ends 2 5 0 1.",
        ]
    )
    assert angry < -0.3
    assert happy > 0.5
    assert neutral == pytest.approx(0.0, abs=0.05)
    assert all(-1.0 <= s <= 1.0 for s in (angry, happy, neutral))


def test_vader_empty_text_is_neutral(vader: VaderSentiment) -> None:
    assert vader.score(["", "   "]) == (0.0, 0.0)
    assert vader.score([]) == ()


def test_vader_negative_words_are_lexicon_words_with_negative_valence(
    vader: VaderSentiment,
) -> None:
    words = vader.negative_words("I've WASTED my whole morning, it's unacceptable! Wasted, again.")
    assert words == ("wasted", "unacceptable")
    assert vader.negative_words("Thanks, that's great.") == ()


def test_no_sentiment_is_all_zero() -> None:
    off = NoSentiment()
    assert off.score(["This is terrible!", "great"]) == (0.0, 0.0)
    assert off.negative_words("This is terrible!") == ()


def test_both_satisfy_the_protocol(vader: VaderSentiment) -> None:
    assert isinstance(vader, SentimentScorer)
    assert isinstance(NoSentiment(), SentimentScorer)
