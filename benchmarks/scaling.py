"""How the nightly cost grows with the number of calls, per stage, on this machine.

    python benchmarks/scaling.py [--nights 10,20,70,200,700] [--data ../shared/data]
        [--model base] [--device cpu] [--json out.json]

Generates short calls with espeak-ng (``engine.sample``; 70% stereo, 30% mono, 8 kHz mu-law;
a greeting, the customer's reason, a closing: about 12 s). Reasons are drawn from Banking77's
test queries when ``DATA/intents/banking77`` is there, else from six built-in ones; customers
come from a pool and 15% call back about an earlier reason. The calls are fed
as consecutive nights to one nightly batch over one SQLite store, the models loaded
once. After each night the night's analysis runs over everything stored so far. With the
default nights the checkpoints are 10, 30, 100, 300 and 1,000 calls.

Per checkpoint it prints the batch's wall time per stage summed over all calls so far (decode
wait, transcribe, diarise, attribute, signals, store), and the analysis's time per part over
the whole store at that size (embed, clustering, repeats, metrics, store). Generating the
audio is not timed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.throughput import machine, peak_rss_mib, versions  # noqa: E402

DATA = REPO.parent / "shared" / "data"
FIRST_NIGHT = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


@dataclass
class Checkpoint:
    calls: int
    audio_s: float
    batch_s: dict[str, float]
    analysis_s: dict[str, float]
    night_wall_s: float
    analysis_wall_s: float
    drivers: int
    repeats: int
    mode: str = ""


@dataclass
class Generator:
    """Plans nights of generated calls: a reason per call, customers that sometimes call back."""

    reasons: list[str]
    seed: int = 0
    index: int = 0
    rng: random.Random = field(init=False)
    history: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def night(self, day: int, count: int) -> list[Any]:
        from engine.sample import PlannedCall
        from engine.types import Role

        start = FIRST_NIGHT + timedelta(days=day)
        planned = []
        for n in range(count):
            if self.history and self.rng.random() < 0.15:
                customer, reason = self.rng.choice(self.history[-200:])
            else:
                customer = f"+44 7700 900{self.rng.randrange(1000):03d}"
                reason = self.rng.choice(self.reasons)
                self.history.append((customer, reason))
            at = start + timedelta(seconds=int(n * 12 * 3600 / max(count, 1)))
            planned.append(
                PlannedCall(
                    call_id=f"{at:%Y%m%d-%H%M%S}-{self.index:05x}",
                    started_at=at,
                    customer_id=customer,
                    agent_id=f"AG{1000 + self.index % 7}",
                    queue="CARDS_EN",
                    stereo=self.rng.random() < 0.7,
                    script=(
                        (Role.AGENT, "Thank you for calling First Bank, how can I help?"),
                        (Role.CUSTOMER, reason),
                        (Role.AGENT, "Thank you, I have sorted that out for you. Goodbye."),
                    ),
                    seed=self.index,
                )
            )
            self.index += 1
        return planned


def banking77_reasons(data: Path) -> list[str]:
    path = data / "intents" / "banking77" / "test.csv"
    if not path.is_file():
        from engine.sample import _REASONS

        return list(_REASONS)
    with path.open(encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh) if len(row["text"]) < 160]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from engine.analytics.analyse import AnalyseOptions, VocAnalysis
    from engine.batch import BatchOptions, NightlyBatch
    from engine.config import TranscribeOptions
    from engine.pipeline import CallPipeline, PipelineSettings
    from engine.progress import StageTimer
    from engine.sample import write_night
    from engine.store.repo import Store
    from models.device import resolve_device
    from models.sentence import encoder_name, load_sentence_encoder

    work = Path(tempfile.mkdtemp(prefix="callscope-scaling-"))
    archive = work / "archive"
    settings = PipelineSettings(
        whisper_model=args.model,
        device=args.device,
        transcribe=TranscribeOptions(beam_size=args.beam_size),
    )
    store = Store.open(f"sqlite:///{work}/callscope.db")
    store.set_setting("redact_pii", "off")
    began = time.perf_counter()
    pipeline = CallPipeline.build(settings)
    load_s = time.perf_counter() - began
    embedder = pipeline.signals.embedder if pipeline.signals is not None else None
    model = encoder_name(settings.sentence_model)

    def load_encoder():  # type: ignore[no-untyped-def]
        if embedder is not None:
            return embedder.encoder
        return load_sentence_encoder(settings.sentence_model, resolve_device(args.device))

    generator = Generator(banking77_reasons(args.data), seed=args.seed)
    totals: dict[str, float] = {}
    audio = 0.0
    checkpoints: list[Checkpoint] = []
    try:
        for day, count in enumerate(args.nights):
            planned = generator.night(day, count)
            write_night(archive / planned[0].started_at.strftime("%Y-%m-%d"), planned)
            timer = StageTimer()
            began = time.perf_counter()
            # the batch closes what its builder returns: lend the pipeline, kept for all nights
            lend = lambda _stages: contextlib.nullcontext(pipeline)  # noqa: E731
            summary = NightlyBatch(lend, store, BatchOptions(), timer).run(archive)
            night_wall = time.perf_counter() - began
            if summary.processed != count or summary.quarantined:
                raise SystemExit(f"night {day}: {summary.processed} of {count} processed")
            for stage, seconds in timer.seconds.items():
                totals[stage] = totals.get(stage, 0.0) + seconds
            audio += summary.audio_seconds
            began = time.perf_counter()
            report = VocAnalysis(store, load_encoder, AnalyseOptions(sentence_model=model)).run()
            analysis_wall = time.perf_counter() - began
            checkpoints.append(
                Checkpoint(
                    calls=generator.index,
                    audio_s=round(audio, 1),
                    batch_s={k: round(v, 1) for k, v in totals.items()},
                    analysis_s={k: round(v, 2) for k, v in report.seconds.items()},
                    night_wall_s=round(night_wall, 1),
                    analysis_wall_s=round(analysis_wall, 2),
                    drivers=report.active_drivers,
                    repeats=len(report.repeats),
                    mode=report.mode,
                )
            )
            logging.getLogger("scaling").warning("%s", checkpoints[-1])
    finally:
        store.close()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "machine": machine(),
        "versions": versions(),
        "settings": {"model": args.model, "device": args.device, "nights": args.nights},
        "load_s": round(load_s, 1),
        "peak_rss_mib": peak_rss_mib(),
        "checkpoints": [c.__dict__ for c in checkpoints],
    }


def table(result: dict[str, Any]) -> str:
    points = result["checkpoints"]
    stages = sorted({s for p in points for s in p["batch_s"]})
    parts = sorted({s for p in points for s in p["analysis_s"]})
    head = f"{'calls':>6}{'audio s':>9}" + "".join(f"{s[:10]:>11}" for s in stages)
    head += f"{'batch':>9}{'s/call':>8}" + "".join(f"{p[:10]:>11}" for p in parts)
    head += f"{'analysis':>10}"
    lines = [
        f"model load {result['load_s']} s (once); batch columns: wall s summed over all calls "
        "so far; analysis columns: the night's analysis over the whole store",
        head,
    ]
    for p in points:
        batch = sum(p["batch_s"].values())
        row = f"{p['calls']:>6}{p['audio_s']:>9.0f}"
        row += "".join(f"{p['batch_s'].get(s, 0.0):>11.1f}" for s in stages)
        row += f"{batch:>9.1f}{batch / p['calls']:>8.2f}"
        row += "".join(f"{p['analysis_s'].get(s, 0.0):>11.2f}" for s in parts)
        row += f"{p['analysis_wall_s']:>10.2f}"
        lines.append(row)
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nights", default="10,20,70,200,700", help="calls per night, in order")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--model", default="base")
    ap.add_argument("--beam-size", type=int, default=None, help="default: the pipeline's")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.nights = [int(n) for n in args.nights.split(",")]
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    result = run(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
