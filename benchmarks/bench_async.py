"""Async benchmark: how long the event loop stalls while many calls run.

    python benchmarks/bench_async.py --calls 200 --backends memory sqlite postgres

One loop runs ``--calls`` concurrent calls, half ``aadd`` and half
``arecall`` (k=5), on a namespace seeded with ``--seed-traces`` traces, beside
the heartbeat of :class:`memoryweave_core.loop_lag.LoopLag` (the one the async
tests use), which sleeps 1 ms and records the gap between its wake-ups.  The
worst gap is how long the loop was kept from running anything else (the
issue asks for at most 50 ms).  CPU work runs on worker threads (at most
``--max-workers`` per memory); what still stalls the loop is Python's GIL
while those threads run Python code.  ``postgres`` needs
``MEMORYWEAVE_PG_DSN`` (a throwaway schema is created and dropped); its
recalls run on psycopg's async pool.  ``idle`` is the floor: the same
heartbeat on a loop with nothing to do (a busy machine's scheduler alone
can delay a wake-up by tens of ms).  ``--repeat`` runs each backend that
many times and reports the worst and the median of the runs' worst lags.

Embedder: the hashing embedder (``--embedder hashing``, default; pure Python,
the worst case for the GIL) or all-MiniLM-L6-v2 (``--embedder default``).
Prints a markdown table and writes JSON (``--out``).  Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from memoryweave_core import HashingEmbedder, MemoryWeave, asyncio_api
from memoryweave_core.embedders import default_embedder
from memoryweave_core.loop_lag import LoopLag
from memoryweave_core.storage.postgres import PostgresStore, aio


async def _run(memory: MemoryWeave, calls: int) -> dict[str, float]:
    start = time.perf_counter()
    async with LoopLag() as lag:
        await asyncio.gather(*[
            memory.aadd(f"note {i}: I planted tomato number {i}", namespace="bench") if i % 2 else
            memory.arecall("what did I plant in the garden?", k=5, namespace="bench")
            for i in range(calls)
        ])
    if isinstance(memory.store, PostgresStore):
        await memory.store.close_async()
    return {"seconds": time.perf_counter() - start, "max_lag_ms": lag.worst * 1000, "p50_gap_ms": lag.median * 1000,
            "heartbeats": len(lag.gaps)}


def _open(backend: str, tmp: str, embedder: Any) -> MemoryWeave:
    if backend == "postgres":
        dsn = os.environ.get("MEMORYWEAVE_PG_DSN")
        if not dsn:
            raise SystemExit("the postgres backend needs MEMORYWEAVE_PG_DSN")
        store = PostgresStore(dsn, schema=f"mwbench_{uuid.uuid4().hex[:10]}")
        return MemoryWeave(store=store, embedder=embedder)
    return MemoryWeave(Path(tmp) / "bench.db" if backend == "sqlite" else None, embedder=embedder)


async def _idle(seconds: float) -> dict[str, float]:
    async with LoopLag() as lag:
        await asyncio.sleep(seconds)
    return {"seconds": seconds, "max_lag_ms": lag.worst * 1000, "p50_gap_ms": lag.median * 1000, "heartbeats": len(lag.gaps)}


def bench(backend: str, calls: int, seed: int, embedder: Any, repeat: int) -> dict[str, Any]:
    load = os.getloadavg()[0]  # the machine's 1-minute load as the backend's runs begin: lags mean little under load
    runs = []
    for _ in range(repeat if backend != "idle" else 0):
        with tempfile.TemporaryDirectory() as tmp:
            memory = _open(backend, tmp, embedder)
            try:
                memory.add_many([f"seed fact {i} about gardening and weather" for i in range(seed)], namespace="bench")
                memory.recall("warm up", k=1, namespace="bench")
                runs.append(asyncio.run(_run(memory, calls)))
            finally:
                if isinstance(memory.store, PostgresStore):
                    memory.store.drop()
                memory.close()
    if backend == "idle":  # the machine's own floor: a loop with nothing to do, for 2 s
        runs = [asyncio.run(_idle(2.0)) for _ in range(repeat)]
    lags = [r["max_lag_ms"] for r in runs]
    return {
        "backend": backend, "calls": calls, "runs": repeat,
        "seconds": round(statistics.median(r["seconds"] for r in runs), 3),
        "max_lag_ms": round(max(lags), 1),
        "median_max_lag_ms": round(statistics.median(lags), 1),
        "p50_gap_ms": round(statistics.median(r["p50_gap_ms"] for r in runs), 2),
        "heartbeats": int(statistics.median(r["heartbeats"] for r in runs)),
        "load_average": round(load, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--seed-traces", type=int, default=1000)
    ap.add_argument("--backends", nargs="+", default=["memory", "sqlite"], choices=["idle", "memory", "sqlite", "postgres"])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--max-workers", type=int, default=asyncio_api.MAX_WORKERS,
                    help="worker threads one memory's async calls use at once")
    ap.add_argument("--pool-max", type=int, default=aio.POOL_MAX,
                    help="connections of a PostgreSQL store's async pool for recalls (aio.POOL_MAX)")
    ap.add_argument("--embedder", default="hashing", choices=["hashing", "default"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    embedder = HashingEmbedder(dim=384) if args.embedder == "hashing" else default_embedder()
    asyncio_api.MAX_WORKERS = args.max_workers
    aio.POOL_MAX = args.pool_max
    rows = [bench(b, args.calls, args.seed_traces, embedder, args.repeat) for b in args.backends]
    print(f"| backend | calls | runs | seconds | worst loop lag ms | median of runs' worst ms | median gap ms | load |"
          f"  ({args.embedder} embedder, {args.max_workers} workers, PostgreSQL pool of {args.pool_max})")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['calls']} | {r['runs']} | {r['seconds']} | {r['max_lag_ms']} |"
              f" {r['median_max_lag_ms']} | {r['p50_gap_ms']} | {r['load_average']} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"embedder": args.embedder, "max_workers": args.max_workers, "pool_max": args.pool_max,
                                              "seed_traces": args.seed_traces, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
