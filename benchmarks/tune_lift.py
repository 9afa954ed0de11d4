"""Fit the length share of the surrounding lift (``pathways.gate.LIFT_LENGTH``) and the packing's cost floor together.

The context and episode pathways lift every turn near the evidence alike.
A long turn there takes the lift over all of its words, and in a prompt of
a few hundred words it displaces several short ones; the length share lets
a turn longer than ``LIFT_LENGTH`` lexical tokens keep only
``LIFT_LENGTH / length`` of a positive lift.  Once the ranking pays for
length, the packing (``prompt.PACK_MIN_COST``), which makes long results
pay for theirs, has less to do, so the two are fitted as one grid: fitting
either with the other fixed would fit the other's habit.

Features are computed once per question (``MemoryWeave.features``); each
(length, floor) pair is then scored as recall would rank, calibrate and
pack with it (``prompt.select_for_prompt`` through the harness's
``pack_docs``).  Groups are LoCoMo conversations and LongMemEval questions
(the sample and, with ``--lme-dev``, the development questions); fold ``f``
holds out the groups whose index is ``f`` modulo the fold count, picks the
pair with the best mean budget recall (256, 512, 1,024 words; the two
datasets weigh the same, as in ``tune_packing``) on the other folds and is
scored on its own.  A pair is eligible only where every dataset's R@10 on
those folds stays within :data:`R10_TOLERANCE` of its R@10 without the
share: the release guard on ranking, applied inside the fit rather than
after it.  Run through ``tune.py --lift``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Sequence

import numpy as np
from folds import by_dataset, cross_validate, write_report
from tune_gate import _figures, question_tables, ranked

from memoryweave_core import RecallConfig
from memoryweave_core.eval import harness as H
from memoryweave_core.eval import metrics as M
from memoryweave_core.eval.cache import EmbeddingCache
from memoryweave_core.eval.systems import MODEL_NAME, CachedEmbedder, pack_docs
from memoryweave_core.pathways.fusion import columns

#: Lift lengths tried (lexical tokens; None: no share).
LENGTHS: tuple[int | None, ...] = (None, 16, 32, 48, 64)
#: Packing cost floors tried (whitespace words).
FLOORS = (16, 32, 64, 96)
PAIRS = [(length, floor) for length in LENGTHS for floor in FLOORS]
#: How far below the unshared ranking's R@10 a pair may take any dataset's.
R10_TOLERANCE = 0.005


def question_table(name: str, path: str, cache_dir: str | None = None, group0: int = 0) -> list[dict[str, Any]]:
    """Per question: its group, and its R@10 and budget recall under every (length, floor) pair."""
    weights = RecallConfig().weights
    embedder = CachedEmbedder(EmbeddingCache(MODEL_NAME, cache_dir))
    rows = []
    for g, traces, lengths, questions in question_tables(name, path, embedder, cache_dir):
        for q, query, table in questions:
            scores = np.zeros((len(PAIRS), 1 + len(H.BUDGETS)))
            for a, length in enumerate(LENGTHS):
                cols = columns(table.raw, [f for f in table.raw if weights.get(f, 0.0)], lengths=table.lengths,
                               lift_length=length)
                recs, docs = ranked(table, traces, np.sum([weights[f] * z for f, z in cols.items()], axis=0))
                for b, floor in enumerate(FLOORS):
                    k = a * len(FLOORS) + b
                    scores[k, 0] = M.recall_at_k(docs, q.evidence, 10)
                    for j, budget in enumerate(H.BUDGETS):
                        ids = pack_docs(recs, query.text, budget, lengths, floor)
                        scores[k, 1 + j] = M.recall_at_k(ids, q.evidence, len(ids))
            rows.append({"dataset": name, "group": group0 + g, "scores": scores})
        print(f"  {name} {g}: {len(rows)} questions", file=sys.stderr, flush=True)
    return rows


def _objective(rows: list[dict[str, Any]]) -> np.ndarray:
    """Mean budget recall per pair, each dataset weighing the same; -inf for
    a pair that takes a dataset's R@10 more than :data:`R10_TOLERANCE` below
    the unshared ranking's."""
    datasets = sorted({r["dataset"] for r in rows})
    per = [np.mean([r["scores"][:, 1:].mean(axis=1) for r in rows if r["dataset"] == d], axis=0) for d in datasets]
    out = np.mean(per, axis=0)
    unshared = [k for k, (length, _) in enumerate(PAIRS) if length is None]
    for d in datasets:
        r10 = np.mean([r["scores"][:, 0] for r in rows if r["dataset"] == d], axis=0)
        out[r10 < r10[unshared].min() - R10_TOLERANCE] = -np.inf
    return out


def _key(pair: tuple[int | None, int]) -> str:
    return f"{pair[0]}/{pair[1]}"


def fit_lift(locomo: str, longmemeval: Sequence[tuple[str, str | None]], folds: int, out: str | None) -> int:
    """``longmemeval``: (file, embedding cache directory or None) pairs, scored as one dataset."""
    t0 = time.time()
    rows = question_table("locomo", locomo)
    for path, cache_dir in longmemeval:
        rows += question_table("longmemeval", path, cache_dir,
                               group0=1 + max((r["group"] for r in rows if r["dataset"] == "longmemeval"), default=-1))
    print(f"{len(rows)} questions in {time.time() - t0:.0f}s", file=sys.stderr)
    held, picks = cross_validate(rows, folds, _objective)
    chosen = [PAIRS[best] for best in picks]
    held_out, by_pair = by_dataset(held, [_key(p) for p in PAIRS], _figures)
    report: dict[str, Any] = {"pairs": [list(p) for p in PAIRS], "fold_pairs": [list(p) for p in chosen],
                              "files": {"locomo": locomo, "longmemeval": [p for p, _ in longmemeval]},
                              "held_out": held_out, "by_pair": by_pair}
    final = PAIRS[int(np.argmax(_objective(rows)))]
    report["lift_length"], report["floor"] = final
    print("(lift length, floor) per fold:", chosen)
    print("held-out R@10 and budget recall @256/512/1024:", json.dumps(report["held_out"]))
    print("in-sample by pair (locomo | longmemeval):")
    for p in PAIRS:
        print(f"  {_key(p):8s} {report['by_pair']['locomo'][_key(p)]}  {report['by_pair']['longmemeval'][_key(p)]}")
    print(f"LIFT_LENGTH = {final[0]}\nPACK_MIN_COST = {final[1]}")
    write_report(out, report)
    return 0
