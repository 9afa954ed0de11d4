"""Freshness: a later statement that updates an earlier one outranks it.

"My favourite colour is red." and, weeks later, "my favourite colour is now
blue" say the same kind of thing about the same subject; asked "What is my
favourite colour?", the later one is the answer.  Among one recall's
candidates, two traces by the same speaker whose contents are close (cosine
above :data:`UPDATE_SIMILARITY`) form an update pair, the later one updating
the earlier.  A trace's value is how strongly it updates an earlier one minus
how strongly a later one updates it, each the pair's cosine rescaled from the
threshold to 1.  It is a mechanism over similarity and time only: no words.

Only updates made by the moment the query asks about count: ``at=`` earlier
than an update, or a time window in the query that ends before it, leaves
that update out; a query asking about the past ("used to", "previously")
turns the pathway off.
"""

from __future__ import annotations

import numpy as np

from ..keysets import unique
from ..pool import Pool
from ..timeexpr import past_directed, reference_time
from .registry import Context, Query

#: Content cosine above which two traces by one speaker count as saying the
#: same kind of thing about the same subject.  Set for sentence embedders
#: (MiniLM-class): paraphrases and updates of one fact sit above it, two
#: facts about different things of one person below.
UPDATE_SIMILARITY = 0.6


#: Rows of the pairwise comparison done at once: memory stays linear in the pool.
_CHUNK = 512


def _gram(vectors: np.ndarray) -> np.ndarray:
    """Every pairwise cosine of one speaker's rows.  ``x @ x.T`` of one array
    is a symmetric rank-k update (BLAS ``syrk``): half the multiplications of
    a general product, and each pair's cosine the same both ways round.  Its
    rounding differs from the general product's in the last float32 bit."""
    return vectors @ vectors.T


def _greatest_later(sims: np.ndarray, later: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Each row's and each column's greatest cosine over the pairs ``later``
    marks, or a value whose strength is 0 where it marks none.

    With a threshold of 0 or more, ``sims * later`` puts a 0 where -inf
    was (``np.where``): it makes no update either, the same strength, and
    the product is a cheaper pass than the selection.  A non-finite cosine
    (a corrupt vector) can make the product NaN where the selection has
    none, so then the selection is made after all."""
    if threshold >= 0.0:
        with np.errstate(invalid="ignore"):
            best = sims * later
        rows, cols = best.max(axis=1), best.max(axis=0)
        if not (np.isnan(rows).any() or np.isnan(cols).any()):
            return rows, cols
    best = np.where(later, sims, -np.inf)
    return best.max(axis=1), best.max(axis=0)


def update_extremes(pool: Pool, made: np.ndarray, threshold: float = UPDATE_SIMILARITY) -> tuple[np.ndarray, np.ndarray]:
    """For each trace, the strongest update it makes of an earlier trace and
    the strongest update a later trace makes of it, each in [0, 1].

    Trace j updates trace i when j is later (by time, then by position in one
    episode), by the same speaker, among the ``made`` traces (those said by
    the moment asked about), and their content cosine is above ``threshold``;
    the strength is the cosine rescaled from the threshold to 1.  Only pairs
    of one speaker can update each other, so the cosines are computed one
    speaker's rows at a time (the matrix product is most of the cost)."""
    n = len(pool)
    empty = [c for c, s in enumerate(pool.speaker.labels) if not s]  # "" is the same speaker as none
    speakers = np.where(np.isin(pool.speaker.codes, empty), -1, pool.speaker.codes)
    episodes = pool.episode.codes
    makes, updated = np.zeros(n), np.zeros(n)
    scale = max(1.0 - threshold, 1e-6)

    def strength(cosine: np.ndarray) -> np.ndarray:
        # non-decreasing, so the strongest update is the strength of the greatest cosine (-inf: none)
        return np.clip((cosine - threshold) / scale, 0.0, 1.0)

    ordered = np.sort(pool.times)  # without equal times, "later" is a comparison of times alone
    ties = bool((ordered[1:] == ordered[:-1]).any()) or int(np.isnan(ordered).sum()) > 1  # NaNs: one value to np.unique
    for code in unique(speakers):
        mine = np.flatnonzero(speakers == code)
        cols = mine[made[mine]]  # only what was said by the moment asked about updates
        if len(mine) < 2 or not len(cols):
            continue
        t, pos, ep, keep = pool.times[cols], pool.positions[cols], episodes[cols], made[mine]
        gram = _gram(pool.content[mine]) if len(mine) <= _CHUNK else None  # one chunk: every row at once
        for lo in range(0, len(mine), _CHUNK):
            rows = mine[lo:lo + _CHUNK]
            tr, pr, er = pool.times[rows, None], pool.positions[rows, None], episodes[rows, None]
            later = t[None, :] > tr
            if ties:
                later |= (t[None, :] == tr) & (ep[None, :] == er) & (pos[None, :] > pr)
            # [rows, cols]: row i earlier, column j later
            if gram is None:
                sims = pool.content[rows] @ pool.content[cols].T
            else:
                sims = gram if len(cols) == len(mine) else gram[:, keep]
            by_row, by_col = _greatest_later(sims, later, threshold)
            updated[rows] = strength(by_row)
            makes[cols] = np.maximum(makes[cols], strength(by_col))  # a speaker's columns are distinct
    return makes, updated


def freshness(pool: Pool, query: Query, ctx: Context) -> np.ndarray | None:
    if query.text and past_directed(query.text):
        return None
    made = pool.times <= reference_time(query.text, query.now)  # updates made by the moment asked about
    makes, updated = update_extremes(pool, made)
    return makes - updated
