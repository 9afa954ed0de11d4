"""Where an event loop's time goes under 200 concurrent async calls: CPU, not lag.

    MEMORYWEAVE_PG_DSN=postgresql://... python benchmarks/profile_async_loop.py --backend postgres

``bench_async.py`` measures the loop's worst stall, a wall-clock figure that
a loaded machine inflates beyond use.  This script runs the same workload
(100 ``aadd`` + 100 ``arecall``, hashing embedder, 1,000 seed traces) and
reports what load does not change much: the CPU the loop thread spends in
each callback (the longest ones are what a quiet machine's loop would wait
for), the process's and the PostgreSQL backends' CPU (what the loop competes
with for cores), and the garbage collector's full passes (each holds the GIL,
so stalls the loop, on whatever thread runs it).  Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.events
import gc
import os
import resource
import threading
import time
import uuid
from typing import Any

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.storage.postgres import PostgresStore

_TICK = os.sysconf("SC_CLK_TCK")


class Watch:
    """Loop-thread CPU per callback, and full collections, while installed."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[float, str]] = []  # (cpu s, what)
        self.full_gc: list[tuple[float, float, str]] = []  # (wall s, cpu s, thread)
        self._gc_start: dict[int, tuple[float, float]] = {}
        self._run = asyncio.events.Handle._run

    def __enter__(self) -> Watch:
        watch, real = self, self._run

        def run(handle: Any) -> None:
            start = time.thread_time()
            real(handle)
            what = getattr(handle._callback, "__qualname__", "?")
            owner = getattr(handle._callback, "__self__", None)
            if isinstance(owner, asyncio.Task):
                what = f"task {owner.get_coro().__qualname__}"
            watch.callbacks.append((time.thread_time() - start, what))

        asyncio.events.Handle._run = run  # type: ignore[method-assign]
        gc.callbacks.append(self._gc)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._run  # type: ignore[method-assign]
        gc.callbacks.remove(self._gc)

    def _gc(self, phase: str, info: dict) -> None:
        me = threading.get_ident()
        if phase == "start":
            self._gc_start[me] = (time.perf_counter(), time.thread_time())
        elif info["generation"] == 2 and me in self._gc_start:
            wall, cpu = self._gc_start.pop(me)
            self.full_gc.append((time.perf_counter() - wall, time.thread_time() - cpu, threading.current_thread().name))


def backend_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds so far of every backend connected to this database (readable when the server is local)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    out = {}
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


async def _calls(memory: MemoryWeave, calls: int, dsn: str | None) -> dict[int, float]:
    await asyncio.gather(*[
        memory.aadd(f"note {i}: I planted tomato number {i}", namespace="bench") if i % 2 else
        memory.arecall("what did I plant in the garden?", k=5, namespace="bench")
        for i in range(calls)
    ])
    used = backend_cpu(dsn) if dsn else {}
    if isinstance(memory.store, PostgresStore):
        await memory.store.close_async()
    return used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="postgres", choices=["memory", "postgres"])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--seed-traces", type=int, default=1000)
    ap.add_argument("--gc-freeze", action="store_true",
                    help="gc.freeze() after seeding: full collections then skip everything alive before the calls")
    args = ap.parse_args()
    dsn = os.environ.get("MEMORYWEAVE_PG_DSN") if args.backend == "postgres" else None
    if args.backend == "postgres" and not dsn:
        raise SystemExit("the postgres backend needs MEMORYWEAVE_PG_DSN")
    store = PostgresStore(dsn, schema=f"mwbench_{uuid.uuid4().hex[:10]}") if dsn else None
    memory = MemoryWeave(store=store, embedder=HashingEmbedder(dim=384))
    try:
        memory.add_many([f"seed fact {i} about gardening and weather" for i in range(args.seed_traces)],
                        namespace="bench")
        memory.recall("warm up", k=1, namespace="bench")
        if args.gc_freeze:
            gc.freeze()
        before = backend_cpu(dsn) if dsn else {}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        with Watch() as watch:
            after = asyncio.run(_calls(memory, args.calls, dsn))
        wall = time.perf_counter() - start
        done = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        if store is not None:
            store.drop()
        memory.close()
    cpu = sorted(watch.callbacks)
    process = done.ru_utime + done.ru_stime - usage.ru_utime - usage.ru_stime
    print(f"{args.backend}, {args.calls} calls, load average {os.getloadavg()[0]:.1f}: {wall:.2f} s wall")
    print(f"process CPU {process:.2f} s; loop thread in callbacks {sum(c for c, _ in cpu):.2f} s"
          f" over {len(cpu)} callbacks, p99 {cpu[int(len(cpu) * 0.99)][0] * 1000:.2f} ms")
    if dsn:
        print(f"PostgreSQL backends CPU {sum(v - before.get(p, 0.0) for p, v in after.items()):.2f} s")
    print("longest callbacks (loop-thread CPU ms):", ", ".join(f"{c * 1000:.1f} {w}" for c, w in cpu[-5:][::-1]))
    print("full collections (wall ms / CPU ms / thread):",
          ", ".join(f"{w * 1000:.0f}/{c * 1000:.0f}/{t}" for w, c, t in watch.full_gc) or "none")


if __name__ == "__main__":
    main()
