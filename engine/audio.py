"""Probe and decode call recordings into float32 samples, one row per channel.

Every common container and codec FFmpeg reads (through PyAV) is accepted: WAV with PCM,
float, G.711 mu-law/A-law or GSM; raw GSM; MP3; FLAC; Ogg Vorbis/Opus; M4A/AAC. Each
channel is resampled on its own to `AudioOptions.target_rate_hz`, so the agent and the
customer of a stereo recording stay apart.

A recording that cannot be used is refused with an `AudioError` naming the file and a
specific `AudioProblem`; nothing is ever written next to, or instead of, the input file.

Limits of what can be detected: PCM, G.711 and GSM accept any bytes, so damage inside
such a stream decodes as noise; and a cut file is only caught when something states the
intended length (a WAV header, FLAC STREAMINFO, an MP3 Xing header, an MP4 index). Ogg
and raw streams are measured from what is there, so a cut there goes unnoticed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np

from engine.config import AudioOptions
from engine.errors import AudioError, AudioProblem
from engine.types import AudioInfo, DecodedAudio, ms

__all__ = ["SNIFF_BYTES", "AudioDecoder", "container_of", "decode", "probe"]

logger = logging.getLogger(__name__)

_DEFAULT_OPTIONS = AudioOptions()


# --------------------------------------------------------------------------------------
# WAV header: FFmpeg estimates a WAV file's duration from its size, so a file cut short
# looks complete to it. The RIFF header's `data` chunk size says how much audio the
# writer meant to store; read it ourselves to catch truncation.
# --------------------------------------------------------------------------------------

# Data sizes that streaming writers leave when they cannot seek back to fix the header
# (0: some recorders; 0x7FFFF000: sox writing to a pipe; 0xFFFFFFFF: FFmpeg and others).
_UNKNOWN_DATA_SIZES = frozenset({0, 0x7FFFF000, 0xFFFFFFFF})
# Format tags whose samples have a fixed byte size (block_align bytes per frame):
# PCM, IEEE float, A-law, mu-law, and WAVE_FORMAT_EXTENSIBLE (PCM/float in practice).
_FIXED_FRAME_TAGS = frozenset({0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE})
_MAX_CHUNKS = 64  # chunks to walk before `data`; guards against looping on junk


@dataclass(frozen=True, slots=True)
class _WavDurations:
    declared: float | None  # what the header's data size (or fact chunk) says; None: unknown
    present: float  # what the bytes actually in the file can hold


def _wav_durations(path: Path, file_size: int) -> _WavDurations | None:
    """Durations from a RIFF/WAVE header, or None when it is absent or inconclusive."""
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None  # not plain RIFF (RF64/W64 etc.): trust FFmpeg's duration
        fmt: tuple[int, int, int, int, int] | None = None  # tag, channels, rate, bps, align
        fact_frames: int | None = None
        for _ in range(_MAX_CHUNKS):
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                break
            body = fh.read(min(size, 64)) if chunk_id in (b"fmt ", b"fact") else b""
            if chunk_id == b"fmt " and len(body) >= 14:
                fmt = struct.unpack("<HHIIH", body[:14])
            elif chunk_id == b"fact" and len(body) >= 4:
                fact_frames = struct.unpack("<I", body[:4])[0]
            fh.seek(size + (size & 1) - len(body), os.SEEK_CUR)  # chunks are word-aligned
        else:
            return None
        data_start = fh.tell()
    if fmt is None:
        return None
    tag, _channels, rate, byte_rate, align = fmt
    available = max(0, file_size - data_start)
    declared: float | None
    if tag in _FIXED_FRAME_TAGS and align > 0 and rate > 0:
        declared, present = size // align / rate, available // align / rate
    elif byte_rate > 0:  # compressed (GSM, ADPCM): constant bytes per second
        declared, present = size / byte_rate, available / byte_rate
        if fact_frames and rate > 0:  # the fact chunk counts samples exactly
            declared = fact_frames / rate
    else:
        return None
    if size in _UNKNOWN_DATA_SIZES:  # a streaming writer's placeholder (fact is one too)
        declared = None
    return _WavDurations(declared=declared, present=present)


# --------------------------------------------------------------------------------------
# Probe
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Probe:
    info: AudioInfo
    declared: float | None  # the duration the file claims, when it claims one


def _refuse(path: Path | str, problem: AudioProblem, detail: str) -> AudioError:
    logger.info("refusing %s: %s: %s", path, problem.value, detail)
    return AudioError(str(path), problem, detail)


def _check_format(path: Path, rate: int, channels: int, options: AudioOptions) -> None:
    if rate and not options.min_rate_hz <= rate <= options.max_rate_hz:
        raise _refuse(
            path,
            AudioProblem.UNSUPPORTED_RATE,
            f"sample rate {rate} Hz is outside {options.min_rate_hz}-{options.max_rate_hz} Hz",
        )
    if channels > options.max_channels:
        raise _refuse(
            path,
            AudioProblem.UNSUPPORTED_CHANNELS,
            f"{channels} channels, at most {options.max_channels} are accepted",
        )


def _check_file(path: Path, options: AudioOptions) -> int:
    """Existence, type, size and readability; returns the size in bytes."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise _refuse(path, AudioProblem.NOT_FOUND, "no such file") from None
    except PermissionError as exc:
        raise _refuse(path, AudioProblem.UNREADABLE, f"permission denied: {exc}") from None
    except OSError as exc:
        raise _refuse(path, AudioProblem.UNREADABLE, f"cannot stat file: {exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, AudioProblem.NOT_AUDIO, "not a regular file")
    if st.st_size == 0:
        raise _refuse(path, AudioProblem.EMPTY, "file is empty (0 bytes)")
    if st.st_size > options.max_size_bytes:
        raise _refuse(
            path,
            AudioProblem.TOO_LARGE,
            f"file is {st.st_size} bytes, more than the limit of {options.max_size_bytes}",
        )
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except PermissionError as exc:
        raise _refuse(path, AudioProblem.UNREADABLE, f"permission denied: {exc}") from None
    except OSError as exc:
        raise _refuse(path, AudioProblem.UNREADABLE, f"cannot read file: {exc}") from None
    return st.st_size


# Leading bytes of the audio containers callers meet, to tell a damaged recording (CORRUPT)
# from a file that was never audio (NOT_AUDIO) when FFmpeg fails on it. Raw streams with no
# magic (raw GSM, MP3 without ID3, ADTS) are simply not recognised here.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "WAV"),
    (0, b"RF64", "WAV"),
    (0, b"BW64", "WAV"),
    (4, b"ftyp", "MP4/M4A"),
    (0, b"OggS", "Ogg"),
    (0, b"fLaC", "FLAC"),
    (0, b"ID3", "MP3"),
    (0, b"#!AMR", "AMR"),
    (0, b"FORM", "AIFF"),
    (0, b".snd", "AU"),
    (0, b"caff", "CAF"),
    (0, bytes.fromhex("3026b2758e66cf11"), "ASF/WMA"),
)


SNIFF_BYTES = 16
"""How many leading bytes `container_of` needs."""


def container_of(head: bytes) -> str | None:
    """The audio container a file's first `SNIFF_BYTES` bytes announce ("WAV", "FLAC",
    "Ogg", "MP3" (with an ID3 tag), "MP4/M4A", "AMR", "AIFF", "AU", "CAF", "ASF/WMA"), or None."""
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def _sniff(path: Path) -> str | None:
    """The audio container a file's first bytes announce, or None."""
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return None
    return container_of(head)


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except PermissionError as exc:
        raise _refuse(path, AudioProblem.UNREADABLE, f"permission denied: {exc}") from None
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
        kind = _sniff(path)
        if kind is not None:  # e.g. an M4A cut before its index (moov atom), a damaged Ogg
            raise _refuse(
                path, AudioProblem.CORRUPT, f"starts like a {kind} file but cannot be opened: {exc}"
            ) from None
        raise _refuse(
            path, AudioProblem.NOT_AUDIO, f"cannot be opened as an audio container: {exc}"
        ) from None


def _probe(path: Path, options: AudioOptions) -> _Probe:
    size = _check_file(path, options)
    with _open(path) as container:
        if not container.streams.audio:
            kinds = ", ".join(sorted({str(s.type) for s in container.streams})) or "no streams"
            raise _refuse(path, AudioProblem.NO_AUDIO_STREAM, f"no audio stream (found: {kinds})")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        rate, channels = int(ctx.sample_rate or 0), int(ctx.channels or 0)
        _check_format(path, rate, channels, options)
        declared: float | None = None
        limit_duration: float | None = None  # the duration a TOO_LONG check may trust
        wav = _wav_durations(path, size) if container.format.name == "wav" else None
        if wav is not None:  # the header's intent, and what the file can actually hold
            declared = wav.declared
            limit_duration = min(wav.present, wav.declared or wav.present)
        elif stream.duration is not None and stream.time_base is not None:
            declared = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            declared = container.duration / av.time_base
        if declared is not None and declared <= 0:
            declared = None  # "0" from a header is as good as unknown; decoding decides
        if limit_duration is None:
            limit_duration = declared
        if limit_duration is not None and limit_duration > options.max_duration_s:
            raise _refuse(
                path,
                AudioProblem.TOO_LONG,
                f"duration {limit_duration:.1f} s exceeds the limit of "
                f"{options.max_duration_s:.1f} s",
            )
        info = AudioInfo(
            path=str(path),
            container=container.format.name,
            codec=ctx.name,
            sample_rate=rate,
            channels=channels,
            duration=ms(declared or 0.0),
            size_bytes=size,
        )
    logger.debug("probed %s: %s", path, info)
    return _Probe(info=info, declared=declared)


def probe(path: str | Path, options: AudioOptions = _DEFAULT_OPTIONS) -> AudioInfo:
    """Check a recording without decoding it; AudioInfo.duration is the stated duration.

    Raises AudioError for a missing, unreadable, empty, too large, non-audio, too long,
    or out-of-range (sample rate, channels) file. The duration is 0.0 when the file
    does not state one.
    """
    return _probe(Path(path), options).info


# --------------------------------------------------------------------------------------
# Decode
# --------------------------------------------------------------------------------------


# Decoder errors tolerated only at the very end of a stream: writers such as sox leave a
# short final GSM block that FFmpeg rejects although every full block decoded, and a file
# cut mid-packet ends in one bad packet (then the shortfall decides: PARTIAL_DECODE).
# Errors followed by more than this many unread bytes are damage, not a cut: CORRUPT.
_MAX_TRAILING_ERRORS = 2
_TRAILING_SLACK_BYTES = 8192
_MAX_ERRORS = 32  # stop decoding a damaged file early rather than grinding through it


@dataclass(slots=True)
class _Decoding:
    """Mutable state of one decode: output chunks and what went wrong where."""

    chunks: list[np.ndarray] = dataclasses.field(default_factory=list)
    channels: int = 0
    source_seconds: float = 0.0  # decoded duration at the source rate
    errors: int = 0
    first_error: str = ""
    first_error_at: float = 0.0
    first_error_end: int = -1  # byte offset where the first bad packet ends; -1: unknown
    decoded_after_error: bool = False

    def take(self, frames: list[av.AudioFrame]) -> None:
        for out in frames:
            self.chunks.append(out.to_ndarray().reshape(self.channels, -1))

    def error(self, exc: Exception, packet: av.Packet | None = None) -> None:
        if not self.errors:
            self.first_error, self.first_error_at = str(exc), self.source_seconds
            if packet is not None and packet.pos is not None and packet.pos >= 0:
                self.first_error_end = packet.pos + packet.size
        self.errors += 1

    def only_trailing_errors(self, file_size: int) -> bool:
        """Whether the errors are just a bad last packet (no audio and little data after)."""
        near_end = (
            self.first_error_end < 0 or file_size - self.first_error_end <= _TRAILING_SLACK_BYTES
        )
        return near_end and not self.decoded_after_error and self.errors <= _MAX_TRAILING_ERRORS


def _run_decoder(path: Path, options: AudioOptions, state: _Decoding) -> None:
    target = options.target_rate_hz
    resampler: av.AudioResampler | None = None
    resampler_rate = 0
    with _open(path) as container:
        stream = container.streams.audio[0]
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:  # a bad packet: note it, go on
                    state.error(exc, packet)
                    if state.errors > _MAX_ERRORS:
                        break
                    continue
                for frame in frames:
                    if not isinstance(frame, av.AudioFrame) or frame.samples == 0:
                        continue
                    state.decoded_after_error = state.decoded_after_error or state.errors > 0
                    nb = frame.layout.nb_channels
                    if state.channels == 0:
                        state.channels = nb
                        _check_format(path, frame.sample_rate, nb, options)
                    elif nb != state.channels:
                        raise _refuse(
                            path,
                            AudioProblem.CORRUPT,
                            f"channel count changes mid-stream ({state.channels} -> {nb})",
                        )
                    if resampler is None or frame.sample_rate != resampler_rate:
                        if resampler is not None:  # rate changed mid-stream: drain, restart
                            state.take(resampler.resample(None))
                        # fltp keeps each channel in its own plane; layout=None keeps the
                        # input layout, so channels are resampled separately, never mixed.
                        resampler = av.AudioResampler(format="fltp", layout=None, rate=target)
                        resampler_rate = frame.sample_rate
                    frame.pts = None  # samples are concatenated; timestamps are not needed
                    state.take(resampler.resample(frame))
                    state.source_seconds += frame.samples / frame.sample_rate
                    if state.source_seconds > options.max_duration_s:  # a lying header
                        raise _refuse(
                            path,
                            AudioProblem.TOO_LONG,
                            f"decoded more than the limit of {options.max_duration_s:.1f} s",
                        )
        except av.error.FFmpegError as exc:  # the demuxer gave up: the rest is unreadable
            state.error(exc)
        if resampler is not None:
            state.take(resampler.resample(None))


def _decode(path: Path, found: _Probe, options: AudioOptions) -> DecodedAudio:
    state = _Decoding()
    _run_decoder(path, options, state)
    got, declared = state.source_seconds, found.declared
    shortfall = (declared - got) if declared is not None else 0.0
    partial = (
        declared is not None
        and shortfall > options.partial_tolerance * declared
        and shortfall > options.partial_min_gap_s
    )
    if state.errors:
        # Errors with good audio after them, or nothing decodable at all: damaged data.
        # Errors only at the very end: a cut-off last packet, judged by the shortfall below.
        if not state.only_trailing_errors(found.info.size_bytes) or got == 0:
            raise _refuse(
                path,
                AudioProblem.CORRUPT,
                f"{state.errors} decoder error(s), the first after {state.first_error_at:.3f} s "
                f"of audio ({got:.3f} s decoded): {state.first_error}",
            )
        if not partial:
            logger.warning("%s: ignored a decoder error at the end: %s", path, state.first_error)
    if partial:
        raise _refuse(
            path,
            AudioProblem.PARTIAL_DECODE,
            f"decoded {got:.3f} s of the {declared:.3f} s the file states "
            f"({shortfall:.3f} s missing; truncated or damaged)"
            + (f"; decoding stopped on: {state.first_error}" if state.errors else ""),
        )
    n = sum(c.shape[1] for c in state.chunks)
    if state.channels == 0 or n == 0:
        if found.declared is None and _sniff(path) is None:
            # FFmpeg took the file for a headerless stream (guessing from its name, say)
            # yet not one sample came out of it: junk, not an empty recording.
            raise _refuse(
                path,
                AudioProblem.NOT_AUDIO,
                f"FFmpeg guessed {found.info.container}/{found.info.codec} but no audio decoded",
            )
        raise _refuse(path, AudioProblem.ZERO_DURATION, "no audio samples could be decoded")
    if declared is not None and shortfall > 0.05:
        logger.warning(
            "%s: decoded %.3f s of a stated %.3f s (within the partial-decode tolerance)",
            path,
            got,
            declared,
        )

    target = options.target_rate_hz
    samples = np.ascontiguousarray(np.concatenate(state.chunks, axis=1), dtype=np.float32)
    np.clip(samples, -1.0, 1.0, out=samples)
    info = dataclasses.replace(found.info, duration=ms(samples.shape[1] / target))
    logger.info(
        "decoded %s: %s/%s %d Hz x%d -> %d Hz, %.3f s",
        path,
        info.container,
        info.codec,
        info.sample_rate,
        info.channels,
        target,
        info.duration,
    )
    return DecodedAudio(info=info, samples=samples, sample_rate=target)


class AudioDecoder:
    """Pipeline stage: probe a recording, then decode it to (channels, n) float32 at 16 kHz."""

    def __init__(self, options: AudioOptions = _DEFAULT_OPTIONS) -> None:
        self.options = options

    def __call__(self, path: str | Path) -> DecodedAudio:
        p = Path(path)
        return _decode(p, _probe(p, self.options), self.options)


def decode(path: str | Path, options: AudioOptions = _DEFAULT_OPTIONS) -> DecodedAudio:
    """Probe and decode one recording (see AudioDecoder)."""
    return AudioDecoder(options)(path)
