"""Reason utterances: the customer's substantive words, not identity checks or scaffolding."""

from __future__ import annotations

import numpy as np

from engine.analytics.reasons import ReasonOptions, ReasonSelector
from engine.types import Role, Utterance, UtteranceEmbeddings


def utt(role: Role, text: str) -> Utterance:
    return Utterance("S1" if role == Role.CUSTOMER else "S0", role, 0, 1, text)


CALL = [
    utt(Role.AGENT, "Thanks for calling, how can I help with your card today?"),
    utt(Role.CUSTOMER, "I was charged twice for the same transaction."),
    utt(Role.AGENT, "Can I take your name and card ending?"),
    utt(Role.CUSTOMER, "Sure, Jane Smith, it ends 4 4 5 3."),
    utt(Role.CUSTOMER, "Richard Bennett. It ends to 501."),
    utt(Role.CUSTOMER, "Jane Smith, five five seven nine."),
    utt(Role.CUSTOMER, "Nope, that's it. Cheers."),
    utt(Role.CUSTOMER, "Okay, thanks, bye."),
    utt(Role.CUSTOMER, "Lovely weather here"),
]


def test_rules_without_embeddings():
    flags = ReasonSelector(np.zeros((0, 0))).select(CALL, None)
    assert flags == (False, True, False, False, False, False, False, False, True)


def test_scaffold_prototypes_remove_close_utterances():
    vectors = np.zeros((len(CALL), 2), dtype=np.float32)
    vectors[:, 0] = 1.0
    vectors[-1] = [0.0, 1.0]  # the last one reads like a prototype
    prototypes = np.array([[0.0, 1.0]], dtype=np.float32)
    flags = ReasonSelector(prototypes).select(CALL, UtteranceEmbeddings("m", vectors))
    assert flags[1] and not flags[-1]


def test_a_call_without_a_clear_reason_falls_back_to_the_longest_customer_utterance():
    call = [
        utt(Role.AGENT, "Hello, how can I help?"),
        utt(Role.CUSTOMER, "Card question"),
        utt(Role.CUSTOMER, "Question about my card payment abroad"),
        utt(Role.CUSTOMER, "It ends 1 2 3 4 and my name is Jane Smith Jones"),
    ]
    prototypes = np.array([[1.0, 0.0]], dtype=np.float32)
    vectors = np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (4, 1))
    flags = ReasonSelector(prototypes).select(call, UtteranceEmbeddings("m", vectors))
    assert flags == (False, False, True, False)


def test_without_a_customer_any_non_agent_speaker_counts():
    call = [
        utt(Role.AGENT, "How can I help?"),
        Utterance("S1", Role.UNKNOWN, 1, 2, "My transfer is still pending"),
    ]
    assert ReasonSelector(np.zeros((0, 0))).select(call, None) == (False, True)
    strict = ReasonSelector(np.zeros((0, 0)), ReasonOptions(min_content_words=4))
    assert strict.select(call, None) == (False, False)
