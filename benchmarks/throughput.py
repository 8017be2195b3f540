"""Throughput of the nightly batch, per stage and end to end, with accuracy alongside.

    python -m benchmarks run --device cpu|cuda --data ../shared/data [--model base]
        [--batch-size N] [--beam-size N] [--language en] [--limit N] [--json out.json]

Over the labelled archive (``DATA/archive``: 138 calls of 8 kHz telephone audio), in one run:

1. the peer: plain faster-whisper (the same model, device and compute type; its defaults:
   beam 5, language detected, no VAD) over the same files, in a process of its own;
2. callscope: the nightly batch (``NightlyBatch`` with the local executor) into a fresh SQLite
   store, then the night's analysis (drivers, repeats, alerts), in a process of its own, with
   wall time per stage (decode wait, transcribe, diarise, attribute, signals, store; then
   embed, clustering, repeats, metrics, store of the analysis);
3. accuracy of both against the archive's truth: WER of the whole call (callscope's
   utterances in time order; the peer's segments), DER of callscope's speaker turns (collar
   0.25 s), NMI of the primary drivers against the true call drivers.

Prints a table and writes JSON with the machine, library versions and settings. Each side
reports its peak RAM (and on CUDA, peak VRAM from nvidia-smi). PII redaction is off in the
benchmark store (the reference transcripts carry the digits redaction would replace).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

log = logging.getLogger("benchmarks.run")

DATA = REPO.parent / "shared" / "data"
PACKAGES = (
    "faster-whisper",
    "ctranslate2",
    "torch",
    "pyannote.audio",
    "sentence-transformers",
    "hdbscan",
    "umap-learn",
    "numpy",
    "onnxruntime",
)


# --------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpus": _gpus(),
    }
    return info


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def versions() -> dict[str, str]:
    found = {}
    for name in ("callscope", *PACKAGES):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


class VramPeak:
    """The largest GPU memory in use while it runs (nvidia-smi, every 0.2 s), in MiB."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self.enabled = shutil.which("nvidia-smi") is not None

    def _used(self) -> int:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            check=False,
        )
        return sum(int(x) for x in out.stdout.split() if x.isdigit())

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._used())

    def __enter__(self) -> VramPeak:
        if self.enabled:
            self.baseline = self._used()
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()

    @property
    def mib(self) -> int | None:
        return max(0, self.peak - self.baseline) if self.enabled else None


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --------------------------------------------------------------------------- the archive


def archive_files(archive: Path, limit: int | None) -> list[tuple[str, Path]]:
    """(call_id, wav) of every call in the nights' calls.csv, in order; the first ``limit``."""
    found = []
    for night in sorted(p for p in archive.iterdir() if (p / "calls.csv").is_file()):
        with (night / "calls.csv").open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                found.append((row["call_id"], night / row["audio_file"]))
    return found[:limit] if limit else found


def subset_archive(archive: Path, limit: int | None, work: Path) -> Path:
    """The archive itself, or a copy of its first ``limit`` calls (with their calls.csv rows)."""
    if not limit:
        return archive
    keep = {cid for cid, _ in archive_files(archive, limit)}
    target = work / "archive"
    for night in sorted(p for p in archive.iterdir() if (p / "calls.csv").is_file()):
        with (night / "calls.csv").open(newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r["call_id"] in keep]
        if not rows:
            continue
        (target / night.name).mkdir(parents=True)
        with (target / night.name / "calls.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        for r in rows:
            shutil.copy2(night / r["audio_file"], target / night.name / r["audio_file"])
    return target


# --------------------------------------------------------------------------- the two sides


def run_peer(args: argparse.Namespace) -> dict[str, Any]:
    """Plain faster-whisper over the files: its defaults, the same model and device."""
    from faster_whisper import WhisperModel

    from models.device import resolve_device
    from models.loaders import locate

    choice = resolve_device(args.device, args.compute_type, None, args.threads)
    where = locate(args.model, "whisper")
    model = WhisperModel(
        where.path,
        device=choice.device,
        compute_type=choice.compute_type,
        cpu_threads=choice.cpu_threads,
        local_files_only=not where.from_hub,
    )
    files = archive_files(Path(args.archive), args.limit)
    texts: dict[str, str] = {}
    audio = 0.0
    with VramPeak() as vram:
        began = time.perf_counter()
        for call_id, path in files:
            kwargs: dict[str, Any] = {"language": args.language} if args.language else {}
            if args.beam_size is not None:
                kwargs["beam_size"] = args.beam_size
            segments, info = model.transcribe(str(path), **kwargs)
            texts[call_id] = " ".join(s.text for s in segments)
            audio += info.duration
        wall = time.perf_counter() - began
    return {
        "calls": len(files),
        "audio_s": round(audio, 1),
        "wall_s": round(wall, 1),
        "peak_rss_mib": peak_rss_mib(),
        "peak_vram_mib": vram.mib,
        "texts": texts,
    }


def run_callscope(args: argparse.Namespace) -> dict[str, Any]:
    """The nightly batch and the night's analysis, timed per stage."""
    from engine.analytics.analyse import AnalyseOptions, VocAnalysis
    from engine.batch import BatchOptions, NightlyBatch
    from engine.config import TranscribeOptions
    from engine.pipeline import CallPipeline, PipelineSettings
    from engine.progress import StageTimer
    from engine.store.repo import Store
    from models.device import resolve_device
    from models.sentence import encoder_name, load_sentence_encoder

    transcribe = TranscribeOptions(language=args.language, batch_size=args.batch_size)
    if args.beam_size is not None:
        transcribe = replace(transcribe, beam_size=args.beam_size)
    settings = PipelineSettings(
        whisper_model=args.model,
        device=args.device,
        compute_type=args.compute_type,
        cpu_threads=args.threads,
        transcribe=transcribe,
    )
    store = Store.open(args.store)
    store.set_setting("redact_pii", "off")
    timer = StageTimer()
    with VramPeak() as vram:
        began = time.perf_counter()
        pipeline = CallPipeline.build(settings)
        loaded = time.perf_counter() - began

        def build(stages: frozenset[str]) -> CallPipeline:
            return pipeline

        summary = NightlyBatch(build, store, BatchOptions(), timer).run(Path(args.archive))
        batch_wall = time.perf_counter() - began
        embedder = pipeline.signals.embedder if pipeline.signals is not None else None
        encoder = embedder.encoder if embedder is not None else None
        model = encoder_name(settings.sentence_model)

        def load_encoder():  # type: ignore[no-untyped-def]
            if encoder is not None:
                return encoder
            return load_sentence_encoder(settings.sentence_model, resolve_device(args.device))

        began_analysis = time.perf_counter()
        report = VocAnalysis(store, load_encoder, AnalyseOptions(sentence_model=model)).run()
        analysis_wall = time.perf_counter() - began_analysis
    store.close()
    return {
        "calls": summary.processed,
        "quarantined": len(summary.quarantined),
        "audio_s": round(summary.audio_seconds, 1),
        "load_s": round(loaded, 1),
        "batch_wall_s": round(batch_wall, 1),
        "analysis_wall_s": round(analysis_wall, 1),
        "wall_s": round(batch_wall + analysis_wall, 1),
        "stages_s": timer.seconds,
        "analysis_s": report.seconds,
        "peak_rss_mib": peak_rss_mib(),
        "peak_vram_mib": vram.mib,
        "batch_size": pipeline.transcriber.options.batch_size  # type: ignore[attr-defined]
        if hasattr(pipeline.transcriber, "options")
        else None,
    }


# --------------------------------------------------------------------------- accuracy


def accuracy(
    data: Path, store_url: str, peer_texts: dict[str, str] | None, calls: Sequence[str]
) -> dict[str, Any]:
    import jiwer
    from pyannote.metrics.diarization import DiarizationErrorRate
    from sklearn.metrics import normalized_mutual_info_score

    from benchmarks.asr_diar import normalise, read_rttm, to_annotation
    from engine.store.repo import Store
    from engine.types import Diarisation

    truth = {}
    with (data / "archive" / "truth.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            truth[row["call_id"]] = row
    refs, ours, theirs = [], [], []
    der = DiarizationErrorRate(collar=0.25)
    primary: dict[str, int] = {}
    with Store.open(store_url) as store:
        links = store.voc.call_drivers()
        for call_id in calls:
            call = store.load_call(call_id)
            if call is None or call_id not in truth:
                continue
            refs.append(normalise(" ".join(t["text"] for t in truth[call_id]["turns"])))
            ours.append(normalise(" ".join(u.text for u in call.utterances)) or "-")
            if peer_texts is not None:
                theirs.append(normalise(peer_texts.get(call_id, "")) or "-")
            rttm = data / "archive" / "rttm" / f"{call_id}.rttm"
            if rttm.is_file():
                hyp = to_annotation(Diarisation(call.turns, call.diarisation_method))
                der(read_rttm(rttm), hyp)
            if links.get(call_id):
                primary[call_id] = links[call_id][0].driver_id
    scored = [c for c in calls if c in truth]
    labels = [primary.get(c, -1) for c in scored]
    return {
        "calls_scored": len(refs),
        "wer": round(jiwer.wer(refs, ours), 4) if refs else None,
        "peer_wer": round(jiwer.wer(refs, theirs), 4) if theirs else None,
        "der_collar_025": round(abs(der), 4),
        "driver_nmi": round(
            100 * normalized_mutual_info_score([truth[c]["call_driver"] for c in scored], labels),
            1,
        ),
    }


# --------------------------------------------------------------------------- the run


def _side(side: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run one side in a fresh process (its own peak memory), as ``--side``."""
    cmd = [sys.executable, "-m", "benchmarks.throughput", "--side", side, "--out", str(out)]
    for name in ("device", "model", "compute_type", "archive", "store", "language"):
        value = getattr(args, name)
        if value is not None:
            cmd += [f"--{name.replace('_', '-')}", str(value)]
    for name in ("batch_size", "beam_size", "limit", "threads"):
        value = getattr(args, name)
        if value is not None:
            cmd += [f"--{name.replace('_', '-')}", str(value)]
    log.info("%s: %s", side, " ".join(cmd))
    subprocess.run(cmd, cwd=REPO, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _ratio(audio: float, wall: float) -> float:
    return round(audio / wall, 2) if wall else 0.0


def table(result: dict[str, Any]) -> str:
    ours, peer = result["callscope"], result.get("peer")
    acc = result.get("accuracy", {})
    lines = [
        f"callscope {result['versions']['callscope']} on {result['machine']['cpu']} "
        f"({result['machine']['cores']} cores), device {result['settings']['device']}, "
        f"model {result['settings']['model']}"
    ]
    lines.append(
        f"{'':28}{'calls':>7}{'audio s':>9}{'wall s':>9}{'x real':>8}"
        f"{'calls/h':>9}{'RSS MiB':>9}{'VRAM MiB':>10}{'WER':>8}"
    )
    rows = [("callscope end to end", ours, acc.get("wer"))]
    if peer:
        rows.append(("plain faster-whisper", peer, acc.get("peer_wer")))
    for name, side, wer in rows:
        vram = side.get("peak_vram_mib")
        lines.append(
            f"{name:28}{side['calls']:>7}{side['audio_s']:>9.1f}{side['wall_s']:>9.1f}"
            f"{_ratio(side['audio_s'], side['wall_s']):>8.2f}"
            f"{3600 * side['calls'] / side['wall_s']:>9.0f}{side['peak_rss_mib']:>9.0f}"
            f"{'-' if vram is None else vram:>10}{'-' if wer is None else f'{wer:.3f}':>8}"
        )
    if peer:
        lines.append(
            f"callscope / plain faster-whisper time: {ours['wall_s'] / peer['wall_s']:.2f}"
        )
    lines.append(f"model load {ours['load_s']} s (in the end-to-end time); stages (wall s):")
    for stage, seconds in {**ours["stages_s"]}.items():
        lines.append(f"  batch    {stage:<12}{seconds:>8.1f}")
    for stage, seconds in ours["analysis_s"].items():
        lines.append(f"  analysis {stage:<12}{seconds:>8.1f}")
    if acc:
        lines.append(
            f"DER (collar 0.25) {acc['der_collar_025']:.3f}; driver NMI {acc['driver_nmi']}"
            f" over {acc['calls_scored']} calls"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="callscope-bench-"))
    try:
        args.archive = str(subset_archive(args.data / "archive", args.limit, work))
        args.store = f"sqlite:///{work}/callscope.db"
        result: dict[str, Any] = {
            "machine": machine(),
            "versions": versions(),
            "settings": {
                "device": args.device,
                "model": args.model,
                "compute_type": args.compute_type,
                "batch_size": args.batch_size,
                "language": args.language,
                "beam_size": args.beam_size,
                "threads": args.threads,
                "limit": args.limit,
            },
        }
        if not args.skip_peer:
            result["peer"] = _side("peer", args, work / "peer.json")
        result["callscope"] = _side("callscope", args, work / "callscope.json")
        calls = [cid for cid, _ in archive_files(args.data / "archive", args.limit)]
        peer_texts = result["peer"].pop("texts") if "peer" in result else None
        result["accuracy"] = accuracy(args.data, args.store, peer_texts, calls)
        print(table(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--model", default="base")
    p.add_argument("--compute-type", default="auto")
    p.add_argument("--batch-size", type=int, default=None, help="default: the pipeline's")
    p.add_argument("--language", default=None, help="force a language (default: detect)")
    p.add_argument("--beam-size", type=int, default=None, help="both sides (default: 5)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="only the first N calls")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="throughput per stage and end to end, with accuracy")
    _options(r)
    r.add_argument("--data", type=Path, default=DATA)
    r.add_argument("--skip-peer", action="store_true")
    r.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    return run(args)


def _side_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser()
    _options(p)
    p.add_argument("--side", choices=("peer", "callscope"), required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--archive", required=True)
    p.add_argument("--store", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    result = run_peer(args) if args.side == "peer" else run_callscope(args)
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(_side_main(sys.argv[1:]))
