"""Set operations on large int64 key arrays, by sorting.

numpy 2.4's ``np.unique`` (and ``np.setdiff1d``, which calls it) hashes its
input, and on the key arrays of a large index (row keys, mostly
consecutive) that is orders of magnitude slower than a sort: loading a
million-row graph spent most of its time there.  These give the same
answers as the numpy functions, sorted, through ``np.sort`` alone.
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
