"""What the per-write context check costs a single ``add`` (see storage/context.py).

    python benchmarks/bench_context_check.py --adds 600 --out benchmarks/results/bench_context_check.json
    MEMORYWEAVE_PG_DSN=postgresql://... python benchmarks/bench_context_check.py --backends sqlite postgres

Every write reads the store's context record inside its own transaction
(``FOR SHARE`` on PostgreSQL), so that two memories of different context
modes never both write to one store.  This times single ``MemoryWeave.add``
calls (HashingEmbedder, so the model costs nothing) on a fresh store,
alternating call by call between a memory that hands its record to the
store and the same memory handing none (no check): a noisy machine slows
both alike.  Reports the median milliseconds of each.  Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import result_file  # noqa: E402 (benchmarks/, the script's folder, is on sys.path)

from memoryweave_core import HashingEmbedder, MemoryWeave  # noqa: E402


def open_store(backend: str, folder: str) -> Any:
    if backend == "sqlite":
        from memoryweave_core.storage.sqlite import SQLiteStore

        return SQLiteStore(os.path.join(folder, "bench.db"))
    from memoryweave_core.storage.postgres import PostgresStore

    return PostgresStore(os.environ["MEMORYWEAVE_PG_DSN"], schema=f"mwbench_{uuid.uuid4().hex[:8]}")


def time_adds(backend: str, adds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(backend, folder)
        memory = MemoryWeave(store=store, embedder=HashingEmbedder(64))
        record = memory._context_record  # what the memory hands every write
        times: dict[str, list[float]] = {"checked": [], "unchecked": []}
        try:
            for i in range(adds):
                kind = "checked" if i % 2 == 0 else "unchecked"
                memory._context_record = record if kind == "checked" else None
                t0 = time.perf_counter()
                memory.add(f"note {i}: the sailing lesson moved to Thursday at six", speaker="user")
                times[kind].append((time.perf_counter() - t0) * 1000)
        finally:
            if backend == "postgres":
                store.drop()
            store.close()
    return {kind: round(statistics.median(ms), 3) for kind, ms in times.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    ap.add_argument("--adds", type=int, default=600, help="single adds in all, half of them checked")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    backends = [b for b in args.backends if b != "postgres" or os.environ.get("MEMORYWEAVE_PG_DSN")]
    rows = {}
    for backend in backends:
        rows[backend] = time_adds(backend, args.adds)
        r = rows[backend]
        print(f"{backend}: median single add {r['checked']:.3f} ms checked, {r['unchecked']:.3f} ms unchecked "
              f"(+{r['checked'] - r['unchecked']:.3f} ms)")
    if args.out:
        result_file.write(args.out, {"commit": result_file.commit(),
                                     "command": result_file.command("bench_context_check.py", argv),
                                     "machine": result_file.machine(load=os.getloadavg()),
                                     "median_add_ms": rows})


if __name__ == "__main__":
    main()
