"""The PostgreSQL pool stage alone, and the time to open (migrate) a schema.

``build SCHEMA N`` writes N synthetic traces (Zipf words, 20-turn episodes,
128-d hashing vectors) into SCHEMA with the code importable; ``time SCHEMA``
opens it (timed: a schema of an older version migrates) and prints the median
of ``store.pool`` over 300 random ids with their neighbours, and of a whole
recall.  To compare two commits, build two schemas with the older code (the
data is seeded, so they are equal), then time one with each commit in turn::

    PYTHONPATH=/tmp/old python benchmarks/bench_pg_pool.py build mwpool_a 10000
    PYTHONPATH=/tmp/old python benchmarks/bench_pg_pool.py build mwpool_b 10000
    PYTHONPATH=/tmp/old python benchmarks/bench_pg_pool.py time mwpool_a
    PYTHONPATH=$PWD python benchmarks/bench_pg_pool.py time mwpool_b   # migrates, timed
    ... (alternate) ...; then ``drop SCHEMA``.

Reads ``MEMORYWEAVE_PG_DSN``.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.storage.postgres import SCHEMA_VERSION, PostgresStore

WORDS = [f"w{i}" for i in range(3000)]
WEIGHTS = [1 / (i + 1) for i in range(3000)]


def main(cmd: str, schema: str, n: int = 10_000) -> None:
    dsn = os.environ["MEMORYWEAVE_PG_DSN"]
    rng = random.Random(7)
    if cmd == "drop":
        store = PostgresStore(dsn, schema=schema)
        store.drop()
        store.close()
        return
    if cmd == "build":
        m = MemoryWeave(store=PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(128), clock=lambda: 1.7e9)
        for b in range(0, n, 1000):
            m.add_many([{"text": " ".join(rng.choices(WORDS, WEIGHTS, k=14)), "episode": f"e{(b + i) // 20}"}
                        for i in range(min(1000, n - b))])
        m.close()
        return
    t0 = time.perf_counter()
    store = PostgresStore(dsn, schema=schema)
    opened = time.perf_counter() - t0
    ids = [r[0] for r in store._q(f'SELECT id FROM "{schema}".traces ORDER BY key')]
    asks = [rng.sample(ids, 300) for _ in range(60)]
    pools = []
    for i, ask in enumerate(asks):
        t = time.perf_counter()
        store.pool("default", ask, 1)
        if i >= 10:  # the first ones warm the caches
            pools.append(time.perf_counter() - t)
    m = MemoryWeave(store=store, embedder=HashingEmbedder(128), clock=lambda: 1.7e9)
    recalls = []
    for i in range(120):
        q = " ".join(rng.choices(WORDS, WEIGHTS, k=5))
        t = time.perf_counter()
        m.recall(q, k=10, record_access=False)
        if i >= 20:
            recalls.append(time.perf_counter() - t)
    m.close()
    print(f"schema version {SCHEMA_VERSION}: open {opened:.2f} s, pool p50 {1e3 * statistics.median(pools):.2f} ms,"
          f" recall p50 {1e3 * statistics.median(recalls):.2f} ms, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
