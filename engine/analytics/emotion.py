"""Emotion spikes: moments where a speaker's voice and words turn against their own baseline.

Score
-----
Every utterance with signals is compared with the *same speaker's other utterances in the call*
(leave-one-out, so a spike never raises its own baseline, and agent speech never forms a
customer's baseline). Utterances shorter than ``min_duration_s`` take no part: "thanks, bye"
and back-channels carry intonation rather than arousal, and their medians rest on few frames.

1. For each feature f (energy in dB, pitch in semitones, rate as ln(rate)):
   ``baseline_f`` = median of the speaker's other utterances, ``spread_f`` = the larger of a
   floor and the robust spread of those utterances (1.4826 x MAD, only with at least
   ``min_spread_utterances`` of them: calls give a speaker 2–5 utterances, too few for a
   per-call deviation, so the floors usually decide). ``z_f = (value - baseline_f) / spread_f``,
   clipped to ±``z_clip``. The floors are about one within-speaker standard deviation of calm
   utterances: 1.25 dB, 2 semitones (questions vs statements move the median pitch) and 15 %.
2. ``arousal`` = weighted mean of the available z's (``energy_weight`` 0.6, ``pitch_weight``
   0.2, ``rate_weight`` 0.2: loudness is the steadiest cue of a raised voice, while pitch and
   rate also move with sentence type; a feature missing on either side, e.g. an unvoiced
   utterance, drops out and the weights of the rest are renormalised).
3. ``score = arousal + text_weight x max(0, -sentiment)`` (sentiment: VADER compound in
   [-1, 1]). Positive text never lowers the score: angry complaints are often worded neutrally
   or politely ("can we please just get on with it!"), and VADER reads "this is a joke!" as
   positive.
4. An utterance is a spike when ``score >= threshold`` AND ``arousal >= min_arousal``: words
   alone never make a spike of a speaker with a baseline (VADER reads calm problem reports such
   as "my card was stolen" at -0.5), but negative words lower the arousal needed from
   ``threshold`` (neutral text) towards ``min_arousal`` (compound -1).

The threshold (default 2.5)
---------------------------
Calm utterances of one speaker vary by about ±1.5 dB, ±2.5 semitones and ±30 % rate (95 %
ranges, measured on the truth turns of the labelled archive): even all three at that extreme
at once score 0.6·1.2 + 0.2·1.25 + 0.2·1.9 ≈ 1.35, and a calm but negatively worded report
(compound -0.6) adds 0.6, still short of 2.5. A raised voice clears it: with neutral text it
takes about +5.2 dB alone, or +4.2 dB with +3 semitones and x1.15 rate; with strongly negative
text (-0.8) an arousal of 1.7 (about +3.5 dB) suffices. The archive's angry rendering (+6 dB,
+3 st, x1.15 tempo) scores about 3.4. On its truth turns (138 calls, 21 spikes) calm turns
score at most 1.6 and angry ones at least 2.8, so thresholds from 2.0 to 2.75 all give event
precision and recall of 1.0; 2.5 sits in that range on the side of precision (the pipeline's
utterances are noisier: with turn edges moved at random by up to ±0.3 s precision stays 1.0
and recall 0.95–1.0). See benchmarks/emotion_eval.py.

Speakers without a baseline
---------------------------
An utterance with no comparable utterance of its speaker (a speaker with one utterance, an
utterance too short or without prosody) has no arousal; it is flagged on text alone when its
sentiment is at most ``text_only_sentiment`` (default -0.7: stricter than any calm problem
report of the archive, which reached -0.6), with score ``threshold x sentiment /
text_only_sentiment`` (so it meets the threshold exactly at the cut); None never flags them.

Events
------
Spike utterances of the same speaker less than ``merge_gap_s`` apart merge into one event:
start/end span them, score is the highest, sentiment the lowest, the acoustic deltas are those
of the highest-scoring utterance, words are the union of the negative words in time order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError
from engine.stages.sentiment import SentimentScorer, VaderSentiment
from engine.types import EmotionSpike, Prosody, Utterance, UtteranceSignals

__all__ = ["SpikeDetector", "SpikeOptions", "UtteranceScore"]

_MAD_TO_SD = 1.4826  # MAD x this estimates the standard deviation of a normal sample


@dataclass(frozen=True)
class SpikeOptions:
    """When an utterance is an emotion spike (see the module docstring for the score).

    threshold: least spike score (default 2.5, see the module docstring).
    min_arousal: least acoustic arousal of a spike, whatever the text (default 1.5; with
        text_weight 1.0 the text adds at most 1.0, so this only binds for larger weights).
    text_weight: score added per unit of negative sentiment (default 1.0: compound -0.8
        adds 0.8).
    energy_weight / pitch_weight / rate_weight: arousal weights (default 0.6 / 0.2 / 0.2:
        loudness is the most reliable cue; pitch and rate vary with sentence type).
    energy_floor_db: least energy spread (default 1.25 dB).
    pitch_floor_st: least pitch spread (default 2.0 semitones).
    rate_floor: least rate spread as a ratio (default 0.15, i.e. ±15 %).
    min_spread_utterances: the speaker's other utterances needed before their MAD may widen
        a spread beyond its floor (default 3).
    z_clip: each feature's z is clipped to ±this (default 5.0), so one wild measurement
        (e.g. crosstalk) cannot make a spike alone.
    merge_gap_s: spike utterances of one speaker closer than this merge (default 1.0 s).
    min_duration_s: shorter utterances get no acoustic score and stay out of baselines
        (default 1.0 s): "thanks, bye" and back-channels carry intonation, not arousal, and
        their medians rest on a few frames.
    text_only_sentiment: sentiment at or below which an utterance without an acoustic baseline
        is a spike (default -0.7); None: such utterances are never spikes.
    """

    threshold: float = 2.5
    min_arousal: float = 1.5
    text_weight: float = 1.0
    energy_weight: float = 0.6
    pitch_weight: float = 0.2
    rate_weight: float = 0.2
    energy_floor_db: float = 1.25
    pitch_floor_st: float = 2.0
    rate_floor: float = 0.15
    min_spread_utterances: int = 3
    z_clip: float = 5.0
    merge_gap_s: float = 1.0
    min_duration_s: float = 1.0
    text_only_sentiment: float | None = -0.7

    def __post_init__(self) -> None:
        weights = (self.energy_weight, self.pitch_weight, self.rate_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError(f"arousal weights must be >= 0 with a positive sum, got {weights}")
        if min(self.energy_floor_db, self.pitch_floor_st, self.rate_floor, self.z_clip) <= 0:
            raise ConfigError("spread floors and z_clip must be positive")
        if min(self.text_weight, self.merge_gap_s, self.min_duration_s) < 0:
            raise ConfigError("text_weight, merge_gap_s and min_duration_s must be >= 0")
        if self.min_spread_utterances < 1:
            raise ConfigError(
                f"min_spread_utterances must be >= 1, got {self.min_spread_utterances}"
            )
        if self.text_only_sentiment is not None and not -1 <= self.text_only_sentiment < 0:
            raise ConfigError(
                f"text_only_sentiment must be in [-1, 0) or None, got {self.text_only_sentiment}"
            )


@dataclass(frozen=True, slots=True)
class UtteranceScore:
    """How one utterance scored (the evidence behind a spike, or behind no spike).

    arousal: None when the speaker has no comparable utterance (text-only scoring); deltas are
    against the speaker's leave-one-out baseline (0.0 dB / 0.0 st / ratio 1.0 where unknown).
    """

    index: int
    score: float
    arousal: float | None
    sentiment: float
    energy_delta_db: float
    pitch_delta: float
    rate_ratio: float
    spike: bool


def _features(p: Prosody | None, utt: Utterance, min_duration_s: float) -> tuple[float, ...]:
    """(energy dB, pitch st, ln rate), NaN where not measured or the utterance is too short."""
    if p is None or utt.end - utt.start < min_duration_s:
        return math.nan, math.nan, math.nan
    rate = math.log(p.rate) if p.rate > 0 else math.nan
    return p.energy_db, math.nan if p.pitch is None else p.pitch, rate


class SpikeDetector:
    """Finds emotion spikes in one call from its utterances and their signals.

    lexicon: names the negative words of a spike's evidence (default VADER; the sentiment
    itself comes with the signals).
    """

    def __init__(
        self, options: SpikeOptions | None = None, lexicon: SentimentScorer | None = None
    ) -> None:
        self.options = options or SpikeOptions()
        self._lexicon: SentimentScorer = lexicon if lexicon is not None else VaderSentiment()

    def detect(
        self, utterances: Sequence[Utterance], signals: Sequence[UtteranceSignals]
    ) -> tuple[EmotionSpike, ...]:
        """The call's spike events, sorted by start (``signals[k].index`` indexes utterances;
        utterances without signals are neither scored nor part of any baseline)."""
        spikes = [s for s in self.score(utterances, signals) if s.spike]
        return self._merge(utterances, spikes)

    def score(
        self, utterances: Sequence[Utterance], signals: Sequence[UtteranceSignals]
    ) -> tuple[UtteranceScore, ...]:
        """Every signalled utterance's score, in the order of ``signals``."""
        by_speaker: dict[str, list[int]] = defaultdict(list)
        for k, sig in enumerate(signals):
            if not 0 <= sig.index < len(utterances):
                raise IndexError(f"signal index {sig.index} outside {len(utterances)} utterances")
            by_speaker[utterances[sig.index].speaker].append(k)
        out: list[UtteranceScore | None] = [None] * len(signals)
        for ks in by_speaker.values():
            sigs = [signals[k] for k in ks]
            for k, scored in zip(ks, self._speaker_scores(utterances, sigs), strict=True):
                out[k] = scored
        return tuple(s for s in out if s is not None)

    # ----------------------------------------------------------------------------------

    def _speaker_scores(
        self, utterances: Sequence[Utterance], sigs: Sequence[UtteranceSignals]
    ) -> list[UtteranceScore]:
        o = self.options
        feats = np.array(
            [_features(s.prosody, utterances[s.index], o.min_duration_s) for s in sigs],
            dtype=float,
        ).reshape(len(sigs), 3)
        floors = np.array([o.energy_floor_db, o.pitch_floor_st, math.log1p(o.rate_floor)])
        weights = np.array([o.energy_weight, o.pitch_weight, o.rate_weight])
        out: list[UtteranceScore] = []
        for i, sig in enumerate(sigs):
            deltas = np.full(3, np.nan)
            z = np.full(3, np.nan)
            for f in range(3):
                others = np.delete(feats[:, f], i)
                others = others[~np.isnan(others)]
                if np.isnan(feats[i, f]) or len(others) == 0:
                    continue
                base = float(np.median(others))
                spread = floors[f]
                if len(others) >= o.min_spread_utterances:
                    mad = float(np.median(np.abs(others - base)))
                    spread = max(spread, _MAD_TO_SD * mad)
                deltas[f] = feats[i, f] - base
                z[f] = np.clip(deltas[f] / spread, -o.z_clip, o.z_clip)
            known = ~np.isnan(z) & (weights > 0)
            arousal: float | None = None
            if known.any():
                arousal = float(np.sum(z[known] * weights[known]) / np.sum(weights[known]))
                score = arousal + o.text_weight * max(0.0, -sig.sentiment)
                spike = score >= o.threshold and arousal >= o.min_arousal
            elif o.text_only_sentiment is not None:
                score = o.threshold * sig.sentiment / o.text_only_sentiment
                spike = sig.sentiment <= o.text_only_sentiment
            else:
                score, spike = 0.0, False
            out.append(
                UtteranceScore(
                    index=sig.index,
                    score=round(score, 4),
                    arousal=None if arousal is None else round(arousal, 4),
                    sentiment=sig.sentiment,
                    energy_delta_db=0.0 if np.isnan(deltas[0]) else round(float(deltas[0]), 3),
                    pitch_delta=0.0 if np.isnan(deltas[1]) else round(float(deltas[1]), 3),
                    rate_ratio=1.0 if np.isnan(deltas[2]) else round(math.exp(deltas[2]), 4),
                    spike=bool(spike),
                )
            )
        return out

    def _merge(
        self, utterances: Sequence[Utterance], spikes: list[UtteranceScore]
    ) -> tuple[EmotionSpike, ...]:
        groups: list[list[UtteranceScore]] = []
        open_group: dict[str, tuple[list[UtteranceScore], float]] = {}  # speaker -> group, end
        for s in sorted(spikes, key=lambda s: (utterances[s.index].start, s.index)):
            utt = utterances[s.index]
            found = open_group.get(utt.speaker)
            if found is not None and utt.start - found[1] < self.options.merge_gap_s:
                group = found[0]
                group.append(s)
                open_group[utt.speaker] = (group, max(found[1], utt.end))
            else:
                group = [s]
                groups.append(group)
                open_group[utt.speaker] = (group, utt.end)
        return tuple(self._event(utterances, g) for g in groups)

    def _event(self, utterances: Sequence[Utterance], group: list[UtteranceScore]) -> EmotionSpike:
        top = max(group, key=lambda s: s.score)
        words: dict[str, None] = {}
        for s in group:
            for w in self._lexicon.negative_words(utterances[s.index].text):
                words.setdefault(w)
        return EmotionSpike(
            start=min(utterances[s.index].start for s in group),
            end=max(utterances[s.index].end for s in group),
            speaker=utterances[top.index].speaker,
            role=utterances[top.index].role,
            score=round(top.score, 3),
            sentiment=round(min(s.sentiment for s in group), 4),
            energy_delta_db=round(top.energy_delta_db, 2),
            pitch_delta=round(top.pitch_delta, 2),
            rate_ratio=round(top.rate_ratio, 3),
            utterances=tuple(s.index for s in group),
            words=tuple(words),
        )
