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

from ..pool import Pool
from ..timeexpr import past_directed, reference_time
from .registry import Context, Query

#: Content cosine above which two traces by one speaker count as saying the
#: same kind of thing about the same subject.  Set for sentence embedders
#: (MiniLM-class): paraphrases and updates of one fact sit above it, two
#: facts about different things of one person below.
UPDATE_SIMILARITY = 0.6


def update_strength(pool: Pool, threshold: float = UPDATE_SIMILARITY) -> np.ndarray:
    """``u[i, j]`` in [0, 1]: how strongly trace j updates trace i (0 unless j
    is later, by the same speaker, and close in content)."""
    n = len(pool)
    sims = pool.content @ pool.content.T
    speakers = np.unique(np.array([s or "" for s in pool.speakers], dtype=object), return_inverse=True)[1]
    same = speakers[:, None] == speakers[None, :]
    t = pool.times
    episodes = np.unique(np.array([str(e) for e in pool.episodes], dtype=object), return_inverse=True)[1]
    in_order = (episodes[:, None] == episodes[None, :]) & (pool.positions[None, :] > pool.positions[:, None])
    later = (t[None, :] > t[:, None]) | ((t[None, :] == t[:, None]) & in_order)
    strength = np.clip((sims - threshold) / max(1.0 - threshold, 1e-6), 0.0, 1.0)
    u = np.where(same & later, strength, 0.0)
    u[np.arange(n), np.arange(n)] = 0.0
    return u


def freshness(pool: Pool, query: Query, ctx: Context) -> np.ndarray | None:
    if query.text and past_directed(query.text):
        return None
    u = update_strength(pool)
    made = pool.times <= reference_time(query.text, query.now)  # updates made by the moment asked about
    u = u * made[None, :]
    if not u.any():
        return np.zeros(len(pool))
    return (u.max(axis=0) - u.max(axis=1)).astype(np.float64)
