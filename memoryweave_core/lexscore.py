"""BM25 and term proximity of a whole candidate pool at once, over token ids.

Recall scores a few hundred candidates per query.  Their tokens arrive as
:class:`~memoryweave_core.vocab.TokenRows` (CSR arrays), so finding the
query words is one ``searchsorted`` over every token of the pool, and BM25
and proximity are bincounts and gathers over those hits: the loops below run
over query words or over a window's offsets, never over candidates.  Sums
are taken in the order the per-text definition takes them (term by term in
query order; a pair's near occurrences left to right; a text's pairs in the
order they first occur), so the scores equal that definition's exactly
(``tests/test_lexscore.py`` checks them against a plain implementation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .bm25 import K1, PROXIMITY_WINDOW, B, bm25_term, idf
from .keysets import unique, unique_first
from .vocab import TokenRows


@dataclass(frozen=True)
class Hits:
    """Every occurrence of a query word in a pool, in text order: its row,
    its position in the row and its column (the word's index among the
    query's distinct words)."""

    row: np.ndarray
    pos: np.ndarray
    col: np.ndarray
    columns: int  # how many distinct query words


#: Up to this many query words, :func:`find` compares every token with each
#: word in turn; past it, it binary-searches the sorted words.
FEW_WORDS = 32


def find(rows: TokenRows, words: Sequence[str]) -> Hits:
    """The occurrences in ``rows`` of the distinct ``words`` (column ``j``: ``words[j]``).

    For a query's few words, one equality pass per word over the pool's
    tokens: a binary search per token branches unpredictably, and cost
    several times as much on a recall's few thousand tokens."""
    qids = rows.vocab.lookup(words)
    if len(qids) <= FEW_WORDS:
        tokens = rows.ids
        held = np.zeros(len(tokens), bool)
        for qid in qids.tolist():
            held |= tokens == qid  # an unknown word (-1) matches no token
        flat = np.flatnonzero(held)
        col = (tokens[flat][None, :] == qids[:, None]).argmax(axis=0).astype(np.int64) if len(qids) else flat
        row = np.searchsorted(rows.offsets, flat, side="right") - 1
        return Hits(row, flat - rows.offsets[row], col, len(words))
    order = np.argsort(qids, kind="stable")
    sorted_ids = qids[order]
    at = np.searchsorted(sorted_ids, rows.ids)
    at_c = np.minimum(at, max(len(sorted_ids) - 1, 0))
    match = (at < len(sorted_ids)) & (sorted_ids[at_c] == rows.ids) if len(sorted_ids) else np.zeros(len(rows.ids), bool)
    flat = np.flatnonzero(match)
    row = np.searchsorted(rows.offsets, flat, side="right") - 1
    return Hits(row, flat - rows.offsets[row], order[at_c[flat]].astype(np.int64), len(words))


def bm25(hits: Hits, lengths: np.ndarray, weights: Sequence[float | None], avg_len: float,
         k1: float = K1, b: float = B) -> np.ndarray:
    """BM25 of each row: the sum over columns, in column order, of
    :func:`~memoryweave_core.bm25.bm25_term` with ``weights[j]`` (None: the
    word does not count)."""
    n = len(lengths)
    out = np.zeros(n)
    if not n or all(w is None for w in weights):
        return out
    q = hits.columns
    tf = np.bincount(hits.row * q + hits.col, minlength=n * q).reshape(n, q).astype(np.float64)
    lens = lengths.astype(np.float64)
    for j, w in enumerate(weights):
        if w is not None:  # only the rows that hold the word: the others add nothing
            at = np.flatnonzero(tf[:, j])
            out[at] += bm25_term(tf[at, j], lens[at], avg_len, w, k1, b)
    return out


def proximity(hits: Hits, lengths: np.ndarray, scored: np.ndarray, pool: int,
              window: int = PROXIMITY_WINDOW, k1: float = K1, b: float = B) -> np.ndarray:
    """BM25TP term proximity (:func:`memoryweave_core.lexical.proximity`
    says what it measures) of the rows where ``scored`` (a boolean mask) is
    set, 0 elsewhere.  Document frequencies and the average length are those
    of the scored rows; idf counts ``max(pool, scored rows)`` documents."""
    n, q = len(lengths), hits.columns
    out = np.zeros(n)
    keep = scored[hits.row]
    row, pos, col = hits.row[keep], hits.pos[keep], hits.col[keep]
    if q < 2 or len(row) < 2:
        return out
    lens = lengths.astype(np.float64)
    chosen = lens[scored]
    avg = max(float(np.add.reduce(chosen) / len(chosen)), 1.0) if len(chosen) else 1.0  # mean(), without its wrapper
    present = unique(row * q + col)
    df = np.bincount(present % q, minlength=q)
    total = max(pool, int(scored.sum()))
    weight = np.array([idf(total, int(d)) if d else 0.0 for d in df.tolist()])
    # Pair each hit with the next `window` hits: in one row and at most `window` words on, a pair.
    h = len(row)
    each = np.arange(h)
    first = np.repeat(each, window)
    second = (each[:, None] + np.arange(1, window + 1)).ravel()
    second_c = np.minimum(second, h - 1)
    dist = pos[second_c] - pos[first]
    ok = (second < h) & (row[second_c] == row[first]) & (dist <= window) & (col[second_c] != col[first])
    first, second, dist = first[ok], second[ok], dist[ok]
    if not len(first):
        return out
    lo, hi = np.minimum(col[first], col[second]), np.maximum(col[first], col[second])
    key = row[first] * (q * q) + lo * q + hi
    uniq, at_first, inverse = unique_first(key)
    acc = np.zeros(len(uniq))
    np.add.at(acc, inverse, 1.0 / dist.astype(np.float64) ** 2)  # left to right, per pair
    order = np.argsort(at_first, kind="stable")  # each row's pairs in the order they first occur
    uniq, acc = uniq[order], acc[order]
    pair_row, a, c = uniq // (q * q), (uniq // q) % q, uniq % q
    norm = k1 * (1.0 - b + b * lens[pair_row] / avg)
    np.add.at(out, pair_row, np.minimum(weight[a], weight[c]) * (k1 + 1) * acc / (norm + acc))
    return out


def select(hits: Hits, keep: Sequence[int]) -> Hits:
    """The hits of columns ``keep`` only, renumbered in that order: what
    :func:`find` gives for those of its words (in text order, as it does)."""
    remap = np.full(hits.columns, -1, np.int64)
    remap[np.asarray(keep, np.int64)] = np.arange(len(keep))
    col = remap[hits.col]
    ok = col >= 0
    return Hits(hits.row[ok], hits.pos[ok], col[ok], len(keep))


def evidence(rows: TokenRows, terms: Sequence[str], weights: dict[str, float], avg_len: float,
             hits: Hits | None = None) -> np.ndarray:
    """The lexical pathway's raw score of a pool: BM25 (``weights``: each
    query word's, as :func:`~memoryweave_core.bm25.query_weights` gives
    them) plus proximity for the rows that BM25 scores above 0.  ``hits``:
    ``find(rows, distinct terms)`` if the caller has it already."""
    words = list(dict.fromkeys(terms))
    hits = find(rows, words) if hits is None else hits
    lengths = rows.lengths
    scores = bm25(hits, lengths, _columns(words, weights), avg_len)
    if len(words) > 1:
        scores += proximity(hits, lengths, scores > 0, pool=len(rows))
    return scores


def bm25_rows(rows: TokenRows, weights: dict[str, float], avg_len: float, k1: float = K1, b: float = B) -> np.ndarray:
    """BM25 alone of each row, term by term in the order of ``weights``."""
    words = list(weights)
    return bm25(find(rows, words), rows.lengths, _columns(words, weights), avg_len, k1, b)


def _columns(words: Sequence[str], weights: dict[str, float]) -> list[float | None]:
    """Each column's weight, in the order of ``weights`` (the order BM25 sums in)."""
    col = {w: j for j, w in enumerate(words)}
    out: list[float | None] = [None] * len(words)
    for w, x in weights.items():
        if w in col:
            out[col[w]] = x
    return out
