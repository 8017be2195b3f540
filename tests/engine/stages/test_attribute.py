from __future__ import annotations

import logging
import random
import time

import pytest

from engine.errors import ConfigError
from engine.stages.attribute import UNATTRIBUTED, AttributeOptions, Attributor, utterance_text
from engine.types import Diarisation, Role, SpeakerTurn, Utterance, Word

ROLES = {"A": Role.AGENT, "B": Role.CUSTOMER}


def dia(*turns: tuple[str, float, float], method: str = "pyannote") -> Diarisation:
    return Diarisation(turns=tuple(SpeakerTurn(s, a, b) for s, a, b in turns), method=method)


def w(text: str, start: float, end: float, channel: int = 0) -> Word:
    """A word as Whisper gives it: a leading space marks the word boundary."""
    if text and not text[0].isspace():
        text = " " + text
    return Word(text=text, start=start, end=end, channel=channel)


def speakers_of(utts: tuple[Utterance, ...]) -> dict[str, str]:
    return {word.text.strip(): u.speaker for u in utts for word in u.words}


def test_word_goes_to_turn_with_most_overlap() -> None:
    d = dia(("A", 0.0, 2.0), ("B", 2.0, 4.0))
    words = [
        w("hello", 0.1, 0.5),
        w("straddle", 1.8, 2.5),
        w("other", 1.6, 2.1),
        w("yes", 3.0, 3.4),
    ]
    utts = Attributor()(words, d, ROLES)
    assert speakers_of(utts) == {"hello": "A", "straddle": "B", "other": "A", "yes": "B"}
    assert [(u.speaker, u.role, u.text) for u in utts] == [
        ("A", Role.AGENT, "hello other"),
        ("B", Role.CUSTOMER, "straddle yes"),
    ]
    assert utts[0].start == 0.1 and utts[0].end == 2.1
    assert utts[1].start == 1.8 and utts[1].end == 3.4


def test_word_in_gap_goes_to_nearest_turn_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    d = dia(("A", 0.0, 1.0), ("B", 2.0, 3.0))
    words = [w("near_a", 1.1, 1.3), w("near_b", 1.7, 1.9)]
    with caplog.at_level(logging.WARNING):
        utts = Attributor()(words, d, ROLES)
    assert speakers_of(utts) == {"near_a": "A", "near_b": "B"}
    assert not caplog.records


def test_far_word_is_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    d = dia(("A", 0.0, 1.0), ("B", 2.0, 3.0))
    words = [w("hi", 0.2, 0.5), w("lost", 10.0, 10.4)]
    with caplog.at_level(logging.WARNING):
        utts = Attributor(AttributeOptions(max_gap_s=1.0))(words, d, ROLES)
    assert speakers_of(utts) == {"hi": "A", "lost": "B"}
    assert sum(len(u.words) for u in utts) == 2
    assert any("1 of 2 words" in r.getMessage() for r in caplog.records)


def test_overlapping_turns_keep_overlapping_utterances() -> None:
    # B says "yeah right" inside A's long turn: both utterances survive and overlap in time.
    d = dia(("A", 0.0, 6.0), ("B", 2.0, 3.0))
    words = [
        w("so", 0.5, 0.8),
        w("the", 1.0, 1.2),
        w("yeah", 2.1, 2.4),  # inside both turns: the shorter (B's) turn wins the tie
        w("right", 2.5, 2.9),
        w("bill", 2.2, 2.6),  # overlaps B's words; still inside both -> B by the tie-break
        w("arrived", 3.1, 3.6),  # only A
    ]
    utts = Attributor()(words, d, ROLES)
    by = speakers_of(utts)
    assert by["so"] == by["the"] == by["arrived"] == "A"
    assert by["yeah"] == by["right"] == "B"
    a = next(u for u in utts if u.speaker == "A")
    b = next(u for u in utts if u.speaker == "B")
    assert a.start < b.start < b.end < a.end  # overlap kept
    assert [u.start for u in utts] == sorted(u.start for u in utts)


def test_partial_overlap_with_two_speakers_prefers_larger_share() -> None:
    d = dia(("A", 0.0, 2.3), ("B", 2.0, 5.0))
    # in both turns 2.0-2.3 but more of it (2.0-2.6) lies in B only
    utts = Attributor()([w("x", 2.0, 2.6)], d, ROLES)
    assert speakers_of(utts) == {"x": "B"}


def test_nested_turns_of_one_speaker_are_all_searched() -> None:
    # A's own turns overlap (bad diariser output): a long one and a nested short one.
    d = dia(("A", 0.0, 10.0), ("A", 4.0, 5.0), ("B", 10.0, 12.0))
    words = [w("early", 1.0, 1.2), w("nested", 4.2, 4.4), w("late", 9.0, 9.2), w("b", 10.5, 11)]
    utts = Attributor(AttributeOptions(max_pause_s=None))(words, d, ROLES)
    assert speakers_of(utts) == {"early": "A", "nested": "A", "late": "A", "b": "B"}
    # the nested word goes to the short nested turn, so it forms its own utterance
    assert [u.text for u in utts] == ["early late", "nested", "b"]


def test_utterances_are_split_per_turn_and_by_pause_and_length() -> None:
    d = dia(("A", 0.0, 3.0), ("A", 3.0, 20.0))
    words = [
        w("one", 0.1, 0.4),
        w("two", 3.1, 3.4),  # next turn of the same speaker -> new utterance
        w("three", 3.5, 3.8),
        w("four", 8.0, 8.3),  # 4.2 s pause > 2.0 -> new utterance
        w("five", 8.4, 8.7),
    ]
    utts = Attributor()(words, d, ROLES)
    assert [u.text for u in utts] == ["one", "two three", "four five"]
    no_pause = Attributor(AttributeOptions(max_pause_s=None))(words, d, ROLES)
    assert [u.text for u in no_pause] == ["one", "two three four five"]
    short = Attributor(AttributeOptions(max_pause_s=None, max_utterance_s=1.0))(words, d, ROLES)
    assert [u.text for u in short] == ["one", "two three", "four five"]


def test_text_without_word_spaces_is_joined_as_given() -> None:
    chinese = [Word("甚", 0, 0.1), Word("至", 0.1, 0.2), Word("出现", 0.2, 0.4)]
    assert utterance_text(chinese) == "甚至出现"


def test_text_is_stripped_and_single_spaced() -> None:
    words = [w(" Hello,", 0, 0.2), w("  my ", 0.2, 0.4), w("", 0.4, 0.4), w(" name\n", 0.4, 0.6)]
    assert utterance_text(words) == "Hello, my name"
    utts = Attributor()(words, dia(("A", 0.0, 1.0)), ROLES)
    assert utts[0].text == "Hello, my name"
    assert len(utts[0].words) == 4  # the empty word is kept, not dropped


def test_unsorted_input_and_zero_length_word() -> None:
    d = dia(("A", 0.0, 1.0), ("B", 1.0, 2.0))
    words = [w("b2", 1.6, 1.8), w("a1", 0.1, 0.3), w("point", 1.5, 1.5), w("b1", 1.2, 1.4)]
    utts = Attributor()(words, d, ROLES)
    assert [u.text for u in utts] == ["a1", "b1 point b2"]


def test_channel_restriction_overrides_time() -> None:
    # stereo: turns per channel, speakers named by role; the agent's word lies in the
    # customer's turn by time but came from the agent's channel.
    d = dia(("agent", 0.0, 1.0), ("customer", 1.0, 3.0), method="channel")
    roles = {"agent": Role.AGENT, "customer": Role.CUSTOMER}
    words = [
        w("hi", 0.1, 0.4, 0),
        w("mhm", 1.5, 1.8, 0),
        w("my", 1.2, 1.4, 1),
        w("card", 2, 2.5, 1),
    ]
    chans = {0: "agent", 1: "customer"}
    utts = Attributor()(words, d, roles, channel_speakers=chans)
    assert speakers_of(utts) == {
        "hi": "agent",
        "mhm": "agent",
        "my": "customer",
        "card": "customer",
    }
    # without the restriction time alone decides, and "mhm" goes to the customer
    assert speakers_of(Attributor()(words, d, roles))["mhm"] == "customer"


def test_channel_speaker_without_turns_keeps_its_words(caplog: pytest.LogCaptureFixture) -> None:
    d = dia(("agent", 0.0, 2.0), method="channel")
    words = [w("hello", 0.2, 0.5, 0), w("hi", 0.6, 0.8, 1)]
    roles = {"agent": Role.AGENT, "customer": Role.CUSTOMER}
    utts = Attributor()(words, d, roles, channel_speakers={0: "agent", 1: "customer"})
    assert [(u.speaker, u.role, u.text) for u in utts] == [
        ("agent", Role.AGENT, "hello"),
        ("customer", Role.CUSTOMER, "hi"),
    ]


def test_channel_diarisation_without_map_warns(caplog: pytest.LogCaptureFixture) -> None:
    d = dia(("agent", 0.0, 1.0), ("customer", 1.0, 2.0), method="channel")
    with caplog.at_level(logging.WARNING):
        Attributor()([w("a", 0.1, 0.2, 0), w("b", 1.1, 1.2, 1)], d, {})
    assert any("channel_speakers" in r.getMessage() for r in caplog.records)


def test_no_turns_keeps_words() -> None:
    words = [w("a", 0.0, 0.2), w("b", 0.3, 0.5)]
    utts = Attributor()(words, dia(), {})
    assert [(u.speaker, u.role, u.text) for u in utts] == [(UNATTRIBUTED, Role.UNKNOWN, "a b")]
    single = Diarisation(turns=(), method="none", speakers=("S0",))
    assert Attributor()(words, single, {"S0": Role.AGENT})[0].speaker == "S0"


def test_empty_words() -> None:
    assert Attributor()([], dia(("A", 0.0, 1.0)), ROLES) == ()


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        AttributeOptions(max_gap_s=-1)
    with pytest.raises(ConfigError):
        AttributeOptions(max_pause_s=0)
    with pytest.raises(ConfigError):
        AttributeOptions(max_utterance_s=-5)


def _brute_force(words: list[Word], turns: list[SpeakerTurn]) -> list[str]:
    """Reference: all pairs, most overlap, then least gap, then shortest turn, then earliest."""
    out = []
    for word in words:
        best = min(
            turns,
            key=lambda t: (
                -max(0.0, round(min(t.end, word.end) - max(t.start, word.start), 9)),
                round(max(0.0, t.start - word.end, word.start - t.end), 9),
                t.duration,
                t.start,
                t.speaker,
            ),
        )
        out.append(best.speaker)
    return out


def test_matches_brute_force_on_random_overlapping_turns() -> None:
    rng = random.Random(7)
    for _ in range(30):
        turns = []
        for spk in ("A", "B", "C"):
            t = rng.uniform(0, 3)
            for _ in range(rng.randint(0, 12)):
                start = t + rng.uniform(-0.5, 2.0)  # may overlap the speaker's own previous turn
                end = start + rng.uniform(0.0, 4.0)
                turns.append(SpeakerTurn(spk, max(0.0, start), end))
                t = end
        words = []
        for i in range(200):
            s = rng.uniform(0, 40)
            words.append(Word(f"w{i}", s, s + rng.choice([0.0, rng.uniform(0.05, 0.8)])))
        utts = Attributor(AttributeOptions(max_pause_s=None, max_utterance_s=None))(
            words, Diarisation(tuple(turns), "pyannote"), {}
        )
        got = speakers_of(utts)
        if not turns:
            assert set(got.values()) <= {UNATTRIBUTED}
            continue
        expected = dict(zip((x.text for x in words), _brute_force(words, turns), strict=True))
        assert got == expected
        assert sum(len(u.words) for u in utts) == len(words)


def test_100k_words_10k_turns_is_fast() -> None:
    rng = random.Random(1)
    turns = []
    t = 0.0
    for i in range(10_000):
        dur = rng.uniform(1.0, 5.0)
        # alternate speakers, with some overlap into the previous turn
        turns.append(SpeakerTurn("A" if i % 2 == 0 else "B", max(0.0, t - 0.3), t + dur))
        t += dur + rng.uniform(0.0, 0.5)
    words = []
    for i in range(100_000):
        s = rng.uniform(0, t)
        words.append(Word(f"w{i}", s, s + 0.3))
    began = time.perf_counter()
    utts = Attributor()(words, Diarisation(tuple(turns), "pyannote"), ROLES)
    elapsed = time.perf_counter() - began
    assert sum(len(u.words) for u in utts) == 100_000
    assert elapsed < 10.0, f"attribution took {elapsed:.1f} s"
