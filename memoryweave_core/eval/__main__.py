"""Command line: ``python -m memoryweave_core.eval {locomo,longmemeval} --data PATH``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from ..config import CONTEXT_MODES
from ..errors import InvalidInputError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memoryweave eval", description="Retrieval benchmarks for MemoryWeave.")
    p.add_argument("dataset", choices=["locomo", "longmemeval"])
    p.add_argument("--data", required=True, nargs="+",
                   help="locomo10.json, or LongMemEval files (.json or .json.gz; several are merged)")
    p.add_argument("--k", type=int, nargs="+", default=[5, 10], help="cut-offs (default 5 10)")
    p.add_argument("--out", help="write the JSON result here")
    p.add_argument("--systems", nargs="+", help="only these systems (e.g. memoryweave dense bm25 rrf)")
    p.add_argument("--no-ablations", action="store_true", help="skip memoryweave-no-<feature> runs")
    p.add_argument("--no-memoryweave", action="store_true", help="baselines only")
    p.add_argument("--limit", type=int, help="only the first N conversations (LoCoMo) / questions (LongMemEval)")
    p.add_argument("--cache-dir", help="embedding cache directory (default ~/.cache/memoryweave/embeddings)")
    p.add_argument("--context-mode", choices=CONTEXT_MODES,
                   help="how MemoryWeave makes context vectors (default: RecallConfig's)")
    p.add_argument("--context-window", type=int,
                   help="preceding turns in a context vector's window (default: RecallConfig's)")
    p.add_argument("--weights", help="fusion weights over the default's: a JSON object, or a file holding one "
                   "(a benchmarks/tune.py --out file: its \"weights\")")
    p.add_argument("--candidates", type=int,
                   help="candidates fetched per pathway (default: RecallConfig's)")
    p.add_argument("--neighbour-radius", type=int,
                   help="episode neighbours joining the pool on each side of a candidate (default: RecallConfig's)")
    p.add_argument("--depth", type=int, default=50,
                   help="recollections MemoryWeave is asked for per question (default 50); recall widens its pool "
                        "to at least this many per pathway, so measure a smaller --candidates with a --depth no larger")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def read_weights(arg: str) -> dict[str, float]:
    """Weights from ``--weights``: inline JSON, or a file of it, where a
    tune.py result nests them under ``"weights"`` (so a refit is evaluated
    by the harness itself, not by tune.py's proxy)."""
    text = Path(arg).read_text() if Path(arg).is_file() else arg
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"--weights: neither a file nor JSON: {arg!r}") from exc
    weights = data.get("weights", data) if isinstance(data, dict) else None
    if not isinstance(weights, dict):
        raise InvalidInputError(f"--weights: expected a JSON object of feature weights, got {type(data).__name__}")
    return {str(k): float(v) for k, v in weights.items()}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    weights = read_weights(args.weights) if args.weights else None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.cache_dir:
        # Every cache of the run, the memory's own embedder included
        # (contexts, topics), reads the directory from here.
        os.environ["MEMORYWEAVE_CACHE"] = args.cache_dir
    from .cache import EmbeddingCache
    from .datasets import load, merge
    from .harness import format_table, run_locomo, run_longmemeval, write_json
    from .systems import MODEL_NAME, default_systems

    # LongMemEval keeps its _abs questions: the harness leaves them out of the
    # official metrics and asks them as the "nothing relevant" set.
    kwargs = {"skip_abstention": False} if args.dataset == "longmemeval" else {}
    ds = merge([load(args.dataset, path, **kwargs) for path in args.data])
    if args.limit:
        ds.conversations = ds.conversations[: args.limit]
    systems = default_systems(with_memoryweave=not args.no_memoryweave, ablations=not args.no_ablations,
                              context_mode=args.context_mode, context_window=args.context_window,
                              weights=weights, candidates=args.candidates,
                              neighbour_radius=args.neighbour_radius, depth=args.depth)
    if args.systems:
        missing = [s for s in args.systems if s not in systems]
        if missing:
            print(f"unknown or unavailable systems: {', '.join(missing)} (have: {', '.join(systems)})",
                  file=sys.stderr)
            return 2
        systems = {s: systems[s] for s in args.systems}
    cache = EmbeddingCache(MODEL_NAME, args.cache_dir)
    runner = run_locomo if args.dataset == "locomo" else run_longmemeval
    result = runner(ds, systems, ks=args.k, cache=cache, progress=not args.quiet)
    if args.dataset == "locomo":
        cols = [f"recall@{k}" for k in sorted(set(args.k) | {10})] + ["ndcg@10"]
    else:
        cols = [f"{m}@{k}" for k in sorted(args.k) for m in ("recall_any", "recall_all", "ndcg_any")]
        cols += ["turn_recall@10"]
    cols += ["budget_recall@256", "budget_recall@512", "budget_recall@1024"]
    print(f"{result['dataset']}: {result['n_questions']} questions (headline); data stats: {ds.stats}")
    print(format_table(result, cols))
    mw = result["systems"].get("memoryweave", {})
    if "relevance" in mw:
        ab = mw["abstention"]
        print(f"memoryweave relevance: ECE {mw['relevance']['ece']:.3f}, Brier {mw['relevance']['brier']:.3f}; "
              f"at min_relevance {ab['threshold']}: evidence kept {ab['evidence_kept']:.3f}, non-evidence dropped "
              f"{ab['nonevidence_dropped']:.3f}, foreign questions empty {ab['foreign_empty']:.3f}")
    if args.out:
        write_json(result, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
