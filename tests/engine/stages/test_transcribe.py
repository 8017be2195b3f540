from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from engine.config import TranscribeOptions
from engine.stages.transcribe import Transcriber


@dataclass
class W:
    word: str
    start: float
    end: float
    probability: float


@dataclass
class S:
    text: str
    start: float
    end: float
    words: list[W]
    no_speech_prob: float = 0.01
    avg_logprob: float = -0.2


@dataclass
class FakeWhisper:
    segments: list[S]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def transcribe(self, audio, **kwargs):
        self.calls.append(kwargs)
        return iter(self.segments), SimpleNamespace(language="en", language_probability=0.98765)


def speech(seconds=2.0):
    return (0.1 * np.sin(np.arange(int(16000 * seconds)) * 0.1)).astype(np.float32)


def test_words_carry_times_probability_and_channel():
    fake = FakeWhisper(
        [S(" Hello there.", 0.0, 1.0, [W(" Hello", 0.1, 0.4, 0.9), W(" there.", 0.5, 0.9, 0.8)])]
    )
    out = Transcriber(fake)(speech(), channel=1)
    assert [w.text for w in out.words] == [" Hello", " there."]
    assert {w.channel for w in out.words} == {1}
    assert out.text == "Hello there."
    assert out.language == "en" and out.language_probability == 0.9877
    assert fake.calls[0]["word_timestamps"] is True
    assert fake.calls[0]["condition_on_previous_text"] is False


def test_silence_is_not_sent_to_the_model():
    fake = FakeWhisper([S(" Thank you.", 0.0, 1.0, [W(" Thank", 0, 0.5, 0.9)])])
    out = Transcriber(fake)(np.zeros(16000, np.float32))
    assert out.words == () and fake.calls == []


def test_unsure_segment_where_speech_is_doubtful_is_dropped():
    fake = FakeWhisper(
        [
            S(" Real words.", 0.0, 1.0, [W(" Real", 0.0, 0.4, 0.95), W(" words.", 0.4, 0.9, 0.9)]),
            S(
                " la la la",
                1.0,
                3.0,
                [W(" la", 1.0, 1.5, 0.1), W(" la", 1.5, 2.0, 0.2)],
                no_speech_prob=0.5,
            ),
        ]
    )
    out = Transcriber(fake)(speech(4))
    assert out.text == "Real words."


def test_stock_hallucination_on_music_is_dropped_but_confident_thanks_kept():
    fake = FakeWhisper(
        [
            S(
                " Thank you for watching!",
                0,
                2,
                [W(" Thank", 0, 1, 0.4), W(" you", 1, 2, 0.5)],
                no_speech_prob=0.2,
            ),
            S(" Thank you.", 3, 4, [W(" Thank", 3, 3.5, 0.97), W(" you.", 3.5, 4, 0.96)]),
        ]
    )
    out = Transcriber(fake)(speech(5))
    assert out.text == "Thank you."


def test_options_reach_the_model():
    fake = FakeWhisper([])
    opts = TranscribeOptions(language="de", beam_size=2, vad_filter=True, vad_min_silence_ms=300)
    Transcriber(fake, opts)(speech())
    call = fake.calls[0]
    assert call["language"] == "de" and call["beam_size"] == 2 and call["vad_filter"] is True
    assert call["vad_parameters"]["min_silence_duration_ms"] == 300
    Transcriber(fake, opts)(speech(), vad=False)
    assert fake.calls[1]["vad_filter"] is False and "vad_parameters" not in fake.calls[1]


def test_batched_options_force_vad_and_pass_batch_size():
    fake = FakeWhisper([])
    Transcriber(fake, TranscribeOptions(batch_size=8, vad_filter=False))(speech())
    assert fake.calls[0]["batch_size"] == 8 and fake.calls[0]["vad_filter"] is True


def test_bad_options_are_refused():
    from engine.errors import ConfigError

    with pytest.raises(ConfigError):
        TranscribeOptions(beam_size=0)
    with pytest.raises(ConfigError, match="channels_batch_size must be >= 1"):
        TranscribeOptions(channels_batch_size=0)


def test_cuda_choice_selects_batched_pipeline_by_configuration():
    from faster_whisper import BatchedInferencePipeline

    from engine.pipeline import transcribe_options_for
    from models.device import resolve_device

    cuda = resolve_device("auto", gpu_count=lambda: 1)
    cpu = resolve_device("auto", gpu_count=lambda: 0)
    on_gpu = transcribe_options_for(TranscribeOptions(), cuda)
    on_cpu = transcribe_options_for(TranscribeOptions(), cpu)
    assert (on_gpu.batch_size, on_gpu.channels_batch_size) == (16, 16)
    assert (on_cpu.batch_size, on_cpu.channels_batch_size) == (1, 8)
    assert (on_gpu.beam_size, on_cpu.beam_size) == (5, 2)
    assert transcribe_options_for(TranscribeOptions(beam_size=3), cpu).beam_size == 3
    assert transcribe_options_for(TranscribeOptions(batch_size=4), cuda).batch_size == 4
    fake = FakeWhisper([])
    assert isinstance(Transcriber.build(fake, on_gpu).batched, BatchedInferencePipeline)
    unbatched = TranscribeOptions(batch_size=1, channels_batch_size=1)
    assert Transcriber.build(fake, unbatched).batched is None


def test_each_pass_uses_its_own_batch_size():
    sequential, batched = FakeWhisper([]), FakeWhisper([])
    options = TranscribeOptions(batch_size=1, channels_batch_size=8)
    t = Transcriber(sequential, options, batched)
    t(speech())
    t.channels([speech(), speech()])
    assert len(sequential.calls) == 1 and "batch_size" not in sequential.calls[0]
    assert len(batched.calls) == 1 and batched.calls[0]["batch_size"] == 8


def test_joint_channels_are_one_pass_and_words_return_to_their_channel_and_times():
    # channel 0 lasts 3 s, then 2 s of silence, then channel 1 (starting at 5.0 s)
    fake = FakeWhisper(
        [
            S(" Hello.", 0.0, 1.0, [W(" Hello.", 0.5, 1.0, 0.9)]),
            S(" Hi, my card.", 5.0, 7.0, [W(" Hi,", 5.2, 5.5, 0.9), W(" card.", 6.0, 6.5, 0.8)]),
            S(" Right.", 2.0, 3.0, [W(" Right.", 2.5, 2.9, 0.9)]),
        ]
    )
    left, right = speech(3.0), speech(2.0)
    out = Transcriber(fake).channels([left, right])
    assert len(fake.calls) == 1 and fake.calls[0]["vad_filter"] is True
    assert [(w.text, w.start, w.end, w.channel) for w in out[0].words] == [
        (" Hello.", 0.5, 1.0, 0),
        (" Right.", 2.5, 2.9, 0),
    ]
    assert [(w.text, w.start, w.end, w.channel) for w in out[1].words] == [
        (" Hi,", 0.2, 0.5, 1),
        (" card.", 1.0, 1.5, 1),
    ]
    assert (out[0].duration, out[1].duration) == (3.0, 2.0)
    assert out[0].language == out[1].language == "en" and out[1].channel == 1


def test_channels_one_pass_each_when_joint_is_off():
    fake = FakeWhisper([S(" Hello.", 0.0, 1.0, [W(" Hello.", 0.5, 1.0, 0.9)])])
    out = Transcriber(fake, TranscribeOptions(joint_channels=False)).channels([speech(), speech()])
    assert len(fake.calls) == 2 and [t.channel for t in out] == [0, 1]
    assert [w.channel for w in out[1].words] == [1]


def test_joint_channels_of_silence_send_nothing_to_the_model():
    fake = FakeWhisper([])
    silent = np.zeros(16000, np.float32)
    out = Transcriber(fake).channels([silent, silent])
    assert fake.calls == [] and [t.words for t in out] == [(), ()]


@dataclass
class OutOfMemoryWhisper:
    message: str = "CUDA failed with error out of memory"

    def transcribe(self, audio, **kwargs):
        raise RuntimeError(self.message)


def test_out_of_memory_names_the_batch_size_of_the_pass():
    from engine.errors import OutOfMemory

    options = TranscribeOptions(batch_size=16, channels_batch_size=12, window_language=False)
    t = Transcriber(OutOfMemoryWhisper(), options, OutOfMemoryWhisper())
    with pytest.raises(OutOfMemory, match=r"batch size 16: lower --batch-size \(now 16\)"):
        t(speech())
    with pytest.raises(OutOfMemory, match="batch size 12: lower --channels-batch-size"):
        t.channels([speech(), speech()])
    other = Transcriber(OutOfMemoryWhisper("shape mismatch"), options)
    with pytest.raises(RuntimeError, match="shape mismatch") as caught:
        other(speech())
    assert not isinstance(caught.value, OutOfMemory)
