from __future__ import annotations

import dataclasses

import pytest

from engine.analytics.emotion import SpikeDetector, SpikeOptions
from engine.errors import ConfigError
from engine.stages.sentiment import NoSentiment, VaderSentiment
from engine.types import Prosody, Role, Utterance, UtteranceSignals

ANGRY_TEXT = "I've wasted my whole morning on this, I'm so angry!"


@dataclasses.dataclass
class Turn:
    """One utterance with its measurements (rate 0 = not measured, pitch None = unvoiced)."""

    speaker: str
    start: float
    end: float
    energy: float
    pitch: float | None = 5.0
    rate: float = 4.0
    text: str = "Can you tell me what happened to my payment?"
    sentiment: float | None = None  # None: VADER's score of the text


ROLES = {"A": Role.AGENT, "B": Role.CUSTOMER, "C": Role.CUSTOMER}


def build(turns: list[Turn]) -> tuple[tuple[Utterance, ...], tuple[UtteranceSignals, ...]]:
    vader = VaderSentiment()
    utts = tuple(Utterance(t.speaker, ROLES[t.speaker], t.start, t.end, t.text) for t in turns)
    signals = tuple(
        UtteranceSignals(
            index=i,
            sentiment=vader.score([t.text])[0] if t.sentiment is None else t.sentiment,
            prosody=Prosody(pitch=t.pitch, energy_db=t.energy, rate=t.rate),
        )
        for i, t in enumerate(turns)
    )
    return utts, signals


def calm_call() -> list[Turn]:
    """Agent (loud line, low voice) and customer alternate; every turn is calm."""
    return [
        Turn("A", 0.0, 2.0, -20.0, 0.0, 5.0, "Good morning, you're through to Grace."),
        Turn("B", 2.2, 6.0, -30.0, 5.0, 4.0),
        Turn("A", 6.2, 8.5, -20.4, 0.5, 5.2, "Okay. Can I take your name and card ending?"),
        Turn("B", 8.8, 11.5, -30.6, 5.8, 3.7, "Sure, Richard Bennett. It ends 2 5 0 1."),
        Turn("A", 11.7, 14.0, -19.5, -0.4, 4.9, "Thanks. I've logged that for you."),
        Turn("B", 14.2, 17.0, -29.5, 4.4, 4.3, "Also, my top-up was declined."),
        Turn("A", 17.2, 19.0, -20.1, 0.9, 5.1, "I'll look into it. Anything else?"),
        Turn("B", 19.2, 20.6, -30.2, 6.5, 4.5, "No, that's all, thank you."),
    ]


def test_a_raised_voice_with_negative_words_is_one_spike_with_its_evidence() -> None:
    turns = calm_call()
    turns[3] = Turn("B", 8.8, 12.4, -24.0, 8.0, 4.6, ANGRY_TEXT)  # +6 dB, +3 st, x1.15 rate
    utts, signals = build(turns)

    (spike,) = SpikeDetector().detect(utts, signals)

    assert (spike.start, spike.end) == (8.8, 12.4)
    assert spike.role is Role.CUSTOMER and spike.speaker == "B"
    assert spike.utterances == (3,)
    # baseline = median of the customer's other turns: -30.0 dB, 5.0 st, 4.3 syllables/s
    assert spike.energy_delta_db == pytest.approx(6.0)
    assert spike.pitch_delta == pytest.approx(3.0)
    assert spike.rate_ratio == pytest.approx(4.6 / 4.3, abs=1e-3)
    assert spike.sentiment < -0.5
    assert set(spike.words) == {"wasted", "angry"}
    assert spike.score >= SpikeOptions().threshold


def test_a_calm_call_has_no_spike() -> None:
    utts, signals = build(calm_call())
    assert SpikeDetector().detect(utts, signals) == ()
    assert max(s.score for s in SpikeDetector().score(utts, signals)) < 1.5


def test_adjacent_spike_utterances_of_a_speaker_merge() -> None:
    turns = [
        *calm_call()[:6],
        Turn("B", 17.2, 19.0, -24.0, 8.5, 4.8, "This is ridiculous!"),
        Turn("B", 19.5, 22.0, -23.5, 8.0, 4.7, ANGRY_TEXT),
        Turn("A", 22.3, 24.0, -20.0, 0.0, 5.0, "I understand."),
        Turn("B", 24.5, 27.0, -30.0, 5.2, 4.0, "Okay, thanks."),
    ]
    utts, signals = build(turns)

    (spike,) = SpikeDetector().detect(utts, signals)

    assert (spike.start, spike.end) == (17.2, 22.0)
    assert spike.utterances == (6, 7)
    assert spike.words == ("ridiculous", "wasted", "angry")
    scores = {s.index: s.score for s in SpikeDetector().score(utts, signals)}
    assert spike.score == pytest.approx(max(scores[6], scores[7]), abs=1e-3)

    apart = SpikeDetector(SpikeOptions(merge_gap_s=0.3)).detect(utts, signals)
    assert [s.utterances for s in apart] == [(6,), (7,)]


def energy_only(test_energy: float, sentiment: float = 0.0) -> list[Turn]:
    """A customer with three identical calm turns (energy only) and one test turn."""
    return [
        Turn("B", 0.0, 2.0, -30.0, None, 0.0, sentiment=0.0),
        Turn("B", 3.0, 5.0, -30.0, None, 0.0, sentiment=0.0),
        Turn("B", 6.0, 8.0, -30.0, None, 0.0, sentiment=0.0),
        Turn("B", 9.0, 11.0, test_energy, None, 0.0, sentiment=sentiment),
    ]


def test_the_threshold_is_inclusive() -> None:
    options = SpikeOptions()
    # energy alone: z = delta / energy_floor_db, arousal = z, score = arousal
    at = -30.0 + options.threshold * options.energy_floor_db
    (spike,) = SpikeDetector(options, NoSentiment()).detect(*build(energy_only(at)))
    assert spike.score == pytest.approx(options.threshold)
    assert SpikeDetector(options, NoSentiment()).detect(*build(energy_only(at - 0.05))) == ()


def test_negative_words_lower_the_arousal_needed_but_never_suffice() -> None:
    detector = SpikeDetector(lexicon=NoSentiment())
    plus_2_5_db = -27.5  # arousal 2.0: below the threshold on its own
    assert detector.detect(*build(energy_only(plus_2_5_db, sentiment=0.0))) == ()
    assert detector.detect(*build(energy_only(plus_2_5_db, sentiment=0.9))) == ()
    assert len(detector.detect(*build(energy_only(plus_2_5_db, sentiment=-0.8)))) == 1
    # min_arousal: the angriest words with a barely raised voice are no spike
    assert detector.detect(*build(energy_only(-29.0, sentiment=-1.0))) == ()
    # positive words never veto a raised voice
    assert len(detector.detect(*build(energy_only(-24.0, sentiment=0.9)))) == 1


def test_agent_turns_do_not_form_the_customer_baseline() -> None:
    turns = calm_call()
    turns[5] = Turn("B", 14.2, 17.0, -24.2, 5.8, 4.0)  # +6 dB on the customer's own level
    utts, signals = build(turns)
    (spike,) = SpikeDetector().detect(utts, signals)
    assert spike.utterances == (5,) and spike.role is Role.CUSTOMER
    assert spike.energy_delta_db == pytest.approx(6.0)  # vs -30.2 dB, not the agent's -20 dB


def test_a_speaker_with_one_utterance_is_judged_on_strongly_negative_text_only() -> None:
    angry = Turn("C", 0.0, 3.0, -10.0, 9.0, 6.0, ANGRY_TEXT, sentiment=-0.8)
    mild = Turn("C", 0.0, 3.0, -10.0, 9.0, 6.0, "My card was stolen.", sentiment=-0.5)

    (spike,) = SpikeDetector().detect(*build([angry]))
    assert spike.score == pytest.approx(2.5 * 0.8 / 0.7, abs=1e-3)
    assert (spike.energy_delta_db, spike.pitch_delta, spike.rate_ratio) == (0.0, 0.0, 1.0)
    (scored,) = SpikeDetector().score(*build([angry]))
    assert scored.arousal is None and scored.spike

    assert SpikeDetector().detect(*build([mild])) == ()
    off = SpikeDetector(SpikeOptions(text_only_sentiment=None))
    assert off.detect(*build([angry])) == ()


def test_short_utterances_stay_out_of_the_baseline() -> None:
    turns = [
        Turn("B", 0.0, 2.0, -30.0),
        Turn("B", 3.0, 3.6, -40.0, text="Yes."),  # a quiet back-channel
        Turn("B", 4.0, 6.0, -27.5),
    ]
    utts, signals = build(turns)
    scores = SpikeDetector(lexicon=NoSentiment()).score(utts, signals)
    assert scores[2].energy_delta_db == pytest.approx(2.5)  # against -30 dB only
    assert scores[1].arousal is None and not scores[1].spike
    assert SpikeDetector(lexicon=NoSentiment()).detect(utts, signals) == ()
    # counted, the quiet "yes" would pull the baseline down and make +2.5 dB look like +7.5
    loose = SpikeDetector(SpikeOptions(min_duration_s=0.0), NoSentiment())
    assert [s.utterances for s in loose.detect(utts, signals)] == [(2,)]


def test_a_short_loud_utterance_is_no_spike() -> None:
    turns = [*calm_call(), Turn("B", 21.0, 21.6, -18.0, 9.0, 6.0, "Okay!")]
    assert SpikeDetector().detect(*build(turns)) == ()


def test_unvoiced_utterance_is_scored_on_the_other_features() -> None:
    turns = calm_call()
    turns[3] = Turn("B", 8.8, 12.4, -24.0, None, 4.6, "Sure. It ends 2 5 0 1.")
    utts, signals = build(turns)
    (spike,) = SpikeDetector().detect(utts, signals)
    assert spike.pitch_delta == 0.0 and spike.energy_delta_db == pytest.approx(6.0)


def test_a_variable_speaker_needs_a_bigger_change() -> None:
    levels = [-36.0, -30.0, -24.0, -33.0, -27.0]  # a speaker whose level wanders by ±6 dB
    turns = [Turn("B", 3.0 * i, 3.0 * i + 2.0, e, None, 0.0) for i, e in enumerate(levels)]
    turns.append(Turn("B", 15.0, 17.0, -25.0, None, 0.0))
    utts, signals = build(turns)
    assert SpikeDetector(lexicon=NoSentiment()).detect(utts, signals) == ()
    floors_only = SpikeDetector(SpikeOptions(min_spread_utterances=99), NoSentiment())
    assert len(floors_only.detect(utts, signals)) >= 1


def test_scores_follow_the_signals_and_bad_indices_fail() -> None:
    utts, signals = build(calm_call())
    subset = (signals[5], signals[1], signals[3])
    assert [s.index for s in SpikeDetector().score(utts, subset)] == [5, 1, 3]
    with pytest.raises(IndexError):
        SpikeDetector().detect(utts[:2], signals)


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        SpikeOptions(energy_weight=0, pitch_weight=0, rate_weight=0)
    with pytest.raises(ConfigError):
        SpikeOptions(energy_floor_db=0)
    with pytest.raises(ConfigError):
        SpikeOptions(text_only_sentiment=0.5)
