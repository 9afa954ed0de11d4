"""Retrieval metrics: pure functions of a ranked id list and a relevant id set.

* :func:`recall_at_k`: fraction of the relevant items found in the top ``k``
  (the LoCoMo evidence-recall metric, averaged over questions).
* :func:`ndcg_at_k`: binary-relevance NDCG with the standard
  ``1 / log2(rank + 1)`` discount.
* :func:`recall_any_at_k`, :func:`recall_all_at_k`, :func:`ndcg_any_at_k`: the
  LongMemEval retrieval metrics, computed exactly as its official
  ``eval_utils.py`` does (whose DCG gives ranks 1 and 2 the same weight).
* :func:`budget_recall`: evidence recall within a prompt budget of tokens,
  filled in rank order until the first item that does not fit;
  :func:`first_fit` skips such an item and tries the next (what a prompt
  actually gains).
* :func:`ece`, :func:`brier`, :func:`abstention_curve`: how well relevance
  is calibrated, and what a relevance threshold keeps and drops.
"""

from __future__ import annotations

import math
from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np


def _top(ranked: Sequence[Hashable], k: int) -> list[Hashable]:
    if k < 0:
        raise ValueError("k must be >= 0")
    return list(ranked[:k])


def recall_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    rel = set(relevant)
    if not rel:
        return 0.0
    return len(rel.intersection(_top(ranked, k))) / len(rel)


def ndcg_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    rel = set(relevant)
    if not rel or k == 0:
        return 0.0
    seen: set[Hashable] = set()
    dcg = 0.0
    for i, item in enumerate(_top(ranked, k)):
        if item in rel and item not in seen:
            dcg += 1.0 / math.log2(i + 2)
        seen.add(item)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(rel))))
    return dcg / idcg


def recall_any_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    rel = set(relevant)
    return float(bool(rel.intersection(_top(ranked, k))))


def recall_all_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    rel = set(relevant)
    if not rel:
        return 0.0
    return float(rel.issubset(_top(ranked, k)))


def _official_dcg(relevances: Sequence[float], k: int) -> float:
    rels = list(relevances)[:k]
    if not rels:
        return 0.0
    return rels[0] + sum(r / math.log2(i + 1) for i, r in enumerate(rels[1:], start=1))


def ndcg_any_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int,
                  n_relevant_in_corpus: int | None = None) -> float:
    """LongMemEval's ``ndcg``: DCG = rel_1 + sum_{i>=2} rel_i / log2(i).

    The ideal ranking puts every relevant corpus item first; pass
    ``n_relevant_in_corpus`` when some relevant ids may be absent from the corpus
    (by default all of ``relevant`` is assumed present).
    """
    rel = set(relevant)
    n_rel = len(rel) if n_relevant_in_corpus is None else n_relevant_in_corpus
    ideal = _official_dcg([1.0] * min(n_rel, k), k)
    if ideal == 0:
        return 0.0
    actual = _official_dcg([1.0 if r in rel else 0.0 for r in _top(ranked, k)], k)
    return actual / ideal


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


def aggregate(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Average each metric over per-question rows (all rows share keys)."""
    if not rows:
        return {}
    return {key: mean(r[key] for r in rows) for key in rows[0]}


# ----------------------------------------------------------------------------- what reaches the prompt


def budget_recall(ranked: Sequence[Hashable], relevant: Iterable[Hashable], lengths: Mapping[Hashable, int],
                  budget: int) -> float:
    """Evidence recall within a prompt budget: the ranked items are taken in
    order while their lengths (``lengths[item]``, in tokens) still fit in
    ``budget``; the first that does not fit ends the prompt."""
    rel = set(relevant)
    if not rel:
        return 0.0
    used, found = 0, set()
    for item in ranked:
        used += lengths.get(item, 0)
        if used > budget:
            break
        if item in rel:
            found.add(item)
    return len(found) / len(rel)


def first_fit(ranked: Sequence[Hashable], lengths: Mapping[Hashable, int], budget: int) -> list[Hashable]:
    """The ranked items a prompt of ``budget`` tokens takes when it goes down
    the ranking and skips each item that no longer fits (a packing that any
    ranking can use, needing no scores)."""
    used, out = 0, []
    for item in ranked:
        cost = lengths.get(item, 0)
        if used + cost <= budget:
            used += cost
            out.append(item)
    return out


def whitespace_tokens(text: str) -> int:
    """The budget's unit: whitespace-separated words (a model's tokens are
    roughly 1.3 per English word)."""
    return len(text.split())


def ece(probs: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: equal-width bins over [0, 1], the mean
    |observed rate - mean probability| weighted by the bin's share."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, np.float64)
    if not len(p):
        return 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.sum() * abs(y[m].mean() - p[m].mean())
    return float(total / len(p))


def brier(probs: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, np.float64)
    return float(np.mean((p - y) ** 2)) if len(p) else 0.0


def abstention_curve(real: Sequence[tuple[np.ndarray, np.ndarray]], foreign: Sequence[np.ndarray],
                     thresholds: Sequence[float]) -> list[dict[str, float]]:
    """Threshold by threshold: the share of the top-k evidence kept (relevance
    at or above it), of the top-k non-evidence dropped, and of the foreign
    questions left with nothing.  ``real`` holds (relevance, is evidence) of
    each real question's top k, ``foreign`` the relevance of each foreign
    question's top k."""
    p = np.concatenate([a for a, _ in real]) if real else np.zeros(0)
    y = np.concatenate([b for _, b in real]).astype(bool) if real else np.zeros(0, bool)
    best = np.array([a.max() if len(a) else 0.0 for a in foreign])
    curve = []
    for t in thresholds:
        kept = p >= t
        curve.append({
            "threshold": float(t),
            "evidence_kept": float(kept[y].mean()) if y.any() else 0.0,
            "nonevidence_dropped": float((~kept[~y]).mean()) if (~y).any() else 0.0,
            "foreign_empty": float((best < t).mean()) if len(best) else 0.0,
        })
    return curve
