"""Prefix recall benchmark: what ``include_descendants=True`` costs as a user's namespaces multiply.

    python benchmarks/bench_prefix_recall.py --traces 2000 --spaces 1 10 50 --backends memory sqlite

The same ``--traces`` traces (synthetic conversation turns, hashing embedder)
are spread evenly over ``--spaces`` namespaces ``("user", "run-i")``; a
prefix recall over ``("user",)`` gathers each namespace's candidates and ranks
their union once, so its cost grows with the number of namespaces, not with
the traces in them.  Reported: median and p95 latency of recall (k=10) over
``--queries`` queries, the candidate pool size, and for reference a plain
recall of one namespace holding all the traces.  Prints a markdown table and
writes JSON (``--out``).  Not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from memoryweave_core import HashingEmbedder, MemoryWeave

TOPICS = ["tea", "tennis", "flight", "dentist", "sister", "rent", "garden", "guitar", "marathon", "cat"]
VERBS = ["likes", "booked", "moved", "forgot", "asked about", "paid for", "talked about", "planned"]


def turns(n: int, rng: random.Random) -> list[str]:
    return [f"turn {i}: Ana {rng.choice(VERBS)} the {rng.choice(TOPICS)} on day {rng.randint(1, 300)}"
            for i in range(n)]


def make(backend: str, folder: Path, name: str) -> MemoryWeave:
    path = None if backend == "memory" else folder / f"{name}.db"
    return MemoryWeave(path, embedder=HashingEmbedder(dim=256))


def measure(mem: MemoryWeave, queries: list[str], **kwargs: Any) -> dict[str, float]:
    times = []
    for q in queries:
        start = time.perf_counter()
        mem.recall(q, k=10, record_access=False, **kwargs)
        times.append(time.perf_counter() - start)
    times.sort()
    return {"median_ms": 1000 * statistics.median(times), "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=int, default=2000)
    ap.add_argument("--spaces", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--backends", nargs="+", default=["memory", "sqlite"])
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--out", default="benchmarks/results/bench_prefix_recall.json")
    args = ap.parse_args()
    rng = random.Random(7)
    texts = turns(args.traces, rng)
    queries = [f"what did Ana say about the {rng.choice(TOPICS)}?" for _ in range(args.queries)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            flat = make(backend, Path(tmp), f"{backend}-flat")
            flat.add_many(texts, namespace="user")
            base = measure(flat, queries, namespace="user")
            rows.append({"backend": backend, "namespaces": 1, "mode": "plain", **base})
            flat.close()
            for spaces in args.spaces:
                mem = make(backend, Path(tmp), f"{backend}-{spaces}")
                per = -(-len(texts) // spaces)
                for i in range(spaces):
                    mem.add_many(texts[i * per:(i + 1) * per], namespace=("user", f"run-{i}"))
                rows.append({"backend": backend, "namespaces": spaces, "mode": "prefix",
                             **measure(mem, queries, namespace="user", include_descendants=True)})
                mem.close()
    print(f"{args.traces} traces, k=10, {args.queries} queries, hashing embedder\n")
    print("| backend | namespaces | recall | median ms | p95 ms |\n|---|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['namespaces']} | {r['mode']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} |")
    Path(args.out).write_text(json.dumps({"traces": args.traces, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
