"""Stereo diarisation: one speaker per channel, found by per-channel speech activity detection.

Contact-centre recorders put the agent on one channel and the customer on the other, so
"who spoke when" is "when is there speech on each channel". The detector is an energy VAD,
vectorised over 20 ms frames (an hour of stereo takes a fraction of a second):

1. Frame energy in dB (mean square of each frame).
2. Adaptive noise floor per channel: the larger of the minimum of the smoothed energy over the
   preceding and over the following ``channel_floor_window_s``. Both windows of a speech frame
   hold pauses, so the floor stays at the line noise; a steady sound (hold music, hum) fills
   one of the two windows and lifts the floor to its own level, so it is not taken for speech.
   The floor never drops below the channel's loud level (99th percentile of frame energy)
   minus ``channel_floor_range_db``, nor below ``channel_floor_min_db``, so dither on a
   digitally silent stretch is not "speech", whatever the line level of the call.
3. Echo / leakage of the other channel: the coupling gain from the other channel is measured
   (a low percentile of the level difference while the other side dominates) and the
   expected leakage is the other channel's energy plus that gain. Independently a frame more
   than ``channel_leak_db`` below the other channel's simultaneous energy never counts.
4. Hysteresis: a region starts where the frame is ``channel_threshold_db`` above the floor
   and ``channel_echo_margin_db`` above the expected leakage, and goes on while it stays
   ``channel_threshold_low_db`` / ``channel_echo_margin_low_db`` above them.
5. Gaps shorter than ``channel_min_silence_s`` are bridged (pauses inside an utterance are
   speech), regions shorter than ``channel_min_speech_s`` are dropped, the rest are padded
   by ``channel_pad_s`` on each side.

Silero VAD per channel was measured against this and lost on both evaluation sets (DER and
about 60x the run time); vetoing energy regions with Silero changed nothing there. The method
and its defaults were chosen by DER; see ``benchmarks/channel_diarisation_eval.py``.

Limits: any non-stationary sound louder than the floor (a cough, a door, music with pauses)
counts as speech, and a steady sound shorter than ``channel_floor_window_s`` does too; quiet
double talk more than ``channel_leak_db`` under the other side is dropped as leakage.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

from engine.config import ChannelMap, DiariseOptions
from engine.errors import ConfigError
from engine.types import DecodedAudio, Diarisation, SpeakerTurn

_EPS = 1e-12


def frame_energy_db(samples: np.ndarray, frame: int) -> np.ndarray:
    """Mean-square energy in dB of consecutive non-overlapping frames, shape (channels, frames).

    A trailing partial frame is kept (its energy is taken over the samples it has).
    """
    channels, n = samples.shape
    frames = -(-n // frame)
    if frames == 0:
        return np.zeros((channels, 0), dtype=np.float64)
    full = n // frame
    out = np.empty((channels, frames), dtype=np.float64)
    if full:
        body = (
            samples[:, : full * frame].reshape(channels, full, frame).astype(np.float32, copy=False)
        )
        out[:, :full] = np.einsum("cfs,cfs->cf", body, body, dtype=np.float64) / frame
    if frames > full:
        tail = samples[:, full * frame :].astype(np.float64)
        out[:, full] = (tail**2).mean(axis=1)
    return 10.0 * np.log10(out + _EPS)


def _smooth_db(energy_db: np.ndarray, size: int) -> np.ndarray:
    """Moving average of energy in the power domain, returned in dB."""
    if size <= 1:
        return energy_db
    power = np.power(10.0, energy_db / 10.0)
    return 10.0 * np.log10(uniform_filter1d(power, size, axis=-1, mode="nearest") + _EPS)


def noise_floor_db(
    energy_db: np.ndarray, window: int, smooth: int, floor_min_db: float | np.ndarray
) -> np.ndarray:
    """Adaptive noise floor: max(min over the preceding window, min over the following window)."""
    if energy_db.shape[-1] == 0:
        return energy_db.copy()
    smoothed = _smooth_db(energy_db, smooth)
    window = max(int(window), 1)
    n = smoothed.shape[-1]
    if window >= n:
        # Short input: both one-sided windows cover (nearly) everything.
        floor = np.broadcast_to(smoothed.min(axis=-1, keepdims=True), smoothed.shape).copy()
    else:
        # origin=-(window // 2) turns the centred minimum into the leading-window minimum
        # [i, i + window); on the time-reversed signal it is the trailing one (i - window, i].
        half = window // 2
        future = minimum_filter1d(smoothed, window, axis=-1, mode="nearest", origin=-half)
        past = minimum_filter1d(smoothed[..., ::-1], window, axis=-1, mode="nearest", origin=-half)
        past = past[..., ::-1]
        floor = np.maximum(past, future)
    return np.maximum(floor, floor_min_db)


def hysteresis(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Frames in runs of `low` that contain at least one `high` frame (high implies low)."""
    low = low | high
    if not low.any():
        return low
    edges = np.diff(np.concatenate(([0], low.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    cum = np.concatenate(([0], np.cumsum(high)))
    keep = cum[ends] - cum[starts] > 0
    out = np.zeros_like(low)
    if keep.any():
        marks = np.zeros(low.size + 1, dtype=np.int32)
        np.add.at(marks, starts[keep], 1)
        np.add.at(marks, ends[keep], -1)
        out = np.cumsum(marks[:-1]) > 0
    return out


def mask_to_segments(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) frame indices of the runs of True in `mask`."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def clean_segments(
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    min_silence: float,
    min_speech: float,
    pad: float,
    duration: float,
) -> list[tuple[float, float]]:
    """Bridge short gaps, drop short regions, pad and merge; times in seconds."""
    if starts.size == 0:
        return []
    starts = starts.astype(np.float64)
    ends = ends.astype(np.float64)
    # Bridge gaps shorter than min_silence.
    gaps = starts[1:] - ends[:-1]
    new_run = np.concatenate(([True], gaps >= min_silence))
    group = np.cumsum(new_run) - 1
    g_starts = starts[new_run]
    g_ends = np.zeros(g_starts.size)
    np.maximum.at(g_ends, group, ends)
    keep = (g_ends - g_starts) >= min_speech
    g_starts = np.maximum(g_starts[keep] - pad, 0.0)
    g_ends = np.minimum(g_ends[keep] + pad, duration)
    if g_starts.size == 0:
        return []
    # Merge regions that touch after padding.
    new_run = np.concatenate(([True], g_starts[1:] > g_ends[:-1]))
    group = np.cumsum(new_run) - 1
    m_starts = g_starts[new_run]
    m_ends = np.zeros(m_starts.size)
    np.maximum.at(m_ends, group, g_ends)
    return list(zip(m_starts.tolist(), m_ends.tolist(), strict=True))


class ChannelDiariser:
    """Diarise a stereo call by detecting speech on each channel separately."""

    method = "channel"

    def __init__(self, options: DiariseOptions | None = None) -> None:
        # DiariseOptions validates the channel_* values itself.
        self.options = options if options is not None else DiariseOptions()

    def speech_masks(self, samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        """Per-frame speech decision, shape (2, frames), and the frame length in samples."""
        o = self.options
        frame = max(round(o.channel_frame_s * sample_rate), 1)
        fs = sample_rate / frame  # frames per second
        energy = frame_energy_db(samples, frame)
        # Lowest floor per channel: the channel's loud level minus the dynamic range, so that
        # dither under a quiet line is not speech, but never below the absolute minimum.
        loud = np.percentile(energy, 99.0, axis=-1, keepdims=True) if energy.shape[-1] else 0.0
        floor_min = np.maximum(loud - o.channel_floor_range_db, o.channel_floor_min_db)
        floor = noise_floor_db(
            energy,
            window=round(o.channel_floor_window_s * fs),
            smooth=max(round(o.channel_floor_smooth_s * fs), 1),
            floor_min_db=floor_min,
        )
        # Expected leakage from the other channel (echo can lag by a little: take the local max).
        spread = max(round(o.channel_echo_spread_s * fs), 1)
        other = energy[::-1]
        other_max = (
            maximum_filter1d(other, spread, axis=-1, mode="nearest") if spread > 1 else other
        )
        # Margin over the predicted leakage (+inf where no leakage was measured).
        over_leak = np.full_like(energy, np.inf)
        for c in range(2):
            gain = self._coupling_gain(energy[c], floor[c], energy[1 - c], floor[1 - c])
            if gain is not None:
                over_leak[c] = energy[c] - (other_max[c] + gain)
        snr = energy - floor
        not_leak = energy >= other - o.channel_leak_db
        high = (snr >= o.channel_threshold_db) & (over_leak >= o.channel_echo_margin_db) & not_leak
        low = (
            (snr >= o.channel_threshold_low_db)
            & (over_leak >= o.channel_echo_margin_low_db)
            & not_leak
        )
        masks = np.stack([hysteresis(high[c], low[c]) for c in range(2)])
        return masks, frame

    def _coupling_gain(
        self, own: np.ndarray, own_floor: np.ndarray, other: np.ndarray, other_floor: np.ndarray
    ) -> float | None:
        """Level of this channel relative to the other (dB) while the other side dominates.

        Returns None when there is too little single-talk of the other side to measure, or when
        the coupling is below the noise (no measurable leakage).
        """
        o = self.options
        # The other side talks (well above its floor) and dominates this channel: there this
        # channel holds only leakage and noise, or occasionally quieter double talk.
        loud_other = (other - other_floor >= o.channel_threshold_db + 10.0) & (other >= own + 6.0)
        if loud_other.sum() < 25:
            return None
        diff = own[loud_other] - other[loud_other]
        # Frames where this side also talks push the difference up; the lower half is echo
        # (or noise). The 40th percentile is robust to up to ~60 % double talk.
        gain = float(np.percentile(diff, 40))
        # If this channel sits at its noise floor there, the "gain" only measures noise.
        at_noise = float(np.percentile(own[loud_other] - own_floor[loud_other], 40))
        if at_noise < 3.0:
            return None
        return gain

    def __call__(self, audio: DecodedAudio, channel_map: ChannelMap) -> Diarisation:
        samples = np.asarray(audio.samples)
        if samples.ndim != 2 or samples.shape[0] != 2:
            raise ValueError(f"channel diarisation needs 2 channels, got shape {samples.shape}")
        o = self.options
        labels = (channel_map.left.value, channel_map.right.value)
        if labels[0] == labels[1]:
            raise ConfigError(f"channel map gives both channels the role {labels[0]!r}")
        sr = audio.sample_rate
        duration = samples.shape[1] / sr
        masks, frame = self.speech_masks(samples, sr)
        frame_s = frame / sr
        turns: list[SpeakerTurn] = []
        for c in range(2):
            starts, ends = mask_to_segments(masks[c])
            for start, end in clean_segments(
                starts * frame_s,
                np.minimum(ends * frame_s, duration),
                min_silence=o.channel_min_silence_s,
                min_speech=o.channel_min_speech_s,
                pad=o.channel_pad_s,
                duration=duration,
            ):
                turns.append(SpeakerTurn(labels[c], start, end))
        turns.sort(key=lambda t: (t.start, t.end, t.speaker))
        return Diarisation(turns=tuple(turns), method=self.method, speakers=labels)
