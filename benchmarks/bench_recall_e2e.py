"""End-to-end recall latency with the real model: the query embedded live.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/bench_recall_e2e.py \\
        --out benchmarks/results/bench_recall_e2e.json

The memory holds ``--traces`` turns (LoCoMo's, then LongMemEval sample20's,
each session one episode, one in-memory namespace), added with their cached
content vectors (``memoryweave eval`` fills the cache) and mean context
vectors, so building it needs no model work; how the context vectors were
made does not change what a recall costs.  Then ``--queries`` questions from
both datasets are recalled (k=10) with the default model embedding each one
live, per runtime (PyTorch, and ONNX Runtime where the extra is installed).
Each row reports p50/p95 of the whole ``recall`` call, of embedding the
query alone, and of the engine alone (the same recalls again, with the
query's and its topic's vectors remembered from the first pass).  Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import result_file  # noqa: E402 (benchmarks/, the script's folder, is on sys.path)

from memoryweave_core import MemoryWeave, RecallConfig  # noqa: E402
from memoryweave_core.embedders import SentenceTransformerEmbedder, default_model_path  # noqa: E402
from memoryweave_core.eval.cache import EmbeddingCache  # noqa: E402
from memoryweave_core.eval.datasets import load  # noqa: E402
from memoryweave_core.eval.harness import build_turn_indexes  # noqa: E402
from memoryweave_core.eval.systems import MODEL_NAME, _items_for  # noqa: E402

DATA = ROOT.parent / "shared" / "data"  # the main checkout's sibling; --data-dir elsewhere


class Switch:
    """The live model for queries; cached vectors only while building.  With
    ``memo`` on, a text embedded before is not embedded again: a second pass
    over the same queries then times the engine alone."""

    def __init__(self, live: Any) -> None:
        self.live = live
        self.dim = live.dim
        self.model_name = MODEL_NAME
        self.memo: dict[str, np.ndarray] | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.memo is None:
            return self.live.embed(texts)
        missing = [t for t in texts if t not in self.memo]
        if missing:
            self.memo.update(zip(missing, self.live.embed(missing)))
        return np.stack([self.memo[t] for t in texts])


def corpus(n: int, cache: EmbeddingCache, data: Path) -> tuple[list[dict[str, Any]], np.ndarray, list[str]]:
    """``n`` turn items with their cached vectors, and the datasets' questions."""
    items: list[dict[str, Any]] = []
    vecs: list[np.ndarray] = []
    questions: list[str] = []
    for name, path in (("locomo", data / "locomo10.json"), ("longmemeval", data / "longmemeval_s_sample20.json")):
        ds = load(name, path)
        questions += [q.question for q in ds.questions]
        for index in build_turn_indexes(ds, cache, None, False):
            got, v = _items_for(index)
            for item in got:
                item["episode"] = f"{name}/{index.conversation.id}/{item['episode']}"
            items += got
            vecs.append(v)
    return items[:n], np.concatenate(vecs)[:n], questions


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--traces", type=int, default=10_000)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime row")
    p.add_argument("--data-dir", default=str(DATA), help="holds locomo10.json and longmemeval_s_sample20.json")
    p.add_argument("--profile", action="store_true",
                   help="also print a cProfile of the engine-only pass (the last runtime's), by cumulative time")
    p.add_argument("--out", help="write the results as JSON")
    args = p.parse_args(argv)

    from sentence_transformers import SentenceTransformer

    cache = EmbeddingCache(MODEL_NAME)
    items, vecs, questions = corpus(args.traces, cache, Path(args.data_dir))
    step = max(len(questions) // args.queries, 1)
    queries = questions[::step][: args.queries]
    runtimes: dict[str, Any] = {"torch": SentenceTransformerEmbedder(SentenceTransformer(default_model_path(), device="cpu"))}
    if not args.no_onnx:
        try:
            from memoryweave_core.onnx_embedder import OnnxEmbedder

            runtimes["onnx"] = OnnxEmbedder(default_model_path())
        except Exception as exc:
            print(f"no ONNX row: {exc}", file=sys.stderr)
    switch = Switch(runtimes["torch"])
    memory = MemoryWeave(embedder=switch, config=RecallConfig(context_mode="mean"))
    t0 = time.perf_counter()
    memory.add_many(items, embeddings=vecs, namespace="bench")
    build_s = time.perf_counter() - t0
    rows = []
    for name, live in runtimes.items():
        switch.live = live
        for q in queries[:5]:  # warm up: the first calls allocate
            memory.recall(q, k=10, namespace="bench", record_access=False)
        whole, embed, engine = [], [], []
        switch.memo = {}  # filled by the timed pass, read by the engine-only pass
        for q in queries:
            t0 = time.perf_counter()
            live.embed([q])
            embed.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            memory.recall(q, k=10, namespace="bench", record_access=False)
            whole.append(time.perf_counter() - t0)
        profiler = cProfile.Profile() if args.profile else None
        for q in queries:
            t0 = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            memory.recall(q, k=10, namespace="bench", record_access=False)
            if profiler is not None:
                profiler.disable()
            engine.append(time.perf_counter() - t0)
        if profiler is not None:
            print(f"engine alone, {name}:")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)
        switch.memo = None
        rows.append({"runtime": name, "recall_p50_ms": pct(whole, 50), "recall_p95_ms": pct(whole, 95),
                     "embed_p50_ms": pct(embed, 50), "embed_p95_ms": pct(embed, 95),
                     "engine_p50_ms": pct(engine, 50), "engine_p95_ms": pct(engine, 95)})
    memory.close()

    print(f"{len(items)} traces (built in {build_s:.1f} s), {len(queries)} queries, k=10")
    print("| runtime | recall p50 ms | recall p95 ms | query embed p50 / p95 ms | engine alone p50 / p95 ms |\n"
          "|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['runtime']} | {r['recall_p50_ms']:.1f} | {r['recall_p95_ms']:.1f} | "
              f"{r['embed_p50_ms']:.1f} / {r['embed_p95_ms']:.1f} | {r['engine_p50_ms']:.1f} / {r['engine_p95_ms']:.1f} |")
    if args.out:
        result_file.write(args.out, {
            "traces": len(items), "queries": len(queries), "k": 10, "commit": result_file.commit(), "build_s": build_s,
            "machine": result_file.machine(load_average_at_end=os.getloadavg()),
            "command": result_file.command("bench_recall_e2e.py", argv),
            "rows": rows,
        })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
