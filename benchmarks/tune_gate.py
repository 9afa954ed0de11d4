"""Fit the own-match gate (``pathways.gate``: ``GATE_FLOOR``, ``GATE_CENTRE``) with cross-validation.

The gate scales what a trace's window and episode add to its score by how
well the trace matches the query itself.  How much it should keep is fitted
here on both benchmarks at once, because they pull opposite ways: on
LoCoMo an answer that shares no word with its question lives on its
surroundings' lift, on LongMemEval long assistant answers ride the lift of
the session that holds a short user turn with the evidence.  A fit on
either alone would learn that dataset's habit.

Features are computed once per question (``MemoryWeave.features``); each
gate is then scored as recall would rank, calibrate and pack with it
(``prompt.select_for_prompt`` through the harness's ``pack_docs``).  Groups
are LoCoMo conversations and LongMemEval questions; fold ``f`` holds out the
groups whose index is ``f`` modulo the fold count, picks the gate with the
best mean budget recall (256, 512, 1,024 words) on the other folds and is
scored on its own.  Every question weighs the same: with the two datasets
weighing the same instead (``--gate-weighting dataset``, the packing fit's
rule), 19 LongMemEval questions, a twentieth of the budget recall each,
outvote 1,536 LoCoMo ones, and the fit follows their noise (the README
gives both fits).  Run through ``tune.py --gate``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterator

import numpy as np
from folds import by_dataset, cross_validate, write_report

from memoryweave_core import MemoryWeave, RecallConfig
from memoryweave_core.eval import harness as H
from memoryweave_core.eval import metrics as M
from memoryweave_core.eval.systems import CachedEmbedder, _items_for, pack_docs
from memoryweave_core.pathways.fusion import columns
from memoryweave_core.recollection import Recollection
from memoryweave_core.relevance import DEFAULT_CALIBRATOR, signals

#: (floor, centre) pairs tried; a floor of 1 is no gate.
GATES = ((1.0, 0.0), (0.75, 0.0), (0.75, 1.0), (0.5, 0.0), (0.5, 1.0), (0.25, 0.0), (0.25, 1.0))
#: Recollections packed per question, as the harness asks recall for.
DEPTH = 50


def question_tables(name: str, path: str, embedder: Any, cache_dir: str | None = None) -> Iterator[tuple[int, dict[str, Any], dict[str, int], Iterator[tuple[Any, Any, Any]]]]:
    """Per group (a LoCoMo conversation, a LongMemEval question): its index,
    its memory's traces by id, its documents' lengths and its tuning
    questions as (question, query, feature table), the features computed
    once (``MemoryWeave.features``) for a fit to rank in every way it tries."""
    indexes, queries = H.tuning_indexes(name, path, cache_dir)
    config = RecallConfig()
    for g, idx in enumerate(indexes):
        items, vecs = _items_for(idx)
        memory = MemoryWeave(embedder=embedder, config=config)
        memory.add_many(items, embeddings=vecs, namespace="eval")
        traces = {t.id: t for t in memory.traces(namespace="eval")}

        def questions(memory: MemoryWeave = memory, idx: Any = idx) -> Iterator[tuple[Any, Any, Any]]:
            for q in H.tuning_questions(name, idx):
                query = queries[q.id]
                at = {} if query.time is None else {"at": query.time}
                yield q, query, memory.features(query.text, namespace="eval", **at)

        yield g, traces, H._lengths(idx), questions()


def ranked(table: Any, traces: dict[str, Any], score: np.ndarray) -> tuple[list[Recollection], list[str]]:
    """The top :data:`DEPTH` as recall would return them under ``score``
    (relevance from the shipped calibrator), and their documents in order."""
    relevance = DEFAULT_CALIBRATOR.predict(signals(table.raw, score, table.unseen))
    order = np.argsort(-score, kind="stable")[:DEPTH]
    recs = [Recollection(trace=traces[table.ids[i]], score=float(score[i]), features={},
                         relevance=float(relevance[i])) for i in order]
    return recs, list(dict.fromkeys(r.trace.metadata["doc_id"] for r in recs))


def question_table(name: str, path: str) -> list[dict[str, Any]]:
    """Per question: its group, and its R@10 and budget recall under every gate."""
    weights = RecallConfig().weights
    rows = []
    for g, traces, lengths, questions in question_tables(name, path, CachedEmbedder()):
        for q, query, table in questions:
            scores = np.zeros((len(GATES), 1 + len(H.BUDGETS)))
            for k, (floor, centre) in enumerate(GATES):
                cols = columns(table.raw, [f for f in table.raw if weights.get(f, 0.0)], floor=floor, centre=centre,
                               lengths=table.lengths)
                recs, docs = ranked(table, traces, np.sum([weights[f] * z for f, z in cols.items()], axis=0))
                scores[k, 0] = M.recall_at_k(docs, q.evidence, 10)
                for j, b in enumerate(H.BUDGETS):
                    ids = pack_docs(recs, query.text, b, lengths)
                    scores[k, 1 + j] = M.recall_at_k(ids, q.evidence, len(ids))
            rows.append({"dataset": name, "group": g, "scores": scores})
        print(f"  {name} {g}: {len(rows)} questions", file=sys.stderr, flush=True)
    return rows


def _objective(rows: list[dict[str, Any]], weighting: str = "question") -> np.ndarray:
    """Mean budget recall per gate: over questions (each weighs the same), or
    over datasets (each dataset weighs the same, as ``tune_packing`` does)."""
    if weighting == "question":
        return np.mean([r["scores"][:, 1:].mean(axis=1) for r in rows], axis=0)
    per = [np.mean([r["scores"][:, 1:].mean(axis=1) for r in rows if r["dataset"] == d], axis=0)
           for d in sorted({r["dataset"] for r in rows})]
    return np.mean(per, axis=0)


def _figures(scores: np.ndarray) -> dict[str, float]:
    keys = ["recall@10"] + [f"budget_recall@{b}" for b in H.BUDGETS]
    return {k: round(float(v), 4) for k, v in zip(keys, scores)}


def fit_gate(locomo: str, longmemeval: str, folds: int, out: str | None, weighting: str = "question") -> int:
    t0 = time.time()
    rows = question_table("locomo", locomo) + question_table("longmemeval", longmemeval)
    print(f"{len(rows)} questions in {time.time() - t0:.0f}s", file=sys.stderr)
    held, picks = cross_validate(rows, folds, lambda train: _objective(train, weighting))
    chosen = [GATES[best] for best in picks]
    held_out, by_gate = by_dataset(held, [f"{fl}/{c}" for fl, c in GATES], _figures)
    report: dict[str, Any] = {"weighting": weighting, "gates": [list(g) for g in GATES], "fold_gates": [list(g) for g in chosen],
                              "held_out": held_out, "by_gate": by_gate}
    final = GATES[int(np.argmax(_objective(rows, weighting)))]
    report["gate"] = {"floor": final[0], "centre": final[1]}
    print("gate (floor, centre) per fold:", chosen)
    print("held-out R@10 and budget recall @256/512/1024:", json.dumps(report["held_out"]))
    print("in-sample by gate (locomo | longmemeval):")
    for fl, c in GATES:
        key = f"{fl}/{c}"
        print(f"  {key:9s} {report['by_gate']['locomo'][key]}  {report['by_gate']['longmemeval'][key]}")
    print(f"GATE_FLOOR = {final[0]}\nGATE_CENTRE = {final[1]}")
    write_report(out, report)
    return 0
