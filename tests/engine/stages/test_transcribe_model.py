"""The transcription stage with real Whisper weights on generated audio."""

import numpy as np
import pytest

from engine.config import TranscribeOptions
from engine.stages.transcribe import Transcriber
from models.device import resolve_device
from models.loaders import load_whisper
from tests.audio_fixtures import hold_music

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def tiny():
    return load_whisper("tiny.en", resolve_device("cpu"))


@pytest.mark.parametrize("vad", [True, False])
def test_no_words_on_hold_music_or_line_noise(tiny, vad):
    noise = np.random.default_rng(0).normal(0, 0.003, 16000 * 10).astype(np.float32)
    for audio in (hold_music(), noise, np.zeros(16000 * 5, np.float32)):
        out = Transcriber(tiny, TranscribeOptions(vad_filter=vad))(audio)
        assert out.words == (), out.text


def test_speech_after_hold_music_is_kept_with_its_times(tiny, espeak):
    from engine.sample import speak

    speech = speak("Thanks for holding, I have found your account now.", "en-us+m3")
    audio = np.concatenate([hold_music(8.0), speech])
    out = Transcriber(tiny, TranscribeOptions(language="en"))(audio)
    assert "account" in out.text.lower()
    assert out.words[0].start > 7.0


@pytest.fixture(scope="module")
def base():
    return load_whisper("base", resolve_device("cpu"))


def test_the_language_heard_in_the_windows_matches_a_forced_language(base, espeak):
    from engine.sample import speak

    english = speak("I would like to report a lost card and order a new one.", "en-us+m3")
    heard = Transcriber.build(base, TranscribeOptions(batch_size=1))(english)
    forced = Transcriber(base, TranscribeOptions(language="en", batch_size=1))(english)
    assert heard.language == "en" and heard.language_probability > 0.5
    assert heard.words == forced.words

    # not the guess: decoded again, in the language faster-whisper's own detection pass hears
    german = speak("Guten Tag, ich möchte meine Kreditkarte sperren lassen, bitte.", "de")
    out = Transcriber.build(base, TranscribeOptions(batch_size=1))(german)
    own_pass = Transcriber(base, TranscribeOptions(window_language=False, batch_size=1))
    detected = own_pass(german)
    assert out.language == detected.language == "de"
    assert out.words == detected.words
