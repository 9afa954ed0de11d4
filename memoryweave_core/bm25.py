"""The BM25 formula: its constants, idf, the per-term score and its SQL form.

The engine's one source of these: the in-memory index, the SQLite and
PostgreSQL searches and recall's scoring of its candidates all import them
from here, so every backend scores alike.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

#: Okapi BM25 saturation and length normalisation, shared by every backend.
K1, B = 1.2, 0.75

#: Query words at most this many words apart (stopwords removed) count as near each other.
PROXIMITY_WINDOW = 5


def idf(n: int, df: int) -> float:
    """BM25 inverse document frequency (the Lucene form, never negative)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def query_weights(terms: Sequence[str], n: int, df: dict[str, int]) -> dict[str, float]:
    """BM25 weight of each query word found in the collection: idf times its
    count in the query, in the order the words first appear."""
    return {t: idf(n, df[t]) * c for t, c in Counter(terms).items() if df.get(t)}


def bm25_term(tfs: np.ndarray, lengths: np.ndarray, avg_len: float, weight: float, k1: float = K1, b: float = B) -> np.ndarray:
    """One query term's BM25 contribution for many documents at once."""
    norm = k1 * (1.0 - b + b * lengths / max(avg_len, 1e-9))
    return weight * tfs * (k1 + 1) / (tfs + norm)


def bm25_sql(tf: str, length: str, avg_len: str, weight: str) -> str:
    """:func:`bm25_term` as an SQL expression over the given column or
    parameter names, for a backend that scores in its database.  ``avg_len``
    must already be floored at 1e-9, as :func:`bm25_term` floors it."""
    return f"{weight} * {tf} * {K1 + 1} / ({tf} + {K1} * (1 - {B} + {B} * {length} / {avg_len}))"
