"""Generators for test recordings: tones written in every format callscope reads.

Everything is synthesised on the spot (numpy tones, encoded with soundfile, PyAV or sox),
so tests need no network and no shared data. Stereo fixtures put a different tone on
each channel so a test can tell whether the channels stayed apart.
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

# Tone per channel: channel 0 (left, agent) and channel 1 (right, customer).
CHANNEL_FREQS: tuple[float, float] = (440.0, 1000.0)

# encoding name -> libsndfile WAV subtype
WAV_SUBTYPES = {
    "pcm16": "PCM_16",
    "pcm24": "PCM_24",
    "pcm32": "PCM_32",
    "float": "FLOAT",
    "mulaw": "ULAW",
    "alaw": "ALAW",
    "gsm": "GSM610",
}


def tones(
    rate: int, channels: int, seconds: float, freqs: tuple[float, ...] = CHANNEL_FREQS
) -> np.ndarray:
    """Float32 samples shape (channels, n): a sine per channel at 0.5 amplitude."""
    t = np.arange(round(rate * seconds)) / rate
    rows = [0.5 * np.sin(2 * np.pi * freqs[c % len(freqs)] * t) for c in range(channels)]
    return np.stack(rows).astype(np.float32)


def write_tone_wav(
    path: Path,
    rate: int = 16000,
    channels: int = 1,
    seconds: float = 1.0,
    encoding: str = "pcm16",
) -> Path:
    """A WAV of tones; encoding is one of WAV_SUBTYPES (pcm16/24/32, float, mulaw, alaw, gsm)."""
    sf.write(path, tones(rate, channels, seconds).T, rate, subtype=WAV_SUBTYPES[encoding])
    return path


def write_tone_sf(path: Path, rate: int, channels: int, seconds: float, fmt: str) -> Path:
    """A FLAC or Ogg Vorbis file of tones via libsndfile (fmt: 'FLAC' or 'OGG')."""
    subtype = "VORBIS" if fmt == "OGG" else None
    sf.write(path, tones(rate, channels, seconds).T, rate, format=fmt, subtype=subtype)
    return path


def write_tone_av(
    path: Path,
    rate: int,
    channels: int,
    seconds: float,
    codec: str,
    container: str | None = None,
) -> Path:
    """Encode tones with PyAV (e.g. codec 'libmp3lame', 'aac', 'libopus').

    The encoder gets float planar input and its own frame size; PyAV's resampler
    converts to whatever sample format the codec wants.
    """
    data = tones(rate, channels, seconds)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        ctx = stream.codec_context
        fmt = ctx.codec.audio_formats[0].name if ctx.codec.audio_formats else "fltp"
        resampler = av.AudioResampler(format=fmt, layout=layout, rate=ctx.sample_rate or rate)
        step = ctx.frame_size or 1024
        for start in range(0, data.shape[1], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, start : start + step]), format="fltp", layout=layout
            )
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for converted in resampler.resample(frame):
                out.mux(stream.encode(converted))
        for converted in resampler.resample(None):
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))
    return path


def write_raw_gsm(path: Path, seconds: float = 1.0) -> Path:
    """Raw GSM 06.10 (.gsm, 8 kHz mono); FFmpeg has no GSM encoder, so sox writes it."""
    sox = shutil.which("sox")
    if sox is None:
        raise RuntimeError("sox is needed to write raw GSM (apt-get install sox)")
    wav = write_tone_wav(path.with_suffix(".src.wav"), rate=8000, seconds=seconds)
    subprocess.run([sox, str(wav), "-t", "gsm", str(path)], check=True, capture_output=True)
    wav.unlink()
    return path


def write_video_only_mp4(path: Path, frames: int = 10) -> Path:
    """An MP4 holding a few MPEG-4 video frames and no audio stream."""
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), (i * 20) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def dominant_freq(samples: np.ndarray, rate: int) -> float:
    """The frequency (Hz) of the strongest FFT bin of one channel."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def hold_music(seconds: float = 20.0, rate: int = 16000) -> np.ndarray:
    """A plucked-note melody over a slowly pulsing bass: what callers hear on hold."""
    t = np.arange(int(rate * seconds)) / rate
    notes = [261.6, 329.6, 392.0, 523.3, 440.0, 349.2, 293.7, 392.0]
    music = 0.3 * np.sin(2 * np.pi * 130.8 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t))
    step = 1.25
    for i in range(int(seconds / step)):
        f = notes[i % len(notes)]
        on = (t >= i * step) & (t < (i + 1) * step)
        env = np.exp(-3 * (t[on] - i * step))
        music[on] += env * (np.sin(2 * np.pi * f * t[on]) + 0.5 * np.sin(4 * np.pi * f * t[on]))
    return (0.2 * music / np.abs(music).max()).astype(np.float32)
