from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from engine.errors import ConfigError
from engine.stages.prosody import ProsodyExtractor, ProsodyOptions, semitones, utterance_channel
from engine.types import AudioInfo, DecodedAudio, Role, Utterance, Word

SR = 16000


def harmonic(f0: float, seconds: float = 1.0, level: float = 0.1, am_hz: float | None = None):
    """A buzzy vowel-like tone: harmonics of f0 with 1/k amplitudes, band-limited like a phone
    line (300–3400 Hz, so a low f0's fundamental is missing); optionally amplitude-modulated
    at am_hz (a syllable-like envelope with silent troughs)."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 40) if f0 * k < 3800)
    if am_hz is not None:
        x = x * (0.5 - 0.5 * np.cos(2 * np.pi * am_hz * t)) ** 2
    x = sosfilt(butter(4, [300, 3400], btype="band", fs=SR, output="sos"), x)
    return (x / np.max(np.abs(x)) * level).astype(np.float32)


def audio(*channels: np.ndarray, sr: int = SR) -> DecodedAudio:
    samples = np.stack([np.asarray(c, dtype=np.float32) for c in channels])
    info = AudioInfo("x.wav", "wav", "pcm_s16le", sr, len(channels), samples.shape[1] / sr, 0)
    return DecodedAudio(info=info, samples=samples, sample_rate=sr)


def utt(start: float, end: float, channels: tuple[int, ...] = ()) -> Utterance:
    words = tuple(
        Word(text=" w", start=start + i * 0.1, end=start + i * 0.1 + 0.05, channel=ch)
        for i, ch in enumerate(channels)
    )
    return Utterance("S1", Role.CUSTOMER, start, end, "text", words)


@pytest.fixture(scope="module")
def extractor() -> ProsodyExtractor:
    return ProsodyExtractor()


@pytest.mark.parametrize("f0", [75.0, 110.0, 150.0, 220.0, 300.0])
def test_pitch_of_a_harmonic_tone_is_within_half_a_semitone(
    extractor: ProsodyExtractor, f0: float
) -> None:
    (p,) = extractor.measure(audio(harmonic(f0)), [utt(0.0, 1.0)])
    assert p is not None and p.pitch is not None
    assert abs(p.pitch - semitones(f0)) < 0.5


def test_an_octave_reads_twelve_semitones_apart(extractor: ProsodyExtractor) -> None:
    low, high = extractor.measure(
        audio(np.concatenate([harmonic(150.0), harmonic(300.0)])), [utt(0.0, 1.0), utt(1.0, 2.0)]
    )
    assert low is not None and high is not None
    assert low.pitch is not None and high.pitch is not None
    assert abs(low.pitch - semitones(150.0)) < 0.5
    assert abs(high.pitch - semitones(300.0)) < 0.5
    assert abs((high.pitch - low.pitch) - 12.0) < 0.5


def test_six_db_louder_reads_six_db_higher(extractor: ProsodyExtractor) -> None:
    x = harmonic(150.0, level=0.05)
    louder = x * np.float32(10 ** (6 / 20))
    quiet, loud = extractor.measure(audio(np.concatenate([x, louder])), [utt(0, 1), utt(1, 2)])
    assert quiet is not None and loud is not None
    assert abs((loud.energy_db - quiet.energy_db) - 6.0) < 0.5


def test_energy_is_rms_dbfs_of_the_speech(extractor: ProsodyExtractor) -> None:
    t = np.arange(SR) / SR
    sine = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    (p,) = extractor.measure(audio(sine), [utt(0.0, 1.0)])
    assert p is not None
    assert abs(p.energy_db - 20 * math.log10(0.5 / math.sqrt(2))) < 0.3


def test_energy_ignores_the_pauses(extractor: ProsodyExtractor) -> None:
    tone = harmonic(150.0, seconds=0.5)
    noise = np.random.default_rng(0).normal(0, 10 ** (-66 / 20), SR // 2).astype(np.float32)
    solid, gappy = extractor.measure(
        audio(np.concatenate([tone, tone, tone, noise, tone])), [utt(0.0, 1.0), utt(1.0, 2.0)]
    )
    assert solid is not None and gappy is not None
    assert abs(solid.energy_db - gappy.energy_db) < 0.5


def test_faster_syllable_envelope_reads_a_higher_rate(extractor: ProsodyExtractor) -> None:
    slow, fast = extractor.measure(
        audio(np.concatenate([harmonic(150.0, 3.0, am_hz=4.0), harmonic(150.0, 3.0, am_hz=6.0)])),
        [utt(0.0, 3.0), utt(3.0, 6.0)],
    )
    assert slow is not None and fast is not None
    assert fast.rate > slow.rate * 1.3
    assert 3.0 < slow.rate < 6.0
    assert 4.5 < fast.rate < 9.0


def test_rate_falls_back_to_words_per_second_without_nuclei(extractor: ProsodyExtractor) -> None:
    (p,) = extractor.measure(audio(harmonic(150.0, 2.0)), [utt(0.0, 2.0, channels=(0,) * 5)])
    assert p is not None
    assert p.rate == pytest.approx(2.5)


def test_noise_has_no_pitch_and_silence_no_prosody(extractor: ProsodyExtractor) -> None:
    noise = np.random.default_rng(1).normal(0, 0.01, SR).astype(np.float32)
    silence = np.zeros(SR, dtype=np.float32)
    noisy, silent = extractor.measure(
        audio(np.concatenate([noise, silence])), [utt(0, 1), utt(1, 2)]
    )
    assert noisy is not None and noisy.pitch is None
    assert silent is None


def test_stereo_uses_the_channel_of_most_words(extractor: ProsodyExtractor) -> None:
    a = audio(harmonic(150.0, level=0.05), harmonic(300.0, level=0.2))
    on_right, default, forced = (
        extractor.measure(a, [utt(0.0, 1.0, channels=(1, 1, 0))])[0],
        extractor.measure(a, [utt(0.0, 1.0)])[0],
        extractor.measure(a, [utt(0.0, 1.0, channels=(1, 1))], channel_of=lambda u: 0)[0],
    )
    assert on_right is not None and on_right.pitch is not None
    assert abs(on_right.pitch - semitones(300.0)) < 0.5
    assert default is not None and default.pitch is not None
    assert abs(default.pitch - semitones(150.0)) < 0.5
    assert forced is not None and forced.pitch is not None
    assert abs(forced.pitch - semitones(150.0)) < 0.5
    assert on_right.energy_db - default.energy_db > 10


def test_utterance_channel_majority_and_ties() -> None:
    assert utterance_channel(utt(0, 1)) == 0
    assert utterance_channel(utt(0, 1, channels=(1, 0, 1))) == 1
    assert utterance_channel(utt(0, 1, channels=(1, 0))) == 0


def test_missing_channel_falls_back_to_the_first(extractor: ProsodyExtractor) -> None:
    (p,) = extractor.measure(audio(harmonic(150.0)), [utt(0.0, 1.0, channels=(1,))])
    assert p is not None and p.pitch is not None


def test_short_or_outside_utterances_give_none(extractor: ProsodyExtractor) -> None:
    a = audio(harmonic(150.0))
    short, outside, clipped = extractor.measure(a, [utt(0.2, 0.35), utt(1.5, 3.0), utt(0.5, 2.0)])
    assert short is None
    assert outside is None
    assert clipped is not None and clipped.pitch is not None


def test_8khz_audio_is_measured_without_resampling() -> None:
    t = np.arange(8000) / 8000
    x = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 15))
    (p,) = ProsodyExtractor().measure(audio(0.05 * x, sr=8000), [utt(0.0, 1.0)])
    assert p is not None and p.pitch is not None
    assert abs(p.pitch - semitones(200.0)) < 0.5


def test_a_call_measures_fast(extractor: ProsodyExtractor) -> None:
    a = audio(np.tile(harmonic(150.0, 1.0, am_hz=5.0), 20))
    utts = [utt(i, i + 0.95) for i in range(20)]
    extractor.measure(a, utts[:1])  # warm-up (filter design, FFT plans)
    t0 = time.perf_counter()
    extractor.measure(a, utts)
    assert time.perf_counter() - t0 < 0.5  # about 0.03 s; generous for busy CI machines


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        ProsodyOptions(pitch_min_hz=400, pitch_max_hz=60)
    with pytest.raises(ConfigError):
        ProsodyOptions(hop_s=0.05, frame_s=0.03)
    with pytest.raises(ConfigError):
        ProsodyOptions(analysis_rate_hz=3000)
