"""Evaluate stereo (per-channel) diarisation against reference RTTM.

Datasets (read from the shared data folder, never copied into the repository):

* ``diarization/libri_calls/*_8k_ulaw_stereo.wav`` with ``<id>.rttm`` (speaker A left, B right);
* the stereo calls of ``archive/<night>/calls.csv`` (``channel_layout`` starting with
  ``stereo``) with ``archive/rttm/<call_id>.rttm`` (agent left, customer right).

Methods:

* ``energy``: :class:`engine.stages.channel_diarise.ChannelDiariser` (the engine's stage);
* ``silero``: Silero VAD per channel via ``faster_whisper.vad.get_speech_timestamps``;
* ``energy+silero``: energy regions kept only where Silero also hears speech.

DER is pyannote.metrics' DiarizationErrorRate (optimal label mapping, overlap scored) at
collar 0.25 s and 0 s; the "total" row is accumulated over files (sum of error components
over sum of reference speech), the "mean" row is the plain mean of per-file DER.

    python benchmarks/channel_diarisation_eval.py [--data ../shared/data] [--method energy]
        [--set channel_min_silence_s=0.8 ...]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import soundfile as sf
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate
from scipy.signal import resample_poly

from engine.config import ChannelMap, DiariseOptions
from engine.stages.channel_diarise import ChannelDiariser
from engine.types import AudioInfo, DecodedAudio, Diarisation, SpeakerTurn

REPO = Path(__file__).resolve().parents[1]
SR = 16000
COLLARS = (0.25, 0.0)


@dataclasses.dataclass
class Item:
    dataset: str
    uri: str
    wav: Path
    rttm: Path


def libri_items(data: Path) -> list[Item]:
    folder = data / "diarization" / "libri_calls"
    items = []
    for wav in sorted(folder.glob("*_8k_ulaw_stereo.wav")):
        uri = wav.name.removesuffix("_8k_ulaw_stereo.wav")
        items.append(Item("libri", uri, wav, folder / f"{uri}.rttm"))
    return items


def archive_items(data: Path) -> list[Item]:
    root = data / "archive"
    items = []
    for calls in sorted(root.glob("*/calls.csv")):
        with calls.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if not row["channel_layout"].strip().lower().startswith("stereo"):
                    continue
                items.append(
                    Item(
                        "archive",
                        row["call_id"],
                        calls.parent / row["audio_file"],
                        root / "rttm" / f"{row['call_id']}.rttm",
                    )
                )
    return items


def load_rttm(path: Path, uri: str) -> Annotation:
    ann = Annotation(uri=uri)
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 8 or parts[0] != "SPEAKER":
            continue
        start, dur = float(parts[3]), float(parts[4])
        ann[Segment(start, start + dur), len(ann)] = parts[7]
    return ann


def load_stereo(path: Path) -> DecodedAudio:
    """8 kHz (or other rate) WAV -> (2, n) float32 at 16 kHz, without the engine's decoder."""
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.T
    if sr != SR:
        from math import gcd

        g = gcd(SR, sr)
        x = resample_poly(x, SR // g, sr // g, axis=1).astype(np.float32)
    info = AudioInfo(
        path=str(path),
        container="wav",
        codec="pcm_mulaw",
        sample_rate=sr,
        channels=x.shape[0],
        duration=x.shape[1] / SR,
        size_bytes=path.stat().st_size,
    )
    return DecodedAudio(info=info, samples=np.ascontiguousarray(x), sample_rate=SR)


def to_annotation(d: Diarisation, uri: str) -> Annotation:
    ann = Annotation(uri=uri)
    for i, t in enumerate(d.turns):
        ann[Segment(t.start, t.end), i] = t.speaker
    return ann


# --- Silero ------------------------------------------------------------------------------


def silero_probs(x: np.ndarray) -> np.ndarray:
    """Silero speech probability per 512-sample (32 ms) window of a 16 kHz channel."""
    from faster_whisper.vad import get_vad_model

    pad = (-x.shape[0]) % 512
    return np.asarray(get_vad_model()(np.pad(x, (0, pad)))).reshape(-1)


def silero_diarise(audio: DecodedAudio, cmap: ChannelMap, opts: dict[str, float]) -> Diarisation:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(
        threshold=opts.get("threshold", 0.5),
        min_speech_duration_ms=int(opts.get("min_speech_ms", 120)),
        min_silence_duration_ms=int(opts.get("min_silence_ms", 500)),
        speech_pad_ms=int(opts.get("pad_ms", 50)),
    )
    labels = (cmap.left.value, cmap.right.value)
    turns = []
    for c in range(2):
        for ts in get_speech_timestamps(audio.samples[c], vad, sampling_rate=SR):
            turns.append(SpeakerTurn(labels[c], ts["start"] / SR, ts["end"] / SR))
    turns.sort(key=lambda t: t.start)
    return Diarisation(tuple(turns), "silero", labels)


def energy_silero_diarise(
    audio: DecodedAudio, cmap: ChannelMap, diariser: ChannelDiariser, opts: dict[str, float]
) -> Diarisation:
    """Energy regions whose mean Silero probability reaches a threshold."""
    energy = diariser(audio, cmap)
    probs = [silero_probs(audio.samples[c]) for c in range(2)]
    labels = (cmap.left.value, cmap.right.value)
    thr = opts.get("threshold", 0.3)
    kept = []
    for t in energy.turns:
        p = probs[labels.index(t.speaker)]
        a, b = (
            int(t.start * SR / 512),
            max(int(np.ceil(t.end * SR / 512)), int(t.start * SR / 512) + 1),
        )
        if float(p[a:b].max(initial=0.0)) >= thr:
            kept.append(t)
    return Diarisation(tuple(kept), "energy+silero", labels)


def with_leakage(audio: DecodedAudio, leak_db: float, delay_ms: float) -> DecodedAudio:
    """Each channel plus the other one, attenuated by leak_db and delayed (echo / crosstalk)."""
    x = audio.samples
    shift = round(delay_ms * SR / 1000)
    delayed = np.zeros_like(x)
    delayed[:, shift:] = x[:, : x.shape[1] - shift]
    mixed = x + np.float32(10 ** (leak_db / 20)) * delayed[::-1]
    return DecodedAudio(info=audio.info, samples=mixed.astype(np.float32), sample_rate=SR)


# --- scoring -----------------------------------------------------------------------------


def evaluate(
    items: Iterable[Item],
    diarise: Callable[[DecodedAudio, ChannelMap], Diarisation],
    audio_cache: dict[Path, DecodedAudio] | None = None,
    verbose: bool = True,
) -> dict[str, dict[str, float]]:
    """Per-dataset DER totals and means for both collars, plus speed; prints per-file rows."""
    results: dict[str, dict[str, float]] = {}
    metrics: dict[tuple[str, float], DiarizationErrorRate] = {}
    per_file: dict[tuple[str, float], list[float]] = {}
    seconds: dict[str, float] = {}
    audio_s: dict[str, float] = {}
    cmap = ChannelMap()
    if verbose:
        print(f"{'dataset':8s} {'file':34s} {'dur_s':>6s} {'DER@.25':>8s} {'DER@0':>8s}")
    for item in items:
        if audio_cache is not None and item.wav in audio_cache:
            audio = audio_cache[item.wav]
        else:
            audio = load_stereo(item.wav)
            if audio_cache is not None:
                audio_cache[item.wav] = audio
        ref = load_rttm(item.rttm, item.uri)
        t0 = time.perf_counter()
        hyp = to_annotation(diarise(audio, cmap), item.uri)
        seconds[item.dataset] = seconds.get(item.dataset, 0.0) + time.perf_counter() - t0
        audio_s[item.dataset] = audio_s.get(item.dataset, 0.0) + audio.duration
        uem = Segment(0.0, audio.duration)
        row = []
        for collar in COLLARS:
            key = (item.dataset, collar)
            metric = metrics.setdefault(
                key, DiarizationErrorRate(collar=collar, skip_overlap=False)
            )
            der = metric(ref, hyp, uem=uem)
            per_file.setdefault(key, []).append(der)
            row.append(der)
        if verbose:
            print(
                f"{item.dataset:8s} {item.uri:34s} {audio.duration:6.1f} "
                f"{row[0]:8.4f} {row[1]:8.4f}"
            )
    for (dataset, collar), metric in metrics.items():
        r = results.setdefault(dataset, {})
        r[f"total@{collar}"] = abs(metric)
        r[f"mean@{collar}"] = float(np.mean(per_file[(dataset, collar)]))
        components = [c for _, c in metric.results_]
        total = sum(c["total"] for c in components)
        if total:
            for name, short in (
                ("missed detection", "miss"),
                ("false alarm", "fa"),
                ("confusion", "conf"),
            ):
                r[f"{short}@{collar}"] = sum(c[name] for c in components) / total
    for dataset in results:
        results[dataset]["s_per_audio_h"] = seconds[dataset] / audio_s[dataset] * 3600.0
    return results


def print_summary(results: dict[str, dict[str, float]]) -> None:
    print()
    print(
        f"{'dataset':8s} {'collar':>6s} {'total':>7s} {'mean':>7s} "
        f"{'miss':>7s} {'FA':>7s} {'conf':>7s}"
    )
    for dataset, r in results.items():
        for collar in COLLARS:
            print(
                f"{dataset:8s} {collar:6.2f} "
                f"{r[f'total@{collar}']:7.4f} {r[f'mean@{collar}']:7.4f} "
                f"{r.get(f'miss@{collar}', 0):7.4f} {r.get(f'fa@{collar}', 0):7.4f} "
                f"{r.get(f'conf@{collar}', 0):7.4f}"
            )
    for dataset, r in results.items():
        print(f"{dataset}: {r['s_per_audio_h']:.2f} s per audio hour (diarisation only)")


def parse_value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--method", choices=("energy", "silero", "energy+silero"), default="energy")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="DiariseOptions field (energy) or silero option (threshold, min_silence_ms, ...)",
    )
    parser.add_argument("--dataset", choices=("libri", "archive", "all"), default="all")
    parser.add_argument(
        "--leak-db",
        type=float,
        default=None,
        help="stress test: add each channel into the other at this level (e.g. -30) and delay",
    )
    parser.add_argument("--leak-delay-ms", type=float, default=8.0)
    parser.add_argument(
        "--speed-hours",
        type=float,
        default=1.0,
        help="also time one call of this length made by repeating the evaluation audio (0: skip)",
    )
    args = parser.parse_args(argv)

    fields = {f.name for f in dataclasses.fields(DiariseOptions)}
    opt_over: dict[str, float | str] = {}
    silero_opts: dict[str, float] = {}
    for kv in args.set:
        key, _, value = kv.partition("=")
        if key in fields:
            opt_over[key] = parse_value(value)
        else:
            silero_opts[key] = float(value)
    diariser = ChannelDiariser(DiariseOptions(**opt_over))  # type: ignore[arg-type]

    def diarise(audio: DecodedAudio, cmap: ChannelMap) -> Diarisation:
        if args.leak_db is not None:
            audio = with_leakage(audio, args.leak_db, args.leak_delay_ms)
        if args.method == "energy":
            return diariser(audio, cmap)
        if args.method == "silero":
            return silero_diarise(audio, cmap, silero_opts)
        return energy_silero_diarise(audio, cmap, diariser, silero_opts)

    items: list[Item] = []
    if args.dataset in ("libri", "all"):
        items += libri_items(args.data)
    if args.dataset in ("archive", "all"):
        items += archive_items(args.data)
    if not items:
        raise SystemExit(f"no evaluation files under {args.data}")
    print(f"method={args.method} options={opt_over or 'defaults'} silero={silero_opts or '-'}")
    cache: dict[Path, DecodedAudio] = {}
    print_summary(evaluate(items, diarise, cache))
    if args.speed_hours > 0:
        print(
            f"{time_long_call(list(cache.values()), args.speed_hours, diarise):.2f} s for "
            f"{args.speed_hours:g} h of stereo in one call (diarisation only)"
        )


def time_long_call(
    audios: list[DecodedAudio],
    hours: float,
    diarise: Callable[[DecodedAudio, ChannelMap], Diarisation],
) -> float:
    """Seconds to diarise one long call built by repeating the evaluation audio."""
    joined = np.concatenate([a.samples for a in audios], axis=1)
    n = round(hours * 3600 * SR)
    samples = np.tile(joined, (1, -(-n // joined.shape[1])))[:, :n]
    long = DecodedAudio(info=audios[0].info, samples=samples, sample_rate=SR)
    t0 = time.perf_counter()
    diarise(long, ChannelMap())
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
