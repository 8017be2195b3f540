"""Evaluate emotion-spike detection on the labelled archive, using its TRUTH turns as utterances.

The archive (``<data>/archive``, read in place, never copied) has ``truth.jsonl`` with each
call's turns (role, text, start, end, angry) and ``emotion_spikes`` (start, end, speaker_role).
Each turn becomes an Utterance (speaker = role, no words); prosody is measured on the role's
channel (stereo: agent left = 0, customer right = 1; mono: 0) of the audio decoded by
``engine.audio``; sentiment is VADER's. Then :class:`engine.analytics.emotion.SpikeDetector`
runs per call.

Scoring: a detected event is a true positive when it overlaps a true spike of the same role
(precision = TP events / events); a true spike is found when some event of its role overlaps
it (recall). Printed for stereo and mono calls separately and together, with per-turn feature
deltas (against the same role's other turns in the call) for angry vs calm turns, and a
threshold sweep.

    python benchmarks/emotion_eval.py [--data ../shared/data] [--set threshold=2.0 ...]
        [--prosody frame_s=0.04 ...] [--jitter 0.3 --seed 0] [--show-errors]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.analytics.emotion import SpikeDetector, SpikeOptions, UtteranceScore  # noqa: E402
from engine.audio import decode  # noqa: E402
from engine.stages.prosody import ProsodyExtractor, ProsodyOptions  # noqa: E402
from engine.stages.sentiment import VaderSentiment  # noqa: E402
from engine.types import EmotionSpike, Role, Utterance, UtteranceSignals  # noqa: E402

SWEEP = (1.5, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5)


@dataclasses.dataclass
class Call:
    call_id: str
    layout: str  # "stereo" or "mono"
    turns: list[dict[str, Any]]
    truth: list[tuple[float, float, str]]  # (start, end, role) of the true spikes
    utterances: tuple[Utterance, ...]
    signals: tuple[UtteranceSignals, ...]


def jittered(turn: dict[str, Any], rng: np.random.Generator | None, jitter_s: float) -> Utterance:
    """The turn as an Utterance, its edges moved by up to ±jitter_s (pipeline-like noise)."""
    start, end = float(turn["start"]), float(turn["end"])
    if rng is not None and jitter_s > 0:
        start += rng.uniform(-jitter_s, jitter_s)
        end += rng.uniform(-jitter_s, jitter_s)
        start, end = max(0.0, min(start, end - 0.1)), max(end, start + 0.1)
    return Utterance(turn["role"], Role(turn["role"]), start, end, turn["text"])


def load(
    data: Path, prosody: ProsodyExtractor, jitter_s: float = 0.0, seed: int = 0
) -> tuple[list[Call], float, float]:
    """Every call with its signals; returns (calls, prosody seconds, audio seconds)."""
    archive = data / "archive"
    rng = np.random.default_rng(seed) if jitter_s > 0 else None
    vader = VaderSentiment()
    calls: list[Call] = []
    spent = audio_s = 0.0
    with (archive / "truth.jsonl").open() as fh:
        for line in fh:
            c = json.loads(line)
            audio = decode(archive / c["audio_file"])
            stereo = c["channel_layout"].startswith("stereo")
            utts = tuple(jittered(t, rng, jitter_s) for t in c["turns"])

            def channel(u: Utterance, stereo: bool = stereo) -> int:
                return (1 if u.role is Role.CUSTOMER else 0) if stereo else 0

            t0 = time.perf_counter()
            measured = prosody.measure(audio, utts, channel)
            spent += time.perf_counter() - t0
            audio_s += audio.duration
            sentiment = vader.score([u.text for u in utts])
            signals = tuple(
                UtteranceSignals(index=i, sentiment=s, prosody=p)
                for i, (s, p) in enumerate(zip(sentiment, measured, strict=True))
            )
            truth = [(s["start"], s["end"], s["speaker_role"]) for s in c["emotion_spikes"]]
            layout = "stereo" if stereo else "mono"
            calls.append(Call(c["call_id"], layout, c["turns"], truth, utts, signals))
    return calls, spent, audio_s


def overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    return min(a1, b1) > max(a0, b0)


@dataclasses.dataclass
class Counts:
    calls: int = 0
    true: int = 0
    found: int = 0
    events: int = 0
    tp_events: int = 0

    def add(self, truth: list[tuple[float, float, str]], events: Sequence[EmotionSpike]) -> None:
        self.calls += 1
        self.true += len(truth)
        self.events += len(events)
        self.found += sum(
            any(e.role.value == r and overlaps(e.start, e.end, s, t) for e in events)
            for s, t, r in truth
        )
        self.tp_events += sum(
            any(e.role.value == r and overlaps(e.start, e.end, s, t) for s, t, r in truth)
            for e in events
        )

    def line(self, name: str) -> str:
        p = self.tp_events / self.events if self.events else float("nan")
        r = self.found / self.true if self.true else float("nan")
        return (
            f"{name:7s} calls {self.calls:4d}  true spikes {self.true:3d}  events {self.events:3d}"
            f"  TP events {self.tp_events:3d}  precision {p:.3f}  recall {r:.3f}"
        )


def evaluate(calls: list[Call], detector: SpikeDetector) -> dict[str, Counts]:
    out = {"stereo": Counts(), "mono": Counts(), "all": Counts()}
    for call in calls:
        events = detector.detect(call.utterances, call.signals)
        out[call.layout].add(call.truth, events)
        out["all"].add(call.truth, events)
    return out


def describe(values: list[float]) -> str:
    if not values:
        return "-"
    v = np.asarray(values)
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    return (
        f"n {len(v):3d} mean {v.mean():6.2f} p5 {p5:6.2f} p50 {p50:6.2f} p95 {p95:6.2f} "
        f"min {v.min():6.2f} max {v.max():6.2f}"
    )


def feature_table(calls: list[Call], detector: SpikeDetector) -> None:
    groups: dict[tuple[str, str], list[UtteranceScore]] = {}
    for call in calls:
        for s in detector.score(call.utterances, call.signals):
            turn = call.turns[s.index]
            kind = "angry" if turn["angry"] else "calm"
            groups.setdefault((call.layout, f"{turn['role']}/{kind}"), []).append(s)
    for (layout, kind), scores in sorted(groups.items()):
        print(f"{layout} {kind}:")
        print(f"   energy dB   {describe([s.energy_delta_db for s in scores])}")
        print(f"   pitch st    {describe([s.pitch_delta for s in scores])}")
        print(f"   rate ratio  {describe([s.rate_ratio for s in scores])}")
        print(f"   sentiment   {describe([s.sentiment for s in scores])}")
        arousal = [s.arousal for s in scores if s.arousal is not None]
        print(f"   arousal     {describe(arousal)}")
        print(f"   score       {describe([s.score for s in scores])}")


def show_errors(calls: list[Call], detector: SpikeDetector) -> None:
    for call in calls:
        events = detector.detect(call.utterances, call.signals)
        for e in events:
            if not any(
                e.role.value == r and overlaps(e.start, e.end, s, t) for s, t, r in call.truth
            ):
                print(f"FP {call.call_id} {call.layout} {e}")
        for s, t, r in call.truth:
            if not any(e.role.value == r and overlaps(e.start, e.end, s, t) for e in events):
                scores = [
                    x
                    for x in detector.score(call.utterances, call.signals)
                    if overlaps(call.utterances[x.index].start, call.utterances[x.index].end, s, t)
                ]
                print(f"FN {call.call_id} {call.layout} {s}-{t} {r} {scores}")


def parse_sets(items: list[str], cls: type) -> dict[str, Any]:
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for kv in items:
        key, _, value = kv.partition("=")
        if key not in types:
            raise SystemExit(f"{cls.__name__} has no field {key!r}")
        out[key] = None if value == "None" else json.loads(value)
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="SpikeOptions field (JSON value)")  # fmt: skip
    parser.add_argument("--prosody", action="append", default=[], metavar="KEY=VALUE",
                        help="ProsodyOptions field (JSON value)")  # fmt: skip
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        metavar="S",
        help="move each turn's start and end by a uniform random ±S seconds (robustness check)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    spike_options = SpikeOptions(**parse_sets(args.set, SpikeOptions))
    prosody = ProsodyExtractor(ProsodyOptions(**parse_sets(args.prosody, ProsodyOptions)))
    t0 = time.perf_counter()
    calls, spent, audio_s = load(args.data, prosody, args.jitter, args.seed)
    print(
        f"{len(calls)} calls, {audio_s / 60:.1f} min of audio loaded in "
        f"{time.perf_counter() - t0:.1f} s; prosody {spent:.2f} s "
        f"({spent / len(calls) * 1000:.1f} ms per call)"
    )
    print(f"options: {spike_options}")
    detector = SpikeDetector(spike_options)
    t0 = time.perf_counter()
    results = evaluate(calls, detector)
    detect_ms = (time.perf_counter() - t0) / len(calls) * 1000
    print(f"\nevent precision / recall (detection {detect_ms:.2f} ms per call):")
    for name, counts in results.items():
        print("  " + counts.line(name))

    print("\nper-turn deltas against the same role's other turns in the call:")
    feature_table(calls, detector)

    print("\nthreshold sweep (all calls):")
    for threshold in SWEEP:
        options = dataclasses.replace(spike_options, threshold=threshold)
        counts = evaluate(calls, SpikeDetector(options))["all"]
        print(f"  threshold {threshold:4.2f}: " + counts.line("all"))
    if args.show_errors:
        print()
        show_errors(calls, detector)


if __name__ == "__main__":
    main()
