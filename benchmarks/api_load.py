"""Load test of the HTTP API over a store of 10,000 calls (about 200,000 utterances).

Two steps, each against SQLite and/or PostgreSQL:

    python benchmarks/api_load.py build --store sqlite:////tmp/load/callscope.db
    python benchmarks/api_load.py build --store postgresql+psycopg://u:p@127.0.0.1/load
    python benchmarks/api_load.py measure --store sqlite:////tmp/load/callscope.db \
        --store postgresql+psycopg://u:p@127.0.0.1/load --json load.json

``build`` fills an empty store with generated calls: a month of traffic (about 333 calls a
day from 7,000 customers, so some call back; 60 agents, 5 queues), 14-26 utterances per call
with words and times, the customer's reason taken from Banking77 (real customer phrasings of
77 intents; train.csv under ``--data``), agent and small-talk lines from fixed pools, signals
and a few emotion spikes; utterance vectors from the offline all-MiniLM-L6-v2 (each distinct
text embedded once); then the night analysis (drivers, repeats, alerts) runs over the store.

``measure`` starts ``callscope serve`` on loopback for each store (one process, as deployed),
creates an analyst key, warms up, then sends a bounded number of requests per route, one at a
time (latency: p50, p99) and from ``--clients`` threads at once (requests/s):

- calls list: ``/v1/calls`` with rotating filters (none, driver, agent, queue, day range,
  repeat, spike) and the next page through the cursor;
- call detail: ``/v1/calls/{id}`` for random calls;
- drivers list: ``/v1/drivers`` and ``/v1/drivers/metrics`` (the figures) over the month;
  driver detail ``/v1/drivers/{id}`` (daily series and newest calls);
- semantic search: ``/v1/search?q=`` with Banking77 test phrasings.

Targets on a 2-core CPU: p99 < 100 ms for list and detail, < 300 ms for search.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.store.repo import Store  # noqa: E402
from engine.types import (  # noqa: E402
    AudioInfo,
    CallAnalysis,
    CallMetadata,
    EmotionSpike,
    Role,
    Speaker,
    SpeakerTurn,
    Utterance,
    UtteranceEmbeddings,
    UtteranceSignals,
    Word,
)

log = logging.getLogger("api_load")

DATA = REPO.parent / "shared" / "data"
START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30

AGENT_LINES = (
    "Thank you for calling, my name is Sam, how can I help you today?",
    "Can I take your full name and the first line of your address please?",
    "Thanks, and can you confirm your date of birth for me?",
    "Okay, let me have a look at that for you.",
    "Bear with me one moment while I pull up your account.",
    "I can see what has happened here.",
    "I'm sorry about the trouble this has caused you.",
    "I've made a note on your account about this.",
    "That should be sorted within the next two working days.",
    "You will get a confirmation by email shortly.",
    "Is there anything else I can help you with today?",
    "Thanks for your patience, I'm just checking with my team.",
    "I'll put you on a short hold, is that okay?",
    "Thank you for holding.",
    "I understand, that must be frustrating.",
    "Let me transfer you to the right department.",
    "Can you tell me the last four digits of the card?",
    "I've raised a ticket and you'll get a reference number by text.",
    "Have a lovely rest of your day.",
    "Just to confirm, you want me to go ahead with that?",
)
CUSTOMER_LINES = (
    "Yes that's right.",
    "Okay.",
    "No, that's everything, thank you.",
    "Sure, go ahead.",
    "It's the one ending in four seven.",
    "Thanks, that's really helpful.",
    "How long will that take?",
    "Right, okay, I see.",
    "Can you send me something in writing?",
    "That's not good enough to be honest.",
    "I've been waiting for ages.",
    "Yes, that's fine.",
)


def _banking77(data: Path, split: str) -> list[tuple[str, str]]:
    with (data / "intents" / "banking77" / f"{split}.csv").open(encoding="utf-8") as f:
        return [(row["text"], row["category"]) for row in csv.DictReader(f)]


def _words(text: str, start: float, end: float) -> tuple[Word, ...]:
    tokens = text.split()
    step = (end - start) / max(len(tokens), 1)
    return tuple(
        Word(f" {t}", round(start + i * step, 3), round(start + (i + 1) * step, 3), 0.9)
        for i, t in enumerate(tokens)
    )


@dataclass(frozen=True)
class _Line:
    role: Role
    text: str
    reason: bool


def _call_lines(rng: random.Random, by_intent: dict[str, list[str]], intent: str) -> list[_Line]:
    n = rng.randint(14, 26)
    lines = [_Line(Role.AGENT, AGENT_LINES[0], False)]
    lines.append(_Line(Role.CUSTOMER, rng.choice(by_intent[intent]), True))
    while len(lines) < n:
        agent = len(lines) % 2 == 0
        if agent:
            lines.append(_Line(Role.AGENT, rng.choice(AGENT_LINES[1:]), False))
        elif rng.random() < 0.15:
            lines.append(_Line(Role.CUSTOMER, rng.choice(by_intent[intent]), True))
        else:
            lines.append(_Line(Role.CUSTOMER, rng.choice(CUSTOMER_LINES), False))
    return lines


def _call(
    call_id: str,
    lines: list[_Line],
    vectors: np.ndarray,
    model: str,
    rng: random.Random,
    spike: bool,
) -> CallAnalysis:
    utterances, turns, signals = [], [], []
    t = 0.4
    for i, line in enumerate(lines):
        speaker = "S0" if line.role is Role.AGENT else "S1"
        length = round(0.35 * len(line.text.split()) + 0.6, 3)
        start, end = round(t, 3), round(t + length, 3)
        utterances.append(
            Utterance(speaker, line.role, start, end, line.text, _words(line.text, start, end))
        )
        turns.append(SpeakerTurn(speaker, start, end))
        sentiment = round(max(-1.0, min(1.0, rng.gauss(0.05, 0.3))), 3)
        signals.append(UtteranceSignals(i, sentiment, None, line.reason))
        t = end + rng.uniform(0.2, 1.5)
    duration = round(t + 0.5, 3)
    spikes: tuple[EmotionSpike, ...] = ()
    if spike:
        i = max(k for k, x in enumerate(utterances) if x.role is Role.CUSTOMER)
        u = utterances[i]
        spikes = (
            EmotionSpike(
                u.start, u.end, u.speaker, u.role, 3.1, -0.6, 7.5, 3.2, 1.3, (i,), ("ages",)
            ),
        )
    agent_s = sum(u.end - u.start for u in utterances if u.role is Role.AGENT)
    return CallAnalysis(
        call_id=call_id,
        audio=AudioInfo(
            path=f"/archive/{call_id}.wav",
            container="wav",
            codec="pcm_mulaw",
            sample_rate=8000,
            channels=2,
            duration=duration,
            size_bytes=int(duration * 16000),
        ),
        language="en",
        language_probability=0.99,
        diarisation_method="channels",
        speakers=(
            Speaker("S0", Role.AGENT, 1.0, "channel", round(agent_s, 3)),
            Speaker("S1", Role.CUSTOMER, 1.0, "channel", round(duration - agent_s, 3)),
        ),
        turns=tuple(turns),
        utterances=tuple(utterances),
        signals=tuple(signals),
        spikes=spikes,
        embeddings=UtteranceEmbeddings(model, vectors),
    )


def build(url: str, data: Path, calls: int, seed: int) -> None:
    from engine.analytics.analyse import AnalyseOptions, VocAnalysis
    from models.device import resolve_device
    from models.sentence import load_sentence_encoder

    rng = random.Random(seed)
    texts = _banking77(data, "train")
    by_intent: dict[str, list[str]] = {}
    for text, intent in texts:
        by_intent.setdefault(intent, []).append(text)
    intents = sorted(by_intent)
    weights = [1.0 / (1 + k) ** 0.7 for k in range(len(intents))]  # a long tail of drivers
    rng.shuffle(intents)

    encoder = load_sentence_encoder("minilm", resolve_device("cpu"))
    distinct = sorted({t for t, _ in texts} | set(AGENT_LINES) | set(CUSTOMER_LINES))
    began = time.perf_counter()
    matrix = encoder.encode(distinct, 64).astype(np.float32)
    vector_of = {t: matrix[i] for i, t in enumerate(distinct)}
    log.info("embedded %d distinct texts in %.1f s", len(distinct), time.perf_counter() - began)

    store = Store.open(url)
    if store.count_calls():
        raise SystemExit(f"{store.url} already holds calls; build needs an empty store")
    run = store.start_run("generated load archive", {"calls": str(calls), "seed": str(seed)})
    customers = [f"+44 20 7946 {k:04d}" for k in range(7000)]
    began = time.perf_counter()
    utterances = 0
    for n in range(calls):
        day = n * DAYS // calls
        when = START + timedelta(days=day, hours=8, seconds=rng.uniform(0, 12 * 3600))
        intent = rng.choices(intents, weights)[0]
        lines = _call_lines(rng, by_intent, intent)
        vectors = np.stack([vector_of[x.text] for x in lines])
        call_id = f"load-{n:05d}"
        call = _call(call_id, lines, vectors, encoder.name, rng, spike=rng.random() < 0.05)
        utterances += len(lines)
        meta = CallMetadata(
            call_id,
            call.audio.path,
            night=when.date().isoformat(),
            started_at=when,
            customer_id=rng.choice(customers),
            agent_id=f"AG{rng.randrange(60):02d}",
            queue=rng.choice(("billing", "cards", "loans", "fraud", "general")),
            channel_layout="stereo: agent=left, customer=right",
        )
        store.save_call(run, meta, f"h{n}", call)
        if (n + 1) % 1000 == 0:
            log.info("%d calls stored (%.0f s)", n + 1, time.perf_counter() - began)
    log.info(
        "%d calls, %d utterances stored in %.0f s", calls, utterances, time.perf_counter() - began
    )
    began = time.perf_counter()
    report = VocAnalysis(store, lambda: encoder, AnalyseOptions(sentence_model=encoder.name)).run()
    log.info(
        "analysis: %d drivers, %d repeats, %d alerts in %.0f s",
        report.active_drivers,
        len(report.repeats),
        len(report.alerts),
        time.perf_counter() - began,
    )
    store.close()


# --------------------------------------------------------------------------- measure


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class RouteFigures:
    route: str
    requests: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests_per_s: float
    errors: int


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "engine.cli", "serve", "--store", url, "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError as exc:
            if proc.poll() is not None:
                tail = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise SystemExit(f"the server exited: {tail}") from exc
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start within 120 s")


def _measure_route(
    base: str, key: str, route: str, paths: Callable[[random.Random], str], n: int, clients: int
) -> RouteFigures:
    import httpx

    headers = {"X-API-Key": key}
    rng = random.Random(11)
    errors = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for _ in range(10):  # warm-up: caches, connections, the search index
            client.get(paths(rng))
        latencies = []
        for _ in range(n):
            path = paths(rng)
            began = time.perf_counter()
            response = client.get(path)
            latencies.append((time.perf_counter() - began) * 1000)
            errors += response.status_code != 200
            if response.status_code != 200 and errors <= 3:
                log.warning("%s -> %d %s", path, response.status_code, response.text[:300])

    todo = [paths(rng) for _ in range(n)]
    lock = threading.Lock()

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            while True:
                with lock:
                    if not todo:
                        return
                    path = todo.pop()
                status = client.get(path).status_code
                if status != 200:
                    with lock:
                        errors += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = n / (time.perf_counter() - began)
    return RouteFigures(
        route,
        n,
        round(_percentile(latencies, 50), 1),
        round(_percentile(latencies, 99), 1),
        round(max(latencies), 1),
        round(rate, 1),
        errors,
    )


def measure(url: str, n: int, clients: int, data: Path) -> dict[str, object]:
    with Store.open(url) as store:
        call_ids = store.call_ids()
        drivers = [d.id for d in store.voc.drivers(["active"])]
        key = store.keys.create("load benchmark", "analyst")[1]
        calls, dialect = len(call_ids), store.dialect
    if not call_ids:
        raise SystemExit(f"{url}: no calls; run build first")
    queries = [t for t, _ in _banking77(data, "test")]
    agents = [f"AG{k:02d}" for k in range(60)]
    days = [(START + timedelta(days=d)).date() for d in range(DAYS)]
    cursor_cache: list[str] = []

    def calls_list(rng: random.Random) -> str:
        pick = rng.randrange(8)
        if pick == 0:
            return "/v1/calls?limit=50"
        if pick == 1:
            return f"/v1/calls?limit=50&driver={rng.choice(drivers)}"
        if pick == 2:
            return f"/v1/calls?limit=50&agent={rng.choice(agents)}"
        if pick == 3:
            return f"/v1/calls?limit=50&queue={rng.choice(['billing', 'cards', 'fraud'])}"
        if pick == 4:
            d = rng.choice(days)
            return f"/v1/calls?limit=50&started_from={d}T00:00:00Z&started_to={d}T23:59:59Z"
        if pick == 5:
            return "/v1/calls?limit=50&repeat=true"
        if pick == 6:
            return "/v1/calls?limit=50&spike=true"
        return f"/v1/calls?limit=50&cursor={cursor_cache[0]}" if cursor_cache else "/v1/calls"

    def detail(rng: random.Random) -> str:
        return f"/v1/calls/{rng.choice(call_ids)}"

    def metrics(rng: random.Random) -> str:
        return f"/v1/drivers/metrics?from={days[0]}&to={days[-1]}"

    def search(rng: random.Random) -> str:
        from urllib.parse import quote

        return f"/v1/search?q={quote(rng.choice(queries))}&limit=20"

    port = _free_port()
    server = _serve(url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        auth = {"X-API-Key": key}
        first = httpx.get(f"{base}/v1/calls?limit=50", headers=auth, timeout=30)
        cursor_cache.append(first.json()["next_cursor"])
        # steady state: the search index and encoder load in the background at start; a
        # search waits for them (the startup cost is reported apart)
        began = time.perf_counter()
        httpx.get(f"{base}/v1/search?q=card", headers=auth, timeout=120).raise_for_status()
        warm_s = time.perf_counter() - began
        routes = [
            ("calls list", calls_list),
            ("call detail", detail),
            ("drivers list", lambda rng: "/v1/drivers"),
            ("drivers metrics (month)", metrics),
            ("driver detail", lambda rng: f"/v1/drivers/{rng.choice(drivers)}"),
            ("semantic search", search),
        ]
        figures = [_measure_route(base, key, name, fn, n, clients) for name, fn in routes]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "store": dialect,
        "calls": calls,
        "search_ready_s": round(warm_s, 1),
        "routes": [f.__dict__ for f in figures],
    }


def _table(results: list[dict[str, object]]) -> str:
    lines = [
        f"{'store':<11}{'route':<26}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'req/s':>8}{'errors':>8}  target"
    ]
    for r in results:
        lines.append(
            f"{r['store']}: {r['calls']} calls; search ready {r['search_ready_s']} s after start"
        )
        for f in r["routes"]:  # type: ignore[attr-defined]
            target = 300 if f["route"] == "semantic search" else 100
            ok = "ok" if f["p99_ms"] < target and not f["errors"] else "MISSED"
            lines.append(
                f"{r['store']:<11}{f['route']:<26}{f['requests']:>6}{f['p50_ms']:>9.1f}"
                f"{f['p99_ms']:>9.1f}{f['max_ms']:>9.1f}{f['requests_per_s']:>8.1f}"
                f"{f['errors']:>8}  p99<{target} {ok}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("step", choices=("build", "measure"))
    p.add_argument("--store", action="append", required=True, help="store URL (repeatable)")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--calls", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--requests", type=int, default=300, help="per route, per phase")
    p.add_argument("--clients", type=int, default=4, help="threads for the requests/s phase")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    if args.step == "build":
        for url in args.store:
            build(url, args.data, args.calls, args.seed)
        return 0
    results = [measure(url, args.requests, args.clients, args.data) for url in args.store]
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps({"results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
