from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from engine.config import TranscribeOptions
from engine.stages.transcribe import Transcriber
from engine.stages.window_language import LanguageTap, WindowLanguage, call_language


def test_the_call_language_is_the_majority_of_windows():
    heard = call_language(
        [WindowLanguage("en", 0.9), WindowLanguage("cy", 0.6), WindowLanguage("en", 0.7)]
    )
    assert heard is not None
    assert (heard.language, heard.probability, heard.unanimous) == ("en", 0.8, False)


def test_a_tie_goes_to_the_surer_language_and_no_windows_to_none():
    heard = call_language([WindowLanguage("de", 0.5), WindowLanguage("nl", 0.9)])
    assert heard is not None and heard.language == "nl"
    assert call_language([]) is None


@dataclass
class FakeCt2:
    """Stands in for CTranslate2's Whisper: one ranked language list per window."""

    languages: list[str]
    is_multilingual: bool = True

    def detect_language(self, encoder_output):
        return [[(f"<|{lang}|>", 0.9), ("<|fr|>", 0.05)] for lang in encoder_output]


@dataclass
class FakeWhisper:
    """Like faster-whisper: with ``multilingual`` each window's language comes from the model."""

    model: Any
    calls: list[dict[str, Any]] = field(default_factory=list)

    def transcribe(self, audio, **kwargs):
        self.calls.append(kwargs)
        if kwargs.get("multilingual"):
            for window in self.model.languages:
                self.model.detect_language([window])
        word = SimpleNamespace(word=" hola", start=0.1, end=0.5, probability=0.9)
        segment = SimpleNamespace(
            text=" hola", start=0.0, end=1.0, words=[word], no_speech_prob=0.01, avg_logprob=-0.2
        )
        language = kwargs["language"] or "xx"
        return iter([segment]), SimpleNamespace(language=language, language_probability=1.0)


def _speech():
    return (0.1 * np.sin(np.arange(16000) * 0.1)).astype(np.float32)


def test_a_call_in_the_guessed_language_is_decoded_once_without_a_detection_pass():
    fake = FakeWhisper(FakeCt2(["en", "en"]))
    out = Transcriber.build(fake, TranscribeOptions(batch_size=1, channels_batch_size=1))(_speech())
    assert isinstance(fake.model, LanguageTap)
    assert len(fake.calls) == 1
    assert fake.calls[0]["language"] == "en" and fake.calls[0]["multilingual"] is True
    assert (out.language, out.language_probability) == ("en", 0.9)


@pytest.mark.parametrize("windows", [["es", "es"], ["es", "en", "es"]])
def test_a_call_heard_otherwise_is_decoded_again_in_its_language(windows):
    fake = FakeWhisper(FakeCt2(windows))
    options = TranscribeOptions(batch_size=1, channels_batch_size=1)
    out = Transcriber.build(fake, options)(_speech())
    assert len(fake.calls) == 2
    assert fake.calls[1]["language"] == "es" and "multilingual" not in fake.calls[1]
    assert out.language == "es"


def test_a_forced_language_or_the_option_off_leaves_detection_to_faster_whisper():
    for options in (TranscribeOptions(language="de"), TranscribeOptions(window_language=False)):
        fake = FakeWhisper(FakeCt2(["en"]))
        options = replace(options, batch_size=1)
        out = Transcriber.build(fake, options)(_speech())
        assert not isinstance(fake.model, LanguageTap)
        assert len(fake.calls) == 1 and "multilingual" not in fake.calls[0]
        assert fake.calls[0]["language"] == options.language
        assert out.language == (options.language or "xx")


def test_an_english_only_model_gets_no_tap():
    fake = FakeWhisper(FakeCt2(["en"], is_multilingual=False))
    Transcriber.build(fake, TranscribeOptions(batch_size=1))(_speech())
    assert not isinstance(fake.model, LanguageTap)


def test_the_tap_records_only_while_recording_and_forwards_the_rest():
    inner = FakeCt2(["en"])
    tap = LanguageTap(inner)
    tap.detect_language(["en"])
    with tap.recording() as heard:
        assert tap.detect_language(["de"])[0][0] == ("<|de|>", 0.9)
    tap.detect_language(["fr"])
    assert heard == [WindowLanguage("de", 0.9)]
    assert tap.is_multilingual is True


@pytest.mark.parametrize("field", ["language", "language_guess"])
def test_a_language_the_model_does_not_know_is_refused_before_any_call(field):
    from engine.errors import ConfigError

    fake = FakeWhisper(FakeCt2(["en"]))
    fake.supported_languages = ["en", "de", "es"]
    with pytest.raises(ConfigError, match=f"{field} 'english' is not a language"):
        Transcriber.build(fake, TranscribeOptions(**{field: "english"}))
    assert fake.calls == [] and not isinstance(fake.model, LanguageTap)
    Transcriber.build(fake, TranscribeOptions(language="de", language_guess="es"))
