"""Stereo (per-channel) diarisation on generated audio with known speech times."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from engine.config import ChannelMap, DiariseOptions
from engine.errors import ConfigError
from engine.stages.channel_diarise import ChannelDiariser, hysteresis, noise_floor_db
from engine.types import AudioInfo, DecodedAudio, Diarisation, Role, SpeakerTurn

SR = 16000
NOISE_DBFS = -66.0
TOL = 0.07  # s: 20 ms frames + 30 ms padding + a little

Bursts = list[tuple[float, float]]


def db(x: float) -> float:
    return float(10 ** (x / 20))


def rms_dbfs(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12))


def noise_floor(n: int, rng: np.random.Generator, dbfs: float = NOISE_DBFS) -> np.ndarray:
    return (rng.standard_normal(n) * db(dbfs)).astype(np.float32)


def speechlike_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Telephone-band noise (300-3400 Hz) with a 4 Hz syllable-rate envelope, unit RMS."""
    sos = butter(4, [300, 3400], btype="bandpass", fs=SR, output="sos")
    x = sosfilt(sos, rng.standard_normal(n))
    t = np.arange(n) / SR
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def tone(n: int, f0: float = 180.0) -> np.ndarray:
    """Harmonic tone (voiced-vowel-like), unit RMS."""
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    x = np.asarray(x) * (0.7 + 0.3 * np.sin(2 * np.pi * 3 * t))
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def word_gaps(n: int) -> np.ndarray:
    """Gain with an 80 ms pause every 0.7 s inside a burst, as between words or phrases."""
    gain = np.ones(n, dtype=np.float32)
    for k in range(1, int(n / SR / 0.7) + 1):
        a = round(k * 0.7 * SR)
        if a + round(0.38 * SR) < n:
            gain[a : a + round(0.08 * SR)] = 0.0
    return gain


def add_bursts(
    x: np.ndarray, bursts: Bursts, level_dbfs: float, kind: str, rng: np.random.Generator
) -> None:
    """Bursts at level_dbfs (RMS while sounding) on one channel."""
    for start, end in bursts:
        a, b = round(start * SR), round(end * SR)
        sig = tone(b - a) if kind == "tone" else speechlike_noise(b - a, rng)
        x[a:b] += db(level_dbfs) * sig * word_gaps(b - a)


def make_audio(samples: np.ndarray) -> DecodedAudio:
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    info = AudioInfo(
        path="generated.wav",
        container="wav",
        codec="pcm_f32le",
        sample_rate=SR,
        channels=samples.shape[0],
        duration=samples.shape[1] / SR,
        size_bytes=samples.nbytes,
    )
    return DecodedAudio(info=info, samples=samples, sample_rate=SR)


def make_call(
    duration: float,
    left: Bursts,
    right: Bursts,
    *,
    left_db: float = -18.0,
    right_db: float = -18.0,
    leak_db: float | None = None,
    leak_delay_s: float = 0.005,
    noise: bool = True,
    noise_dbfs: float = NOISE_DBFS,
    seed: int = 0,
) -> DecodedAudio:
    rng = np.random.default_rng(seed)
    n = round(duration * SR)
    clean = np.zeros((2, n), dtype=np.float32)
    add_bursts(clean[0], left, left_db, "tone", rng)
    add_bursts(clean[1], right, right_db, "noise", rng)
    out = clean.copy()
    if leak_db is not None:
        shift = round(leak_delay_s * SR)
        delayed = np.zeros_like(clean)
        delayed[:, shift:] = clean[:, : n - shift]
        out += db(leak_db) * delayed[::-1]
    if noise:
        out[0] += noise_floor(n, rng, noise_dbfs)
        out[1] += noise_floor(n, rng, noise_dbfs)
    return make_audio(np.clip(out, -1.0, 1.0))


def turns_of(d: Diarisation, speaker: str) -> list[tuple[float, float]]:
    return [(t.start, t.end) for t in d.turns if t.speaker == speaker]


def assert_matches(found: list[tuple[float, float]], expected: Bursts, tol: float = TOL) -> None:
    assert len(found) == len(expected), f"found {found}, expected {expected}"
    for (fs, fe), (es, ee) in zip(found, expected, strict=True):
        assert abs(fs - es) <= tol, f"start {fs} vs {es} (found {found})"
        assert abs(fe - ee) <= tol, f"end {fe} vs {ee} (found {found})"


LEFT: Bursts = [(1.0, 3.2), (6.5, 8.0), (12.0, 15.5), (19.0, 19.6)]
RIGHT: Bursts = [(3.6, 6.1), (8.4, 11.7), (15.0, 18.5)]  # 15.0-15.5 overlaps the left


def test_turn_boundaries_and_labels() -> None:
    audio = make_call(21.0, LEFT, RIGHT)
    d = ChannelDiariser()(audio, ChannelMap())
    assert d.method == "channel"
    assert d.speakers == ("agent", "customer")
    assert {t.speaker for t in d.turns} == {"agent", "customer"}
    assert_matches(turns_of(d, "agent"), LEFT)
    assert_matches(turns_of(d, "customer"), RIGHT)
    starts = [t.start for t in d.turns]
    assert starts == sorted(starts)
    assert all(isinstance(t, SpeakerTurn) for t in d.turns)


def test_swapped_channel_map() -> None:
    audio = make_call(21.0, LEFT, RIGHT)
    d = ChannelDiariser()(audio, ChannelMap(left=Role.CUSTOMER, right=Role.AGENT))
    assert d.speakers == ("customer", "agent")
    assert_matches(turns_of(d, "customer"), LEFT)
    assert_matches(turns_of(d, "agent"), RIGHT)


def test_parsed_channel_map() -> None:
    audio = make_call(21.0, LEFT, RIGHT)
    d = ChannelDiariser()(audio, ChannelMap.parse("stereo: customer=left, agent=right"))
    assert_matches(turns_of(d, "agent"), RIGHT)


@pytest.mark.parametrize("noise", [True, False], ids=["noise-floor", "digital-silence"])
def test_silent_channel_has_no_turns(noise: bool) -> None:
    audio = make_call(20.0, LEFT, [], noise=noise)
    d = ChannelDiariser()(audio, ChannelMap())
    assert turns_of(d, "customer") == []
    assert_matches(turns_of(d, "agent"), LEFT)
    assert d.speakers == ("agent", "customer")


def test_comfort_noise_bursts_in_digital_silence_are_not_speech() -> None:
    """VoIP DTX: digital silence broken by 0.5 s bursts of -82 dBFS comfort noise."""
    audio = make_call(20.0, LEFT, RIGHT, noise=False)
    x = audio.samples.copy()
    x[1] = 0.0
    rng = np.random.default_rng(7)
    for start in np.arange(0.5, 19.0, 3.0):
        a = round(start * SR)
        x[1, a : a + SR // 2] = noise_floor(SR // 2, rng, -82.0)
    d = ChannelDiariser()(make_audio(x), ChannelMap())
    assert turns_of(d, "customer") == []
    assert_matches(turns_of(d, "agent"), LEFT)
    assert d.speakers == ("agent", "customer")


def test_all_silent() -> None:
    audio = make_call(12.0, [], [])
    d = ChannelDiariser()(audio, ChannelMap())
    assert d.turns == ()
    assert d.speakers == ("agent", "customer")


def test_empty_and_tiny_input() -> None:
    for n in (0, 1, 100):
        d = ChannelDiariser()(make_audio(np.zeros((2, n), dtype=np.float32)), ChannelMap())
        assert d.turns == ()


def test_noise_floor_level_is_what_the_test_claims() -> None:
    audio = make_call(5.0, [], [])
    assert abs(rms_dbfs(audio.samples[0]) - NOISE_DBFS) < 0.5


@pytest.mark.parametrize(
    ("left_db", "right_db"), [(-6.0, -26.0), (-30.0, -12.0), (-45.0, -45.0), (-3.0, -3.0)]
)
def test_different_line_levels(left_db: float, right_db: float) -> None:
    audio = make_call(21.0, LEFT, RIGHT, left_db=left_db, right_db=right_db)
    d = ChannelDiariser()(audio, ChannelMap())
    assert_matches(turns_of(d, "agent"), LEFT)
    assert_matches(turns_of(d, "customer"), RIGHT)


def test_very_quiet_line() -> None:
    """The whole call recorded 36 dB low: speech near -60 dBFS over a -102 dBFS floor."""
    audio = make_call(21.0, LEFT, RIGHT, left_db=-60.0, right_db=-58.0, noise_dbfs=-102.0)
    d = ChannelDiariser()(audio, ChannelMap())
    assert_matches(turns_of(d, "agent"), LEFT)
    assert_matches(turns_of(d, "customer"), RIGHT)


def test_very_different_levels_without_double_talk() -> None:
    """A customer 35 dB under the agent is found; only double talk that far under is lost."""
    right: Bursts = [(3.6, 6.1), (8.4, 11.7), (16.0, 18.5)]
    audio = make_call(21.0, LEFT, right, left_db=-6.0, right_db=-41.0)
    d = ChannelDiariser()(audio, ChannelMap())
    assert_matches(turns_of(d, "agent"), LEFT)
    assert_matches(turns_of(d, "customer"), right)


def test_leakage_is_not_speech() -> None:
    """The loud agent leaks into the quiet customer's channel at -30 dB (and back)."""
    audio = make_call(21.0, LEFT, RIGHT, left_db=-10.0, right_db=-28.0, leak_db=-30.0)
    # The leaked agent sits well above the customer channel's noise floor there.
    leak_part = audio.samples[1, round(1.2 * SR) : round(3.0 * SR)]
    assert rms_dbfs(leak_part) > NOISE_DBFS + 20
    d = ChannelDiariser()(audio, ChannelMap())
    assert_matches(turns_of(d, "customer"), RIGHT)
    assert_matches(turns_of(d, "agent"), LEFT)


def test_leakage_on_a_channel_that_never_talks() -> None:
    """A customer channel with nothing but the agent's echo at -30 dB has no turns."""
    audio = make_call(20.0, LEFT, [], left_db=-10.0, leak_db=-30.0)
    d = ChannelDiariser()(audio, ChannelMap())
    assert turns_of(d, "customer") == []
    assert_matches(turns_of(d, "agent"), LEFT)


def test_double_talk_at_similar_levels_is_kept_on_both_channels() -> None:
    left: Bursts = [(1.0, 4.0)]
    right: Bursts = [(2.0, 5.0)]
    audio = make_call(7.0, left, right, left_db=-15.0, right_db=-20.0, leak_db=-30.0)
    d = ChannelDiariser()(audio, ChannelMap())
    assert_matches(turns_of(d, "agent"), left)
    assert_matches(turns_of(d, "customer"), right)


def test_short_pauses_are_bridged_and_long_ones_split() -> None:
    left: Bursts = [(1.0, 2.0), (2.4, 3.5), (6.0, 7.0)]  # 0.4 s pause, then 2.5 s silence
    audio = make_call(9.0, left, [])
    d = ChannelDiariser()(audio, ChannelMap())
    assert_matches(turns_of(d, "agent"), [(1.0, 3.5), (6.0, 7.0)])


def test_clicks_shorter_than_min_speech_are_dropped() -> None:
    audio = make_call(6.0, [(1.0, 1.04), (3.0, 4.0)], [])
    d = ChannelDiariser()(audio, ChannelMap())
    assert_matches(turns_of(d, "agent"), [(3.0, 4.0)])


def test_hold_music_is_not_speech() -> None:
    """Steady synthetic hold music (chords changing every 0.4 s) for 25 s on the right."""
    rng = np.random.default_rng(3)
    audio = make_call(45.0, [(2.0, 4.0), (38.0, 41.0)], [(40.0, 43.0)], seed=3)
    x = audio.samples.copy()
    a, b = 8 * SR, 33 * SR
    notes = np.array([196.0, 220.0, 247.0, 262.0, 294.0, 330.0, 349.0, 392.0])
    step = round(0.4 * SR)
    t = np.arange(step) / SR
    music = np.concatenate(
        [
            sum(np.sin(2 * np.pi * f * t) for f in rng.choice(notes, 3, replace=False))
            * db(rng.uniform(-2.0, 2.0))
            for _ in range((b - a) // step)
        ]
    )
    x[1, a : a + music.size] += (db(-24.0) * music / 3).astype(np.float32)
    d = ChannelDiariser()(make_audio(x), ChannelMap())
    assert_matches(turns_of(d, "customer"), [(40.0, 43.0)])
    assert_matches(turns_of(d, "agent"), [(2.0, 4.0), (38.0, 41.0)])


def test_options_change_behaviour() -> None:
    left: Bursts = [(1.0, 2.0), (2.4, 3.5)]
    audio = make_call(6.0, left, [])
    no_bridge = ChannelDiariser(DiariseOptions(channel_min_silence_s=0.1))(audio, ChannelMap())
    assert_matches(turns_of(no_bridge, "agent"), left)
    padded = ChannelDiariser(DiariseOptions(channel_pad_s=0.3))(audio, ChannelMap())
    assert_matches(turns_of(padded, "agent"), [(0.7, 3.8)])


def test_rejects_non_stereo_and_bad_options() -> None:
    mono = make_audio(np.zeros((1, SR), dtype=np.float32))
    with pytest.raises(ValueError, match="2 channels"):
        ChannelDiariser()(mono, ChannelMap())
    with pytest.raises(ConfigError):
        ChannelDiariser()(make_call(2.0, [], []), ChannelMap(left=Role.AGENT, right=Role.AGENT))
    with pytest.raises(ConfigError):
        DiariseOptions(channel_threshold_db=6.0, channel_threshold_low_db=8.0)
    with pytest.raises(ConfigError):
        DiariseOptions(channel_frame_s=0.0)


def test_long_call_is_fast() -> None:
    """30 minutes of stereo: correct turn count and well under a few seconds."""
    # Monologues of 11-14 s (longer than the noise-floor window) included.
    pattern = make_call(60.0, [(1.0, 9.0), (30.0, 41.0)], [(12.0, 26.0), (45.0, 58.0)])
    samples = np.tile(pattern.samples, (1, 30))
    audio = make_audio(samples)
    diariser = ChannelDiariser()
    t0 = time.perf_counter()
    d = diariser(audio, ChannelMap())
    elapsed = time.perf_counter() - t0
    assert elapsed < 10.0, f"30 min took {elapsed:.2f} s"
    agent = turns_of(d, "agent")
    customer = turns_of(d, "customer")
    assert len(agent) == 60 and len(customer) == 60
    assert_matches(agent[-2:], [(29 * 60 + 1.0, 29 * 60 + 9.0), (29 * 60 + 30.0, 29 * 60 + 41.0)])


def test_hysteresis_keeps_low_runs_touching_a_high_frame() -> None:
    high = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
    low = np.array([0, 1, 1, 1, 0, 1, 1, 0, 0, 1], dtype=bool)
    assert hysteresis(high, low).tolist() == [0, 1, 1, 1, 0, 0, 0, 0, 0, 0]


def test_noise_floor_tracks_a_level_step_both_ways() -> None:
    fs = 50  # frames per second
    e = np.concatenate([np.full(30 * fs, -70.0), np.full(30 * fs, -40.0), np.full(30 * fs, -70.0)])
    floor = noise_floor_db(e[None], window=10 * fs, smooth=3, floor_min_db=-90.0)[0]
    # A steady 30 s level is floor (not speech) from its first to its last frame.
    assert np.all(floor[30 * fs + 2 : 60 * fs - 2] >= -41.0)
    assert np.all(floor[: 30 * fs - 2] <= -69.0)
    assert np.all(floor[60 * fs + 2 :] <= -69.0)
