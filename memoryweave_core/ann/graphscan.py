"""Exact search over the vectors inside an hnswlib graph file, without hnswlib.

While a namespace's graph is verified and loaded in the background (which
takes seconds at a million rows), its searches are answered from the file
itself.  The file is memory-mapped read-only, and the float32 vectors in
its level-0 records are scored in place: the records have a fixed stride,
so BLAS reads them as one strided matrix, with no copy.  What is read is
bounded by header fields that :func:`~.graphfile.layout` checked against
the file's length, and no link is followed.  A row counts only when its
label is one of the keys the caller allows and is on no other row, and a
row returned must have a finite, unit-length vector (hnswlib stores cosine
vectors normalised).  So a crafted file can at worst misrank the caller's
own rows (a vector damaged to score low is missed until the load fails its
check): it never surfaces another key, and never crashes the reader.  The
one exception is a file truncated in place while it is mapped, which makes
the kernel kill the reader (SIGBUS).  This store never does that: its
saves rename a new file over the old.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from ..vectors import UNIT_TOLERANCE
from .graphfile import HEADER, layout


class GraphScan:
    """The level-0 vectors and labels of one graph file, mapped read-only."""

    def __init__(self, buffer: mmap.mmap, dim: int, count: int, stride: int, vectors_at: int, labels_at: int) -> None:
        self.dim = dim
        self.count = count
        self._map = buffer
        self._vectors: np.ndarray | None = np.ndarray((count, dim), np.float32, buffer=buffer, offset=vectors_at,
                                                      strides=(stride, 4))
        self.labels = np.ndarray((count,), "<i8", buffer=buffer, offset=labels_at, strides=(stride,)).astype(np.int64)
        self._order: np.ndarray | None = None
        self._by_label: np.ndarray | None = None

    @classmethod
    def open(cls, path: str, dim: int) -> "GraphScan | None":
        """The file mapped, or None when it cannot be read or its header does not hold."""
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                head = layout(f.read(HEADER.size), dim, size)
                if head is None or not head.elements:
                    return None
                buffer = mmap.mmap(f.fileno(), head.level0_end, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
        return cls(buffer, dim, head.elements, head.size_element, head.vectors_at(0), HEADER.size + head.offset_label)

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """Row order by label, and the labels in that order (sorted once, when first needed)."""
        if self._order is None:
            self._order = np.argsort(self.labels, kind="stable")
            self._by_label = self.labels[self._order]
        assert self._by_label is not None
        return self._order, self._by_label

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Every row labelled with one of ``keys`` (a crafted file may repeat a label)."""
        order, by_label = self._sorted()
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        lo, hi = np.searchsorted(by_label, keys, "left"), np.searchsorted(by_label, keys, "right")
        if not len(keys) or (hi - lo).max() == 0:
            return np.zeros(0, np.int64)
        runs = hi - lo
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(runs)[:-1])), runs)
        return order[starts + np.arange(int(runs.sum()))]

    def rows(self, allowed: np.ndarray) -> np.ndarray:
        """Which rows are labelled with one of ``allowed`` (sorted, unique int64), as a mask.
        A label on more than one row (only a crafted file has one) makes none of its rows count."""
        if not len(allowed):
            return np.zeros(self.count, dtype=bool)
        pos = np.minimum(np.searchsorted(allowed, self.labels), len(allowed) - 1)
        order, by_label = self._sorted()
        repeated = np.flatnonzero(by_label[1:] == by_label[:-1])
        ok = allowed[pos] == self.labels
        ok[order[repeated]] = ok[order[repeated + 1]] = False
        return ok

    def search(self, query: np.ndarray, n: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels and cosines of the ``n`` best of ``rows`` (a mask), best first, and the
        rows found unsound on the way: a vector that is not finite and unit-length among
        those ``n``, or one that scores NaN anywhere.  When there are any, the answer is
        not to be used: drop them from ``rows`` and ask again.

        Checking the answer's rows, not every row up front, keeps a search one pass
        over the file.  The query is normalised as hnswlib normalises it, so the scores
        are the ones the loaded graph gives for the same rows."""
        vectors = self._require()
        empty = np.zeros(0, np.int64)
        n = min(n, int(rows.sum()))
        if n <= 0:
            return empty, np.zeros(0, np.float32), empty
        q = np.asarray(query, dtype=np.float32).reshape(self.dim)
        q = q / np.float32(np.linalg.norm(q) + 1e-30)
        with np.errstate(all="ignore"):
            sims = vectors @ q
        nan = np.flatnonzero(np.isnan(sims) & rows)
        if len(nan):
            return empty, np.zeros(0, np.float32), nan
        sims[~rows] = -np.inf
        top = np.argpartition(-sims, n - 1)[:n] if n < self.count else np.arange(self.count)
        top = top[np.argsort(-sims[top], kind="stable")][:n]
        top = top[np.isfinite(sims[top])]
        picked = vectors[top]
        with np.errstate(all="ignore"):
            norms = np.einsum("ij,ij->i", picked, picked)
        bad = top[~(np.abs(norms - 1.0) < 2 * UNIT_TOLERANCE)]  # squared norms: twice the tolerance
        return self.labels[top], sims[top], bad

    def _require(self) -> np.ndarray:
        if self._vectors is None:
            raise ValueError("the graph file's map is closed")
        return self._vectors

    def close(self) -> None:
        """Let the map go (it is unmapped once no view of it is left)."""
        self._vectors = None
