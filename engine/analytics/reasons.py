"""Which utterances carry the customer's reason for calling.

Call drivers are clustered from these utterances only: agent scripts, greetings, identity
checks, acknowledgements and closings look alike in every call and would otherwise form the
biggest "drivers" of all. An utterance is a *reason* utterance when

1. its speaker is the customer (or, in a call where no speaker was given the customer role,
   any speaker not known to be the agent);
2. it has at least ``min_content_words`` words that are not fillers or English stop words;
3. it does not read as an identity check (a name and card digits, a date of birth): a run of
   ``min_digits`` or more digits (spaces or hyphens between them; not an amount), spoken digits,
   or a phrase such as "card ending" or "last four";
4. its embedding is not close to any scaffolding prototype (greeting, thanks, "that's all",
   "okay great", "bye"...): the highest cosine must stay below ``scaffold_similarity``.

If a call ends up with no reason utterance, its longest customer utterance passing 1-3 is
used, so every call with customer speech has a driver.
``benchmarks/voc.py`` measures the selection against the archive's labelled turns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from engine.types import Role, Utterance, UtteranceEmbeddings

__all__ = ["SCAFFOLD_PROTOTYPES", "ReasonOptions", "ReasonSelector"]

SCAFFOLD_PROTOTYPES = (
    "Hello.",
    "Hi, good morning.",
    "Yes, hello, can you hear me?",
    "Thank you, bye.",
    "Okay, cheers, goodbye.",
    "No, that's all, thank you.",
    "No, I think that's everything.",
    "No, I think that's it. Thanks, bye.",
    "Okay, great.",
    "Right, okay, that's helpful.",
    "Yes, that's right.",
    "Sure, my name is John Smith.",
    "It's Jane Doe, card ending one two three four.",
    "My date of birth is the fifth of March.",
    "Hold on a second, let me check.",
    "Sorry, could you repeat that?",
)
"""Utterances that are part of every call rather than a reason for it (English)."""

_FILLERS = ENGLISH_STOP_WORDS | frozenset(
    (
        *("um", "uh", "er", "erm", "ah", "oh", "hmm", "mm", "yeah", "yep", "yes", "nope"),
        *("ok", "okay", "right", "sure", "cheers", "thanks", "thank", "bye", "goodbye"),
        *("great", "fine", "alright", "lovely", "brilliant", "perfect", "worries", "think"),
        *("s", "t", "ll", "ve", "re", "d", "m"),
    )
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_IDENTITY = re.compile(
    r"\b(card|account)\s+(ending|ends|number)\b|\bend(s|ing)\b[^.?!\d]{0,12}\d"
    r"|\blast\s+(four|4)\b"
    # redaction placeholders: a name, card, phone or digits said for identification
    r"|\[(?:NAME|DIGITS|CARD|PHONE|EMAIL)\]",
    re.I,
)
_MONEY = r"(?:pounds?|quid|dollars?|euros?|gbp|usd|eur|pence|cents?|%|percent)"
_SPOKEN_DIGIT = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_SPOKEN_DIGITS = re.compile(rf"\b{_SPOKEN_DIGIT}(?:[\s,-]+{_SPOKEN_DIGIT}){{3,}}\b", re.I)


@dataclass(frozen=True)
class ReasonOptions:
    """min_content_words: words besides fillers and stop words an utterance needs (1);
    min_digits: a run of this many digits (spaces allowed) marks an identity check (4);
    scaffold_similarity: cosine to a scaffolding prototype at or above which an utterance is
    scaffolding (0.6; all-MiniLM-L6-v2 puts paraphrases of a prototype above 0.6 and
    customers' reasons below 0.45)."""

    min_content_words: int = 1
    min_digits: int = 4
    scaffold_similarity: float = 0.6


def _content_words(text: str) -> int:
    return sum(1 for w in _WORD.findall(text.lower()) if w not in _FILLERS and not w.isdigit())


class ReasonSelector:
    """Marks the reason utterances of a call (see the module docstring).

    prototypes: the scaffolding prototypes embedded by the same encoder as the utterances
    (rows L2-normalised); an empty array turns the similarity test off.
    """

    def __init__(self, prototypes: np.ndarray, options: ReasonOptions = ReasonOptions()) -> None:
        self.prototypes = prototypes
        self.options = options
        self._digits = re.compile(
            rf"(?<![£$€\d])(?<!\d[.,])\d(?:[\s-]*\d){{{options.min_digits - 1},}}"
            rf"(?![.,]?\d)(?!\s*{_MONEY})",
            re.I,
        )

    def _identity(self, text: str) -> bool:
        return bool(
            self._digits.search(text) or _IDENTITY.search(text) or _SPOKEN_DIGITS.search(text)
        )

    def _scaffold(self, vectors: np.ndarray) -> np.ndarray:
        if self.prototypes.size == 0 or vectors.size == 0:
            return np.zeros(len(vectors), dtype=bool)
        best = (vectors @ self.prototypes.T).max(axis=1)
        return np.asarray(best >= self.options.scaffold_similarity)

    @staticmethod
    def speaking(utterances: Sequence[Utterance]) -> tuple[bool, ...]:
        """Per utterance: is it the customer's (any speaker not known to be the agent, in a
        call where nobody has the customer role)?"""
        has_customer = any(u.role == Role.CUSTOMER for u in utterances)
        return tuple(
            u.role == Role.CUSTOMER if has_customer else u.role != Role.AGENT for u in utterances
        )

    def candidates(self, utterances: Sequence[Utterance]) -> tuple[bool, ...]:
        """Per utterance: could it state a reason at all (the customer's, with content)?"""
        return tuple(
            s and _content_words(u.text) >= self.options.min_content_words
            for s, u in zip(self.speaking(utterances), utterances, strict=True)
        )

    def select(
        self, utterances: Sequence[Utterance], embeddings: UtteranceEmbeddings | None
    ) -> tuple[bool, ...]:
        """One flag per utterance: does it state why the customer called?"""
        speaking = self.speaking(utterances)
        wordy = [_content_words(u.text) >= self.options.min_content_words for u in utterances]
        vectors = embeddings.vectors if embeddings is not None else np.zeros((0, 0))
        scaffold = (
            self._scaffold(vectors)
            if len(vectors) == len(utterances)
            else np.zeros(len(utterances), dtype=bool)
        )
        candidate = [
            speaking[i] and wordy[i] and not self._identity(u.text)
            for i, u in enumerate(utterances)
        ]
        flags = [candidate[i] and not bool(scaffold[i]) for i in range(len(utterances))]
        if not any(flags):
            fallback = [i for i in range(len(utterances)) if candidate[i]]
            if fallback:
                longest = max(fallback, key=lambda i: len(utterances[i].text))
                flags[longest] = True
        return tuple(flags)
