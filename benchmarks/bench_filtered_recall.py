"""Filtered recall latency on SQLite: a 0.1% and a 10% filter next to unfiltered recall.

    python benchmarks/bench_filtered_recall.py --rows 100000

Writes ``--rows`` synthetic traces (random unit vectors, texts from a small
vocabulary, metadata ``tenant`` = one of 1000 and ``group`` = one of 10) to a
fresh SQLite store, waits for its HNSW graphs, then times full
``MemoryWeave.recall`` calls (k=10, hashing embedder).  "first" is the first
recall under a filter (it reads the matching row keys: one scan of the
namespace), "median" the median of the following recalls under the same
filter with other queries (the keys are cached until the next write).
Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.storage.sqlite import SQLiteStore
from memoryweave_core.trace import Trace

DIM = 64
WORDS = [f"w{i}" for i in range(2000)]


def fill(store: SQLiteStore, n: int) -> None:
    rng = np.random.default_rng(0)
    for start in range(0, n, 10_000):
        m = min(10_000, n - start)
        vecs = rng.standard_normal((2, m, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=2, keepdims=True)
        words = rng.integers(0, len(WORDS), (m, 8))
        store.add([
            Trace(id=uuid.uuid4().hex, text=" ".join(WORDS[w] for w in words[j]), namespace="default", speaker=None,
                  episode=f"e{(start + j) // 20}", position=(start + j) % 20, time=1.7e9 + start + j,
                  metadata={"tenant": f"t{(start + j) % 1000}", "group": f"g{(start + j) % 10}"},
                  content=vecs[0, j], context=vecs[1, j])
            for j in range(m)
        ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db", background_index=False)
        t0 = time.perf_counter()
        fill(store, args.rows)
        store.wait_for_index()
        memory = MemoryWeave(embedder=HashingEmbedder(dim=DIM), store=store)
        memory.recall("warm up w1 w2", k=10, record_access=False)  # loads the graphs and postings
        print(f"{args.rows:,} traces written and indexed in {time.perf_counter() - t0:.0f} s")
        rng = np.random.default_rng(1)
        queries = [" ".join(WORDS[w] for w in rng.integers(0, len(WORDS), 4)) for _ in range(args.queries + 1)]
        cases = {"unfiltered": None, "0.1% (tenant = t7)": {"tenant": "t7"}, "10% (group = g3)": {"group": "g3"}}
        print(f"| recall k=10, {args.rows:,} traces, SQLite | matches | first ms | median ms |")
        print("|---|---|---|---|")
        for name, flt in cases.items():
            times, found = [], 0
            for q in queries:
                start = time.perf_counter()
                got = memory.recall(q, k=10, filter=flt, record_access=False)
                times.append((time.perf_counter() - start) * 1000)
                found = min(found or len(got), len(got))
            assert found == 10, (name, found)
            matches = args.rows if flt is None else sum(1 for _ in range(args.rows)
                                                        if (flt.get("tenant") and _ % 1000 == 7) or (flt.get("group") and _ % 10 == 3))
            print(f"| {name} | {matches:,} | {times[0]:.1f} | {statistics.median(times[1:]):.1f} |")
        store.close()


if __name__ == "__main__":
    main()
