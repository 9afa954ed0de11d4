"""Ingest benchmark: remembering turns with the real model vs embedding them.

    HF_HUB_OFFLINE=1 python benchmarks/bench_ingest.py --data ../shared/data/locomo10.json \\
        --out benchmarks/results/bench_ingest.json

The turns of one LoCoMo conversation (the first by default), each session
one episode.  Measured in the same process, interleaved round by round so
that a noisy machine slows every row alike:

* ``encode``: ``SentenceTransformer.encode`` of the rendered turns
  ("Speaker: text"), one vector per turn, batch 32: the floor a plain vector
  store pays.
* ``add_conversation``: a fresh in-memory ``MemoryWeave`` per round, one
  ``add_conversation`` per session: content and context vectors, ART
  categories, the store's write path; once per ``context_mode`` ("late"
  pools the windows from one pass over each session, see late_chunking.py;
  "onepass" reads both vectors off one pass, see onepass.py).
* With the ``onnx`` extra installed, the same rows on ONNX Runtime.

Each row reports turns per second (the best of ``--rounds``) and its ratio to
PyTorch ``encode``.  ``single add ms`` is the median of streaming ``add``
calls, one turn each, after the first session.  Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import result_file  # noqa: E402 (benchmarks/, the script's folder, is on sys.path)

from memoryweave_core import MemoryWeave, RecallConfig  # noqa: E402
from memoryweave_core.config import CONTEXT_MODES  # noqa: E402
from memoryweave_core.embedders import SentenceTransformerEmbedder, default_model_path  # noqa: E402
from memoryweave_core.eval.datasets import load_locomo  # noqa: E402


def sessions_of(path: str, conversation: int, limit: int | None) -> list[list[tuple[str, str]]]:
    """(speaker, text) turns per session, at most ``limit`` turns in all."""
    conv = load_locomo(path).conversations[conversation]
    out, left = [], limit if limit else 10**9
    for session in conv.sessions:
        turns = [(t.speaker, t.body) for t in session.turns if t.body.strip()][:left]
        if turns:
            out.append(turns)
            left -= len(turns)
    return out


def ingest(embedder: Any, mode: str, sessions: list[list[tuple[str, str]]]) -> None:
    memory = MemoryWeave(embedder=embedder, config=RecallConfig(context_mode=mode))
    for i, turns in enumerate(sessions):
        memory.add_conversation(turns, episode=f"session-{i}", time=1_700_000_000 + 86_400 * i)
    memory.close()


def single_adds(embedder: Any, mode: str, sessions: list[list[tuple[str, str]]], n: int) -> float:
    """Median ms of one streaming ``add`` (the turn after others of its episode)."""
    memory = MemoryWeave(embedder=embedder, config=RecallConfig(context_mode=mode))
    memory.add_conversation(sessions[0], episode="warm", time=1_700_000_000)
    times = []
    for speaker, text in [t for s in sessions[1:] for t in s][:n]:
        t0 = time.perf_counter()
        memory.add(text, speaker=speaker, episode="stream")
        times.append(time.perf_counter() - t0)
    memory.close()
    return 1000 * statistics.median(times)



def best_seconds(jobs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Each job's best time over ``rounds`` interleaved rounds, after one warm-up
    call each (first calls allocate and load lazily)."""
    for job in jobs.values():
        job()
    best = {name: float("inf") for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            t0 = time.perf_counter()
            job()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "locomo10.json"))
    p.add_argument("--conversation", type=int, default=0)
    p.add_argument("--turns", type=int, default=None, help="at most this many turns (default: the whole conversation)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--single", type=int, default=40, help="streaming adds timed per row")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows")
    p.add_argument("--out", help="write the results as JSON")
    args = p.parse_args(argv)

    from sentence_transformers import SentenceTransformer

    load_at_start = os.getloadavg()
    sessions = sessions_of(args.data, args.conversation, args.turns)
    texts = [f"{s}: {t}" for turns in sessions for s, t in turns]
    n = len(texts)
    model = SentenceTransformer(default_model_path(), device="cpu")
    runtimes: dict[str, Any] = {"torch": SentenceTransformerEmbedder(model)}
    if not args.no_onnx:
        try:
            from memoryweave_core.onnx_embedder import OnnxEmbedder

            runtimes["onnx"] = OnnxEmbedder(default_model_path())
        except Exception as exc:  # the extra is not installed: report the PyTorch rows only
            print(f"no ONNX rows: {exc}", file=sys.stderr)

    jobs: dict[str, Callable[[], Any]] = {"torch encode": lambda: model.encode(texts, batch_size=32, show_progress_bar=False)}
    for name, emb in runtimes.items():
        if name != "torch":
            jobs[f"{name} encode"] = lambda emb=emb: emb.embed(texts)
        for mode in CONTEXT_MODES:
            jobs[f"{name} add_conversation context_mode={mode}"] = lambda emb=emb, mode=mode: ingest(emb, mode, sessions)
    best = best_seconds(jobs, args.rounds)
    floor = n / best["torch encode"]
    rows = []
    for name, seconds in best.items():
        row = {"row": name, "turns_per_s": n / seconds, "vs_torch_encode": (n / seconds) / floor}
        if "add_conversation" in name:
            runtime, mode = name.split()[0], name.split("=")[1]
            row["single_add_ms"] = single_adds(runtimes[runtime], mode, sessions, args.single)
        rows.append(row)

    print(f"{n} turns, {len(sessions)} sessions, best of {args.rounds} rounds")
    print("| row | turns/s | vs torch encode | single add ms |\n|---|---:|---:|---:|")
    for r in rows:
        single = f"{r['single_add_ms']:.1f}" if "single_add_ms" in r else ""
        print(f"| {r['row']} | {r['turns_per_s']:.1f} | {r['vs_torch_encode']:.2f}x | {single} |")
    if args.out:
        result_file.write(args.out, {
            "turns": n, "sessions": len(sessions), "rounds": args.rounds, "commit": result_file.commit(),
            "machine": result_file.machine(load_average_at_start=load_at_start, load_average_at_end=os.getloadavg()),
            "command": result_file.command("bench_ingest.py", argv),
            "rows": rows,
        })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
