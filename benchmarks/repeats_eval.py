"""Repeat contacts, first-contact resolution and driver volume alerts on the labelled archive.

CallFacts are built from ``archive/truth.jsonl`` (driver_id = an int per true ``call_driver``,
negative_emotion = the call has an emotion spike, reason_vector None) and run through
:class:`engine.analytics.repeats.RepeatFinder`, ``first_contact_resolution``,
``driver_days`` and ``detect_alerts``. Printed:

- repeat precision / recall against ``repeat_of`` (a link is right when both call ids match);
- FCR per driver, agent and queue, next to the FCR that ``repeat_of`` itself gives;
- every alert fired (the archive's one intended anomaly: ``getting_virtual_card`` on
  2026-11-20, 7 calls against 2 a night);
- the same with the driver ids of 10% of the calls replaced by a random other driver
  (several seeds), to show how much a driver-clustering error costs;
- with ``--vectors``: the customer's reason turn embedded with all-MiniLM-L6-v2 (offline, CPU):
  cosines of same-customer call pairs (same vs different driver) and repeat precision /
  recall by reason vectors alone and with corrupted driver ids, per similarity threshold.

The archive is read where it lies (never copied into the repository).

    python benchmarks/repeats_eval.py [--data ../shared/data] [--seeds 5] [--vectors]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.analytics.metrics import days_with_calls, detect_alerts, driver_days  # noqa: E402
from engine.analytics.repeats import (  # noqa: E402
    RepeatFinder,
    RepeatOptions,
    cosine,
    first_contact_resolution,
    normalise_customer,
)
from engine.types import CallFacts, DriverAlert, RepeatLink  # noqa: E402

Row = dict[str, object]


def load(data: Path) -> list[Row]:
    with (data / "archive" / "truth.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def facts(rows: Sequence[Row], drivers: dict[str, int]) -> list[CallFacts]:
    return [
        CallFacts(
            call_id=str(r["call_id"]),
            started_at=datetime.fromisoformat(str(r["started_at"])),
            duration=float(r["duration_s"]),  # type: ignore[arg-type]
            customer_id=str(r["customer_id"]),
            agent_id=str(r["agent_id"]),
            queue=str(r["queue"]),
            driver_id=drivers[str(r["call_driver"])],
            negative_emotion=bool(r["emotion_spikes"]),
        )
        for r in rows
    ]


def truth_pairs(rows: Sequence[Row]) -> set[tuple[str, str]]:
    return {(str(r["call_id"]), str(r["repeat_of"])) for r in rows if r["repeat_of"]}


def scores(links: Sequence[RepeatLink], truth: set[tuple[str, str]]) -> tuple[float, float, int]:
    found = {(x.call_id, x.earlier_call_id) for x in links}
    hit = len(found & truth)
    precision = hit / len(found) if found else 1.0
    recall = hit / len(truth) if truth else 1.0
    return precision, recall, len(found)


def corrupt(calls: Sequence[CallFacts], share: float, seed: int, n_drivers: int) -> list[CallFacts]:
    rng = random.Random(seed)
    chosen = set(rng.sample(range(len(calls)), round(share * len(calls))))
    out = []
    for i, call in enumerate(calls):
        if i in chosen:
            other = rng.choice([d for d in range(n_drivers) if d != call.driver_id])
            call = replace(call, driver_id=other)
        out.append(call)
    return out


def print_fcr(
    title: str,
    calls: Sequence[CallFacts],
    links: Sequence[RepeatLink],
    true_links: Sequence[RepeatLink],
    by: Callable[[CallFacts], str | None],
) -> None:
    ours = first_contact_resolution(calls, links, by)
    truth = first_contact_resolution(calls, true_links, by)
    print(f"  FCR per {title}:")
    for key, fig in ours.items():
        ref = truth[key]
        print(
            f"    {key:<28} {fig.resolved:>3}/{fig.contacts:<3} = {fig.rate:.3f}"
            f"   (truth {ref.resolved}/{ref.contacts} = {ref.rate:.3f})"
        )


def alerts_of(calls: Sequence[CallFacts], links: Sequence[RepeatLink]) -> tuple[DriverAlert, ...]:
    return detect_alerts(driver_days(calls, links), active_days=days_with_calls(calls))


def print_alerts(alerts: Sequence[DriverAlert], names: dict[int, str], indent: str = "  ") -> None:
    if not alerts:
        print(f"{indent}(no alerts)")
    for a in alerts:
        print(
            f"{indent}{a.day} {names[a.driver_id]:<28} {a.kind:<5} {a.metric}: "
            f"{a.observed:g} vs baseline {a.baseline:.2f}  p={a.p_value:.2g}"
        )


def reason_vectors(rows: Sequence[Row]) -> dict[str, np.ndarray]:
    from models.device import DeviceChoice
    from models.sentence import load_sentence_encoder

    texts = []
    for r in rows:
        turns = r["turns"]
        assert isinstance(turns, list)
        texts.append(" ".join(t["text"] for t in turns if t["slot"] == "cust_reason"))
    encoder = load_sentence_encoder("all-minilm-l6-v2", DeviceChoice("cpu", "int8"))
    vectors = encoder.encode(texts, batch_size=32)
    return {str(r["call_id"]): v for r, v in zip(rows, vectors, strict=True)}


def vector_study(
    rows: Sequence[Row], calls: Sequence[CallFacts], truth: set[tuple[str, str]], seeds: int
) -> None:
    vectors = reason_vectors(rows)
    with_vec = [replace(c, reason_vector=vectors[c.call_id]) for c in calls]
    same: list[float] = []
    other: list[float] = []
    by_customer: dict[str | None, list[CallFacts]] = {}
    for c in with_vec:
        by_customer.setdefault(normalise_customer(c.customer_id), []).append(c)
    for group in by_customer.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                score = cosine(a.reason_vector, b.reason_vector)
                assert score is not None
                (same if a.driver_id == b.driver_id else other).append(score)
    for name, values in (("same driver", same), ("different driver", other)):
        q = np.percentile(values, [0, 10, 50, 90, 100])
        print(
            f"  cosine, same customer, {name:<16} n={len(values):>3}  min/p10/p50/p90/max = "
            + " / ".join(f"{x:.2f}" for x in q)
        )
    matrix = np.stack([c.reason_vector for c in with_vec if c.reason_vector is not None])
    driver = np.array([c.driver_id for c in with_vec])
    upper = np.triu_indices(len(with_vec), 1)
    same_driver = driver[upper[0]] == driver[upper[1]]
    for name, mask in (("same driver", same_driver), ("different driver", ~same_driver)):
        values = (matrix @ matrix.T)[upper][mask]
        q = np.percentile(values, [50, 90, 99, 100])
        at = " ".join(f">={t}: {np.mean(values >= t):.2%}" for t in (0.6, 0.75))
        print(
            f"  cosine, all call pairs, {name:<16} n={len(values):>4}  p50/p90/p99/max = "
            + " / ".join(f"{x:.2f}" for x in q)
            + f"  share {at}"
        )
    n_drivers = len({c.driver_id for c in calls})
    print("  threshold | vectors only P / R | 10% corrupted drivers + vectors P / R (mean)")
    for threshold in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
        finder = RepeatFinder(RepeatOptions(similarity_threshold=threshold))
        p1, r1, _ = scores(finder.find([replace(c, driver_id=None) for c in with_vec]), truth)
        runs = [
            scores(finder.find(corrupt(with_vec, 0.1, seed, n_drivers)), truth)
            for seed in range(seeds)
        ]
        p2 = sum(r[0] for r in runs) / len(runs)
        r2 = sum(r[1] for r in runs) / len(runs)
        print(f"  {threshold:9.2f} | {p1:8.3f} / {r1:.3f}    | {p2:8.3f} / {r2:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=5, help="corruption seeds")
    parser.add_argument("--vectors", action="store_true", help="also study reason vectors")
    args = parser.parse_args()

    rows = load(args.data)
    names = sorted({str(r["call_driver"]) for r in rows})
    drivers = {name: i for i, name in enumerate(names)}
    by_id = dict(enumerate(names))
    calls = facts(rows, drivers)
    truth = truth_pairs(rows)
    finder = RepeatFinder()
    links = finder.find(calls)
    true_links = [RepeatLink(a, b, 0.0, None, 1.0) for a, b in sorted(truth)]

    precision, recall, found = scores(links, truth)
    print(f"calls {len(calls)}, true repeats {len(truth)}, drivers {len(names)}")
    print(f"repeats (true drivers): found {found}  precision {precision:.3f}  recall {recall:.3f}")
    for a, b in sorted({(x.call_id, x.earlier_call_id) for x in links} ^ truth):
        print(f"  mismatch {a} -> {b}")
    kinds = Counter(str(r["contact_kind"]) for r in rows)
    print(f"  contact kinds in truth: {dict(kinds)}")
    print_fcr("driver", calls, links, true_links, lambda c: by_id[c.driver_id or 0])
    print_fcr("agent", calls, links, true_links, lambda c: c.agent_id)
    print_fcr("queue", calls, links, true_links, lambda c: c.queue)
    print("alerts (true drivers):")
    print_alerts(alerts_of(calls, links), by_id)

    print(f"10% of driver ids corrupted ({args.seeds} seeds):")
    for seed in range(args.seeds):
        noisy = corrupt(calls, 0.1, seed, len(names))
        noisy_links = finder.find(noisy)
        p, r, n = scores(noisy_links, truth)
        print(f"  seed {seed}: found {n}  precision {p:.3f}  recall {r:.3f}")
        print_alerts(alerts_of(noisy, noisy_links), by_id, indent="    ")

    if args.vectors:
        print("reason vectors (all-MiniLM-L6-v2 on the customer's reason turn):")
        vector_study(rows, calls, truth, args.seeds)


if __name__ == "__main__":
    main()
