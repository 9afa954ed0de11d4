"""Exact nearest-neighbour search over a growable matrix of unit vectors.

Rows are appended into a buffer that doubles when full, so adds are
amortised O(1) and never copy the whole matrix per add.  Search is one
matrix-vector product in numpy (BLAS); larger
stores switch to an approximate index (see ``ann``) behind the same methods.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

#: How far from 1 a stored vector's norm may be and still count as one a store wrote (it
#: normalises every vector it indexes).
UNIT_TOLERANCE = 1e-3


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Which rows are finite and unit-length: what a store wrote, unlike a row deleted
    between two reads (zeros) or a damaged one, which are never indexed."""
    with np.errstate(all="ignore"):
        return np.isfinite(vectors).all(axis=1) & (np.abs(np.linalg.norm(vectors, axis=1) - 1.0) < UNIT_TOLERANCE)


def damaged_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows of a matrix of stored unit vectors that are grossly damaged (not
    finite, or a squared norm off by more than ``UNIT_TOLERANCE`` times the
    row count), none in the usual case.  A store checks every vector it
    writes, so one dot product of the whole matrix with itself settles it:
    the rows are looked at one by one only when that sum is off.  A vector
    that is finite but huge would otherwise overflow the pathways' products
    and outrank every trace it meets."""
    n = len(vectors)
    flat = vectors.reshape(-1)
    with np.errstate(all="ignore"):
        total = float(np.dot(flat, flat))
    if abs(total - n) <= UNIT_TOLERANCE * n:
        return np.zeros(0, np.int64)
    return np.flatnonzero(~unit_rows(vectors))


@runtime_checkable
class VectorIndex(Protocol):
    """What every vector index offers (``ExactIndex``, ``ann.HNSWIndex``,
    ``ann.AutoIndex``), so a store can hold any of them: integer keys in,
    ``(keys, cosine similarities)`` out, best first."""

    def __len__(self) -> int: ...

    def add(self, keys: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Insert (or replace) the rows of ``keys`` with these vectors."""

    def remove(self, keys: Sequence[int] | np.ndarray) -> None:
        """Forget these keys; a removed key is never returned again."""

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` nearest keys (int64) and their similarities (float32)."""


def as_batch(keys: Sequence[int] | np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys as int64[n] and vectors as float32[n, dim]: the form every index
    stores (no keys: no vectors, whatever was passed for them)."""
    keys = np.asarray(keys, dtype=np.int64).reshape(-1)
    if not len(keys):
        return keys, np.zeros((0, dim), dtype=np.float32)
    return keys, np.asarray(vectors, dtype=np.float32).reshape(len(keys), dim)


class ExactIndex:
    """Cosine (dot product of unit vectors) search keyed by integer keys."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        # rows past self._n are never read
        self._vecs = np.zeros((capacity, dim), dtype=np.float32)
        self._keys = np.zeros(capacity, dtype=np.int64)
        self._alive = np.zeros(capacity, dtype=bool)
        self._pos: dict[int, int] = {}
        self._n = 0

    def __len__(self) -> int:
        return len(self._pos)

    def _grow(self, needed: int) -> None:
        cap = len(self._vecs)
        if needed <= cap:
            return
        while cap < needed:
            cap *= 2
        for name in ("_vecs", "_keys", "_alive"):
            old = getattr(self, name)
            # zeros, not full(): calloc'd pages are zeroed by the OS as rows first land in them,
            # instead of a write of the whole new buffer now
            new = np.zeros((cap,) + old.shape[1:], dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def add(self, keys: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        keys, vectors = as_batch(keys, vectors, self.dim)
        self.remove(keys)  # re-adding a key replaces its vector: O(batch), whatever the size
        self._grow(self._n + len(keys))
        rows = np.arange(self._n, self._n + len(keys))
        self._vecs[rows] = vectors
        self._keys[rows] = keys
        self._alive[rows] = True
        self._pos.update(zip(keys.tolist(), rows.tolist()))
        self._n += len(keys)

    def remove(self, keys: Sequence[int] | np.ndarray) -> None:
        for key in np.asarray(keys, dtype=np.int64).reshape(-1).tolist():
            row = self._pos.pop(key, None)
            if row is not None:
                self._alive[row] = False
        if len(self._pos) * 2 < self._n and self._n > 1024:
            self._compact()  # dead rows would still cost search time

    def _compact(self) -> None:
        live = np.flatnonzero(self._alive[: self._n])
        n = len(live)
        self._vecs[:n] = self._vecs[live]
        self._keys[:n] = self._keys[live]
        self._alive[:n] = True
        self._alive[n : self._n] = False
        self._n = n
        self._pos = dict(zip(self._keys[:n].tolist(), range(n)))
        cap = len(self._vecs)
        if cap > 4096 and n * 4 < cap:  # give memory back after mass removals
            cap = max(1024, 2 * n)
            self._vecs, self._keys, self._alive = self._vecs[:cap].copy(), self._keys[:cap].copy(), self._alive[:cap].copy()

    def items(self, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Keys and vectors of the live rows in insertion order (the oldest ``limit`` only, if given)."""
        live = np.flatnonzero(self._alive[: self._n])[:limit]
        return self._keys[live], self._vecs[live]

    def get(self, keys: Sequence[int] | np.ndarray) -> np.ndarray:
        rows = [self._pos[int(k)] for k in np.asarray(keys).reshape(-1)]
        return self._vecs[rows]

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys and cosines of the ``n`` nearest live rows, best first."""
        if not self._pos or n <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        sims = self._vecs[: self._n] @ np.asarray(query, dtype=np.float32)
        sims[~self._alive[: self._n]] = -np.inf
        n = min(n, len(self._pos))
        top = np.argpartition(-sims, n - 1)[:n] if n < self._n else np.arange(self._n)
        top = top[np.argsort(-sims[top], kind="stable")][:n]
        top = top[np.isfinite(sims[top])]
        return self._keys[top], sims[top]
