"""Set operations on int64 key arrays, by sorting.

numpy 2.4's ``np.unique`` (and ``np.setdiff1d``, which calls it) hashes its
input, and on the key arrays of a large index (row keys, mostly
consecutive) that is orders of magnitude slower than a sort: loading a
million-row graph spent most of its time there.  On the few hundred codes
of one recall's pool the hash table's setup is most of the cost, and a
recall called it a dozen times.  These give the same answers as the numpy
functions, sorted, through a sort alone.
"""

from __future__ import annotations

import numpy as np


def unique(keys: np.ndarray) -> np.ndarray:
    """The distinct keys, sorted (``np.unique`` without its hash table)."""
    keys = np.sort(np.asarray(keys, dtype=np.int64).reshape(-1))
    if len(keys) < 2:
        return keys
    keep = np.empty(len(keys), dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The distinct keys of ``a`` not in ``b``, sorted (``np.setdiff1d``)."""
    a = unique(a)
    return a[~np.isin(a, unique(b), assume_unique=True)]


def unique_first(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct keys, sorted, the index of each one's first occurrence,
    and each key's place among them (``np.unique`` with ``return_index``
    and ``return_inverse``): a stable sort keeps equal keys in order."""
    keys = np.asarray(keys, dtype=np.int64).reshape(-1)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    keep = np.empty(len(keys), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(keep) - 1
    return ordered[keep], order[keep], inverse
