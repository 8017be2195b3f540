"""The Ray executor against the local one on the real archive: identical results, and a worker
killed mid-run costs nothing.

    python benchmarks/ray_archive.py [--data ../shared/data] [--limit N] [--workers 2]
        [--threads 1] [--model base] [--kill-after K]

1. ``--limit N``: a temporary archive of N of the archive's calls (taken from the nights in
   turn, with their calls.csv rows); without it the whole archive.
2. The batch with the local executor into a fresh SQLite store (L).
3. The batch with the Ray executor on a local Ray cluster (``ray.init(num_cpus=workers)``)
   into a second fresh SQLite store (R). After ``--kill-after`` calls are stored (default: a
   third of them; 0: no kill) one worker actor's process is SIGKILLed (its PID is the actor's
   ``os.getpid()``); the batch goes on.
4. Checks R against L: every call of L stored in R exactly once (rows per call_id, and the
   batch saved each call once), and identical results (transcripts, speakers, roles, turns,
   words, signals, embeddings, metadata); prints every difference precisely.

Every process (the local batch, each Ray worker) runs its models on ``--threads`` CPU threads,
so both executors do the same arithmetic.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.batch import NightlyBatch  # noqa: E402
from engine.cli import print_summary  # noqa: E402
from engine.config import TranscribeOptions  # noqa: E402
from engine.pipeline import CallPipeline, PipelineSettings  # noqa: E402
from engine.progress import NullProgress  # noqa: E402
from engine.ray_executor import RayExecutor, RayOptions  # noqa: E402
from engine.store.repo import Store  # noqa: E402
from engine.types import CallAnalysis, RunSummary  # noqa: E402

log = logging.getLogger("ray_archive")


def subset(archive: Path, limit: int, out: Path) -> Path:
    """A copy of ``limit`` calls of the archive (nights taken in turn) with their csv rows."""
    nights = sorted(p for p in archive.iterdir() if (p / "calls.csv").is_file())
    rows: dict[Path, list[dict[str, str]]] = {}
    fields: list[str] = []
    for night in nights:
        with (night / "calls.csv").open(newline="") as fh:
            reader = csv.DictReader(fh)
            fields = list(reader.fieldnames or [])
            rows[night] = list(reader)
    chosen: dict[Path, list[dict[str, str]]] = {n: [] for n in nights}
    taken, i = 0, 0
    while taken < limit and any(i < len(r) for r in rows.values()):
        for night in nights:
            if taken < limit and i < len(rows[night]):
                chosen[night].append(rows[night][i])
                taken += 1
        i += 1
    for night, picked in chosen.items():
        if not picked:
            continue
        folder = out / night.name
        folder.mkdir(parents=True)
        with (folder / "calls.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(picked)
        for row in picked:
            shutil.copy2(night / row["audio_file"], folder / row["audio_file"])
    return out


class Saves(NullProgress):
    """Counts the batch's saves per call; SIGKILLs one Ray worker after ``kill_after`` saves."""

    def __init__(self, executor: RayExecutor | None = None, kill_after: int = 0):
        self.executor = executor
        self.kill_after = kill_after
        self.saved: Counter[str] = Counter()
        self.killed: tuple[int, int, float] | None = None  # (worker, pid, at seconds)
        self.started = time.monotonic()

    def done(self, call_id: str, audio_seconds: float) -> None:
        self.saved[call_id] += 1
        due = self.kill_after and sum(self.saved.values()) == self.kill_after
        if due and self.executor is not None and self.killed is None:
            worker, pid = next(iter(self.executor.pids.items()))
            os.kill(pid, signal.SIGKILL)
            self.killed = (worker, pid, time.monotonic() - self.started)
            print(f"  SIGKILL worker {worker} (pid {pid}) after {self.kill_after} calls stored")


def run_batch(
    archive: Path, url: str, settings: PipelineSettings, executor: RayExecutor | None, kill: int
) -> tuple[RunSummary, Saves]:
    saves = Saves(executor, kill)
    build = partial(CallPipeline.build, settings)  # picklable: sent to every Ray worker
    with Store.open(url) as store:
        summary = NightlyBatch(build, store, progress=saves, executor=executor).run(archive)
    print_summary(summary)
    return summary, saves


def rows_per_call(url: str) -> tuple[Counter[str], Counter[str]]:
    """Rows in ``calls`` and in ``utterances`` per call_id, read straight from the SQLite file."""
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        calls = Counter(dict(db.execute("SELECT call_id, COUNT(*) FROM calls GROUP BY call_id")))
        utterances = Counter(
            dict(
                db.execute(
                    "SELECT c.call_id, COUNT(u.id) FROM calls c "
                    "LEFT JOIN utterances u ON u.call_pk = c.id GROUP BY c.call_id"
                )
            )
        )
    return calls, utterances


def differences(a: CallAnalysis, b: CallAnalysis) -> list[str]:
    """What differs between two analyses of one call, field by field (empty: identical)."""
    out: list[str] = []
    for name in ("language", "language_probability", "diarisation_method", "audio"):
        if getattr(a, name) != getattr(b, name):
            out.append(f"{name}: {getattr(a, name)!r} != {getattr(b, name)!r}")
    if a.speakers != b.speakers:
        out.append(f"speakers: {a.speakers} != {b.speakers}")
    ua = [(u.speaker, u.role.value, u.start, u.end, u.text) for u in a.utterances]
    ub = [(u.speaker, u.role.value, u.start, u.end, u.text) for u in b.utterances]
    if ua != ub:
        first = next((i for i, (x, y) in enumerate(zip(ua, ub, strict=False)) if x != y), None)
        where = (
            f"first at #{first}: {ua[first]} != {ub[first]}"
            if first is not None
            else "one is a prefix of the other"
        )
        out.append(f"utterances ({len(ua)} vs {len(ub)}): {where}")
    for name in ("turns", "words", "signals", "spikes"):
        x, y = getattr(a, name), getattr(b, name)
        if x != y:
            same = sum(1 for p, q in zip(x, y, strict=False) if p == q)
            out.append(f"{name}: {len(x)} vs {len(y)}, {same} equal")
    if a.embeddings != b.embeddings:
        if a.embeddings is None or b.embeddings is None:
            out.append("embeddings: present in one only")
        elif a.embeddings.vectors.shape != b.embeddings.vectors.shape:
            out.append(f"embeddings: {a.embeddings.vectors.shape} vs {b.embeddings.vectors.shape}")
        else:
            gap = float(abs(a.embeddings.vectors - b.embeddings.vectors).max())
            out.append(f"embeddings: max abs difference {gap:.3g}")
    if not out and a != b:
        out.append("other fields differ")
    return out


def compare(local_url: str, ray_url: str, saves: Saves) -> bool:
    ok = True
    with Store.open(local_url) as want, Store.open(ray_url) as got:
        ids = want.call_ids()
        lost = sorted(set(ids) - set(got.call_ids()))
        extra = sorted(set(got.call_ids()) - set(ids))
        calls_l, utts_l = rows_per_call(local_url)
        calls_r, utts_r = rows_per_call(ray_url)
        duplicated = sorted(c for c, n in calls_r.items() if n > 1)
        saved_twice = sorted(c for c, n in saves.saved.items() if n > 1)
        utt_mismatch = sorted(c for c in ids if utts_l[c] != utts_r.get(c))
        print(
            f"calls: {len(ids)} in the local store, {len(got.call_ids())} in the Ray store; "
            f"lost {len(lost)}, extra {len(extra)}, rows duplicated {len(duplicated)}, "
            f"saved twice {len(saved_twice)}, utterance rows differing {len(utt_mismatch)}"
        )
        for name, items in (
            ("lost", lost),
            ("extra", extra),
            ("duplicated", duplicated),
            ("saved twice", saved_twice),
            ("utterance rows differ", utt_mismatch),
        ):
            if items:
                ok = False
                print(f"  {name}: {items}")
        differing = 0
        for call_id in ids:
            a, b = want.load_call(call_id), got.load_call(call_id)
            if a is None or b is None:
                continue
            found = differences(a, b)
            if want.call_metadata(call_id) != got.call_metadata(call_id):
                found.append("metadata differs")
            if found:
                differing += 1
                print(f"  {call_id}: " + "; ".join(found))
        print(f"results identical: {len(ids) - differing} of {len(ids)} calls")
        q_local = sorted(q.call_id for q in want.quarantined())
        q_ray = sorted(q.call_id for q in got.quarantined())
        if q_local != q_ray:
            ok = False
            print(f"  quarantined: local {q_local}, Ray {q_ray}")
        ok = ok and differing == 0 and sum(calls_l.values()) == len(ids)
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--limit", type=int, default=0, help="only this many calls (0: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="model threads per process")
    ap.add_argument("--model", default="base")
    ap.add_argument("--beam-size", type=int, default=None, help="default: the pipeline's")
    ap.add_argument("--kill-after", type=int, default=-1, help="default: a third of the calls")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import ray

    work = Path(tempfile.mkdtemp(prefix="callscope-ray-"))
    archive = args.data / "archive"
    if args.limit:
        archive = subset(archive, args.limit, work / "archive")
    total = sum(1 for _ in archive.glob("*/*.wav"))
    kill = total // 3 if args.kill_after < 0 else args.kill_after
    settings = PipelineSettings(
        whisper_model=args.model,
        cpu_threads=args.threads,
        transcribe=TranscribeOptions(beam_size=args.beam_size),
    )
    local_url, ray_url = f"sqlite:///{work / 'local.db'}", f"sqlite:///{work / 'ray.db'}"
    print(f"archive {archive}: {total} recordings; stores in {work}")

    print(f"## local executor ({args.threads} threads)")
    t0 = time.monotonic()
    run_batch(archive, local_url, settings, None, 0)
    local_s = time.monotonic() - t0

    print(f"## Ray executor ({args.workers} workers × {args.threads} threads, local cluster)")
    ray.init(num_cpus=args.workers, include_dashboard=False)
    try:
        executor = RayExecutor(RayOptions(workers=args.workers))
        t0 = time.monotonic()
        _, saves = run_batch(archive, ray_url, settings, executor, kill)
        ray_s = time.monotonic() - t0
    finally:
        ray.shutdown()
    if kill and saves.killed is None:
        print(f"  (no worker killed: fewer than {kill} calls were stored)")
    print(f"wall: local {local_s:.1f} s, Ray {ray_s:.1f} s ({local_s / ray_s:.2f}x)")

    ok = compare(local_url, ray_url, saves)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
