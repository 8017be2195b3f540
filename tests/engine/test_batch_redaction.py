"""PII redaction in the batch (by the store's ``redact_pii`` setting) and in ``transcribe``.

The pipeline's models are fakes that say a card number and an e-mail address; decoding, the
redaction and the store are real.
"""

from __future__ import annotations

import json

from engine.audio import AudioDecoder
from engine.batch import BatchOptions, NightlyBatch
from engine.cli import _run_files
from engine.pipeline import CallPipeline
from engine.progress import NullProgress
from engine.stages.attribute import Attributor
from engine.stages.channel_diarise import ChannelDiariser
from engine.stages.roles import PhraseRoleAssigner
from engine.types import Transcript, Word
from tests.audio_fixtures import write_tone_wav
from tests.engine.test_batch import FakeDiariser, make_night

SAID = " My card is 4111 1111 1111 1111 and my email is john.smith@example.com thanks"


class PiiTranscriber:
    """Says a greeting, then a card number and an e-mail address, one word at a time."""

    def __call__(self, samples, channel=0, vad=None):
        duration = len(samples) / 16000
        pieces = SAID.split()
        step = duration / (len(pieces) + 2)
        words = [Word(" Thank you for calling.", 0.0, step * 0.9, 0.9, channel)]
        words += [
            Word(f" {p}", (i + 1) * step, (i + 1.9) * step, 0.8, channel)
            for i, p in enumerate(pieces)
        ]
        return Transcript(tuple(words), "en", 0.99, round(duration, 3), channel)

    def channels(self, channels):
        return tuple(self(c, channel=i, vad=True) for i, c in enumerate(channels))


class RecordingSignals:
    """Stands for the signals stage: keeps the texts it was given."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, call, audio):
        self.texts += [u.text for u in call.utterances]
        return call


def pii_pipeline(signals: RecordingSignals) -> CallPipeline:
    return CallPipeline(
        AudioDecoder(),
        PiiTranscriber(),
        FakeDiariser(),
        ChannelDiariser(),
        Attributor(),
        PhraseRoleAssigner(),
        overlap_diarisation=False,
        signals=signals,  # type: ignore[arg-type]
    )


def run_batch(store, root, signals: RecordingSignals):
    pipeline = pii_pipeline(signals)
    return NightlyBatch(lambda stages: pipeline, store, BatchOptions()).run(root)


def stored_texts(store, call_id: str) -> tuple[str, list[str]]:
    call = store.load_call(call_id)
    assert call is not None
    return " ".join(u.text for u in call.utterances), [w.text for w in call.words]


def test_a_new_store_redacts_before_signals_and_storage(store, tmp_path):
    assert store.setting("redact_pii") == "on"
    root = tmp_path / "archive"
    ids = make_night(root, "2026-11-16", 2)
    signals = RecordingSignals()
    summary = run_batch(store, root, signals)
    assert summary.processed == 2
    for call_id in ids:
        text, words = stored_texts(store, call_id)
        assert "[CARD]" in text and "[EMAIL]" in text
        assert "4111" not in text and "example.com" not in text
        assert " [CARD]" in words and not any("4111" in w or "@" in w for w in words)
    # the signals were computed from the redacted text
    assert signals.texts and not any("4111" in t or "@" in t for t in signals.texts)
    assert any("[CARD]" in t for t in signals.texts)
    assert store.runs()[-1].settings["redact_pii"] == "on"


def test_a_store_with_redaction_off_keeps_the_text(store, tmp_path):
    store.set_setting("redact_pii", "off")
    root = tmp_path / "archive"
    ids = make_night(root, "2026-11-16", 2)
    signals = RecordingSignals()
    run_batch(store, root, signals)
    for call_id in ids:
        text, words = stored_texts(store, call_id)
        assert "4111 1111 1111 1111" in text and "john.smith@example.com" in text
        assert "[CARD]" not in text and " 4111" in words
    assert any("4111" in t for t in signals.texts)
    assert store.runs()[-1].settings["redact_pii"] == "off"


def test_transcribe_redacts_written_files_when_asked(tmp_path):
    wav = tmp_path / "in" / "call.wav"
    wav.parent.mkdir()
    write_tone_wav(wav, rate=8000, channels=1, seconds=2.0)
    for redact, out in ((True, tmp_path / "redacted"), (False, tmp_path / "plain")):
        pipeline = pii_pipeline(RecordingSignals())
        assert _run_files(pipeline, [wav], out, ("json", "srt"), NullProgress(), redact) == 0
        doc = (out / "call.json").read_text()
        srt = (out / "call.srt").read_text()
        if redact:
            assert "4111" not in doc + srt and "example.com" not in doc + srt
            assert "[CARD]" in srt and "[EMAIL]" in srt
            words = [w["text"] for w in json.loads(doc)["words"]]
            assert " [CARD]" in words
        else:
            assert "4111 1111 1111 1111" in srt
