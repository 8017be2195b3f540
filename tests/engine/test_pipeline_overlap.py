"""Mono diarisation runs beside transcription; failures never leave it running."""

import threading
import time

import numpy as np
import pytest

from engine.config import ChannelMap
from engine.pipeline import CallPipeline
from engine.stages.attribute import Attributor
from engine.stages.channel_diarise import ChannelDiariser
from engine.stages.roles import PhraseRoleAssigner
from engine.types import AudioInfo, DecodedAudio, Diarisation, SpeakerTurn, Transcript, Word


class FakeDecoder:
    def __call__(self, path):
        info = AudioInfo(str(path), "wav", "pcm_s16le", 16000, 1, 2.0, 64000)
        return DecodedAudio(info, np.full((1, 32000), 0.1, np.float32), 16000)


class SlowDiariser:
    def __init__(self):
        self.finished = threading.Event()
        self.thread = ""

    def __call__(self, samples, uri="call"):
        self.thread = threading.current_thread().name
        time.sleep(0.2)
        self.finished.set()
        turns = (SpeakerTurn("S0", 0.0, 1.0), SpeakerTurn("S1", 1.0, 2.0))
        return Diarisation(turns, "fake", ("S0", "S1"))


class FakeTranscriber:
    def __init__(self, fail=False):
        self.fail = fail

    def __call__(self, samples, channel=0, vad=None):
        if self.fail:
            raise RuntimeError("decoder exploded")
        words = (
            Word(" Hello, how can I help?", 0.1, 0.9),
            Word(" My card was charged twice", 1.1, 1.9),
        )
        return Transcript(words, "en", 0.99, 2.0, channel)

    def channels(self, channels):
        return tuple(self(c, channel=i, vad=True) for i, c in enumerate(channels))


def make(transcriber, diariser, overlap=True):
    return CallPipeline(
        FakeDecoder(),
        transcriber,
        diariser,
        ChannelDiariser(),
        Attributor(),
        PhraseRoleAssigner(),
        ChannelMap(),
        overlap_diarisation=overlap,
    )


@pytest.mark.parametrize("overlap", [True, False])
def test_mono_call_with_and_without_overlap(overlap):
    diariser = SlowDiariser()
    with make(FakeTranscriber(), diariser, overlap) as pipeline:
        call = pipeline("x.wav")
    assert [u.speaker for u in call.utterances] == ["S0", "S1"]
    assert diariser.thread.startswith("callscope-diarise") == overlap


def test_transcription_failure_waits_for_diarisation_and_raises():
    diariser = SlowDiariser()
    with (
        make(FakeTranscriber(fail=True), diariser) as pipeline,
        pytest.raises(RuntimeError, match="exploded"),
    ):
        pipeline("x.wav")
    assert diariser.finished.is_set()
