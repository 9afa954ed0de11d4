"""Costs that must not grow with the data (issue 23, defect 8): recall with many speakers.

    python benchmarks/bench_costs.py --speakers 10 10000 20000 --out benchmarks/results/bench_costs.json
    python benchmarks/bench_costs.py --capped 10000 --adds 2000

With ``--capped N`` it times instead single ``add`` calls to a namespace
that already holds N traces, with ``RecallConfig(max_traces=N)`` and without
a cap (target: the capped mean within 5x of the uncapped one).

    python benchmarks/bench_costs.py --indexing 15000 --threshold 2000

With ``--indexing N`` it builds a SQLite file of N traces, removes its HNSW
graphs, reopens it (every row pending for the background indexer) and times
recall while the indexer runs, then once it is done (target: p50 during
indexing within 3x of the quiet p50).

Each run holds the same number of traces (``--traces``, default 20,000, in
episodes of 20 turns), spoken by ``S`` distinct speakers, and times
``MemoryWeave.recall(k=10)`` end to end (HashingEmbedder, so the model costs
little and the same everywhere) for two kinds of query: one naming no
speaker, and one naming a speaker of the namespace (which also embeds the
query's topic and fills the speaker pathway).  Recall used to loop over every
speaker name twice per query; the target is a p50 with 20,000 speakers within
2x of the p50 with 10.

Runs against whatever ``memoryweave_core`` is on the path, so the same
command measures an older checkout (``PYTHONPATH=/path/to/checkout``).
Prints a table and writes JSON (``--out``).  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time

from memoryweave_core import HashingEmbedder, MemoryWeave, RecallConfig

WORDS = ["paint", "hike", "garden", "recipe", "concert", "museum", "trip", "cat", "dog", "novel", "guitar", "market", "river", "beach", "school", "office", "friend", "sister", "coffee", "bread", "winter", "summer", "camera"]


def build(n_traces: int, n_speakers: int, backend: str, path: str | None, seed: int) -> tuple[MemoryWeave, list[str]]:
    rng = random.Random(seed)
    speakers = [f"Speaker{i:05d} {rng.choice(['Smith', 'Silva', 'Khan', 'Ito', 'Novak'])}" for i in range(n_speakers)]
    store = None
    if backend == "sqlite":
        from memoryweave_core.storage.sqlite import SQLiteStore

        store = SQLiteStore(path)
    memory = MemoryWeave(store=store, embedder=HashingEmbedder(256))
    # every speaker speaks at least once; the rest of the turns go to random speakers
    who = speakers + [rng.choice(speakers) for _ in range(max(0, n_traces - n_speakers))]
    rows = [
        {
            "text": " ".join(rng.choice(WORDS) for _ in range(8)),
            "speaker": who[i],
            "episode": f"e{i // 20}",
            "time": 1_700_000_000 + i * 60,
        }
        for i in range(max(n_traces, n_speakers))
    ]
    for start in range(0, len(rows), 1000):
        memory.add_many(rows[start : start + 1000])
    return memory, speakers


def measure(memory: MemoryWeave, queries: list[str]) -> dict[str, float]:
    for q in queries[:5]:  # warm up (first-use state loads)
        memory.recall(q, k=10, record_access=False)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        memory.recall(q, k=10, record_access=False)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def capped_adds(cap: int, adds: int, backend: str) -> dict:
    """Mean and p99 ms of one add to a full namespace, with and without ``max_traces=cap``."""
    out = {}
    for label, limit in (("uncapped", None), ("capped", cap)):
        with tempfile.TemporaryDirectory() as tmp:
            store = None
            if backend == "sqlite":
                from memoryweave_core.storage.sqlite import SQLiteStore

                store = SQLiteStore(os.path.join(tmp, "cap.db"))
            memory = MemoryWeave(store=store, embedder=HashingEmbedder(256), config=RecallConfig(max_traces=limit))
            rng = random.Random(0)
            rows = [{"text": " ".join(rng.choice(WORDS) for _ in range(8)), "episode": f"e{i // 20}"} for i in range(cap)]
            for start in range(0, cap, 1000):
                memory.add_many(rows[start : start + 1000])
            times = []
            for i in range(adds):
                t0 = time.perf_counter()
                memory.add(" ".join(rng.choice(WORDS) for _ in range(8)), episode=f"new{i // 20}")
                times.append((time.perf_counter() - t0) * 1000)
            memory.close()
        times.sort()
        out[label] = {"mean_ms": round(statistics.fmean(times), 3), "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2)}
    out["ratio"] = round(out["capped"]["mean_ms"] / out["uncapped"]["mean_ms"], 2)
    return out


def recall_while_indexing(n: int, threshold: int, queries: int) -> dict:
    """Recall p50 while the background indexer rebuilds the graphs, and once it is done."""
    import glob

    from memoryweave_core.storage.sqlite import SQLiteStore

    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "indexing.db")
        memory = MemoryWeave(store=SQLiteStore(path, ann_threshold=threshold, background_index=False), embedder=HashingEmbedder(256))
        rows = [{"text": " ".join(rng.choice(WORDS) for _ in range(8)), "episode": f"e{i // 20}"} for i in range(n)]
        for start in range(0, n, 1000):
            memory.add_many(rows[start : start + 1000])
        memory.close()
        for f in glob.glob(path + ".*.hnsw*"):
            os.remove(f)
        memory = MemoryWeave(store=SQLiteStore(path, ann_threshold=threshold), embedder=HashingEmbedder(256))
        memory.recall("warm up", k=10, record_access=False)  # the first recall reads the pending rows
        qs = [f"what about the {rng.choice(WORDS)} and the {rng.choice(WORDS)}?" for _ in range(queries)]
        indexes = list(memory.store._indexes._indexes.values())
        pending = sum(index.pending for index in indexes)
        during = measure(memory, qs)
        during["pending_before"], during["pending_after"] = pending, sum(index.pending for index in indexes)
        for index in indexes:
            index.wait()
        quiet = measure(memory, qs)
        memory.close()
    return {"traces": n, "threshold": threshold, "during": during, "quiet": quiet,
            "ratio": round(during["p50_ms"] / quiet["p50_ms"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speakers", type=int, nargs="+", default=[10, 10_000, 20_000])
    ap.add_argument("--traces", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--backend", choices=["memory", "sqlite"], default="memory")
    ap.add_argument("--out")
    ap.add_argument("--capped", type=int, help="time adds to a namespace of this many traces, capped there")
    ap.add_argument("--adds", type=int, default=2000)
    ap.add_argument("--indexing", type=int, help="time recall while the background indexer rebuilds this many traces")
    ap.add_argument("--threshold", type=int, default=2000)
    args = ap.parse_args()
    if args.indexing:
        print(json.dumps(recall_while_indexing(args.indexing, args.threshold, min(args.queries, 30))))
        return
    if args.capped:
        result = {"backend": args.backend, "cap": args.capped, "adds": args.adds, **capped_adds(args.capped, args.adds, args.backend)}
        print(json.dumps(result))
        if args.out:
            with open(args.out, "w") as f:
                json.dump(result, f, indent=2)
        return

    rows = []
    for n in args.speakers:
        with tempfile.TemporaryDirectory() as tmp:
            memory, speakers = build(args.traces, n, args.backend, os.path.join(tmp, "costs.db"), seed=n)
            rng = random.Random(1)
            plain = [f"what did we {rng.choice(WORDS)} at the {rng.choice(WORDS)}?" for _ in range(args.queries)]
            named = [f"what did {rng.choice(speakers)} say about the {rng.choice(WORDS)}?" for _ in range(args.queries)]
            row = {"speakers": n, "traces": memory.count(), "plain": measure(memory, plain), "named": measure(memory, named)}
            memory.close()
        rows.append(row)
        print(json.dumps(row), flush=True)

    base = rows[0]
    print(f"\n| speakers | traces | p50 ms (no name) | p95 | p50 ms (names one) | p95 | ratio to {base['speakers']} speakers |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        ratio = f"{r['plain']['p50_ms'] / base['plain']['p50_ms']:.2f}x / {r['named']['p50_ms'] / base['named']['p50_ms']:.2f}x"
        print(
            f"| {r['speakers']:,} | {r['traces']:,} | {r['plain']['p50_ms']} | {r['plain']['p95_ms']} "
            f"| {r['named']['p50_ms']} | {r['named']['p95_ms']} | {ratio} |"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"backend": args.backend, "traces": args.traces, "queries": args.queries, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
