"""Re-splitting a mono call that diarisation heard as one speaker."""

from __future__ import annotations

import numpy as np
import pytest

from engine.sample import speak
from engine.stages.resegment import PauseResegmenter, ResegmentOptions, speech_regions
from engine.types import Diarisation, SpeakerTurn

SR = 16000


def bursts(spans: list[tuple[float, float]], total: float) -> np.ndarray:
    x = np.random.default_rng(0).normal(0, 1e-4, int(total * SR)).astype(np.float32)
    for s, e in spans:
        t = np.arange(int(s * SR), int(e * SR))
        x[t] += 0.3 * np.sin(2 * np.pi * 220 * t / SR).astype(np.float32)
    return x


def test_speech_regions_are_cut_at_pauses_only():
    x = bursts([(0.5, 1.5), (1.55, 2.0), (2.4, 3.0)], 3.5)
    regions = speech_regions(x, SR, range_db=30, pause_s=0.12)
    assert len(regions) == 2  # the 50 ms gap is bridged, the 400 ms pause is not
    (s1, e1), (s2, e2) = regions
    assert abs(s1 - 0.5) < 0.02 and abs(e1 - 2.0) < 0.02
    assert abs(s2 - 2.4) < 0.02 and abs(e2 - 3.0) < 0.02
    assert speech_regions(np.zeros(0, dtype=np.float32), SR, 30, 0.12) == []


class FakeEmbedding:
    """'Speaker' = the burst's loudness: loud regions embed along one axis, quiet the other."""

    def features(self, samples):
        return samples

    def embed_features(self, batch):
        return np.array([[1.0, 0.1] if float(f.abs().max()) > 0.2 else [0.1, 1.0] for f in batch])


def one_speaker(total: float) -> Diarisation:
    return Diarisation((SpeakerTurn("A", 0.0, total),), "pyannote", ("A",))


def test_a_dominant_speaker_is_split_in_two_at_the_pauses():
    x = bursts([(0.2, 2.0), (2.3, 4.0), (4.3, 6.0)], 6.5)
    x[int(2.3 * SR) : int(4.0 * SR)] *= 0.5  # the middle region is the other "voice"
    out = PauseResegmenter(FakeEmbedding()).__call__(x, one_speaker(6.5))  # type: ignore[arg-type]
    assert out.method == "pyannote+pauses"
    assert [t.speaker for t in out.turns] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]
    assert abs(out.turns[1].start - 2.3) < 0.02 and abs(out.turns[1].end - 4.0) < 0.02


def test_balanced_or_alike_speakers_are_left_alone():
    x = bursts([(0.2, 2.0), (2.3, 4.0), (4.3, 6.0)], 6.5)
    balanced = Diarisation(
        (SpeakerTurn("A", 0.2, 2.0), SpeakerTurn("B", 2.3, 6.0)), "pyannote", ("A", "B")
    )
    resegment = PauseResegmenter(FakeEmbedding())  # type: ignore[arg-type]
    assert resegment(x, balanced) is balanced
    same = one_speaker(6.5)
    assert resegment(x, same) is same  # every region embeds alike: one speaker
    short = PauseResegmenter(FakeEmbedding(), ResegmentOptions(min_group_s=3.0))  # type: ignore[arg-type]
    y = x.copy()
    y[int(2.3 * SR) : int(4.0 * SR)] *= 0.5
    assert short(y, same) is same  # the other voice has too little speech


@pytest.mark.models
def test_two_real_voices_heard_as_one_are_told_apart(espeak):
    from engine.stages.speaker_embedding import CamPlusPlusEmbedding
    from models.device import resolve_device
    from models.loaders import load_speaker_embedding

    lines = [
        ("Thank you for calling, how can I help you today?", "en-us+m3"),
        ("I was charged twice for the same card payment yesterday.", "en+f3"),
        ("I am sorry to hear that, can I take your name please?", "en-us+m3"),
        ("Yes, it is Jane Smith, and I would like a refund please.", "en+f3"),
    ]
    pause = np.zeros(int(0.4 * SR), dtype=np.float32)
    pieces, truth, t = [], [], 0.0
    for text, voice in lines:
        audio = speak(text, voice)
        pieces += [audio, pause]
        truth.append((voice, t, t + len(audio) / SR))
        t += (len(audio) + len(pause)) / SR
    x = np.concatenate(pieces)
    embedding = CamPlusPlusEmbedding(load_speaker_embedding("campplus", resolve_device("cpu")))
    out = PauseResegmenter(embedding)(x, one_speaker(t))
    assert out.method == "pyannote+pauses" and len(out.speakers) == 2
    speaker_of = {}
    for voice, start, end in truth:
        mid = (start + end) / 2
        turn = next(turn for turn in out.turns if turn.start <= mid <= turn.end)
        speaker_of.setdefault(voice, set()).add(turn.speaker)
    assert all(len(s) == 1 for s in speaker_of.values())
    assert speaker_of["en-us+m3"] != speaker_of["en+f3"]
