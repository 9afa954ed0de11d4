"""Fit the prompt packing's cost floor (``prompt.PACK_MIN_COST``) with cross-validation.

Packing a prompt takes results by relevance per token (``prompt.pack``).
The calibrator never saw length, so a floor on the cost lets the ranking
decide between short results and makes only long ones pay for their
length.  The floor is the one number fitted here, on both benchmarks at
once, because they disagree about length: LoCoMo's evidence turns are
longer than its chit-chat, LongMemEval's are shorter than the assistant's
answers.  A fit on either alone would learn that dataset's habit.

Groups are LoCoMo conversations and LongMemEval questions; fold ``f``
holds out the groups whose index is ``f`` modulo the fold count.  Each
fold picks the floor with the best mean budget recall (256, 512, 1,024
words; the two datasets weigh the same) on the other folds and is scored
on its own.  Run through ``tune.py --packing``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
from folds import DATASETS, cross_validate, write_report

from memoryweave_core.eval import harness as H
from memoryweave_core.eval import metrics as M
from memoryweave_core.eval.systems import memoryweave_system, pack_docs

#: Cost floors tried (whitespace words).
FLOORS = (1, 8, 16, 24, 32, 48, 64, 96, 128)


def question_table(name: str, path: str) -> list[dict[str, Any]]:
    """Per question: its group and its budget recall at every floor and budget."""
    indexes, queries = H.tuning_indexes(name, path)
    system = memoryweave_system()
    rows = []
    for g, idx in enumerate(indexes):
        lengths = H._lengths(idx)
        for q in H.tuning_questions(name, idx):
            recs = system.recollections(idx, queries[q.id])  # type: ignore[attr-defined]
            recall = np.array([[M.recall_at_k(ids := pack_docs(recs, q.question, b, lengths, f), q.evidence, len(ids))
                                for b in H.BUDGETS] for f in FLOORS])
            rows.append({"dataset": name, "group": g, "recall": recall})
    return rows


def _objective(rows: list[dict[str, Any]]) -> np.ndarray:
    """Mean budget recall per floor, each dataset weighing the same."""
    per = [np.mean([r["recall"].mean(axis=1) for r in rows if r["dataset"] == d], axis=0)
           for d in sorted({r["dataset"] for r in rows})]
    return np.mean(per, axis=0)


def fit_packing(locomo: str, longmemeval: str, folds: int, out: str | None) -> int:
    t0 = time.time()
    rows = question_table("locomo", locomo) + question_table("longmemeval", longmemeval)
    print(f"{len(rows)} questions in {time.time() - t0:.0f}s", file=sys.stderr)
    held, picks = cross_validate(rows, folds, _objective)
    chosen = [FLOORS[best] for best in picks]
    report: dict[str, Any] = {"fold_floors": chosen, "held_out": {}, "by_floor": {}}
    for d in DATASETS:
        sub = [(r, b) for r, b in held if r["dataset"] == d]
        report["held_out"][d] = {f"budget_recall@{b}": float(np.mean([r["recall"][i, j] for r, i in sub]))
                                 for j, b in enumerate(H.BUDGETS)}
        report["by_floor"][d] = {str(fl): [round(float(v), 4) for v in np.mean([r["recall"][k] for r, _ in sub], axis=0)]
                                 for k, fl in enumerate(FLOORS)}
    final = FLOORS[int(np.argmax(_objective(rows)))]
    report["floor"] = final
    print("floor per fold:", chosen)
    print("held-out budget recall @256/512/1024:", json.dumps(report["held_out"]))
    print("in-sample by floor (locomo | longmemeval):")
    for fl in FLOORS:
        print(f"  {fl:4d}  {report['by_floor']['locomo'][str(fl)]}  {report['by_floor']['longmemeval'][str(fl)]}")
    print(f"PACK_MIN_COST = {final}")
    write_report(out, report)
    return 0
