"""Issue 11's acceptance figures in one run: call drivers, repeats, spikes and alerts on every
labelled archive given (the shared development archive and our own independently written
ones), plus Banking77 against BERTopic.

    python benchmarks/drivers_generalise.py --archive ../shared/data/archive=sqlite:////tmp/a.db \\
        --archive /tmp/cs/telecom=sqlite:////tmp/t.db [--banking77 ../shared/data/intents/banking77]

Each ``--archive ROOT=STORE`` names an archive folder (night folders + ``truth.jsonl``, the
layout of ``../shared/data/archive`` and of ``python -m benchmarks.make_archive``) and an
SQLite store holding it transcribed (``callscope run ROOT --store STORE --no-analyse``; run
first when the store is empty). The store is copied and analysed all at once and night by
night; each copy is scored against the truth:

- call-level driver NMI / ARI, drivers found against the true count (±25%), unassigned share;
- what the scaffolding detector removed (engine.analytics.scaffolding);
- repeat contacts precision / recall; emotion spikes precision / recall (as benchmarks/voc.py);
- alerts: the campaign night (the calls marked ``campaign_surplus``) alerted for the driver
  holding most of the campaign driver's calls or for its family, and every other alert;
- exemplars: any driver exemplar that is (part of) a labelled identity check, greeting or
  closing turn, rather than a reason;
- stability: primary drivers night by night against all at once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from benchmarks.crash_test import batch_command  # noqa: E402
from benchmarks.voc import (  # noqa: E402
    analyse,
    primary_drivers,
    score_reasons,
    score_repeats,
    score_spikes,
)
from engine.analytics.lineage import agreement  # noqa: E402
from engine.analytics.metrics import driver_families  # noqa: E402
from engine.store.repo import Store  # noqa: E402
from models.sentence import encoder_name  # noqa: E402

MODEL = encoder_name("minilm")
REASON_SLOTS = ("cust_reason", "cust_followup")


def load_truth(root: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (root / "truth.jsonl").open()]
    return {r["call_id"]: r for r in rows}


def ensure_transcribed(url: str, root: Path) -> None:
    with Store.open(url) as store:
        if store.count_calls():
            return
    print(f"# transcribing {root} (callscope run --no-analyse) ...", flush=True)
    subprocess.run([*batch_command(root, url, "base"), "--no-analyse"], cwd=REPO, check=False)


def score_drivers(url: str, truth: dict[str, dict]) -> tuple[float, float, int, int, float]:
    primary = primary_drivers(url)
    calls = sorted(truth)
    labels = [primary.get(c, -1) for c in calls]
    true = [truth[c]["call_driver"] for c in calls]
    found = len({x for x in labels if x != -1})
    unassigned = sum(1 for x in labels if x == -1) / len(labels)
    return (
        normalized_mutual_info_score(true, labels),
        adjusted_rand_score(true, labels),
        found,
        len(set(true)),
        unassigned,
    )


def campaign(truth: dict[str, dict]) -> tuple[str | None, str | None]:
    """The campaign driver and night: where the ``campaign_surplus`` calls are."""
    surplus = [r for r in truth.values() if r.get("campaign_surplus")]
    if not surplus:
        return None, None
    driver = Counter(r["call_driver"] for r in surplus).most_common(1)[0][0]
    night = Counter(r["date"] for r in surplus).most_common(1)[0][0]
    return driver, night


def score_alerts(url: str, truth: dict[str, dict]) -> list[str]:
    driver, night = campaign(truth)
    primary = primary_drivers(url)
    holders = Counter(
        primary[c] for c, r in truth.items() if r["call_driver"] == driver and c in primary
    )
    with Store.open(url) as store:
        names = {d.id: d.name for d in store.voc.drivers()}
        alerts = store.voc.alerts()
        families = driver_families(store.voc.centroids(MODEL), 0.65)
    held = holders.most_common(1)[0][0] if holders else None
    family = next((set(m) for m in families.values() if held in m), {held})
    hit = [
        a
        for a in alerts
        if a.driver_id in family and night is not None and a.day == date.fromisoformat(night)
    ]
    others = [a for a in alerts if a not in hit]
    total = sum(holders.values())
    lines = [
        f"campaign {driver} on {night}: driver {held} {names.get(held)!r} holds "
        f"{holders.most_common(1)[0][1] if holders else 0} of {total} of its calls "
        f"(family {sorted(x for x in family if x is not None)}); alerted: "
        f"{'YES' if hit else 'NO'} ({', '.join(a.kind for a in hit) or '-'}); "
        f"other alerts: {len(others)}"
    ]
    lines += [
        f"  alert {a.day} {a.kind} {names.get(a.driver_id)!r}: {a.observed:g} vs "
        f"{a.baseline:.2f} (p={a.p_value:.4f})"
        for a in alerts
    ]
    return lines


def score_exemplars(url: str, truth: dict[str, dict]) -> str:
    """Exemplars that are scaffolding: matched to the stored utterance with that text, then
    to the labelled turn it overlaps; a customer turn outside the reason slots counts."""
    bad: list[str] = []
    shown = 0
    with Store.open(url) as store:
        drivers = [d for d in store.voc.drivers(["active"]) if d.size > 0]
        wanted = {e for d in drivers for e in d.exemplars}
        where: dict[str, list[tuple[str, float, float]]] = {}
        for call_id in truth:
            call = store.load_call(call_id)
            if call is None:
                continue
            for u in call.utterances:
                if u.text in wanted:
                    where.setdefault(u.text, []).append((call_id, u.start, u.end))
    for d in drivers:
        for text in d.exemplars:
            shown += 1
            for call_id, start, end in where.get(text, ())[:1]:
                slots = {
                    t["slot"]
                    for t in truth[call_id]["turns"]
                    if min(end, t["end"]) > max(start, t["start"])
                }
                if slots and not slots & set(REASON_SLOTS):
                    bad.append(f"{d.name}: {text!r} ({', '.join(sorted(slots))})")
    head = f"exemplars: {shown} shown, {len(bad)} are scaffolding (not a reason turn)"
    return "\n".join([head, *(f"  {b}" for b in bad)])


def nightly(url: str, truth: dict[str, dict]) -> None:
    nights = sorted({r["date"] for r in truth.values()})
    for i in range(len(nights)):
        until = (
            datetime.fromisoformat(nights[i + 1]).replace(tzinfo=UTC)
            if i + 1 < len(nights)
            else None
        )
        analyse(url, until=until)


def report(name: str, url: str, truth: dict[str, dict]) -> None:
    nmi, ari, found, true_k, unassigned = score_drivers(url, truth)
    within = abs(found - true_k) <= 0.25 * true_k
    print(f"\n## {name}")
    print(
        f"call drivers: NMI {100 * nmi:.1f}, ARI {100 * ari:.1f}; {found} drivers for "
        f"{true_k} true ({'within' if within else 'OUTSIDE'} ±25%); "
        f"{100 * unassigned:.1f}% of calls unassigned"
    )
    print(score_repeats(url, truth))
    print(score_spikes(url, truth))
    for line in score_alerts(url, truth):
        print(line)
    print(score_exemplars(url, truth))


def archive_figures(root: Path, url: str, work: Path) -> None:
    truth = load_truth(root)
    ensure_transcribed(url, root)
    base = Path(url.removeprefix("sqlite:///"))
    tag = root.name
    urls = {}
    for name in ("at_once", "nightly"):
        shutil.copy(base, work / f"{tag}_{name}.db")
        urls[name] = f"sqlite:///{work / f'{tag}_{name}.db'}"
    print(f"\n# {root} ({len(truth)} calls)", flush=True)
    t0 = time.monotonic()
    result = analyse(urls["at_once"])
    print(
        f"all at once: {result.mode}, {result.active_drivers} drivers, "
        f"{time.monotonic() - t0:.1f} s; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    )
    if result.scaffolding is not None:
        print(result.scaffolding.summary())
        for c in sorted(result.scaffolding.clusters, key=lambda c: -c.size):
            if c.why:
                print(
                    f"  {c.why:8s} {c.size:3d} utterances in {c.calls:3d} calls, purity "
                    f"{c.purity:.2f} (p={c.p_value:.3f}), position {c.position:.2f}: "
                    f"{c.exemplar!r}"
                )
    print(score_reasons(urls["at_once"], truth))
    nightly(urls["nightly"], truth)
    report("all at once", urls["at_once"], truth)
    report("night by night", urls["nightly"], truth)
    a, b = primary_drivers(urls["at_once"]), primary_drivers(urls["nightly"])
    print(
        f"\nstability (night by night vs all at once): {agreement(a, b):.3f} over "
        f"{len(set(a) & set(b))} calls"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--archive", action="append", default=[], help="ROOT=SQLITE_URL")
    ap.add_argument("--banking77", type=Path, default=None, help="folder with test.csv")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="callscope-generalise-"))
    if args.banking77 is not None:
        print("# Banking77 test.csv: callscope driver clustering vs BERTopic", flush=True)
        script = REPO / "benchmarks" / "banking77_drivers.py"
        subprocess.run([sys.executable, str(script), "--data", str(args.banking77)], check=False)
    for item in args.archive:
        root, _, url = item.partition("=")
        archive_figures(Path(root), url or f"sqlite:///{work / (Path(root).name + '.db')}", work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
