"""Which question-level signals tell a memory's own questions from foreign ones?

The measurements behind ``answerable.py``.  Real questions are LoCoMo's
(categories 1-4) asked of their own conversation; foreign ones are the same
questions asked of the next conversation's memory, speakers' names mapped
(``calibration.locomo_rows``).  For each signal alone: the share of foreign
questions below the level that keeps 90% (and 95%) of the real ones (no
fitting).  Then logistic gates over sets of signals, held out by
conversation (a fold's questions and memories are never in its training
set), and three ways of combining the gate with the per-trace relevance,
each at its best point that keeps 90% of the top-10 evidence:

* the product relevance x answerable under one threshold;
* the gate as a floor, then the relevance threshold (what ships);
* none (the relevance threshold alone).

    .venv/bin/python benchmarks/answerable_signals.py --out benchmarks/results/answerable_signals.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memoryweave_core.answerable import BASE_SIGNALS  # noqa: E402
from memoryweave_core.eval import calibration as C  # noqa: E402
from memoryweave_core.relevance import SIGNALS, Logistic, fit_logistic  # noqa: E402

FOLDS = 5
#: Signals read off the per-trace calibrator's inputs of the first candidate.
FROM_TRACES = {"rank1_margin": lambda x: -x[1, SIGNALS.index("margin")] if len(x) > 1 else 0.0,
               "unseen": lambda x: x[0, SIGNALS.index("unseen")],
               "best_lexical": lambda x: x[0, SIGNALS.index("best_lexical")],
               "top1_score": lambda x: x[0, SIGNALS.index("score")]}
SETS = {
    "cosines": ["best_semantic", "top1_semantic", "best_context"],
    "coverage": ["store_coverage", "top_coverage", "top1_coverage", "best_coverage", "bm25_ceiling"],
    "raw (cosines, BM25, margin, score)": ["best_semantic", "top1_semantic", "best_context", "best_lexical",
                                           "rank1_margin", "top1_score"],
    "coverage + cosines (shipped)": list(BASE_SIGNALS),
    "everything": list(BASE_SIGNALS) + list(FROM_TRACES),
}


def table(rows: list[C.Rows]) -> dict[str, np.ndarray]:
    cols = {name: np.array([r.q[i] for r in rows]) for i, name in enumerate(BASE_SIGNALS)}
    cols.update({name: np.array([f(r.x) for r in rows]) for name, f in FROM_TRACES.items()})
    return cols


def held_out_gate(rows: list[C.Rows], cols: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    x = np.column_stack([cols[n] for n in names])
    y = np.array([0.0 if r.foreign else 1.0 for r in rows])
    out = np.zeros(len(rows))
    for f in range(FOLDS):
        train = np.array([not r.touches(f, FOLDS) for r in rows])
        test = np.array([r.group % FOLDS == f for r in rows])
        out[test] = fit_logistic(x[train], y[train], l2=C.L2, kind=Logistic).predict(x[test])
    return out


def rejected(score: np.ndarray, foreign: np.ndarray, keep: float) -> float:
    """Share of foreign questions below the level that keeps ``keep`` of the real ones."""
    return float((score[foreign] < np.quantile(score[~foreign], 1 - keep)).mean())


def best_product(rows: list[C.Rows], probs: list[np.ndarray], gate: np.ndarray) -> dict[str, float]:
    joint = [p * a for p, a in zip(probs, gate)]
    curve = C.judge(rows, joint, 0.0, tuple(round(t, 4) for t in np.arange(0, 0.1, 0.0025)))["abstention"]["curve"]
    ok = [c for c in curve if c["evidence_kept"] >= 0.9]
    return max(ok, key=lambda c: c["threshold"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/locomo10.json")
    p.add_argument("--out")
    args = p.parse_args(argv)
    rows = [r for r in C.cached_locomo_rows(args.data) if len(r.y)]
    foreign = np.array([r.foreign for r in rows])
    cols = table(rows)
    single = {n: {"keep_0.9": max(rejected(v, foreign, 0.9), rejected(-v, foreign, 0.9)),
                  "keep_0.95": max(rejected(v, foreign, 0.95), rejected(-v, foreign, 0.95)),
                  "real_mean": float(v[~foreign].mean()), "foreign_mean": float(v[foreign].mean())}
              for n, v in cols.items()}
    print("signal alone: foreign refused at 90% / 95% of the real questions kept")
    for n, s in single.items():
        print(f"  {n:16s} {s['keep_0.9']:.3f} / {s['keep_0.95']:.3f}   (mean real {s['real_mean']:.3f}, foreign {s['foreign_mean']:.3f})")
    probs, _ = C.cross_fit(rows, FOLDS)
    gates: dict[str, dict[str, Any]] = {}
    print("held-out logistic gates: foreign refused at 90% / 95% kept; best combination with relevance")
    for name, names in SETS.items():
        g = held_out_gate(rows, cols, names)
        grid = C.gate_grid(rows, probs, g)
        gates[name] = {"signals": names, "keep_0.9": rejected(g, foreign, 0.9), "keep_0.95": rejected(g, foreign, 0.95),
                       "floor_then_threshold": C.choose(grid), "product": best_product(rows, probs, g)}
        f, pr = gates[name]["floor_then_threshold"], gates[name]["product"]
        print(f"  {name:36s} {gates[name]['keep_0.9']:.3f} / {gates[name]['keep_0.95']:.3f}   floor "
              f"{f['answerable_floor']} + thr {f['threshold']}: {f['evidence_kept']:.3f}/{f['nonevidence_dropped']:.3f}/"
              f"{f['foreign_empty']:.3f}   product thr {pr['threshold']}: {pr['evidence_kept']:.3f}/"
              f"{pr['nonevidence_dropped']:.3f}/{pr['foreign_empty']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"n_real": int((~foreign).sum()), "n_foreign": int(foreign.sum()),
                                              "single": single, "gates": gates}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
