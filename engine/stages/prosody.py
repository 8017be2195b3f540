"""Prosody of each utterance: pitch, loudness and speaking rate, measured on its own channel.

Method (all frame-wise and vectorised in numpy; no per-frame Python loop)
-------------------------------------------------------------------------
1. The utterance's samples are cut from its channel (stereo: the channel most of its words are
   on, or ``channel_of``; mono: channel 0) and split into frames of ``frame_s`` every ``hop_s``.
2. *Speech floor*: a frame is speech when its RMS level is at least
   ``max(p95 - dynamic_range_db, silence_dbfs)``, p95 being the 95th percentile of the
   utterance's frame levels. The floor is relative, so scaling a signal by k moves every
   level by 20·log10(k) and keeps the same frames.
3. *energy_db*: ``10·log10`` of the mean power of the speech frames (dBFS; a full-scale sine
   reads -3 dB).
4. *pitch*: normalised cross-correlation (NCCF, as in RAPT) of each speech frame of the
   signal low-passed at ``pitch_lowpass_hz`` with the signal ``lag`` samples later, for lags
   covering ``pitch_min_hz``..``pitch_max_hz`` (one batched FFT for all frames). Each NCCF
   peak's height and position are refined by parabolic interpolation; the frame's lag is the
   peak that is highest after a small ``octave_cost`` per octave of lag (as in Praat: a
   periodic frame correlates as well at two periods as at one, and the cost makes the single
   period win). A frame is voiced when that peak reaches ``voicing_threshold``; the
   utterance's pitch is the median F0 of its voiced frames in semitones re 100 Hz, or None
   with fewer than ``min_voiced_frames``. Telephone audio lacks the fundamental (300 Hz
   high-pass), but the periodicity, and so the NCCF peak, survives.
5. *rate*: syllable nuclei are peaks of the frame energy of the signal band-passed to
   ``rate_band_hz`` (vowel formants), smoothed over ``rate_smooth_s``, with at least
   ``rate_prominence_db`` prominence, ``rate_min_gap_s`` apart and on speech frames.
   rate = peaks per second of speech (speech frames x hop). With no peak the rate falls
   back to the utterance's words per second (0.0 when it has no words either).

Audio above ``analysis_rate_hz`` (default 8 kHz) is resampled to it first. Speed: about
20–30 ms for a 20 s call on one CPU core (mostly the FFTs).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy.signal import butter, find_peaks, firwin, resample_poly, sosfilt

from engine.errors import ConfigError
from engine.types import DecodedAudio, Prosody, Utterance

__all__ = ["ProsodyExtractor", "ProsodyOptions", "semitones", "utterance_channel"]

log = logging.getLogger(__name__)

_TINY = 1e-12  # power floor so silent frames give a finite level (-120 dB)


def semitones(f0_hz: float) -> float:
    """A frequency in semitones relative to 100 Hz (the unit of ``Prosody.pitch``)."""
    return 12.0 * math.log2(f0_hz / 100.0)


@dataclass(frozen=True)
class ProsodyOptions:
    """How prosody is measured (see the module docstring for the method).

    frame_s / hop_s: analysis frame length and step (default 30 ms / 10 ms; 30 ms holds
        about two periods of the lowest pitch).
    pitch_min_hz / pitch_max_hz: F0 search range (default 60–400 Hz, adult telephone speech).
    voicing_threshold: least NCCF for a voiced frame (default 0.6).
    octave_cost: NCCF a candidate peak loses per octave of lag beyond the shortest searched
        (default 0.02, like Praat's octave cost): a perfectly periodic frame correlates as
        well at 2, 3.. periods, and the small cost makes the single period win.
    pitch_lowpass_hz: the pitch search runs on the signal low-passed here (default 1500 Hz:
        the lower harmonics carry the period, and the smooth correlation they give peaks
        between integer lags without the sub-harmonic errors of a full-band signal); None: off.
    min_voiced_frames: fewer voiced frames give pitch None (default 5, i.e. 50 ms).
    dynamic_range_db: frames more than this below the utterance's 95th-percentile frame level
        are not speech (default 25 dB).
    silence_dbfs: frames below this are never speech (default -60 dBFS).
    rate_band_hz: band whose energy envelope marks syllable nuclei (default 300–2000 Hz).
    rate_smooth_s: moving-average length of the envelope (default 50 ms).
    rate_prominence_db: least prominence of a nucleus peak (default 3 dB).
    rate_min_gap_s: least distance between nuclei (default 0.1 s: at most 10 syllables/s).
    min_duration_s: shorter utterances (after clipping to the audio) give None (default 0.2 s).
    analysis_rate_hz: audio at a higher rate is resampled to this first (default 8000 Hz: it
        holds all of telephone speech and quarters the work at 16 kHz); None keeps the rate.
        Every measurement, energy included, is taken in this band.
    """

    frame_s: float = 0.030
    hop_s: float = 0.010
    pitch_min_hz: float = 60.0
    pitch_max_hz: float = 400.0
    voicing_threshold: float = 0.6
    octave_cost: float = 0.02
    pitch_lowpass_hz: float | None = 1500.0
    min_voiced_frames: int = 5
    dynamic_range_db: float = 25.0
    silence_dbfs: float = -60.0
    rate_band_hz: tuple[float, float] = (300.0, 2000.0)
    rate_smooth_s: float = 0.05
    rate_prominence_db: float = 3.0
    rate_min_gap_s: float = 0.1
    min_duration_s: float = 0.2
    analysis_rate_hz: int | None = 8000

    def __post_init__(self) -> None:
        if not 0 < self.hop_s <= self.frame_s:
            raise ConfigError(f"need 0 < hop_s <= frame_s, got {self.hop_s}, {self.frame_s}")
        if not 0 < self.pitch_min_hz < self.pitch_max_hz:
            raise ConfigError(
                f"need 0 < pitch_min_hz < pitch_max_hz, got {self.pitch_min_hz}, "
                f"{self.pitch_max_hz}"
            )
        if not 0 < self.voicing_threshold < 1 or self.octave_cost < 0:
            raise ConfigError("voicing_threshold must be in (0, 1) and octave_cost >= 0")
        if self.min_voiced_frames < 1:
            raise ConfigError(f"min_voiced_frames must be >= 1, got {self.min_voiced_frames}")
        low, high = self.rate_band_hz
        if not 0 <= low < high:
            raise ConfigError(f"rate_band_hz must be (low, high) with low < high, got {low, high}")
        if self.analysis_rate_hz is not None and self.analysis_rate_hz < 2 * self.rate_band_hz[1]:
            raise ConfigError("analysis_rate_hz must be at least twice the top of rate_band_hz")
        if self.dynamic_range_db <= 0 or self.min_duration_s < 0:
            raise ConfigError("dynamic_range_db must be positive and min_duration_s >= 0")


def utterance_channel(utterance: Utterance) -> int:
    """The channel most of the utterance's words are on (ties: the lowest; no words: 0)."""
    if not utterance.words:
        return 0
    counts = Counter(w.channel for w in utterance.words)
    best = max(counts.values())
    return min(ch for ch, n in counts.items() if n == best)


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Frames, lags and filters at one analysis sample rate."""

    frame: int
    hop: int
    min_lag: int
    max_lag: int
    n_fft: int  # the next power of 2 >= frame + max_lag + 1
    octave_bias: np.ndarray  # octave_cost x octaves above min_lag, per searched lag
    pitch_sos: np.ndarray | None  # low-pass for the pitch search
    band_sos: np.ndarray  # band-pass for the syllable envelope
    smooth: int
    min_gap: int


class ProsodyExtractor:
    """Pipeline stage: one Prosody (or None) per utterance, measured on its channel."""

    def __init__(self, options: ProsodyOptions | None = None) -> None:
        self.options = options or ProsodyOptions()
        self._geometry: dict[int, _Geometry] = {}
        self._resamplers: dict[int, tuple[int, int, np.ndarray]] = {}

    def measure(
        self,
        audio: DecodedAudio,
        utterances: Sequence[Utterance],
        channel_of: Callable[[Utterance], int] | None = None,
    ) -> tuple[Prosody | None, ...]:
        """One Prosody per utterance, in order; None for an utterance shorter than
        ``min_duration_s``, outside the audio, or without a frame above ``silence_dbfs``.

        channel_of: the channel to measure an utterance on (default: the channel most of its
        words are on, 0 without words); a channel the recording lacks falls back to 0.
        """
        pick = channel_of or utterance_channel
        out: list[Prosody | None] = []
        for utt in utterances:
            channel = pick(utt)
            if not 0 <= channel < audio.num_channels:
                log.debug(
                    "channel %d not in a %d-channel recording: using 0", channel, audio.num_channels
                )
                channel = 0
            out.append(self._one(audio, channel, utt))
        return tuple(out)

    # ----------------------------------------------------------------------------------

    def _geometry_for(self, sr: int) -> _Geometry:
        geo = self._geometry.get(sr)
        if geo is None:
            o = self.options
            frame = max(1, round(o.frame_s * sr))
            max_lag = math.ceil(sr / o.pitch_min_hz)
            min_lag = max(2, math.floor(sr / o.pitch_max_hz))
            nyquist = sr / 2
            pitch_sos = None
            if o.pitch_lowpass_hz is not None and o.pitch_lowpass_hz < 0.9 * nyquist:
                pitch_sos = butter(4, o.pitch_lowpass_hz, btype="low", fs=sr, output="sos")
            low, high = o.rate_band_hz
            band = (max(low, 1.0), min(high, 0.95 * nyquist))
            geo = _Geometry(
                frame=frame,
                hop=max(1, round(o.hop_s * sr)),
                min_lag=min_lag,
                max_lag=max_lag,
                n_fft=1 << (frame + max_lag).bit_length(),
                octave_bias=o.octave_cost * np.log2(np.arange(min_lag, max_lag + 1) / min_lag),
                pitch_sos=pitch_sos,
                band_sos=butter(2, band, btype="band", fs=sr, output="sos"),
                smooth=max(1, round(o.rate_smooth_s / o.hop_s)),
                min_gap=max(1, round(o.rate_min_gap_s / o.hop_s)),
            )
            self._geometry[sr] = geo
        return geo

    def _resampler(self, sr: int, target: int) -> tuple[int, int, np.ndarray]:
        """resample_poly's up/down factors and its default anti-alias filter, designed once."""
        found = self._resamplers.get(sr)
        if found is None:
            g = math.gcd(sr, target)
            up, down = target // g, sr // g
            half = 10 * max(up, down)  # resample_poly's default design
            fir = firwin(2 * half + 1, 1.0 / max(up, down), window=("kaiser", 5.0))
            found = self._resamplers[sr] = (up, down, fir * up)
        return found

    def _one(self, audio: DecodedAudio, channel: int, utt: Utterance) -> Prosody | None:
        o = self.options
        sr = audio.sample_rate
        n = audio.samples.shape[1]
        s0, s1 = max(0, round(utt.start * sr)), min(n, round(utt.end * sr))
        if s1 - s0 < max(1, o.min_duration_s * sr):
            return None
        x = np.asarray(audio.samples[channel, s0:s1], dtype=np.float64)
        if o.analysis_rate_hz is not None and sr > o.analysis_rate_hz:
            up, down, fir = self._resampler(sr, o.analysis_rate_hz)
            x = resample_poly(x, up, down, window=fir)
            sr = o.analysis_rate_hz
        geo = self._geometry_for(sr)
        if len(x) < geo.frame:
            return None
        x = x - x.mean()
        starts = np.arange(1 + (len(x) - geo.frame) // geo.hop) * geo.hop

        power = _frame_power(x, starts, geo.frame)
        level = 10.0 * np.log10(power + _TINY)
        floor = max(float(np.percentile(level, 95)) - o.dynamic_range_db, o.silence_dbfs)
        speech = level >= floor
        n_speech = int(speech.sum())
        if n_speech == 0:
            return None
        energy_db = float(10.0 * np.log10(np.mean(power[speech]) + _TINY))
        pitch = self._pitch(x, starts[speech], geo, sr)
        rate = self._rate(x, starts, speech, geo, utt)
        return Prosody(pitch=pitch, energy_db=round(energy_db, 3), rate=round(rate, 4))

    def _pitch(self, x: np.ndarray, starts: np.ndarray, geo: _Geometry, sr: int) -> float | None:
        o = self.options
        if len(starts) < o.min_voiced_frames:
            return None
        if geo.pitch_sos is not None:
            x = sosfilt(geo.pitch_sos, x)
        # each frame correlates with the frame + max_lag + 1 samples from its start; the tail is
        # zero-padded (those lags then correlate with silence and simply score low)
        span = geo.frame + geo.max_lag + 1
        padded = np.concatenate([x, np.zeros(span)])
        segs = sliding_window_view(padded.astype(np.float32), span)[starts]
        # r[tau] = sum_j head[j] * seg[j + tau]: the circular correlation is exact for
        # tau <= max_lag + 1 because n_fft >= frame + max_lag + 1
        head_spec = sfft.rfft(segs[:, : geo.frame], geo.n_fft, axis=1)
        seg_spec = sfft.rfft(segs, geo.n_fft, axis=1)
        r = sfft.irfft(np.conj(head_spec) * seg_spec, geo.n_fft, axis=1)[:, : geo.max_lag + 2]
        cum = np.concatenate([[0.0], np.cumsum(np.square(padded))])
        at = starts[:, None] + np.arange(geo.max_lag + 2)[None, :]
        e_lag = cum[at + geo.frame] - cum[at]  # energy of seg[tau : tau + frame]
        nccf = r / np.sqrt(e_lag[:, :1] * e_lag + _TINY)

        core = nccf[:, geo.min_lag : geo.max_lag + 1]
        left = nccf[:, geo.min_lag - 1 : geo.max_lag]
        right = nccf[:, geo.min_lag + 1 : geo.max_lag + 2]
        peaks = (core >= left) & (core > right)
        # each peak's top between integer lags: the vertex of the parabola through its
        # neighbours (a period rarely falls on an integer lag, where a full-band NCCF may
        # drop well below the peak's true height)
        curve = left - 2.0 * core + right  # < 0 at a strict maximum; 0 on a flat top
        bent = curve < -_TINY
        safe = np.where(bent, curve, -1.0)
        shift = np.where(bent, np.clip(0.5 * (left - right) / safe, -0.5, 0.5), 0.0)
        height = core - 0.25 * (left - right) * shift
        ranked = np.where(peaks, height - geo.octave_bias, -np.inf)
        pick = np.argmax(ranked, axis=1)
        rows = np.arange(len(core))
        voiced = peaks[rows, pick] & (height[rows, pick] >= o.voicing_threshold)
        if int(voiced.sum()) < o.min_voiced_frames:
            return None
        rows, pick = rows[voiced], pick[voiced]
        lag = geo.min_lag + pick + shift[rows, pick]
        return round(float(np.median(12.0 * np.log2(sr / lag / 100.0))), 3)

    def _rate(
        self, x: np.ndarray, starts: np.ndarray, speech: np.ndarray, geo: _Geometry, utt: Utterance
    ) -> float:
        o = self.options
        band = _frame_power(sosfilt(geo.band_sos, x), starts, geo.frame)
        if geo.smooth > 1:
            band = np.convolve(band, np.ones(geo.smooth) / geo.smooth, mode="same")
        env = 10.0 * np.log10(band + _TINY)
        peaks, _ = find_peaks(env, prominence=o.rate_prominence_db, distance=geo.min_gap)
        peaks = peaks[speech[peaks]]
        if len(peaks) > 0:
            return len(peaks) / (int(speech.sum()) * o.hop_s)
        duration = utt.end - utt.start
        return len(utt.words) / duration if utt.words and duration > 0 else 0.0


def _frame_power(x: np.ndarray, starts: np.ndarray, frame: int) -> np.ndarray:
    """Mean square of x[s : s + frame] for each start s."""
    cum = np.concatenate([[0.0], np.cumsum(np.square(x))])
    return np.asarray((cum[starts + frame] - cum[starts]) / frame)
