"""``python -m benchmarks run ...``: see benchmarks/throughput.py."""

from benchmarks.throughput import main

if __name__ == "__main__":
    raise SystemExit(main())
