"""Scale benchmark: recall latency, bulk-add throughput, reopen time and memory.

    python benchmarks/bench_scale.py --sizes 10000 100000 1000000 \\
        --backends memory sqlite postgres langchain llamaindex numpy

Data: synthetic *low-rank* unit vectors (a 32-d latent, clustered around one of 200 topic centres
per 20-turn episode, times a random projection to 384-d plus a little noise, normalised), because
real embeddings have structure and uniform random vectors make any HNSW index look broken; and
synthetic texts drawn from a small Zipf-distributed vocabulary, in episodes of 20 turns.  Queries
are perturbed stored vectors with a few words of text.

What is measured (each backend and size in its own subprocess, so memory numbers do not mix):

* ``add/s``: traces per second through ``MemoryWeave.add_many(..., embeddings=)`` in batches of
  1000, with ``context_window=0`` so no model runs: the store's write path, tokenisation, ART
  categorisation and episode bookkeeping, *not* embedding.  For the baselines, their own add call
  with precomputed vectors.
* ``index s``: for SQLite/memory above the HNSW threshold, the extra time until the background
  indexer has put every row in the graph (rows are searchable exactly in the meantime).
* ``p50/p95 ms``: after ``os.sync()``, ``MemoryWeave.recall(k=10)`` (the full pipeline: candidates
  from both vector fields and BM25, features, fusion, access-log update) with a lookup "embedder" so
  query embedding costs nothing; for the baselines and numpy, their top-10 vector search only.
* ``close s``: SQLite only: ``close()`` after the import, the index build and the timed recalls
  (graphs are saved in the background as they change, so little is left).
* ``reopen s``: SQLite only: open the file and answer the first recall (``first_recall_s`` in the
  JSON: the recall alone; ``load_avg``: the machine's load averages when the run started and ended).
* ``RSS MB``: resident-memory growth of the process while loading.

Prints a markdown table and writes JSON (``--out``).  Not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import numpy as np

DIM = 384
LATENT = 32
TOPICS = 200
VOCAB = 3000
BATCH = 1000
QUERIES = 200
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- data ------------------------------------------------------------------------
class Data:
    """Deterministic synthetic corpus, generated in chunks (1M x 384 floats is 1.5 GB)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n = n
        rng = np.random.default_rng(seed)
        self.proj = rng.standard_normal((LATENT, DIM)).astype(np.float32)
        self.centres = rng.standard_normal((TOPICS, LATENT)).astype(np.float32)
        words = []
        letters = "bcdfghjklmnprstvwz"
        vowels = "aeiou"
        while len(words) < VOCAB:
            w = "".join(rng.choice(list(letters)) + rng.choice(list(vowels)) for _ in range(rng.integers(2, 4)))
            if w not in words:
                words.append(w)
        self.words = np.array(words)
        p = 1.0 / np.arange(1, VOCAB + 1)
        self.p = p / p.sum()
        self.seed = seed

    def vectors(self, start: int, stop: int) -> np.ndarray:
        """Each 20-turn episode talks about one of TOPICS topics: a latent centre plus
        per-turn spread (cosine about 0.8 within a topic, about 0 across)."""
        rng = np.random.default_rng([self.seed, 1, start])
        topic = (np.arange(start, stop) // 20 * 7919) % TOPICS
        z = self.centres[topic] + 0.5 * rng.standard_normal((stop - start, LATENT)).astype(np.float32)
        x = z @ self.proj + 0.3 * rng.standard_normal((stop - start, DIM)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def texts(self, start: int, stop: int) -> list[str]:
        rng = np.random.default_rng([self.seed, 2, start])
        lens = rng.integers(6, 16, stop - start)
        flat = rng.choice(VOCAB, size=int(lens.sum()), p=self.p)
        out, i = [], 0
        for ln in lens:
            out.append(" ".join(self.words[flat[i : i + ln]]))
            i += ln
        return out

    def items(self, start: int, stop: int) -> list[dict]:
        return [
            {"text": t, "speaker": "user" if i % 2 else "assistant", "episode": f"ep{i // 20}", "time": 1.6e9 + 60.0 * i}
            for i, t in zip(range(start, stop), self.texts(start, stop))
        ]

    def queries(self, m: int = QUERIES) -> tuple[list[str], np.ndarray]:
        rng = np.random.default_rng([self.seed, 3])
        rows = rng.integers(0, self.n, m)
        vecs = np.concatenate([self.vectors(int(r), int(r) + 1) for r in rows])
        vecs += 0.02 * rng.standard_normal(vecs.shape).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        texts = []
        for r in rows:
            own = self.texts(int(r), int(r) + 1)[0].split()
            texts.append(" ".join(own[:2] + list(rng.choice(self.words[:500], 2))) + f" q{len(texts)}")
        return texts, vecs


class LookupEmbedder:
    """Returns precomputed vectors for known texts: query embedding costs nothing."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.dim = DIM
        self.table = table

    def embed(self, texts):
        return np.stack([self.table[t] for t in texts])


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


# -- one run -------------------------------------------------------------------------
def run_memoryweave(backend: str, data: Data, workdir: str) -> dict:
    from memoryweave_core import MemoryWeave, RecallConfig

    qtexts, qvecs = data.queries()
    embedder = LookupEmbedder(dict(zip(qtexts, qvecs)))
    config = RecallConfig(context_window=0)
    out: dict = {}
    path = os.path.join(workdir, "bench.db")

    def open_store():
        if backend == "memory":
            return None
        if backend == "sqlite":
            from memoryweave_core.storage.sqlite import SQLiteStore

            return SQLiteStore(path)
        from memoryweave_core.storage.postgres import PostgresStore

        return PostgresStore(os.environ["MEMORYWEAVE_PG_DSN"], schema=SCHEMA)

    rss0 = rss_mb()
    mem = MemoryWeave(embedder=embedder, config=config, store=open_store(), clock=lambda: 1.6e9 + 60.0 * data.n)
    t_add = 0.0
    for start in range(0, data.n, BATCH):
        stop = min(start + BATCH, data.n)
        items, vecs = data.items(start, stop), data.vectors(start, stop)
        t0 = time.perf_counter()
        mem.add_many(items, embeddings=vecs)
        t_add += time.perf_counter() - t0
    out["add_per_s"] = data.n / t_add
    t0 = time.perf_counter()
    wait = getattr(mem.store, "wait_for_index", None)
    if wait:
        wait()
    elif backend == "memory":
        for space in mem.store._spaces.values():
            space.content.wait()
            space.context.wait()
    out["index_s"] = time.perf_counter() - t0
    gc.collect()
    # Recall is timed on a store at rest: not while the kernel writes back the
    # gigabytes the import just wrote (its flusher threads share the two cores).
    os.sync()
    out["rss_mb"] = rss_mb() - rss0

    def measure(m) -> list[float]:
        for q in qtexts[:10]:
            m.recall(q, k=10)
        lat = []
        for q in qtexts:
            t0 = time.perf_counter()
            m.recall(q, k=10)
            lat.append(time.perf_counter() - t0)
        return lat

    lat = measure(mem)
    out["p50_ms"], out["p95_ms"] = pct(lat, 50), pct(lat, 95)
    if backend == "sqlite":
        t0 = time.perf_counter()
        mem.close()
        out["close_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        mem = MemoryWeave(embedder=embedder, config=config, store=open_store(), clock=lambda: 1.6e9 + 60.0 * data.n)
        out["open_s"] = time.perf_counter() - t0
        mem.recall(qtexts[0], k=10)
        out["reopen_s"] = time.perf_counter() - t0
        out["first_recall_s"] = out["reopen_s"] - out["open_s"]
        lat = measure(mem)
        out["p50_after_reopen_ms"] = pct(lat, 50)
        out["db_mb"] = sum(os.path.getsize(os.path.join(workdir, f)) for f in os.listdir(workdir)) / 1e6
    if backend == "postgres":
        mem.store.drop()
    mem.close()
    return out


def run_numpy(data: Data) -> dict:
    _, qvecs = data.queries()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    mat = np.concatenate([data.vectors(s, min(s + 10_000, data.n)) for s in range(0, data.n, 10_000)])
    out = {"add_per_s": data.n / (time.perf_counter() - t0), "rss_mb": rss_mb() - rss0}
    lat = []
    for q in qvecs:
        t0 = time.perf_counter()
        sims = mat @ q
        top = np.argpartition(-sims, 10)[:10]
        top[np.argsort(-sims[top])]
        lat.append(time.perf_counter() - t0)
    out["p50_ms"], out["p95_ms"] = pct(lat, 50), pct(lat, 95)
    return out


def run_langchain(data: Data) -> dict:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import InMemoryVectorStore

    class Precomputed(Embeddings):
        def __init__(self):
            self.next: list = []

        def embed_documents(self, texts):
            out, self.next = self.next, []
            return out

        def embed_query(self, text):
            raise NotImplementedError

    _, qvecs = data.queries()
    emb = Precomputed()
    store = InMemoryVectorStore(emb)
    rss0 = rss_mb()
    t_add = 0.0
    for start in range(0, data.n, BATCH):
        stop = min(start + BATCH, data.n)
        docs = [Document(page_content=t) for t in data.texts(start, stop)]
        emb.next = data.vectors(start, stop).tolist()
        t0 = time.perf_counter()
        store.add_documents(docs)
        t_add += time.perf_counter() - t0
    out = {"add_per_s": data.n / t_add, "rss_mb": rss_mb() - rss0}
    lat = []
    for q in qvecs[:50]:
        t0 = time.perf_counter()
        store.similarity_search_by_vector(q.tolist(), k=10)
        lat.append(time.perf_counter() - t0)
    out["p50_ms"], out["p95_ms"] = pct(lat, 50), pct(lat, 95)
    return out


def run_llamaindex(data: Data) -> dict:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores import SimpleVectorStore
    from llama_index.core.vector_stores.types import VectorStoreQuery

    _, qvecs = data.queries()
    store = SimpleVectorStore()
    rss0 = rss_mb()
    t_add = 0.0
    for start in range(0, data.n, BATCH):
        stop = min(start + BATCH, data.n)
        vecs = data.vectors(start, stop).tolist()
        nodes = [TextNode(text=t, id_=str(start + i), embedding=v) for i, (t, v) in enumerate(zip(data.texts(start, stop), vecs))]
        t0 = time.perf_counter()
        store.add(nodes)
        t_add += time.perf_counter() - t0
    out = {"add_per_s": data.n / t_add, "rss_mb": rss_mb() - rss0}
    lat = []
    for q in qvecs[:50]:
        t0 = time.perf_counter()
        store.query(VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=10))
        lat.append(time.perf_counter() - t0)
    out["p50_ms"], out["p95_ms"] = pct(lat, 50), pct(lat, 95)
    return out


SCHEMA = f"mwbench_{uuid.uuid4().hex[:8]}"


def run_one(backend: str, n: int, keep: str | None = None) -> dict:
    data = Data(n)
    workdir = tempfile.mkdtemp(prefix="mwbench-") if keep is None else keep
    os.makedirs(workdir, exist_ok=True)
    load = os.getloadavg()
    try:
        if backend in ("memory", "sqlite", "postgres"):
            out = run_memoryweave(backend, data, workdir)
        else:
            out = {"numpy": run_numpy, "langchain": run_langchain, "llamaindex": run_llamaindex}[backend](data)
        out["load_avg"] = [round(x, 2) for x in (*load, *os.getloadavg())]  # 1/5/15 min, at start then at end
        return out
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


# -- driver ------------------------------------------------------------------------
COLUMNS = [
    ("add_per_s", "add/s", "{:,.0f}"),
    ("index_s", "index s", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p95_ms", "p95 ms", "{:.2f}"),
    ("close_s", "close s", "{:.2f}"),
    ("reopen_s", "reopen s", "{:.2f}"),
    ("rss_mb", "RSS MB", "{:,.0f}"),
]


def table(results: list[dict]) -> str:
    lines = ["| backend | traces | " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|---|---:|" + "---:|" * len(COLUMNS)]
    for r in results:
        cells = []
        for key, _, fmt in COLUMNS:
            v = r.get(key)
            cells.append(fmt.format(v) if isinstance(v, (int, float)) else (r.get("error", "") if key == "add_per_s" else ""))
        lines.append(f"| {r['backend']} | {r['n']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--backends", nargs="+", default=["memory", "sqlite", "postgres", "langchain", "llamaindex", "numpy"])
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per backend and size")
    ap.add_argument("--baseline-timeout", type=float, default=120, help="seconds for LangChain/LlamaIndex per size")
    ap.add_argument("--max-size", nargs="+", default=[], metavar="BACKEND=N",
                    help="run BACKEND only up to N traces (e.g. postgres=100000 memory=100000), "
                         "so one run can hold the 1M rows of the backends that reach them")
    ap.add_argument("--out", default="benchmarks/results/bench_scale.json")
    ap.add_argument("--keep", metavar="DIR", help="build the SQLite store in DIR and keep it (one size)")
    ap.add_argument("--one", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.keep)))
        return 0
    caps = {}
    for cap in args.max_size:
        backend, _, n = cap.partition("=")
        if backend not in args.backends or not n.isdigit():
            ap.error(f"--max-size wants BACKEND=N with BACKEND among --backends, not {cap!r}")
        caps[backend] = int(n)
    results = []
    skip: set[str] = set()
    for n in args.sizes:
        for backend in args.backends:
            row = {"backend": backend, "n": n}
            if backend == "postgres" and not os.environ.get("MEMORYWEAVE_PG_DSN"):
                row["error"] = "no MEMORYWEAVE_PG_DSN"
            elif backend in skip:
                row["error"] = "skipped (smaller size timed out)"
            elif n > caps.get(backend, n):
                continue
            else:
                limit = args.baseline_timeout if backend in ("langchain", "llamaindex") else args.timeout
                t0 = time.time()
                try:
                    proc = subprocess.run(
                        [sys.executable, os.path.abspath(__file__), "--one", backend, str(n),
                         *(["--keep", args.keep] if args.keep and backend == "sqlite" else [])],
                        capture_output=True, text=True, timeout=limit, cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")},
                    )
                    if proc.returncode == 0:
                        row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
                    else:
                        row["error"] = "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:120]
                except subprocess.TimeoutExpired:
                    row["error"] = f"over {limit:.0f} s"
                    skip.add(backend)
                row["wall_s"] = time.time() - t0
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(table(results))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"dim": DIM, "latent": LATENT, "cpus": os.cpu_count(), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
