"""The plain per-text lexical scorer that recall used before token ids.

Kept as the reference the array scorer (:mod:`memoryweave_core.lexscore`)
must equal on random pools: each text is a list of token strings, scored
in Python loops as the definitions read.
"""

from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Sequence

import numpy as np

from memoryweave_core.bm25 import K1, PROXIMITY_WINDOW, B, bm25_term, idf


def proximity(terms: Sequence[str], docs: Sequence[Sequence[str]], pool: int | None = None,
              window: int = PROXIMITY_WINDOW, k1: float = K1, b: float = B) -> np.ndarray:
    """``lexical.proximity`` as it was before token ids: one document at a time."""
    wanted = set(terms)
    if len(wanted) < 2 or not docs:
        return np.zeros(len(docs))
    hits = _hits(docs, wanted)
    return _proximity([hits.get(i, []) for i in range(len(docs))], [len(d) for d in docs], pool, window, k1, b)


def _hits(docs: Sequence[Sequence[str]], words) -> dict[int, list[tuple[int, str]]]:
    """The documents that hold one of ``words`` (a set or dict keys): for
    each, its ``(position, word)`` of those words.  One pass over the tokens."""
    return {i: [(p, w) for p, w in enumerate(doc) if w in words] for i, doc in enumerate(docs) if not words.isdisjoint(doc)}


def _proximity(hits: Sequence[list[tuple[int, str]]], lengths: Sequence[int], pool: int | None = None,
               window: int = PROXIMITY_WINDOW, k1: float = K1, b: float = B) -> np.ndarray:
    """:func:`proximity` of documents given as their query-word hits
    ``(position, word)`` and their lengths."""
    out = np.zeros(len(hits))
    lens = np.asarray(lengths, np.float64)
    avg = max(float(lens.mean()), 1.0) if len(lens) else 1.0
    words = [{w for _, w in hits_of_doc} for hits_of_doc in hits]
    df = Counter(chain.from_iterable(words))
    pairs: list[dict[tuple[str, str], float]] = []
    for hits_of_doc, distinct in zip(hits, words, strict=True):
        near: dict[tuple[str, str], float] = {}
        pairs.append(near)
        if len(distinct) < 2:
            continue
        # Positions are distinct, so each hit meets at most `window` later ones:
        # linear in the document's length, whatever the query or the repetition.
        for x, (i, a) in enumerate(hits_of_doc):
            for j, c in hits_of_doc[x + 1 : x + 1 + window]:
                if j - i > window:
                    break
                if c != a:
                    pair = (a, c) if a < c else (c, a)
                    near[pair] = near.get(pair, 0.0) + 1.0 / (j - i) ** 2
    n = max(pool or 0, len(hits))
    weight = {w: idf(n, d) for w, d in df.items()}
    for j, near in enumerate(pairs):
        if not near:
            continue
        norm = k1 * (1.0 - b + b * lens[j] / avg)
        for (a, c), acc in near.items():
            out[j] += min(weight[a], weight[c]) * (k1 + 1) * acc / (norm + acc)
    return out


def bm25_scores(docs: Sequence[Sequence[str]], weights: dict[str, float], avg_len: float,
                k1: float = K1, b: float = B) -> np.ndarray:
    """BM25 of a few documents given as their tokens (a recall's candidates),
    term by term in query order: equal to the posting-list scores of
    :meth:`BM25Index.search` for the same documents."""
    return _bm25(_hits(docs, weights.keys()), [len(d) for d in docs], weights, avg_len, k1, b)


def _bm25(hits: dict[int, list[tuple[int, str]]], lengths: Sequence[int], weights: dict[str, float], avg_len: float,
          k1: float = K1, b: float = B) -> np.ndarray:
    """:func:`bm25_scores` of documents given as their query-word hits
    ``{document: [(position, word)]}`` (words outside ``weights`` ignored) and their lengths."""
    out = np.zeros(len(lengths))
    if not len(lengths) or not weights:
        return out
    column = {t: j for j, t in enumerate(weights)}
    rows = [i for i, found in hits.items() for _, w in found if w in column]
    cols = [column[w] for found in hits.values() for _, w in found if w in column]
    tf = np.zeros((len(lengths), len(column)))
    np.add.at(tf, (rows, cols), 1.0)
    lens = np.asarray(lengths, np.float64)
    for j, w in enumerate(weights.values()):
        out += np.where(tf[:, j] > 0, bm25_term(tf[:, j], lens, avg_len, w, k1, b), 0.0)
    return out


def lexical_evidence(docs: Sequence[Sequence[str]], terms: Sequence[str], weights: dict[str, float], avg_len: float) -> np.ndarray:
    """The lexical pathway's raw score of a recall's candidates (``docs``:
    their tokens in order): BM25 plus :func:`proximity` for those that hold a
    query word.  Computed here, once, from what every store hands over, so
    every backend scores alike."""
    wanted = set(terms)
    hits = _hits(docs, wanted)  # found once, for BM25 and proximity
    scores = _bm25(hits, [len(d) for d in docs], weights, avg_len)
    if len(wanted) > 1:
        scored = [i for i in hits if scores[i] > 0]
        scores[scored] += _proximity([hits[i] for i in scored], [len(docs[i]) for i in scored], pool=len(docs))
    return scores
