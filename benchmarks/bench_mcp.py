"""Round-trip latency of ``remember`` and ``recall`` through the stdio MCP server, with MiniLM.

    python benchmarks/bench_mcp.py --traces 10000 --calls 50 --out benchmarks/results/bench_mcp.json

The memory: the first ``--traces`` turns of LoCoMo and then LongMemEval
(sample 20), one namespace, built once with ``add_many`` through the evaluation's
embedding cache (all-MiniLM-L6-v2 vectors, computed for the turns the cache
lacks), so building costs little when the benchmark cache is warm.

What is measured: an MCP client (the SDK's own) launches
``memoryweave mcp --db FILE --embedder minilm`` as a subprocess and times
each ``call_tool`` from the client's side, JSON-RPC over the pipes included:

* ``remember``: a new turn into one episode (embeds the turn and its context
  window with MiniLM, categorises, writes).
* ``recall``: k=10 with a benchmark question (MiniLM embeds the query).
* ``recall explain``: the same with ``explain=true``.

With ``--in-process`` the same calls made in process on a copy of the same
file (``MemoryWeave.add`` / ``recall``) are timed too, in one worker thread as
the SDK runs the server's tools.  Caveat: on a small machine far busier than
its cores, torch's OpenMP threads made in-process MiniLM calls many times
slower than the same calls in the server process, so compare the two only on
a quiet machine.  The first
call of each kind is a warm-up and not counted.  Prints a table and writes
JSON.  Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LONGMEMEVAL = "/work/shared/data/longmemeval_s_sample20.json"
LOCOMO = "/work/shared/data/locomo10.json"
NAMESPACE = "bench"


def build(db: Path, n: int, longmemeval: str, locomo: str) -> tuple[int, list[str]]:
    """Write the first ``n`` turns into ``db``; returns (traces, benchmark questions)."""
    from memoryweave_core.eval.datasets import load_locomo, load_longmemeval
    from memoryweave_core.eval.systems import CachedEmbedder
    from memoryweave_core.memory import MemoryWeave

    items: list[dict[str, Any]] = []
    questions: list[str] = []
    for ds in (load_locomo(locomo), load_longmemeval(longmemeval)):
        for conv in ds.conversations:
            questions += [q.question for q in conv.questions]
            for t in conv.turns:
                if len(items) < n and t.body.strip():
                    items.append({"text": t.body, "speaker": t.speaker, "episode": f"{conv.id}/{t.session_id}",
                                  "time": t.time})
    if len(items) < n:
        raise SystemExit(f"the data sets hold only {len(items)} turns, fewer than --traces {n}")
    with MemoryWeave(str(db), embedder=CachedEmbedder()) as memory:
        if memory.count(NAMESPACE) != n:
            if memory.count(NAMESPACE):
                memory.forget(namespace=NAMESPACE)
            for start in range(0, n, 1000):
                memory.add_many(items[start:start + 1000], namespace=NAMESPACE)
        return memory.count(NAMESPACE), questions


def summarise(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 1),
            "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1), "mean_ms": round(statistics.fmean(ms), 1),
            "min_ms": round(ms[0], 1), "max_ms": round(ms[-1], 1)}


async def through_mcp(db: Path, questions: list[str], calls: int) -> dict[str, list[float]]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    script = Path(sys.executable).with_name("memoryweave")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "memoryweave_core.cli"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    params = StdioServerParameters(command=cmd[0], args=[*cmd[1:], "mcp", "--db", str(db), "--embedder", "minilm",
                                                         "--namespace", NAMESPACE], env=env)
    out: dict[str, list[float]] = {"remember": [], "recall": [], "recall explain": []}
    async with Client(params, read_timeout_seconds=300) as client:
        async def timed(kind: str, name: str, args: dict[str, Any], keep: bool) -> None:
            t0 = time.perf_counter()
            result = await client.call_tool(name, args)
            elapsed = (time.perf_counter() - t0) * 1000
            if result.is_error:
                raise RuntimeError(f"{name} failed: {result.content}")
            if keep:
                out[kind].append(elapsed)

        for i in range(calls + 1):  # call 0 of each kind is the warm-up
            await timed("remember", "remember", {"text": f"Benchmark note {i}: I moved the sailing lesson to "
                                                         f"Thursday {i % 28 + 1} at six.",
                                                 "speaker": "user", "episode": "bench-mcp"}, i > 0)
            # min_relevance 0: ten results every call, as in process (the tool's default may return fewer)
            q = {"query": questions[i % len(questions)], "k": 10, "min_relevance": 0}
            await timed("recall", "recall", q, i > 0)
            await timed("recall explain", "recall", {**q, "explain": True}, i > 0)
    return out


def in_process(db: Path, questions: list[str], calls: int) -> dict[str, list[float]]:
    from memoryweave_core.memory import MemoryWeave

    out: dict[str, list[float]] = {"remember": [], "recall": [], "recall explain": []}
    with MemoryWeave(str(db)) as memory:  # MiniLM, as the server uses
        for i in range(calls + 1):
            steps = [("remember", lambda i=i: memory.add(f"In-process note {i}: the ferry leaves at {i % 12 + 1}.",
                                                     speaker="user", episode="bench-inproc", namespace=NAMESPACE)),
                     ("recall", lambda i=i: memory.recall(questions[i % len(questions)], k=10, namespace=NAMESPACE)),
                     ("recall explain", lambda i=i: memory.recall(questions[i % len(questions)], k=10,
                                                              namespace=NAMESPACE, explain=True))]
            for kind, call in steps:
                t0 = time.perf_counter()
                call()
                if i > 0:
                    out[kind].append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--traces", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=50, help="timed calls of each kind (after one warm-up)")
    ap.add_argument("--db", help="SQLite file to build (or reuse when it already holds --traces turns)")
    ap.add_argument("--longmemeval", default=LONGMEMEVAL)
    ap.add_argument("--locomo", default=LOCOMO)
    ap.add_argument("--in-process", action="store_true",
                    help="also time the same calls in process (see the module docstring for a caveat)")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="bench_mcp_")) / "memory.db"
    worker = ThreadPoolExecutor(1)  # see the module docstring
    t0 = time.perf_counter()
    held, questions = worker.submit(build, db, args.traces, args.longmemeval, args.locomo).result()
    built_s = time.perf_counter() - t0
    # Copies, so that the two runs start from the same file (each adds --calls turns).
    runs: dict[str, Any] = {}
    for name in ("mcp stdio", "in process") if args.in_process else ("mcp stdio",):
        copy = db.with_name(f"{name.replace(' ', '_')}.db")
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{copy}{suffix}").exists():
                os.remove(f"{copy}{suffix}")
        shutil.copyfile(db, copy)
        times = asyncio.run(through_mcp(copy, questions, args.calls)) if name == "mcp stdio" \
            else worker.submit(in_process, copy, questions, args.calls).result()
        runs[name] = {kind: summarise(ms) for kind, ms in times.items()}
        print(name, json.dumps(runs[name]), flush=True)

    print(f"{held} traces in {db} (built in {built_s:.0f} s); {args.calls} timed calls each, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n")
    print("| call | " + " | ".join(f"{name} median ms | p90 | mean" for name in runs) + " |")
    print("|---|" + "---:|---:|---:|" * len(runs))
    for kind in ("remember", "recall", "recall explain"):
        cells = [f"{r[kind]['median_ms']} | {r[kind]['p90_ms']} | {r[kind]['mean_ms']}" for r in runs.values()]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "traces": held, "calls": args.calls, "embedder": "all-MiniLM-L6-v2 (CPU)", "runs": runs,
            "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
                        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                        "python": platform.python_version(), "platform": platform.platform()},
            "command": "python " + " ".join(sys.argv),
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
