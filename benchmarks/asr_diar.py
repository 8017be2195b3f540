"""Accuracy and speed of transcription + diarisation, side by side with plain faster-whisper.

    python benchmarks/asr_diar.py --data ../shared/data [--model base] [--json out.json]

Prints, in one run:
- WER of callscope vs plain faster-whisper (same model, beam size, language detection)
  on the English files of asr/ (16 kHz and 8 kHz), and CER on the Chinese clips;
- DER (pyannote.metrics, collar 0.25 and 0) on diarization/sample.wav, the five
  libri_calls 8 kHz mono files, their stereo versions, and the stereo calls of
  archive/ against archive/rttm; speakers found vs true;
- speed on the 8 kHz mono libri calls: transcription alone vs the whole pipeline
  (decode + transcription + diarisation + attribution), audio seconds per wall second.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import sys
import time
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

warnings.filterwarnings("ignore")

from engine.audio import AudioDecoder  # noqa: E402
from engine.config import ChannelMap, DiariseOptions, TranscribeOptions  # noqa: E402
from engine.pipeline import CallPipeline, PipelineSettings  # noqa: E402
from engine.types import Diarisation  # noqa: E402

ENGLISH = {
    "jfk.flac": "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country.",
    "LDC93S1.wav": "She had your dark suit in greasy wash water all year.",
    "LDC93S1_pcms16le_1_8000.wav": "She had your dark suit in greasy wash water all year.",
    "new-home-in-the-stars-16k.wav": "we must find a new home in the stars",
}
CHINESE = {
    "BAC009S0764W0121.wav": "甚至出现交易几乎停滞的情况",
    "IT0011W0001.wav": "换一首歌",
}


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.split())


def chars(text: str) -> str:
    return "".join(ch for ch in normalise(text) if not ch.isspace() and ch != "'")


@dataclass
class Row:
    name: str
    values: dict[str, float | int | str]


def read_rttm(path: Path):  # type: ignore[no-untyped-def]
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=path.stem)
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            ann[Segment(float(f[3]), float(f[3]) + float(f[4]))] = f[7]
    return ann


def to_annotation(d: Diarisation):  # type: ignore[no-untyped-def]
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, t in enumerate(d.turns):
        if t.end > t.start:
            ann[Segment(t.start, t.end), i] = t.speaker
    return ann


def plain_whisper(model, path: Path, beam: int) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    from faster_whisper import decode_audio

    segments, info = model.transcribe(decode_audio(str(path)), beam_size=beam)
    return " ".join(s.text for s in segments), info.language


def section_asr(pipe: CallPipeline, plain, data: Path, beam: int) -> list[Row]:  # type: ignore[no-untyped-def]
    import jiwer

    rows = []
    for name, ref in {**ENGLISH, **CHINESE}.items():
        path = data / "asr" / name
        if not path.exists():
            continue
        call = pipe(path)
        ours = " ".join(u.text for u in call.utterances)
        theirs, their_lang = plain_whisper(plain, path, beam)
        if name in CHINESE:
            metric = "CER"
            a = jiwer.cer(chars(ref), chars(ours) or "-")
            b = jiwer.cer(chars(ref), chars(theirs) or "-")
        else:
            metric = "WER"
            a = jiwer.wer(normalise(ref), normalise(ours) or "-")
            b = jiwer.wer(normalise(ref), normalise(theirs) or "-")
        rows.append(
            Row(
                name,
                {
                    "metric": metric,
                    "callscope": round(a, 3),
                    "faster-whisper": round(b, 3),
                    "lang": call.language,
                    "lang_fw": their_lang,
                    "rate": call.audio.sample_rate,
                    "hyp": ours[:60],
                },
            )
        )
    return rows


def score(name: str, ref, d: Diarisation, seconds: float) -> Row:  # type: ignore[no-untyped-def]
    from pyannote.metrics.diarization import DiarizationErrorRate

    hyp = to_annotation(d)
    der25 = DiarizationErrorRate(collar=0.25)
    der0 = DiarizationErrorRate(collar=0.0)
    detail = der25(ref, hyp, detailed=True)
    return Row(
        name,
        {
            "DER25": round(abs(detail["diarization error rate"]), 3),
            "DER0": round(abs(der0(ref, hyp)), 3),
            "miss": round(detail["missed detection"] / max(detail["total"], 1e-9), 3),
            "fa": round(detail["false alarm"] / max(detail["total"], 1e-9), 3),
            "conf": round(detail["confusion"] / max(detail["total"], 1e-9), 3),
            "spk": f"{len(hyp.labels())}/{len(ref.labels())}",
            "total": round(detail["total"], 2),
            "seconds": round(seconds, 2),
        },
    )


def diarise(pipe: CallPipeline, path: Path, stereo: bool) -> tuple[Diarisation, float]:
    audio = pipe.decoder(path)
    t0 = time.perf_counter()
    if stereo:
        d = pipe.channel_diariser(audio, ChannelMap())
    else:
        d = pipe.mono_diariser(audio.mono(), uri=path.stem)
        if pipe.resegmenter is not None:
            d = pipe.resegmenter(audio.mono(), d)
    return d, time.perf_counter() - t0


def section_der(pipe: CallPipeline, data: Path, archive_limit: int) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    dia = data / "diarization"
    if (dia / "sample.wav").exists():
        d, s = diarise(pipe, dia / "sample.wav", stereo=False)
        out["sample.wav (mono, 16 kHz)"] = [
            score("sample.wav", read_rttm(dia / "sample.rttm"), d, s)
        ]
    libri = sorted((dia / "libri_calls").glob("*_8k_ulaw.wav"))
    for label, suffix, stereo in (
        ("libri_calls 8 kHz mono", "_8k_ulaw.wav", False),
        ("libri_calls 8 kHz stereo", "_8k_ulaw_stereo.wav", True),
    ):
        rows = []
        for mono_path in libri:
            path = mono_path.with_name(mono_path.name.replace("_8k_ulaw.wav", suffix))
            ref = read_rttm(mono_path.with_name(mono_path.name.replace("_8k_ulaw.wav", ".rttm")))
            d, s = diarise(pipe, path, stereo)
            rows.append(score(path.stem, ref, d, s))
        out[label] = rows
    archive = data / "archive"
    by_layout: dict[bool, list[Row]] = {True: [], False: []}
    for night in sorted(p for p in archive.glob("2026-*") if p.is_dir()):
        with (night / "calls.csv").open() as fh:
            for rec in csv.DictReader(fh):
                stereo = rec["channel_layout"].startswith("stereo")
                rows = by_layout[stereo]
                if archive_limit and len(rows) >= archive_limit:
                    continue
                ref = read_rttm(archive / "rttm" / f"{rec['call_id']}.rttm")
                d, s = diarise(pipe, night / rec["audio_file"], stereo=stereo)
                rows.append(score(rec["call_id"], ref, d, s))
    out["archive stereo calls"] = by_layout[True]
    out["archive mono calls"] = by_layout[False]
    return out


def section_speed(pipe: CallPipeline, data: Path) -> Row:
    files = sorted((data / "diarization" / "libri_calls").glob("*_8k_ulaw.wav"))
    decoder: AudioDecoder = pipe.decoder
    audio_s = t_asr = t_all = 0.0
    for path in files:
        audio = decoder(path)
        audio_s += audio.duration
        t0 = time.perf_counter()
        pipe.transcriber(audio.mono(), channel=0)
        t_asr += time.perf_counter() - t0
        t0 = time.perf_counter()
        pipe(path)
        t_all += time.perf_counter() - t0
    return Row(
        "8 kHz mono libri calls",
        {
            "audio_s": round(audio_s, 1),
            "asr_s": round(t_asr, 2),
            "whole_s": round(t_all, 2),
            "asr_x_realtime": round(audio_s / t_asr, 2),
            "whole_x_realtime": round(audio_s / t_all, 2),
            "whole/asr": round(t_all / t_asr, 3),
        },
    )


def print_rows(title: str, rows: list[Row]) -> None:
    print(f"\n## {title}")
    if not rows:
        print("(no files)")
        return
    keys = list(rows[0].values)
    print(f"{'file':36s} " + " ".join(f"{k:>14s}" for k in keys))
    for r in rows:
        print(f"{r.name[:36]:36s} " + " ".join(f"{v!s:>14.14s}" for v in r.values.values()))
    numeric = [k for k in keys if all(isinstance(r.values[k], float) for r in rows)]
    if len(rows) > 1 and numeric:
        means = {k: sum(float(r.values[k]) for r in rows) / len(rows) for k in numeric}
        print(
            f"{'mean':36s} "
            + " ".join(f"{means[k]:>14.3f}" if k in means else f"{'':>14s}" for k in keys)
        )


def total_der(rows: list[Row]) -> float:
    """Archive-level DER: errors summed over calls / reference speech summed."""
    err = sum(float(r.values["DER25"]) * float(r.values["total"]) for r in rows)
    return err / max(sum(float(r.values["total"]) for r in rows), 1e-9)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--model", default="base")
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--archive-limit", type=int, default=0, help="0: all stereo archive calls")
    ap.add_argument("--skip", default="", help="comma list of sections: asr,der,speed")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--diarise", action="append", default=[], metavar="KEY=VALUE", help="DiariseOptions field"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    skip = set(args.skip.split(","))

    overrides = {
        k: float(v) if "." in v else int(v) for k, v in (a.split("=") for a in args.diarise)
    }
    settings = PipelineSettings(
        whisper_model=args.model,
        transcribe=TranscribeOptions(beam_size=args.beam_size),
        diarise=DiariseOptions(**overrides),  # type: ignore[arg-type]
    )
    t0 = time.perf_counter()
    pipe = CallPipeline.build(settings)
    print(f"models loaded in {time.perf_counter() - t0:.1f} s; settings: {settings}")
    report: dict[str, object] = {"settings": repr(settings)}
    if "asr" not in skip:
        from faster_whisper import WhisperModel

        from models.device import resolve_device
        from models.loaders import locate

        choice = resolve_device()
        plain = WhisperModel(
            locate(args.model, "whisper").path,
            device=choice.device,
            compute_type=choice.compute_type,
            cpu_threads=choice.cpu_threads,
        )
        rows = section_asr(pipe, plain, args.data, args.beam_size)
        print_rows("ASR: callscope vs plain faster-whisper (same model, beam, detection)", rows)
        report["asr"] = [r.__dict__ for r in rows]
    if "der" not in skip:
        sections = section_der(pipe, args.data, args.archive_limit)
        for title, rows in sections.items():
            print_rows(f"DER: {title}", rows)
        for layout in ("stereo", "mono"):
            arch = sections.get(f"archive {layout} calls", [])
            if arch:
                print(
                    f"archive {layout}: total DER (collar 0.25) over {len(arch)} calls = "
                    f"{total_der(arch):.4f}"
                )
        report["der"] = {k: [r.__dict__ for r in v] for k, v in sections.items()}
    if "speed" not in skip:
        row = section_speed(pipe, args.data)
        print_rows("Speed on this machine: transcription alone vs whole pipeline", [row])
        report["speed"] = row.__dict__
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
