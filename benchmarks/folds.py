"""Cross-validation over groups, as the ``tune_*`` fits run it.

Rows are questions, each with its ``dataset`` and ``group`` (a LoCoMo
conversation, a LongMemEval question); fold ``f`` holds out the groups whose
index is ``f`` modulo the fold count, picks the candidate (a gate, a floor, a
pair) that scores best on the other folds and is scored on its own.  One
loop, so the fits differ only in what they try and how they score it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

Rows = list[dict[str, Any]]
DATASETS = ("locomo", "longmemeval")


def cross_validate(rows: Rows, folds: int, objective: Callable[[Rows], np.ndarray]) -> tuple[list[tuple[dict[str, Any], int]], list[int]]:
    """Each held-out row with the candidate its fold picked, and the pick of each fold (indexes into ``objective``'s)."""
    held: list[tuple[dict[str, Any], int]] = []
    chosen = []
    for f in range(folds):
        best = int(np.argmax(objective([r for r in rows if r["group"] % folds != f])))
        chosen.append(best)
        held += [(r, best) for r in rows if r["group"] % folds == f]
    return held, chosen


def by_dataset(held: Sequence[tuple[dict[str, Any], int]], labels: Sequence[str],
               figures: Callable[[np.ndarray], dict[str, float]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per dataset: the held-out figures (each row scored by its fold's pick), and
    the figures of every candidate (``labels``, in order) over the same rows."""
    held_out, by_candidate = {}, {}
    for d in DATASETS:
        sub = [(r, b) for r, b in held if r["dataset"] == d]
        held_out[d] = figures(np.mean([r["scores"][i] for r, i in sub], axis=0))
        by_candidate[d] = {label: figures(np.mean([r["scores"][k] for r, _ in sub], axis=0))
                           for k, label in enumerate(labels)}
    return held_out, by_candidate


def write_report(out: str | None, report: dict[str, Any]) -> None:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2))
