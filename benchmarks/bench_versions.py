"""Recall latency as a namespace's history grows: N traces, then U updates
(each leaves an archived version that recall must search past).

    python benchmarks/bench_versions.py --traces 10000 --updates 0 100 1000

Prints one row per update count: p50/p95 recall ms (k=10, SQLite, hashing
embedder, so the query's embedding costs next to nothing).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from memoryweave_core import HashingEmbedder, MemoryWeave


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=10_000)
    ap.add_argument("--updates", type=int, nargs="+", default=[0, 100, 1000])
    ap.add_argument("--queries", type=int, default=50)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(2000)]
    with tempfile.TemporaryDirectory() as d:
        mem = MemoryWeave(Path(d) / "v.db", embedder=HashingEmbedder())
        ids = []
        for start in range(0, args.traces, 1000):
            items = [" ".join(rng.choice(words, 12)) for _ in range(min(1000, args.traces - start))]
            ids += [t.id for t in mem.add_many(items)]
        done = 0
        print("updates  p50_ms  p95_ms")
        for target in sorted(args.updates):
            for i in range(done, target):
                mem.update(ids[i % len(ids)], text=" ".join(rng.choice(words, 12)))
            done = max(done, target)
            times = []
            for _ in range(args.queries):
                q = " ".join(rng.choice(words, 4))
                t0 = time.perf_counter()
                mem.recall(q, k=10, record_access=False)
                times.append((time.perf_counter() - t0) * 1000)
            print(f"{target:7d}  {np.percentile(times, 50):6.1f}  {np.percentile(times, 95):6.1f}")
        mem.close()


if __name__ == "__main__":
    main()
