"""Candidate search under a recall filter: k matches come back whenever k exist.

A filter applied to the hits of an unfiltered search comes back short (or
empty) when the matches are a small share of the namespace, so the stores
that keep their own vector indexes (in memory, SQLite) search through these
helpers, given the sorted row keys that match the filter:

* few matches (at most :data:`EXACT_ROWS`): exact cosine over just those
  rows' vectors, which costs less than any graph walk;
* many: the ANN index over-fetched by the inverse of the matching share,
  keeping the hits that match, widened until ``n`` match, and exact over
  the matching rows when even the widest search is short.

BM25 scores only matching documents: each posting list is cut to the
matching keys before scoring (:func:`restrict_postings`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..lexical import Postings

#: Matching rows up to which a filtered vector search is exact.
EXACT_ROWS = 4096
#: How many times a filtered ANN search widens before it goes exact.
WIDENINGS = 3

Hits = tuple[np.ndarray, np.ndarray]  # keys (int64), similarities (float32), best first


def exact_top(keys: np.ndarray, vectors: np.ndarray, query: np.ndarray, n: int) -> Hits:
    """The ``n`` rows of ``vectors`` (unit rows, keyed by ``keys``) nearest
    ``query`` by dot product, best first, ties by position."""
    if not len(keys) or n <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    sims = vectors @ np.asarray(query, dtype=np.float32)
    n = min(n, len(keys))
    top = np.argpartition(-sims, n - 1)[:n] if n < len(keys) else np.arange(len(keys))
    top = top[np.argsort(-sims[top], kind="stable")]
    return np.asarray(keys, np.int64)[top], sims[top].astype(np.float32)


def nearest_within(allowed: np.ndarray, total: int, query: np.ndarray, n: int,
                   search: Callable[[np.ndarray, int], Hits], vectors_of: Callable[[np.ndarray], np.ndarray]) -> Hits:
    """The ``n`` nearest among the ``allowed`` keys (sorted) of a namespace of
    ``total`` rows: exact over few matches, else ``search(query, m)`` over the
    whole namespace with ``m`` grown until ``n`` hits match."""
    n = min(n, len(allowed))
    if n <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if len(allowed) <= EXACT_ROWS:
        return exact_top(allowed, vectors_of(allowed), query, n)
    m = max(2 * n, int(np.ceil(2 * n * total / len(allowed))))
    for _ in range(WIDENINGS):
        keys, sims = search(query, min(m, total))
        keep = _member(keys, allowed)
        if int(keep.sum()) >= n:
            return keys[keep][:n], sims[keep][:n]
        if m >= total:
            break
        m *= 4
    return exact_top(allowed, vectors_of(allowed), query, n)


def restrict_postings(postings: Callable[[str], Postings], allowed: np.ndarray) -> Callable[[str], Postings]:
    """``postings`` cut to the ``allowed`` keys (sorted), for :func:`~memoryweave_core.lexical.search_postings`."""

    def cut(term: str) -> Postings:
        keys, tfs, lengths = postings(term)
        keep = _member(keys, allowed)
        return keys[keep], tfs[keep], lengths[keep]

    return cut


def _member(keys: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Which ``keys`` are in the sorted array ``allowed``."""
    if not len(allowed):
        return np.zeros(len(keys), dtype=bool)
    at = np.searchsorted(allowed, keys)
    return allowed[np.minimum(at, len(allowed) - 1)] == keys
