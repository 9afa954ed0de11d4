"""Coverage: which of the query's content words each candidate holds.

Relevance and the answerable gate both ask "does this text speak of what
the query asks about?" in the same terms: the share of the query's
content-word IDF mass (speaker names left out: the speaker pathway handles
who) that a text holds.  A rare word weighs more than a common one, and a
word the memory never saw weighs most.  One answer often spans turns ("Did
you go?" / "Yes, to the pottery class"), so coverage is also measured over
a trace's *window*: the trace and the candidates within :data:`WINDOW`
positions of it in the same episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Positions each side of a trace that its window covers (the default neighbour radius).
WINDOW = 2


@dataclass(frozen=True)
class Terms:
    """The query's content words as relevance and the gate see them, for every candidate row.

    ``weight`` is each distinct word's IDF in the memory (a word never seen
    gets the highest), ``known`` whether the memory holds it anywhere,
    ``hits[i, j]`` whether candidate ``i`` contains word ``j``, ``near[i, j]``
    whether candidate ``i`` or a candidate in its window does (``None``:
    the same as ``hits``).
    """

    weight: np.ndarray
    known: np.ndarray
    hits: np.ndarray
    near: np.ndarray | None = None

    @classmethod
    def empty(cls, n: int) -> "Terms":
        return cls(np.zeros(0), np.zeros(0, bool), np.zeros((n, 0), bool))

    def shares(self) -> np.ndarray | None:
        """Each word's share of the query's IDF mass (``None``: no content word)."""
        total = float(self.weight.sum())
        return self.weight / total if total > 0 else None

    def coverage(self) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate: the share of the query's IDF mass it holds, and its
        window holds (1.0 for a query without content words: nothing to hold
        against it)."""
        w = self.shares()
        if w is None:
            n = len(self.hits)
            return np.ones(n), np.ones(n)
        near = self.hits if self.near is None else self.near
        return self.hits.astype(np.float64) @ w, near.astype(np.float64) @ w


def window_hits(hits: np.ndarray, episodes: np.ndarray, positions: np.ndarray,
                radius: int = WINDOW) -> np.ndarray:
    """``hits`` OR-ed over each row's window: the rows of the same episode
    within ``radius`` positions.  ``episodes`` holds each row's episode code
    (the pool's ``episode.codes``; -1, a row without an episode, is its own
    window), so no label is ever decoded.

    Rows are sorted by (episode, position) once; a row's window then lies
    within ``radius`` sorted places each side, so the loop is over offsets,
    never over candidates.
    """
    n = len(hits)
    if not n or not hits.shape[1] or radius <= 0:
        return hits.copy()
    codes = np.asarray(episodes, np.int64)
    codes = np.where(codes < 0, -1 - np.arange(n), codes)  # no episode: a code no other row has
    pos = np.asarray(positions, np.int64)
    order = np.lexsort((pos, codes))
    c, p, h = codes[order], pos[order], hits[order]
    out = h.copy()
    for d in range(1, radius + 1):
        same = (c[d:] == c[:-d]) & (np.abs(p[d:] - p[:-d]) <= radius)
        out[d:] |= h[:-d] & same[:, None]
        out[:-d] |= h[d:] & same[:, None]
    result = np.empty_like(out)
    result[order] = out
    return result
