"""Reopen a kept SQLite store and recall while its graphs load (issue 22 item 3).

    python benchmarks/bench_scale.py --sizes 1000000 --backends sqlite --keep /tmp/store1m
    python benchmarks/bench_reopen.py --store /tmp/store1m --n 1000000 --out benchmarks/results/reopen_1m.json

The store is one ``bench_scale.py --keep`` built, and the queries are that
benchmark's (the same seed and size), so the figures are comparable with its
``reopen s``.  In one process: open the store, the first recall, then
``--recalls`` more recalls, each marked as answered while a graph was still
loading or after.  Then it waits until the graphs are in, makes ``--recalls``
more, and closes (with ``--close-at-once``: closes right after the first
recall instead, while the graphs load; with ``--import N``: adds N rows
first, as a bulk import, and closes right after it).  Each stage is timed from the open; the load average is
recorded at the start and at the end.  The page cache is whatever the
machine holds (a store built just before is mostly cached).  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_scale import BATCH, Data, LookupEmbedder, pct, rss_mb  # noqa: E402


def loading(store) -> bool:
    """A graph of the store is still loading (False at versions that load before answering)."""
    return any(getattr(index, "kind", "") == "loading" for index in store._indexes.loaded())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="the folder bench_scale.py --keep wrote (bench.db inside)")
    ap.add_argument("--n", type=int, required=True, help="the size it was built with (for its queries)")
    ap.add_argument("--recalls", type=int, default=20)
    ap.add_argument("--close-at-once", action="store_true",
                    help="close right after the first recall, while the graphs load (close_s)")
    ap.add_argument("--import", dest="bulk", type=int, default=0, metavar="N",
                    help="after the graphs are in and the recalls, add N more rows (kept in the store: "
                         "pass --n the next time) and close at once (close_s after a bulk import)")
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    from memoryweave_core import MemoryWeave, RecallConfig
    from memoryweave_core.storage.sqlite import SQLiteStore

    qtexts, qvecs = Data(args.n).queries()
    embedder = LookupEmbedder(dict(zip(qtexts, qvecs)))
    out: dict = {"n": args.n, "load_avg": list(os.getloadavg())}
    rss0 = rss_mb()
    t0 = time.perf_counter()
    store = SQLiteStore(os.path.join(args.store, "bench.db"))
    memory = MemoryWeave(embedder=embedder, config=RecallConfig(context_window=0), store=store,
                         clock=lambda: 1.6e9 + 60.0 * args.n)
    out["open_s"] = time.perf_counter() - t0
    memory.recall(qtexts[0], k=10)
    out["first_recall_s"] = time.perf_counter() - t0 - out["open_s"]
    out["reopen_s"] = out["open_s"] + out["first_recall_s"]
    if args.close_at_once:
        out["loading_at_close"] = loading(store)
        t = time.perf_counter()
        memory.close()
        out["close_s"] = time.perf_counter() - t
        return report(out, args.out)
    during, after = [], []
    for q in qtexts[1 : 1 + args.recalls]:
        still = loading(store)
        t = time.perf_counter()
        memory.recall(q, k=10)
        (during if still else after).append(time.perf_counter() - t)
    out["recalls_while_loading"] = len(during)
    out["p50_while_loading_ms"] = pct(during, 50) if during else None
    store.wait_for_index()
    out["graphs_in_s"] = time.perf_counter() - t0
    out["rss_mb"] = rss_mb() - rss0
    lat = []
    for q in qtexts[1 + args.recalls : 1 + 2 * args.recalls]:
        t = time.perf_counter()
        memory.recall(q, k=10)
        lat.append(time.perf_counter() - t)
    out["p50_after_ms"] = pct(lat, 50)
    if args.bulk:
        data, t_add = Data(args.n), 0.0
        for start in range(args.n, args.n + args.bulk, BATCH):
            stop = min(start + BATCH, args.n + args.bulk)
            items, vecs = data.items(start, stop), data.vectors(start, stop)
            t = time.perf_counter()
            memory.add_many(items, embeddings=vecs)
            t_add += time.perf_counter() - t
        out["imported"], out["add_per_s"] = args.bulk, args.bulk / t_add
    t = time.perf_counter()
    memory.close()
    out["close_s"] = time.perf_counter() - t
    return report(out, args.out)


def report(out: dict, path: str | None) -> int:
    out["load_avg"] = [round(x, 2) for x in (*out["load_avg"], *os.getloadavg())]
    print(json.dumps(out, indent=2))
    if path:
        with open(path, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
