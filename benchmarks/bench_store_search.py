"""LangGraph store search under the empty prefix: what ranking every user's items once costs.

    PYTHONPATH=. python benchmarks/bench_store_search.py --users 10 50 --items 20 --queries 20

``--users`` users each put ``--items`` facts under ``(user, "facts")`` in one
:class:`~memoryweave_lc.MemoryWeaveStore` (in memory, hashing embedder).
Reported: median and p95 latency of ``search((), query=..., limit=10)`` (every
user, one ranking) and, for reference, of ``search((user,), ...)`` (one
user's prefix).  Prints a markdown table and writes JSON (``--out``).  Not a
test; run it against another checkout (``PYTHONPATH=that/checkout``) to compare.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_lc import MemoryWeaveStore

TOPICS = ["tea", "tennis", "flight", "dentist", "sister", "rent", "garden", "guitar", "marathon", "cat"]
VERBS = ["likes", "booked", "moved", "forgot", "asked about", "paid for", "talked about", "planned"]


def fill(store: MemoryWeaveStore, users: int, items: int, rng: random.Random) -> None:
    for u in range(users):
        for i in range(items):
            text = f"user {u} {rng.choice(VERBS)} the {rng.choice(TOPICS)} on day {rng.randint(1, 300)}"
            store.put((f"user-{u}", "facts"), f"k{i}", {"text": text})


def timed(fn: Any, queries: list[str]) -> tuple[float, float]:
    """Median and p95 latency in milliseconds (after one warm-up call)."""
    fn(queries[0])
    ms = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        ms.append((time.perf_counter() - start) * 1000)
    ms.sort()
    return statistics.median(ms), ms[min(len(ms) - 1, int(0.95 * len(ms)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, nargs="+", default=[10, 50])
    p.add_argument("--items", type=int, default=20)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    rng = random.Random(7)
    queries = [f"when did they {rng.choice(VERBS)} the {rng.choice(TOPICS)}?" for _ in range(args.queries)]
    rows = []
    for users in args.users:
        store = MemoryWeaveStore(MemoryWeave(embedder=HashingEmbedder(dim=256)), index={"fields": ["text"]},
                                 record_access=False)
        fill(store, users, args.items, rng)
        for label, prefix in (("every user ()", ()), ("one user (user-0,)", ("user-0",))):
            med, p95 = timed(lambda q, s=store, p=prefix: s.search(p, query=q, limit=10), queries)
            rows.append({"users": users, "items": users * args.items, "search": label, "median_ms": med,
                         "p95_ms": p95})
        store.memory.close()
    print("| users | items | search | median ms | p95 ms |\n|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['users']} | {r['items']} | {r['search']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
