from __future__ import annotations

import pytest

from engine.config import ChannelMap
from engine.errors import ConfigError
from engine.stages.roles import (
    ChannelRoleAssigner,
    PhraseRoleAssigner,
    RoleOptions,
    speech_seconds,
)
from engine.types import Diarisation, Role, Speaker, SpeakerTurn, Word


def script(lines: list[tuple[str, float, float, str]]) -> tuple[Diarisation, list[Word]]:
    """Turns and evenly spaced words from (speaker, start, end, text) lines."""
    turns = []
    words = []
    for speaker, start, end, text in lines:
        turns.append(SpeakerTurn(speaker, start, end))
        tokens = text.split()
        step = (end - start) / len(tokens)
        for i, tok in enumerate(tokens):
            words.append(Word(" " + tok, start + i * step, start + (i + 1) * step - 0.01))
    return Diarisation(tuple(turns), "pyannote"), words


AGENT_FIRST = [
    ("SPEAKER_00", 0.0, 4.0, "Good morning, thank you for calling Acme, Sarah speaking."),
    ("SPEAKER_00", 4.0, 5.5, "How can I help?"),
    ("SPEAKER_01", 6.0, 11.0, "Hi, I was charged twice on my card and I want to know why."),
    ("SPEAKER_00", 11.5, 14.0, "I'm sorry to hear that. Can I take your name please?"),
    ("SPEAKER_01", 14.5, 16.0, "It's John Smith."),
    ("SPEAKER_00", 16.5, 19.0, "Thank you. Is there anything else I can help with?"),
    ("SPEAKER_01", 19.5, 20.5, "No, that's all."),
    ("SPEAKER_00", 21.0, 22.5, "Have a good day."),
]


def by_label(speakers: tuple[Speaker, ...]) -> dict[str, Speaker]:
    return {s.label: s for s in speakers}


def test_clear_exchange_agent_speaks_first() -> None:
    d, words = script(AGENT_FIRST)
    got = by_label(PhraseRoleAssigner()(d, words))
    assert got["SPEAKER_00"].role is Role.AGENT
    assert got["SPEAKER_01"].role is Role.CUSTOMER
    assert got["SPEAKER_00"].confidence > 0.95
    assert got["SPEAKER_01"].confidence == got["SPEAKER_00"].confidence  # pairwise rule
    assert all(s.method == "phrases" for s in got.values())
    assert got["SPEAKER_00"].speech_seconds == pytest.approx(4 + 1.5 + 2.5 + 2.5 + 1.5)
    assert got["SPEAKER_01"].speech_seconds == pytest.approx(5 + 1.5 + 1)


def test_clear_exchange_customer_speaks_first() -> None:
    # The customer says "hello?" first (a real turn); the phrases still win over speaking first.
    lines = [
        ("A", 0.0, 1.0, "Hello? Hello?"),
        ("B", 1.5, 5.0, "Hi, you're through to Acme, how may I help?"),
        ("A", 5.5, 9.0, "I'm calling about my bill, I need to cancel my contract."),
        ("B", 9.5, 12.0, "Bear with me, let me just check on your account."),
    ]
    d, words = script(lines)
    got = by_label(PhraseRoleAssigner()(d, words))
    assert got["B"].role is Role.AGENT
    assert got["A"].role is Role.CUSTOMER
    assert got["B"].confidence > 0.9


def test_speaking_first_decides_without_phrases() -> None:
    lines = [("X", 0.0, 2.0, "hello there"), ("Y", 2.5, 4.0, "yes hello")]
    d, words = script(lines)
    got = by_label(PhraseRoleAssigner()(d, words))
    assert got["X"].role is Role.AGENT and got["Y"].role is Role.CUSTOMER
    assert 0.6 < got["X"].confidence < 0.8  # weak evidence, weak confidence
    # a very short first turn (a click) does not count as speaking first
    d2 = Diarisation((SpeakerTurn("Y", 0.0, 0.1), *d.turns), "pyannote")
    got2 = by_label(PhraseRoleAssigner()(d2, words))
    assert got2["X"].role is Role.AGENT


def test_first_speaker_flips_roles_when_texts_are_neutral() -> None:
    lines = [("Y", 0.0, 2.0, "yes hello"), ("X", 2.5, 4.0, "hello there")]
    d, words = script(lines)
    got = by_label(PhraseRoleAssigner()(d, words))
    assert got["Y"].role is Role.AGENT and got["X"].role is Role.CUSTOMER


def test_three_speaker_transfer() -> None:
    lines = [
        ("S1", 0.0, 4.0, "Thank you for calling Acme, my name is Tom, how can I help?"),
        ("S2", 4.5, 9.0, "I need to change my direct debit, I've called twice already."),
        ("S1", 9.5, 12.0, "I'll transfer you to billing, thank you for holding."),
        ("S3", 20.0, 24.0, "Hi, you're through to billing, Jane speaking, how can I help?"),
        ("S2", 24.5, 27.0, "Why was I charged twice on my card?"),
        ("S3", 27.5, 30.0, "Can I take your name? Is there anything else?"),
    ]
    d, words = script(lines)
    got = by_label(PhraseRoleAssigner()(d, words))
    assert got["S1"].role is Role.AGENT
    assert got["S3"].role is Role.AGENT
    assert got["S2"].role is Role.CUSTOMER


def test_three_speakers_third_is_not_an_agent_without_evidence() -> None:
    lines = [
        ("S1", 0.0, 4.0, "Thank you for calling Acme, how can I help?"),
        ("S2", 4.5, 9.0, "I need to change my direct debit."),
        ("S3", 9.5, 11.0, "And my card too, why is it blocked?"),  # e.g. a spouse
    ]
    d, words = script(lines)
    got = by_label(PhraseRoleAssigner()(d, words))
    assert [got[k].role for k in ("S1", "S2", "S3")] == [Role.AGENT, Role.CUSTOMER, Role.CUSTOMER]


def test_agent_phrase_consumes_overlapping_customer_phrase() -> None:
    a = PhraseRoleAssigner()
    d = Diarisation((SpeakerTurn("A", 0, 1),), "pyannote")
    (ev,) = a.evidence(d, {"A": "Can you confirm your postcode?"})
    assert ev.customer_score == 0.0  # "can you" is inside the agent's "can you confirm"
    assert ev.agent_score > 0
    (ev2,) = a.evidence(d, {"A": "Can you help me?"})
    assert ev2.customer_score > 0 and ev2.agent_score == 0.0


def test_phrases_match_whole_words_only() -> None:
    a = PhraseRoleAssigner()
    d = Diarisation((SpeakerTurn("A", 0, 1),), "pyannote")
    (ev,) = a.evidence(d, {"A": "whyever mycard"})
    assert ev.agent_score == ev.customer_score == 0.0


def test_repeated_phrase_is_capped() -> None:
    a = PhraseRoleAssigner(RoleOptions(max_hits_per_phrase=2))
    d = Diarisation((SpeakerTurn("A", 0, 1),), "pyannote")
    (once,) = a.evidence(d, {"A": "my card"})
    (many,) = a.evidence(d, {"A": "my card " * 10})
    assert many.customer_score == 2 * once.customer_score


def test_single_speaker_role_from_evidence() -> None:
    a = PhraseRoleAssigner()
    d = Diarisation((SpeakerTurn("A", 0, 3),), "pyannote")
    (agent,) = a.assign(d, {"A": "Thank you for calling, how can I help?"})
    assert agent.role is Role.AGENT and agent.confidence > 0.8
    (cust,) = a.assign(d, {"A": "Hi, I was charged twice on my card"})
    assert cust.role is Role.CUSTOMER and cust.confidence > 0.8
    (unk,) = a.assign(d, {"A": "hmm okay"})
    assert unk.role is Role.UNKNOWN and unk.confidence == 0.5
    assert unk.speech_seconds == 3.0


def test_no_speakers() -> None:
    assert PhraseRoleAssigner()(Diarisation((), "pyannote"), []) == ()
    assert ChannelRoleAssigner()(Diarisation((), "channel")) == ()


def test_options_validated() -> None:
    with pytest.raises(ConfigError):
        RoleOptions(phrase_scale=0)
    with pytest.raises(ConfigError):
        RoleOptions(second_agent_min_p=0.2)
    with pytest.raises(ConfigError):
        RoleOptions(max_hits_per_phrase=0)


def test_channel_roles_from_map() -> None:
    d = Diarisation(
        (
            SpeakerTurn("agent", 0.0, 2.0),
            SpeakerTurn("customer", 1.5, 4.0),
            SpeakerTurn("agent", 4.0, 5.0),
        ),
        "channel",
    )
    got = by_label(ChannelRoleAssigner(ChannelMap())(d))
    assert got["agent"].role is Role.AGENT and got["customer"].role is Role.CUSTOMER
    assert all(s.confidence == 1.0 and s.method == "channel_map" for s in got.values())
    assert got["agent"].speech_seconds == 3.0 and got["customer"].speech_seconds == 2.5


def test_channel_map_swapped_and_side_labels() -> None:
    swapped = ChannelMap.parse("customer=left,agent=right")
    assigner = ChannelRoleAssigner(swapped)
    assert assigner.channel_speakers() == {0: "customer", 1: "agent"}
    d = Diarisation((SpeakerTurn("left", 0, 1), SpeakerTurn("right", 1, 2)), "channel")
    got = by_label(assigner(d))
    assert got["left"].role is Role.CUSTOMER and got["right"].role is Role.AGENT
    odd = by_label(assigner(Diarisation((SpeakerTurn("SPEAKER_00", 0, 1),), "channel")))
    assert odd["SPEAKER_00"].role is Role.UNKNOWN and odd["SPEAKER_00"].confidence == 0.0


def test_speech_seconds_counts_union() -> None:
    turns = [SpeakerTurn("A", 0, 2), SpeakerTurn("A", 1, 3), SpeakerTurn("B", 0, 10)]
    assert speech_seconds(turns, "A") == 3.0
    assert speech_seconds(turns, "C") == 0.0


def test_second_agent_needs_an_agent_phrase() -> None:
    # X speaks first and, with a heavy first-speaker weight, looks agent-like on that alone;
    # without any agent phrase it must not become the transfer's second agent.
    opts = RoleOptions(first_speaker_weight=1.5, second_agent_min_p=0.6)
    d = Diarisation(
        (SpeakerTurn("X", 0, 1), SpeakerTurn("Y", 1, 5), SpeakerTurn("Z", 5, 8)), "pyannote"
    )
    texts = {
        "X": "hello",
        "Y": "Thank you for calling, how can I help? Thanks for holding. Have a good day.",
        "Z": "I was charged twice on my card",
    }
    ev = {e.label: e for e in PhraseRoleAssigner(opts).evidence(d, texts)}
    assert ev["X"].probability >= 0.6 and ev["X"].agent_score == 0
    assert ev["Y"].logit > ev["X"].logit > ev["Z"].logit
    got = by_label(PhraseRoleAssigner(opts).assign(d, texts))
    assert [got[k].role for k in "XYZ"] == [Role.CUSTOMER, Role.AGENT, Role.CUSTOMER]
