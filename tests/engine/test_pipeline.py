"""The whole call pipeline on generated calls, with real (small) models."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.config import ChannelMap, TranscribeOptions
from engine.pipeline import CallPipeline, PipelineSettings, is_dual_mono
from engine.progress import RecordingProgress
from engine.sample import make_call
from engine.types import Role
from engine.writers import from_json, to_json

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def pipeline():
    settings = PipelineSettings(
        whisper_model="tiny.en",
        device="cpu",
        transcribe=TranscribeOptions(language="en", beam_size=1),
    )
    return CallPipeline.build(settings)


@pytest.fixture(scope="module")
def calls(tmp_path_factory, espeak):
    root = tmp_path_factory.mktemp("calls")
    return {
        "stereo": make_call(root / "stereo.wav", stereo=True),
        "mono": make_call(root / "mono.wav", stereo=False),
    }


def _words(text: str) -> set[str]:
    return {w.strip(".,?!").lower() for w in text.split()}


def test_stereo_call_roles_from_channels(pipeline, calls):
    progress = RecordingProgress()
    call = pipeline(calls["stereo"].path, progress=progress)
    assert call.diarisation_method == "channel"
    assert {s.label: s.role for s in call.speakers} == {
        "agent": Role.AGENT,
        "customer": Role.CUSTOMER,
    }
    agent_text = " ".join(u.text for u in call.utterances if u.role is Role.AGENT)
    customer_text = " ".join(u.text for u in call.utterances if u.role is Role.CUSTOMER)
    assert {"help", "name"} <= _words(agent_text)
    assert "charged" in _words(customer_text) or "payment" in _words(customer_text)
    assert "help" not in _words(customer_text)
    stages = [e[2] for e in progress.events if e[0] == "stage"]
    assert stages == ["decode", "transcribe", "diarise", "attribute", "signals"]
    # VoC signals: one per utterance; the customer's reason is marked; embeddings by row
    assert [s.index for s in call.signals] == list(range(len(call.utterances)))
    reasons = [call.utterances[s.index] for s in call.signals if s.is_reason]
    assert reasons and all(u.role is Role.CUSTOMER for u in reasons)
    assert call.embeddings is not None
    assert call.embeddings.vectors.shape == (len(call.utterances), 384)
    # the JSON document carries the transcript; VoC signals live in the store
    assert from_json(to_json(call)) == replace(call, signals=(), spikes=(), embeddings=None)


def test_swapped_channel_map_swaps_roles(pipeline, calls):
    call = pipeline(calls["stereo"].path, channel_map=ChannelMap(Role.CUSTOMER, Role.AGENT))
    agent_text = " ".join(u.text for u in call.utterances if u.role is Role.AGENT)
    assert "charged" in _words(agent_text) or "payment" in _words(agent_text)


def test_mono_call_is_diarised_and_roles_found(pipeline, calls):
    call = pipeline(calls["mono"].path)
    assert call.diarisation_method == "pyannote"
    assert 2 <= len(call.speakers) <= 3
    first = call.utterances[0]
    assert first.role is Role.AGENT  # the greeting
    truth = calls["mono"].turns
    # each true turn's middle is covered by a diarised turn of one consistent speaker per role
    by_role: dict[str, set[str]] = {}
    for t in truth:
        mid = (t.start + t.end) / 2
        found = [d.speaker for d in call.turns if d.start <= mid <= d.end]
        assert found, f"no turn at {mid}"
        by_role.setdefault(t.speaker, set()).update(found)
    assert by_role["agent"].isdisjoint(by_role["customer"])


def test_dual_mono_detection():
    x = np.random.default_rng(0).normal(size=16000).astype(np.float32)
    assert is_dual_mono(np.stack([x, x]))
    assert not is_dual_mono(np.stack([x, np.roll(x, 4000)]))
    assert is_dual_mono(np.zeros((2, 100), np.float32))


def test_stereo_file_with_identical_channels_is_treated_as_mono(pipeline, calls, tmp_path: Path):
    from engine.sample import write_mulaw_wav

    mono = pipeline.decoder(calls["mono"].path).samples[0]
    path = tmp_path / "dual.wav"
    write_mulaw_wav(path, np.stack([mono, mono]))
    call = pipeline(path)
    assert call.audio.channels == 2
    assert call.diarisation_method == "pyannote"
