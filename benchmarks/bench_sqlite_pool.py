"""SQLite's pool at scale: ``decode.pool`` alone, with and without its SQL.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_sqlite_pool.py --db /tmp/sqlpool/bench.db

Builds bench_scale's store of ``--n`` traces in ``--db`` once (later runs
reuse it), runs its 200 queries through ``recall`` with ``decode.pool``
watched, then times those same pool calls again: ``pool`` as recall makes
it (SQL included) and ``post_sql`` with every query's rows read once
beforehand (the checking and decoding alone).  With ``--all-cached`` it also
times ``cached``: every row's vectors held by a ``VectorCache`` big enough for
the whole store, read once before (what keeping every vector in RAM would
save: the vector columns, not the row lookups).  Prints, per round, the median
over the calls in milliseconds, and the load average: for A/B runs of two
checkouts, alternated, on one store.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_scale import BATCH, Data, LookupEmbedder  # noqa: E402


def rounds(calls: list[tuple], pool: Callable[..., Any], db: Any, n: int) -> list[float]:
    """The median ms of the pool calls, ``n`` times over."""
    out = []
    for _ in range(n):
        t = []
        for args, kwargs in calls:
            t0 = time.perf_counter()
            pool(db, *args[1:], **kwargs)
            t.append(time.perf_counter() - t0)
        out.append(round(statistics.median(t) * 1000, 3))
    return out


def main() -> None:
    from memoryweave_core import MemoryWeave, RecallConfig
    from memoryweave_core.storage.sqlite import SQLiteStore, decode

    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--all-cached", action="store_true", help="also time the pools with every vector cached")
    args = ap.parse_args()
    data = Data(args.n)
    qtexts, qvecs = data.queries()
    config = RecallConfig(context_window=0)
    now = 1.6e9 + 60.0 * args.n
    fresh = not os.path.exists(args.db)
    store = SQLiteStore(args.db)
    mem = MemoryWeave(embedder=LookupEmbedder(dict(zip(qtexts, qvecs))), config=config, store=store, clock=lambda: now)
    if fresh:
        for start in range(0, args.n, BATCH):
            stop = min(start + BATCH, args.n)
            mem.add_many(data.items(start, stop), embeddings=data.vectors(start, stop))
        store.wait_for_index()
    calls: list[tuple] = []
    real_pool = decode.pool

    def watched(*a: Any, **k: Any) -> Any:
        calls.append((a, k))
        return real_pool(*a, **k)

    decode.pool = watched  # type: ignore[assignment]
    try:
        for q in qtexts:
            mem.recall(q, k=10, config=config)
    finally:
        decode.pool = real_pool  # type: ignore[assignment]
    db = calls[0][0][0]
    out: dict[str, Any] = {"pool_rows": statistics.mean(len(real_pool(*a, **k)) for a, k in calls)}
    out["pool"] = rounds(calls, real_pool, db, args.rounds)
    if args.all_cached:
        from memoryweave_core.storage.sqlite.vcache import VectorCache

        cache = VectorCache(1 << 40)
        every = [row[0] for row in db.sql("SELECT key FROM traces")]
        for start in range(0, len(every), 5000):
            cache.vectors(db, every[start:start + 5000])
        out["cached"] = rounds([((*a[:7], cache), k) for a, k in calls], real_pool, db, args.rounds)
        out["pool_again"] = rounds(calls, real_pool, db, args.rounds)
    read, memo = db.sql, {}

    def memoised(sql: str, params: Any = ()) -> list[tuple]:
        key = (sql, tuple(params))
        if key not in memo:
            memo[key] = read(sql, params)
        return memo[key]

    db.sql = memoised
    try:
        rounds(calls, real_pool, db, 1)
        out["post_sql"] = rounds(calls, real_pool, db, args.rounds + 2)
    finally:
        db.sql = read
    out["load_average"] = os.getloadavg()
    mem.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
