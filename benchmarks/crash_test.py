"""Kill the nightly batch at random moments and check nothing is lost or duplicated.

    python benchmarks/crash_test.py [--kills 10] [--nights 2 --calls-per-night 3] [--model tiny.en]

1. Generates a small archive (espeak-ng voices) and runs the batch on it once, cleanly,
   into store A.
2. Starts the batch on the same archive into store B and SIGKILLs it at a random moment,
   ``--kills`` times, then lets a last run finish.
3. Compares B with A: the same calls, each exactly once, identical transcripts.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.sample import make_archive  # noqa: E402
from engine.store.repo import Store  # noqa: E402


def batch_command(archive: Path, store_url: str, model: str) -> list[str]:
    """`callscope run` as a child of this interpreter (also used by benchmarks/nightly.py)."""
    return [
        sys.executable,
        "-m",
        "engine.cli",
        "run",
        str(archive),
        "--store",
        store_url,
        "--model",
        model,
        "--quiet",
    ]


def transcript_of(store: Store, call_id: str) -> list[tuple[str, str, float, float]]:
    call = store.load_call(call_id)
    assert call is not None
    return [(u.speaker, u.text, u.start, u.end) for u in call.utterances]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--nights", type=int, default=4)
    ap.add_argument("--calls-per-night", type=int, default=5)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    work = Path(tempfile.mkdtemp(prefix="callscope-crash-"))
    archive = work / "archive"
    make_archive(archive, args.nights, args.calls_per_night)
    clean_url = f"sqlite:///{work / 'clean.db'}"
    crash_url = f"sqlite:///{work / 'crash.db'}"

    t0 = time.monotonic()
    subprocess.run(batch_command(archive, clean_url, args.model), check=True, cwd=REPO)
    clean_seconds = time.monotonic() - t0
    t0 = time.monotonic()
    subprocess.run(batch_command(archive, clean_url, args.model), check=True, cwd=REPO)
    startup = time.monotonic() - t0  # a run with nothing left to do: imports, models, plan
    with Store.open(clean_url) as store:
        total = store.count_calls()
    per_call = max(clean_seconds - startup, 0.1) / max(total, 1)
    print(f"clean run: {clean_seconds:.1f} s for {total} calls; startup {startup:.1f} s")

    stored = 0
    for i in range(args.kills):
        # a moment inside the work still left, so the kill lands mid-batch
        delay = rng.uniform(0.5, startup + per_call * max(total - stored, 1))
        proc = subprocess.Popen(
            batch_command(archive, crash_url, args.model),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Store.open(crash_url) as store:
            stored = store.count_calls()
        state = "had finished" if finished else "SIGKILL"
        print(f"run {i + 1:2d}: {state} after {delay:5.1f} s; calls stored: {stored}")

    final = subprocess.run(batch_command(archive, crash_url, args.model), cwd=REPO)
    print(f"final run exit status {final.returncode}")

    with Store.open(clean_url) as clean, Store.open(crash_url) as crashed:
        want, got = sorted(clean.call_ids()), sorted(crashed.call_ids())
        lost = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        duplicated = crashed.count_calls() - len(set(got))
        differ = [
            c for c in want if c in got and transcript_of(clean, c) != transcript_of(crashed, c)
        ]
    print(
        f"calls: {len(want)} expected, {len(got)} stored; lost {len(lost)}, "
        f"extra {len(extra)}, duplicated {duplicated}, transcripts differing {len(differ)}"
    )
    ok = not (lost or extra or duplicated or differ)
    print("PASS" if ok else f"FAIL lost={lost} extra={extra} differ={differ}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
