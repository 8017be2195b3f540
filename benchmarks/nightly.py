"""The nightly batch over a real archive: throughput, memory, and a second run that does nothing.

    python benchmarks/nightly.py --data ../shared/data [--model base] [--store URL]

Runs `callscope run <data>/archive` twice into a fresh store (SQLite in a temp folder by
default) and prints, for each run: calls processed / skipped / quarantined, audio hours,
wall time, calls per hour, audio seconds per wall second and the process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.crash_test import batch_command  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--model", default="base")
    ap.add_argument("--store", default=None, help="default: SQLite in a new temp folder")
    args = ap.parse_args()
    store = args.store or f"sqlite:///{Path(tempfile.mkdtemp(prefix='callscope-nightly-'))}/c.db"
    archive = args.data / "archive"
    for attempt in ("first", "second"):
        t0 = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.run(
            batch_command(archive, store, args.model),
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"## {attempt} run: exit {proc.returncode}, {wall:.1f} s wall")
        print(proc.stdout.strip())
        print(f"peak RSS of the batch process: {max(peak, before) / 1024:.0f} MiB")
        if proc.returncode not in (0, 1):
            print(proc.stderr[-3000:])
            return proc.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
