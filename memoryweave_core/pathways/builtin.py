"""The built-in recall pathways, each declared once.

Default weights are not hand-set: ``benchmarks/tune.py`` fits them on LoCoMo
and LongMemEval's turns together (coordinate ascent, weights in [0, 4],
scored by five-fold cross-validation across conversations and questions;
the README's benchmark section has the scores), and the values below are
what it prints: its fit on everything where that refit beats these weights
held out by a clear margin, else these weights unchanged (a flat optimum
does not churn them).  ``feedback`` and ``category`` came out at 0: on
that data they add nothing the other pathways lack, so they are off by
default and cost nothing.  ``activation`` is a
prior, not fitted: no dataset here recalls anything twice, so none can say
what use and recency are worth.  ``freshness`` is a prior too: LoCoMo holds
no updated facts, so its fit is 0 (a one-dimensional scan with the others
fixed, ``benchmarks/results/freshness_scan.json``); 0.5 is the smallest
grid step that lets a clear update outrank what it replaces, at a LoCoMo
cost the README reports.
"""

from __future__ import annotations

import numpy as np

from ..activation import activation_of
from ..lexical import lexical_evidence, query_weights
from ..pool import Pool
from ..timeexpr import parse_window, window_fit
from .freshness import freshness
from .registry import Context, Pathway, Query, register
from .scale import zscores

#: Decay of lexical evidence per step along an episode (spreading activation).
SPREAD_DECAY = 0.5
#: Weight of the top hits' centroid in the pseudo-relevance feedback query.
FEEDBACK_MIX = 0.5
FEEDBACK_DOCS = 5
#: The pathways that compare the query with the trace itself; their sum is
#: what ``episode`` and ``feedback`` build on.
DIRECT = ("semantic", "context", "lexical", "spread")


def semantic(pool: Pool, query: Query, ctx: Context) -> np.ndarray:
    return (pool.content @ query.topic).astype(np.float64)


def context(pool: Pool, query: Query, ctx: Context) -> np.ndarray:
    """The window centred on a trace is the context vector of the trace after it."""
    own = pool.context @ query.vector
    r = ctx.neighbour_radius
    after = ctx.neighbours[:, r + 1] if r else np.full(len(pool), -1)
    return np.where(after >= 0, own[after], own).astype(np.float64)


def lexical(pool: Pool, query: Query, ctx: Context) -> np.ndarray:
    if not ctx.terms:
        return np.zeros(len(pool))
    n, avg, df = ctx.lexical_stats()
    return lexical_evidence(pool.tokens, ctx.terms, query_weights(ctx.terms, n, df), avg, ctx.term_hits())


def spread(pool: Pool, query: Query, ctx: Context) -> np.ndarray:
    """Lexical evidence spreading along the episode: each trace receives its
    neighbours' BM25, halved per step.  The answer to a question often
    shares no word with it; the question just before it does.  (Dense
    evidence already has its window: the context vector.)"""
    lex = ctx.array("lexical")
    out = np.zeros(len(lex))
    if not lex.any():
        return out
    r, nb = ctx.neighbour_radius, ctx.neighbours
    for d in range(-r, r + 1):
        if d:
            j = nb[:, r + d]
            has = j >= 0
            out[has] += SPREAD_DECAY ** (abs(d) - 1) * lex[j[has]]
    return out


def direct(ctx: Context) -> np.ndarray:
    """The sum of the z-scored direct matches (whatever their weights)."""

    def make() -> np.ndarray:
        first, *rest = zscores([ctx.array(name) for name in DIRECT])
        out = first
        for z in rest:
            out = out + z
        return out

    return ctx.shared("direct", make)


def episode(pool: Pool, query: Query, ctx: Context) -> np.ndarray:
    """Mean of the three best direct matches in each trace's episode: a
    conversation that is about the question lifts all of its turns."""
    codes, strength = ctx.episodes, direct(ctx)
    order = np.lexsort((-strength, codes))  # by episode, best first
    rank = np.arange(len(order)) - np.searchsorted(codes[order], codes[order])
    top = order[rank < 3]
    sums = np.bincount(codes[top], weights=strength[top])
    counts = np.bincount(codes[top])
    return (sums / counts)[codes]


def speaker(pool: Pool, query: Query, ctx: Context) -> np.ndarray:
    named = ctx.named_speakers()
    hit = np.array([1.0 if s.lower() in named else 0.0 for s in pool.speaker.labels] + [1.0 if "" in named else 0.0])
    return hit[pool.speaker.codes]  # code -1 (no speaker) reads the entry at the end


def feedback(pool: Pool, query: Query, ctx: Context) -> np.ndarray:
    """Pseudo-relevance feedback: the topic moved toward the best direct matches."""
    top = np.argsort(-direct(ctx), kind="stable")[:FEEDBACK_DOCS]
    fb = query.topic + FEEDBACK_MIX * pool.content[top].mean(axis=0)
    return (pool.content @ (fb / max(float(np.linalg.norm(fb)), 1e-12))).astype(np.float64)


def activation(pool: Pool, query: Query, ctx: Context) -> np.ndarray:
    return activation_of(pool.first_access, pool.access_count, pool.recent_access, query.now, ctx.decay)


def temporal(pool: Pool, query: Query, ctx: Context) -> np.ndarray | None:
    window = parse_window(query.text, query.now) if query.text else None
    return None if window is None else window_fit(pool.times, window)


def category(pool: Pool, query: Query, ctx: Context) -> np.ndarray | None:
    protos = ctx.prototypes
    if protos is None or not len(protos):
        return None
    match = np.append(protos @ query.vector, 0.0)  # category -1 (none) reads the 0 at the end
    cats = pool.categories
    return match[np.where((cats >= 0) & (cats < len(protos)), cats, -1)].astype(np.float64)


for _pathway in (
    Pathway("semantic", "zscore", 0.75, "cosine of the query's topic (the query without speaker names) with the trace", semantic),
    Pathway("context", "zscore", 0.5, "cosine of the query with the window of turns centred on the trace", context,
            surrounding=True),
    Pathway("lexical", "zscore", 0.5, "BM25 word overlap, plus proximity of the query's words (BM25TP)", lexical),
    Pathway("spread", "zscore", 0.25, "BM25 evidence spreading from the trace's episode neighbours", spread),
    Pathway("episode", "zscore", 0.75, "how well the trace's whole episode matches", episode, surrounding=True),
    Pathway("speaker", "raw", 4.0, "the query names the trace's speaker", speaker),
    Pathway("feedback", "zscore", 0.0, "cosine with the query moved toward its best first-round matches", feedback),
    Pathway("activation", "centred", 0.25, "ACT-R base level: recency and frequency of use", activation, matching=False),
    Pathway("temporal", "centred", 3.75, "fit of the trace's time to a time expression in the query", temporal, matching=False),
    Pathway("category", "zscore", 0.0, "resonance of the query with the trace's ART category", category),
    Pathway("freshness", "centred", 0.5, "updates an earlier statement of the same speaker (+), or a later one updates it (-)", freshness, matching=False),
):
    register(_pathway)
