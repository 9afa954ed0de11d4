"""SQLite's pool with and without the access join: same columns, time of each.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_access_join.py --n 100000 --out /tmp/access_join.json

Builds bench_scale's SQLite store, records accesses (each query's top 10,
and ``--used`` random traces), then for every query asks ``decode.pool`` for the
same keys twice, alternating which goes first: with the join (``used=None``,
the query before ``storage/sqlite/used.py``) and with the set of keys that
have an access row.  Every column of the two pools must be equal (the script
fails otherwise); the medians of both timings are printed.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_stages import build  # noqa: E402

COLUMNS = ("ids", "positions", "times", "categories", "content", "context", "first_access", "access_count", "recent_access")


def same(a, b) -> bool:
    if not all(np.array_equal(getattr(a, c), getattr(b, c), equal_nan=c == "recent_access") for c in COLUMNS):
        return False
    labels = all(np.array_equal(getattr(a, c).codes, getattr(b, c).codes) and getattr(a, c).labels == getattr(b, c).labels
                 for c in ("speaker", "episode"))
    return labels and np.array_equal(a.tokens.ids, b.tokens.ids) and np.array_equal(a.tokens.offsets, b.tokens.offsets)


def main() -> None:
    from memoryweave_core import RecallConfig
    from memoryweave_core.retrieval import Retriever
    from memoryweave_core.storage.sqlite import decode

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--used", type=int, default=2000, help="random traces given an access row before timing (besides each query's top 10)")
    ap.add_argument("--out")
    args = ap.parse_args()
    mem, qtexts, now = build("sqlite", args.n)
    config = RecallConfig(context_window=0)
    st = mem.store
    for q in qtexts:
        mem.recall(q, k=10)  # the queries' winners get access rows
    some = [tid for tid, in st._db.sql("SELECT id FROM traces ORDER BY random() LIMIT ?", (args.used,))]
    st.record_access(some, now, "default")  # and traces all over the store
    used = st._caches.used
    used.get(st._db)  # (the first ask after an invalidation gives None)
    keyset = used.get(st._db)
    assert keyset is not None
    ret = Retriever(st, config)
    times: dict[str, list[float]] = {"join": [], "set": []}
    rows, with_log = [], []
    nsid = st._caches.nsid("default")
    for rep, q in enumerate(qtexts + qtexts):
        query = mem._query(q, ["default"], now, None)
        terms = ret.terms(query)
        keys: dict[int, None] = {}
        for field, vector in ret.searches(query):
            keys.update(dict.fromkeys(st._search(nsid, field, vector, config.candidates, None)[0].tolist()))
        keys.update(dict.fromkeys(k for k, _ in st._lexical(nsid, terms, config.candidates, None)))
        pools = {}
        for way in (("join", "set") if rep % 2 == 0 else ("set", "join")):
            t0 = time.perf_counter()
            pools[way] = decode.pool(st._db, st.dim, nsid, list(keys), config.neighbour_radius, st._vocab, None,
                                     st._caches.vectors, None if way == "join" else keyset)
            times[way].append(time.perf_counter() - t0)
        if not same(pools["join"], pools["set"]):
            raise SystemExit(f"query {rep}: the pools differ")
        rows.append(len(pools["set"]))
        with_log.append(int(np.isfinite(pools["set"].recent_access[:, 0]).sum()))  # rows used since creation
    out = {"n": args.n, "access_rows": len(keyset), "pool_rows": float(np.mean(rows)),
           "pool_rows_with_access_row": float(np.mean(with_log)),
           "join_ms": float(np.median(times["join"]) * 1000), "set_ms": float(np.median(times["set"]) * 1000),
           "queries": len(rows), "pools_equal": True, "load_average": os.getloadavg()}
    mem.close()
    print(json.dumps(out, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
