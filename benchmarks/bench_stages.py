"""Where one recall's time goes, stage by stage, on bench_scale's synthetic store.

    python benchmarks/bench_stages.py --n 100000 --backends memory sqlite --out /tmp/stages.json

Builds the store of ``bench_scale.py`` (same data, same lookup "embedder"),
then, for each of its queries, runs the steps of a recall one by one and
times each:

* ``searches``: the three vector searches and the BM25 search (the store's
  ``nearest`` and ``lexical``);
* ``pool``: the store's ``pool`` call for their hits and episode neighbours;
* ``lexical``: the lexical and spread pathways over the pool (BM25, proximity,
  spreading; with the namespace's term statistics);
* ``features``: every other enabled pathway;
* ``fusion``: normalisation, weighting, relevance and the top k;
* ``winners``: reading the top k traces whole.

Medians per stage in milliseconds, with the p50 of the whole ``recall`` (which
also updates access logs) measured on the same queries.  SQLite's recall
makes its searches and pool in one ``candidates`` call (row keys go straight
into the pool query); the public ``nearest``/``lexical``/``pool`` calls timed
here also map keys to ids and back, so on SQLite the first two stages
overstate what recall spends on them.  On a shared machine, set
``OPENBLAS_NUM_THREADS=1``: BLAS threads spinning for cores that other
processes hold can make a 160x384 product cost 100 times its time.  Not a test.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_scale import BATCH, Data, LookupEmbedder  # noqa: E402

STAGES = ("searches", "pool", "lexical", "features", "fusion", "winners")


def stages(backend: str, n: int) -> dict:
    from memoryweave_core import RecallConfig

    mem, qtexts, now = build(backend, n)
    try:
        return measure(mem, qtexts, now, RecallConfig(context_window=0))
    finally:
        mem.close()


def build(backend: str, n: int) -> tuple:
    """bench_scale's store of ``n`` traces on ``backend``: (memory, query texts, the clock's time)."""
    from memoryweave_core import MemoryWeave, RecallConfig

    data = Data(n)
    qtexts, qvecs = data.queries()
    config = RecallConfig(context_window=0)
    workdir = tempfile.mkdtemp(prefix="mw-stages-")
    atexit.register(shutil.rmtree, workdir, True)  # a 100k SQLite store is most of a gigabyte
    store = None
    if backend == "sqlite":
        from memoryweave_core.storage.sqlite import SQLiteStore

        store = SQLiteStore(os.path.join(workdir, "bench.db"))
    now = 1.6e9 + 60.0 * n
    mem = MemoryWeave(embedder=LookupEmbedder(dict(zip(qtexts, qvecs))), config=config, store=store, clock=lambda: now)
    for start in range(0, n, BATCH):
        stop = min(start + BATCH, n)
        mem.add_many(data.items(start, stop), embeddings=data.vectors(start, stop))
    wait = getattr(mem.store, "wait_for_index", None)
    if wait:
        wait()
    else:
        for space in mem.store._spaces.values():
            space.content.wait()
            space.context.wait()
    os.sync()
    return mem, qtexts, now


def measure(mem, qtexts: list[str], now: float, config, warmup: int = 10) -> dict:
    """Each stage's median (ms) over ``qtexts`` (after ``warmup`` of them), the
    whole recall's p50 under ``config``, and the mean pool rows."""
    from memoryweave_core.pathways import pathways
    from memoryweave_core.pathways.registry import Context
    from memoryweave_core.retrieval import FeatureTable, Retriever
    from memoryweave_core.storage.base import live_hits

    st, ret = mem.store, Retriever(mem.store, config)
    lexical_names = {"lexical", "spread"}
    times: dict[str, list[float]] = {s: [] for s in STAGES}
    whole: list[float] = []
    rows: list[int] = []
    for rep, q in enumerate(qtexts[:warmup] + qtexts):
        query = mem._query(q, ["default"], now, None)
        terms = ret.terms(query)
        lap = [time.perf_counter()]
        found = [st.nearest("default", f, v, config.candidates) for f, v in ret.searches(query)]
        if terms:
            found.append(st.lexical("default", terms, config.candidates))
        lap.append(time.perf_counter())
        pool = st.pool("default", ids=list(live_hits(found, set(), config.candidates)), radius=config.neighbour_radius)
        lap.append(time.perf_counter())
        ctx = Context(pool, query, terms=terms, neighbour_radius=config.neighbour_radius, decay=config.decay,
                      lexical_stats=lambda t: st.lexical_stats("default", t))
        on = [p.name for p in pathways() if config.enabled(p.name)]
        raw = {name: ctx.value(name) for name in on if name in lexical_names}
        lap.append(time.perf_counter())
        raw.update({name: ctx.value(name) for name in on if name not in lexical_names})
        lap.append(time.perf_counter())
        ranked = ret.rank(FeatureTable(pool.ids, {k: v for k, v in raw.items() if v is not None}), 10)
        lap.append(time.perf_counter())
        st.get(ranked.ids, "default")
        lap.append(time.perf_counter())
        t0 = time.perf_counter()
        mem.recall(q, k=10, config=config)
        if rep >= warmup:  # the first ones warm up
            whole.append(time.perf_counter() - t0)
            rows.append(len(pool))
            for s, a, b in zip(STAGES, lap, lap[1:]):
                times[s].append(b - a)
    out = {s: float(np.median(v) * 1000) for s, v in times.items()}
    out["sum_of_stages"] = sum(out[s] for s in STAGES)
    out["recall_p50"] = float(np.median(whole) * 1000)
    out["pool_rows"] = float(np.mean(rows))
    out["pool_size_note"] = "candidates=%d radius=%d" % (config.candidates, config.neighbour_radius)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--backends", nargs="+", default=["memory", "sqlite"])
    ap.add_argument("--out")
    args = ap.parse_args()
    results = {b: stages(b, args.n) for b in args.backends}
    results["load_average"] = os.getloadavg()
    print("| backend | " + " | ".join(STAGES) + " | sum | recall p50 |")
    print("|---|" + "---:|" * (len(STAGES) + 2))
    for b in args.backends:
        r = results[b]
        print(f"| {b} | " + " | ".join(f"{r[s]:.2f}" for s in (*STAGES, "sum_of_stages", "recall_p50")) + " |")
    print("load average", results["load_average"])
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
