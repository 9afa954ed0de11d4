"""Filter evaluation cost, before filters reach the stores' candidate search.

    python benchmarks/bench_filters.py --rows 100000

Times one evaluation of a 0.1% and a 10% metadata filter (and a time range)
over ``--rows`` synthetic rows: the Python evaluator (:func:`filters.mask`,
what the in-memory store will run) and the SQLite translation as a full scan
of a table with the store's column layout (``SELECT count(*) ... WHERE``),
without an index.  This bounds what a pre-filter costs per recall; the
filtered-recall latency of the real stores is measured once filters are
pushed into their candidate search.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time

import numpy as np

from memoryweave_core.filter_sql import to_sqlite
from memoryweave_core.filters import Columns, mask, parse_filter

T0 = 1_700_000_000.0


def rows(n: int) -> list[tuple[str, str, float, dict]]:
    rng = random.Random(0)
    return [
        (
            rng.choice(["Ana", "Ben", "Cleo"]),
            f"episode-{i // 20}",
            T0 + i * 60.0,
            {"tenant": f"t{i % 1000}", "group": f"g{i % 10}", "score": rng.randint(0, 100), "tags": ["x"]},
        )
        for i in range(n)
    ]


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    data = rows(args.rows)
    cols = Columns([r[3] for r in data], [r[0] for r in data], [r[1] for r in data], np.array([r[2] for r in data]))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE traces (key INTEGER PRIMARY KEY, speaker TEXT, episode TEXT, time REAL, metadata TEXT)")
    db.executemany("INSERT INTO traces VALUES (?, ?, ?, ?, ?)", [(i, s, e, t, json.dumps(m)) for i, (s, e, t, m) in enumerate(data)])
    cases = {
        "0.1% (tenant = t7)": {"tenant": "t7"},
        "10% (group = g3)": {"group": "g3"},
        "10% + range (group, score >= 50)": {"group": "g3", "score": {"$gte": 50}},
        "time range (10%)": {"time": {"$lt": T0 + args.rows * 6.0}},
    }
    print(f"| filter ({args.rows:,} rows) | matches | Python mask ms | SQLite scan ms |")
    print("|---|---|---|---|")
    for name, spec in cases.items():
        node = parse_filter(spec)
        py_ms, hits = best_of(lambda node=node: int(mask(node, cols).sum()))
        sql, params = to_sqlite(node)
        sq_ms, count = best_of(lambda sql=sql, params=params: db.execute(f"SELECT count(*) FROM traces WHERE {sql}", params).fetchone()[0])
        assert hits == count, (name, hits, count)
        print(f"| {name} | {hits:,} | {py_ms:.1f} | {sq_ms:.1f} |")


if __name__ == "__main__":
    main()
