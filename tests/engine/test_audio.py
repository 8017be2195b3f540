"""engine.audio: decoding every supported format, channel separation, and each refusal."""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from engine.audio import AudioDecoder, decode, probe
from engine.config import AudioOptions
from engine.errors import AudioError, AudioProblem
from engine.types import AudioInfo, DecodedAudio
from tests.audio_fixtures import (
    CHANNEL_FREQS,
    dominant_freq,
    write_raw_gsm,
    write_tone_av,
    write_tone_sf,
    write_tone_wav,
    write_video_only_mp4,
)

SECONDS = 1.0
TARGET = 16000


def _refused(path: Path, problem: AudioProblem, options: AudioOptions | None = None) -> AudioError:
    """Decode `path`, expect AudioError with `problem`, check it names the file."""
    with pytest.raises(AudioError) as caught:
        decode(path, options or AudioOptions())
    err = caught.value
    assert err.problem is problem, f"expected {problem}, got {err.problem}: {err}"
    assert err.path == str(path)
    assert str(path) in str(err)
    assert err.detail and err.detail in str(err)
    return err


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


# ----------------------------------------------------------------------------- formats

# id: (writer, suffix, source rate, channels, duration tolerance in seconds)
Writer = Callable[[Path], Path]
FORMATS: dict[str, tuple[Writer, str, int, int, float]] = {
    "wav-pcm16-16k": (partial(write_tone_wav, rate=16000, encoding="pcm16"), "wav", 16000, 1, 0.01),
    "wav-pcm24-8k": (partial(write_tone_wav, rate=8000, encoding="pcm24"), "wav", 8000, 1, 0.01),
    "wav-pcm32-22k-stereo": (
        partial(write_tone_wav, rate=22050, channels=2, encoding="pcm32"), "wav", 22050, 2, 0.01
    ),
    "wav-float-32k": (partial(write_tone_wav, rate=32000, encoding="float"), "wav", 32000, 1, 0.01),
    "wav-mulaw-8k": (partial(write_tone_wav, rate=8000, encoding="mulaw"), "wav", 8000, 1, 0.01),
    "wav-alaw-8k": (partial(write_tone_wav, rate=8000, encoding="alaw"), "wav", 8000, 1, 0.01),
    "wav-gsm-8k": (partial(write_tone_wav, rate=8000, encoding="gsm"), "wav", 8000, 1, 0.05),
    "raw-gsm-8k": (partial(write_raw_gsm, seconds=SECONDS), "gsm", 8000, 1, 0.05),
    "mp3-44k-stereo": (
        partial(write_tone_av, rate=44100, channels=2, seconds=SECONDS, codec="libmp3lame"),
        "mp3", 44100, 2, 0.06,
    ),
    "flac-44k": (
        partial(write_tone_sf, rate=44100, channels=1, seconds=SECONDS, fmt="FLAC"),
        "flac", 44100, 1, 0.01,
    ),
    "ogg-vorbis-48k-stereo": (
        partial(write_tone_sf, rate=48000, channels=2, seconds=SECONDS, fmt="OGG"),
        "ogg", 48000, 2, 0.06,
    ),
    "ogg-opus-48k": (
        partial(write_tone_av, rate=48000, channels=1, seconds=SECONDS, codec="libopus",
                container="ogg"),
        "opus", 48000, 1, 0.06,
    ),
    "m4a-aac-48k-stereo": (
        partial(write_tone_av, rate=48000, channels=2, seconds=SECONDS, codec="aac"),
        "m4a", 48000, 2, 0.06,
    ),
    "m4a-aac-8k": (
        partial(write_tone_av, rate=8000, channels=1, seconds=SECONDS, codec="aac"),
        "m4a", 8000, 1, 0.2,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(FORMATS))
def test_decodes_format_to_16k_per_channel(tmp_path: Path, name: str) -> None:
    writer, suffix, rate, channels, tolerance = FORMATS[name]
    path = writer(tmp_path / f"call.{suffix}")
    before = _digest(path)

    audio = decode(path)

    assert isinstance(audio, DecodedAudio)
    assert audio.sample_rate == TARGET
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 2 and audio.num_channels == channels
    assert abs(audio.duration - SECONDS) <= tolerance, audio.duration
    assert float(np.abs(audio.samples).max()) <= 1.0
    assert audio.info.sample_rate == rate
    assert audio.info.channels == channels
    assert audio.info.duration == audio.duration  # info carries the decoded duration
    assert audio.info.size_bytes == path.stat().st_size
    assert audio.info.path == str(path)
    assert audio.info.codec and audio.info.container
    # the tone survived decoding and resampling on every channel
    for ch in range(channels):
        assert abs(dominant_freq(audio.channel(ch), TARGET) - CHANNEL_FREQS[ch]) < 15
    assert _digest(path) == before  # the input is never modified


@pytest.mark.parametrize(
    ("suffix", "writer"),
    [
        ("wav", lambda p: write_tone_wav(p, 8000, 2, 2.0, "pcm16")),
        ("wav", lambda p: write_tone_wav(p, 8000, 2, 2.0, "mulaw")),
        ("flac", lambda p: write_tone_sf(p, 48000, 2, 2.0, "FLAC")),
        ("mp3", lambda p: write_tone_av(p, 44100, 2, 2.0, "libmp3lame")),
        ("opus", lambda p: write_tone_av(p, 48000, 2, 2.0, "libopus", "ogg")),
    ],
    ids=["pcm16", "mulaw", "flac-48k", "mp3-44k", "opus"],
)
def test_stereo_channels_stay_apart(
    tmp_path: Path, suffix: str, writer: Callable[[Path], Path]
) -> None:
    path = writer(tmp_path / f"stereo.{suffix}")
    audio = AudioDecoder()(path)
    assert audio.num_channels == 2
    left, right = audio.channel(0), audio.channel(1)
    assert abs(dominant_freq(left, TARGET) - CHANNEL_FREQS[0]) < 15
    assert abs(dominant_freq(right, TARGET) - CHANNEL_FREQS[1]) < 15

    # and the other channel's tone is absent, not merely weaker (no mixing)
    def power_at(x: np.ndarray, f: float) -> float:
        spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / TARGET)
        return float(spec[np.abs(freqs - f) < 20].sum())

    assert power_at(left, CHANNEL_FREQS[1]) < 1e-3 * power_at(left, CHANNEL_FREQS[0])
    assert power_at(right, CHANNEL_FREQS[0]) < 1e-3 * power_at(right, CHANNEL_FREQS[1])
    # mono() mixes, channel() does not
    assert audio.mono().shape == left.shape


def test_probe_reports_stated_format_without_decoding(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "call.wav", 8000, 2, 2.5, "mulaw")
    info = probe(path, AudioOptions())
    assert info == AudioInfo(
        path=str(path),
        container="wav",
        codec="pcm_mulaw",
        sample_rate=8000,
        channels=2,
        duration=2.5,
        size_bytes=path.stat().st_size,
    )


def test_decode_accepts_str_path_and_custom_target_rate(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "call.wav", 44100, 1, 1.0, "pcm16")
    audio = decode(str(path), AudioOptions(target_rate_hz=8000))
    assert audio.sample_rate == 8000
    assert audio.samples.shape == (1, 8000)


def test_small_truncation_within_tolerance_is_accepted(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "call.wav", 16000, 1, 4.0, "pcm16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3200])  # 0.1 s short of the header's 4 s
    audio = decode(path)
    assert abs(audio.duration - 3.9) < 0.01


def test_clips_to_unit_range(tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "loud.wav"
    sf.write(path, np.full(16000, 1.8, dtype=np.float32), 16000, subtype="FLOAT")
    audio = decode(path)
    assert float(audio.samples.max()) == 1.0


# ---------------------------------------------------------------------------- refusals


def test_missing_file(tmp_path: Path) -> None:
    _refused(tmp_path / "nope.wav", AudioProblem.NOT_FOUND)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    _refused(path, AudioProblem.EMPTY)


def test_directory_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "dir.wav"
    path.mkdir()
    _refused(path, AudioProblem.NOT_AUDIO)


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("Call notes: customer asked about the refund.\n" * 20)
    _refused(path, AudioProblem.NOT_AUDIO)


@pytest.mark.parametrize("suffix", ["wav", "mp3", "flac", "ogg", "m4a"])
def test_random_garbage(tmp_path: Path, suffix: str) -> None:
    """Junk under an audio name (FFmpeg even guesses the format from the name) is NOT_AUDIO."""
    path = tmp_path / f"garbage.{suffix}"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    _refused(path, AudioProblem.NOT_AUDIO)


def test_video_without_audio(tmp_path: Path) -> None:
    path = write_video_only_mp4(tmp_path / "screen.mp4")
    err = _refused(path, AudioProblem.NO_AUDIO_STREAM)
    assert "video" in err.detail


def test_zero_duration_wav(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "silent.wav", 8000, 1, 0.0, "pcm16")
    _refused(path, AudioProblem.ZERO_DURATION)


def test_too_large(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "call.wav", 16000, 1, 1.0, "pcm16")
    _refused(path, AudioProblem.TOO_LARGE, AudioOptions(max_size_bytes=10_000))


@pytest.mark.parametrize(
    ("suffix", "writer"),
    [
        ("wav", lambda p: write_tone_wav(p, 8000, 1, 3.0, "pcm16")),
        ("mp3", lambda p: write_tone_av(p, 16000, 1, 3.0, "libmp3lame")),
    ],
    ids=["wav", "mp3"],
)
def test_too_long_from_container(
    tmp_path: Path, suffix: str, writer: Callable[[Path], Path]
) -> None:
    path = writer(tmp_path / f"long.{suffix}")
    with pytest.raises(AudioError) as caught:
        probe(path, AudioOptions(max_duration_s=1.0))  # refused before any decoding
    assert caught.value.problem is AudioProblem.TOO_LONG
    assert str(path) in str(caught.value)
    _refused(path, AudioProblem.TOO_LONG, AudioOptions(max_duration_s=1.0))


def test_too_long_despite_lying_header(tmp_path: Path) -> None:
    """A GSM WAV whose fact chunk claims 10 ms: probing passes, decoding stops at the limit."""
    path = write_tone_wav(tmp_path / "liar.wav", 8000, 1, 3.0, "gsm")
    data = bytearray(path.read_bytes())
    fact = data.index(b"fact")
    data[fact + 8 : fact + 12] = struct.pack("<I", 80)  # 80 samples = 10 ms
    path.write_bytes(bytes(data))
    assert probe(path, AudioOptions(max_duration_s=1.0)).duration == 0.01
    err = _refused(path, AudioProblem.TOO_LONG, AudioOptions(max_duration_s=1.0))
    assert "decoded more than" in err.detail


def test_unsupported_rate(tmp_path: Path) -> None:
    high = write_tone_wav(tmp_path / "hifi.wav", 96000, 1, 0.5, "pcm16")
    low = write_tone_wav(tmp_path / "lofi.wav", 4000, 1, 0.5, "pcm16")
    assert "96000" in _refused(high, AudioProblem.UNSUPPORTED_RATE).detail
    assert "4000" in _refused(low, AudioProblem.UNSUPPORTED_RATE).detail


def test_unsupported_channels(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "surround.wav", 16000, 3, 0.5, "pcm16")
    _refused(path, AudioProblem.UNSUPPORTED_CHANNELS)


def test_truncated_wav_is_partial_decode(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "cut.wav", 16000, 1, 10.0, "pcm16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header still says 10 s
    before = _digest(path)
    err = _refused(path, AudioProblem.PARTIAL_DECODE)
    assert "10.000 s" in err.detail and "4.999 s" in err.detail  # both durations named
    assert _digest(path) == before


def test_header_only_wav_is_partial_decode(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "cut.wav", 16000, 1, 10.0, "pcm16")
    path.write_bytes(path.read_bytes()[:44])
    _refused(path, AudioProblem.PARTIAL_DECODE)


def test_truncated_flac_is_partial_decode(tmp_path: Path) -> None:
    path = write_tone_sf(tmp_path / "cut.flac", 16000, 1, 6.0, "FLAC")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    _refused(path, AudioProblem.PARTIAL_DECODE)


def _overwrite(path: Path, start: int, stop: int, seed: int) -> None:
    """Replace bytes [start, stop) of a file with seeded random bytes (a damaged copy)."""
    data = path.read_bytes()
    noise = np.random.default_rng(seed).integers(0, 256, stop - start, dtype=np.uint8)
    path.write_bytes(data[:start] + noise.tobytes() + data[stop:])


@pytest.mark.parametrize(
    ("suffix", "writer"),
    [
        ("mp3", partial(write_tone_av, rate=16000, channels=1, seconds=3.0, codec="libmp3lame")),
        ("ogg", partial(write_tone_sf, rate=16000, channels=1, seconds=3.0, fmt="OGG")),
        ("m4a", partial(write_tone_av, rate=16000, channels=1, seconds=3.0, codec="aac")),
    ],
    ids=["mp3", "ogg-vorbis", "m4a-aac"],
)
def test_random_bytes_mid_stream_is_corrupt(tmp_path: Path, suffix: str, writer: Writer) -> None:
    path = writer(tmp_path / f"bad.{suffix}")
    size = path.stat().st_size
    _overwrite(path, size // 3, 2 * size // 3, seed=3)
    _refused(path, AudioProblem.CORRUPT)


def test_random_bytes_after_valid_mp3_start_is_refused(tmp_path: Path) -> None:
    """Garbage from 1/8 of the file on: decoding breaks off. The MP3 demuxer skips most
    random bytes while hunting for frame sync, so depending on the bytes this looks either
    like damage (CORRUPT) or like a cut file (PARTIAL_DECODE); never a silent success."""
    path = write_tone_av(tmp_path / "bad.mp3", 16000, 1, 3.0, "libmp3lame")
    size = path.stat().st_size
    for seed in range(4):
        _overwrite(path, size // 8, size, seed=seed)
        with pytest.raises(AudioError) as caught:
            decode(path)
        assert caught.value.problem in (AudioProblem.CORRUPT, AudioProblem.PARTIAL_DECODE)
        assert str(path) in str(caught.value)


def test_m4a_cut_before_its_index_is_corrupt(tmp_path: Path) -> None:
    """FFmpeg writes the moov atom last; a cut M4A starts like one but cannot be opened."""
    path = write_tone_av(tmp_path / "cut.m4a", 16000, 1, 3.0, "aac")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    err = _refused(path, AudioProblem.CORRUPT)
    assert "MP4/M4A" in err.detail


def test_permission_denied(tmp_path: Path) -> None:
    """A file the process may not read. Root ignores file modes, so as root the check runs
    in a forked child that drops to uid/gid 65534 (nobody) first: a real EACCES, no mocks."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # the directory stays traversable; only the file is locked
        path = write_tone_wav(Path(tmp) / "locked.wav", 8000, 1, 0.5, "pcm16")
        os.chmod(path, 0)
        try:
            if os.geteuid() != 0:
                _refused(path, AudioProblem.UNREADABLE)
                return
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: drop privileges, try to decode, report the outcome
                code = b"no error"
                try:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                    decode(path)
                except AudioError as exc:
                    code = f"{exc.problem.value}|{exc}".encode()
                except BaseException as exc:
                    code = f"unexpected|{exc!r}".encode()
                finally:
                    os.write(write_fd, code)
                    os._exit(0)
            os.close(write_fd)
            with os.fdopen(read_fd, "rb") as pipe:
                outcome = pipe.read().decode()
            os.waitpid(pid, 0)
            problem, _, message = outcome.partition("|")
            assert problem == AudioProblem.UNREADABLE.value, outcome
            assert str(path) in message
        finally:
            os.chmod(path, 0o644)
