"""VoC analytics acceptance figures in one run: drivers, repeats, emotion spikes, alerts,
stability, and the Banking77 comparison with BERTopic.

    python benchmarks/voc.py --data ../shared/data [--store sqlite:///path/archive.db]
                             [--skip banking77]

The archive part needs the archive transcribed into a store without analytics
(``callscope run <data>/archive --store URL --no-analyse``); when ``--store`` holds no calls
the script runs that batch first (about ten minutes on two cores). It then copies the
SQLite store twice and analyses one copy all at once and the other night by night
(``until`` = the start of the next night, incremental updates), and scores both against
``archive/truth.jsonl``:

- reason selection: utterances marked as the customer's reason vs the labelled reason and
  follow-up turns (by time overlap, same role);
- call-level driver NMI / ARI vs the true driver, drivers found, unassigned share;
- repeat contacts: precision / recall of (call, earlier call) links vs ``repeat_of``;
- emotion spikes: event precision / recall (an event counts when it overlaps a true spike of
  the same speaker role);
- alerts: the campaign spike (getting_virtual_card on 2026-11-20) found for the driver that
  holds most of that intent's calls, and every other alert;
- stability: share of calls whose primary driver agrees between the two runs after the best
  one-to-one mapping of driver IDs;
- analyst edits: a rename and a merge, then a full re-clustering: the name and the merge kept.
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
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from benchmarks.crash_test import batch_command  # noqa: E402
from engine.analytics.analyse import AnalyseOptions, AnalysisReport, VocAnalysis  # noqa: E402
from engine.analytics.edits import DriverEditor  # noqa: E402
from engine.analytics.lineage import agreement  # noqa: E402
from engine.store.repo import Store  # noqa: E402
from models.device import resolve_device  # noqa: E402
from models.sentence import encoder_name, load_sentence_encoder  # noqa: E402

SENTENCE_MODEL = "minilm"
RESELECT = False


def load_truth(data: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (data / "archive" / "truth.jsonl").open()]
    return {r["call_id"]: r for r in rows}


def ensure_transcribed(store_url: str, data: Path, model: str) -> None:
    with Store.open(store_url) as store:
        if store.count_calls():
            return
    print("# transcribing the archive (callscope run --no-analyse) ...", flush=True)
    cmd = [*batch_command(data / "archive", store_url, model), "--no-analyse"]
    subprocess.run(cmd, cwd=REPO, check=False)


def analyse(
    url: str,
    until: datetime | None = None,
    recluster: bool = False,
    reselect: bool = False,
    growth: float | None = AnalyseOptions.recluster_growth,
) -> AnalysisReport:
    options = AnalyseOptions(
        sentence_model=encoder_name(SENTENCE_MODEL),
        until=until,
        recluster=recluster,
        reselect=reselect,
        recluster_growth=growth,
    )
    with Store.open(url) as store:
        return VocAnalysis(
            store,
            lambda: load_sentence_encoder(SENTENCE_MODEL, resolve_device("cpu")),
            options,
        ).run()


def primary_drivers(url: str) -> dict[str, int]:
    with Store.open(url) as store:
        return {c: links[0].driver_id for c, links in store.voc.call_drivers().items() if links}


def overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    return min(a1, b1) > max(a0, b0)


def score_reasons(url: str, truth: dict[str, dict]) -> str:
    tp = fp = fn = total = 0
    with Store.open(url) as store:
        for call_id in store.call_ids():
            call = store.load_call(call_id)
            if call is None or call_id not in truth:
                continue
            wanted = [
                t for t in truth[call_id]["turns"] if t["slot"] in ("cust_reason", "cust_followup")
            ]
            flagged = {s.index for s in call.signals if s.is_reason}
            hit_turns = set()
            for i, u in enumerate(call.utterances):
                match = [
                    j
                    for j, t in enumerate(wanted)
                    if overlaps(u.start, u.end, t["start"], t["end"])
                ]
                if i in flagged:
                    if match:
                        tp += 1
                        hit_turns.update(match)
                    else:
                        fp += 1
            fn += len(wanted) - len(hit_turns)
            total += len(wanted)
    precision = tp / max(1, tp + fp)
    recall = 1 - fn / max(1, total)
    return (
        f"reason utterances: precision {precision:.3f} ({tp} of {tp + fp} flagged), "
        f"recall of labelled reason turns {recall:.3f} ({fn} of {total} missed)"
    )


def score_drivers(url: str, truth: dict[str, dict]) -> tuple[float, float, int]:
    primary = primary_drivers(url)
    calls = sorted(truth)
    labels = [primary.get(c, -1) for c in calls]
    true = [truth[c]["call_driver"] for c in calls]
    return (
        normalized_mutual_info_score(true, labels),
        adjusted_rand_score(true, labels),
        len({x for x in labels if x != -1}),
    )


def score_repeats(url: str, truth: dict[str, dict]) -> str:
    with Store.open(url) as store:
        found = {(x.call_id, x.earlier_call_id) for x in store.voc.repeat_links()}
    wanted = {(c, r["repeat_of"]) for c, r in truth.items() if r["repeat_of"]}
    tp = len(found & wanted)
    p = tp / max(1, len(found))
    r = tp / max(1, len(wanted))

    def stereo(call_id: str) -> bool:
        return truth[call_id]["channel_layout"] != "mono"

    both = {x for x in wanted if stereo(x[0]) and stereo(x[1])}
    r_stereo = len(found & both) / max(1, len(both))
    r_mono = len(found & (wanted - both)) / max(1, len(wanted - both))
    return (
        f"repeat contacts: {len(found)} found, {len(wanted)} true; "
        f"precision {p:.3f}, recall {r:.3f} (pairs of stereo calls {r_stereo:.3f} of "
        f"{len(both)}; pairs with a mono call {r_mono:.3f} of {len(wanted - both)})"
    )


def score_spikes(url: str, truth: dict[str, dict]) -> str:
    tp_events = fp_events = 0
    found_true = 0
    total_true = 0
    with Store.open(url) as store:
        for call_id, t in truth.items():
            call = store.load_call(call_id)
            events = call.spikes if call is not None else ()
            true = t["emotion_spikes"]
            total_true += len(true)
            for e in events:
                if any(
                    overlaps(e.start, e.end, s["start"], s["end"])
                    and e.role.value == s["speaker_role"]
                    for s in true
                ):
                    tp_events += 1
                else:
                    fp_events += 1
            found_true += sum(
                any(
                    overlaps(e.start, e.end, s["start"], s["end"])
                    and e.role.value == s["speaker_role"]
                    for e in events
                )
                for s in true
            )
    p = tp_events / max(1, tp_events + fp_events)
    r = found_true / max(1, total_true)
    return (
        f"emotion spikes: {tp_events + fp_events} events, {total_true} true; "
        f"precision {p:.3f}, recall {r:.3f}"
    )


def score_alerts(url: str, truth: dict[str, dict]) -> list[str]:
    primary = primary_drivers(url)
    holders = Counter(
        primary[c]
        for c, r in truth.items()
        if r["call_driver"] == "getting_virtual_card" and c in primary
    )
    campaign = holders.most_common(1)[0][0] if holders else None
    lines = []
    with Store.open(url) as store:
        names = {d.id: d.name for d in store.voc.drivers()}
        alerts = store.voc.alerts()
    hit = [
        a
        for a in alerts
        if a.driver_id == campaign and str(a.day) == "2026-11-20" and a.kind == "spike"
    ]
    others = [a for a in alerts if a not in hit]
    lines.append(
        f"campaign driver (holds {holders.most_common(1)[0][1] if holders else 0} of 20 "
        f"getting_virtual_card calls): {campaign} {names.get(campaign)!r}; "
        f"spike alert on 2026-11-20: {'YES' if hit else 'NO'}; other alerts: {len(others)}"
    )
    for a in alerts:
        lines.append(
            f"  alert {a.day} {a.kind} {names.get(a.driver_id)!r}: {a.observed:g} "
            f"vs {a.baseline:.2f} (p={a.p_value:.4f})"
        )
    return lines


def edits_survive(url: str) -> str:
    model = encoder_name(SENTENCE_MODEL)
    with Store.open(url) as store:
        active = sorted(store.voc.drivers(["active"]), key=lambda d: -d.size)
        keep, a, b = active[0], active[1], active[2]
        editor = DriverEditor(store, model)
        editor.rename(keep.id, "Analyst named driver")
        editor.merge(a.id, [b.id])
    analyse(url, recluster=True)
    with Store.open(url) as store:
        renamed = store.voc.driver(keep.id)
        merged = store.voc.driver(b.id)
        members_b = sum(1 for d in store.voc.reason_set(model).driver_ids if d == b.id)
    ok = (
        renamed is not None
        and renamed.name == "Analyst named driver"
        and renamed.status == "active"
        and merged is not None
        and merged.status == "merged"
        and members_b == 0
    )
    return (
        f"analyst edits after re-clustering: rename kept {renamed.name if renamed else None!r} "
        f"({renamed.status if renamed else '-'}), merged driver {b.id} -> "
        f"{merged.merged_into if merged else None} with {members_b} members: "
        f"{'PASS' if ok else 'FAIL'}"
    )


def nights_of(truth: dict[str, dict]) -> list[str]:
    return sorted({r["date"] for r in truth.values()})


def night_by_night(url: str, nights: list[str], growth: float | None) -> float:
    """Analyse night after night; print each; return the share of calls whose primary driver
    ID changed between the night they were first analysed and the end (ID churn)."""
    first: dict[str, int] = {}
    t0 = time.monotonic()
    for i, night in enumerate(nights):
        until = (
            datetime.fromisoformat(nights[i + 1]).replace(tzinfo=UTC)
            if i + 1 < len(nights)
            else None
        )
        r = analyse(url, until=until, reselect=RESELECT and i == 0, growth=growth)
        for call_id, driver_id in primary_drivers(url).items():
            first.setdefault(call_id, driver_id)
        print(
            f"   night {night}: {r.mode}, {r.reason_utterances} reasons, {r.active_drivers} "
            f"drivers ({r.new_drivers} new), {100 * r.unassigned:.1f}% unassigned"
        )
    final = primary_drivers(url)
    churn = sum(1 for c, d in first.items() if final.get(c) != d) / max(1, len(first))
    print(f"   {time.monotonic() - t0:.1f} s; driver ID changed for {100 * churn:.1f}% of calls")
    return churn


def report_run(name: str, url: str, truth: dict[str, dict]) -> None:
    nmi, ari, k = score_drivers(url, truth)
    print(f"\n## {name}")
    print(f"call drivers vs truth: NMI {100 * nmi:.1f}, ARI {100 * ari:.1f}, {k} drivers")
    print(score_repeats(url, truth))
    print(score_spikes(url, truth))
    for line in score_alerts(url, truth):
        print(line)


def archive_figures(base_url: str, truth: dict[str, dict], work: Path) -> None:
    base = Path(base_url.removeprefix("sqlite:///"))
    urls = {}
    for name in ("at_once", "nightly", "incremental", "edits"):
        shutil.copy(base, work / f"{name}.db")
        urls[name] = f"sqlite:///{work / f'{name}.db'}"

    t0 = time.monotonic()
    report = analyse(urls["at_once"], reselect=RESELECT)
    print(
        f"## all at once: {report.mode}, {report.active_drivers} drivers, "
        f"{100 * report.unassigned:.1f}% unassigned, {time.monotonic() - t0:.1f} s"
    )
    nights = nights_of(truth)
    print("## night by night (default: re-cluster when reasons grew 25%, lineage keeps IDs)")
    night_by_night(urls["nightly"], nights, AnalyseOptions.recluster_growth)
    print("## night by night, incremental only (assign to drivers; misfits form new ones)")
    night_by_night(urls["incremental"], nights, None)

    print("\n## reason selection (what drivers are built from)")
    print(score_reasons(urls["at_once"], truth))
    report_run("all at once", urls["at_once"], truth)
    report_run("night by night", urls["nightly"], truth)
    report_run("night by night, incremental only", urls["incremental"], truth)
    a = primary_drivers(urls["at_once"])
    for name in ("nightly", "incremental"):
        b = primary_drivers(urls[name])
        print(
            f"\n## stability ({name} vs all at once): primary driver agreement after mapping "
            f"{agreement(a, b):.3f} over {len(set(a) & set(b))} calls"
        )
    shutil.copy(work / "at_once.db", work / "edits.db")
    print(edits_survive(urls["edits"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--store", default=None, help="SQLite URL of the transcribed archive")
    ap.add_argument("--model", default="base", help="Whisper model if transcription is needed")
    ap.add_argument("--skip", default="", help="comma list: banking77, archive")
    ap.add_argument(
        "--reselect", action="store_true", help="mark reason utterances again (stored store)"
    )
    args = ap.parse_args()
    global RESELECT
    RESELECT = args.reselect
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="callscope-voc-"))
    if "banking77" not in skip:
        print("# Banking77 test.csv: callscope driver clustering vs BERTopic", flush=True)
        script = REPO / "benchmarks" / "banking77_drivers.py"
        folder = args.data / "intents" / "banking77"
        subprocess.run([sys.executable, str(script), "--data", str(folder)], check=False)
    if "archive" not in skip:
        url = args.store or f"sqlite:///{work / 'archive.db'}"
        ensure_transcribed(url, args.data, args.model)
        print("\n# archive (7 nights, 138 calls)", flush=True)
        archive_figures(url, load_truth(args.data), work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
