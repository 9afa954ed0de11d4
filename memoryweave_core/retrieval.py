"""Recall as a three-step pipeline: candidates, features, fusion.

1. **Candidates.** The union of the nearest content vectors (for the query
   and for its *topic*: the query without the names in it), the nearest
   context vectors and the best BM25 matches; then their episodic
   neighbours.  Everything after this step touches candidates only, so a
   recall costs the same at ten thousand memories as at a million.
2. **Features**, one array per pathway over the candidates (see
   ``config.FEATURES``).
3. **Fusion.** Each feature is normalised across the candidates (z-score for
   similarities, centred for activation and temporal fit, left as 0/1 for the
   speaker match) and weighted; each weight times its normalised feature is
   that pathway's contribution, kept on the Recollection for ``explain()``.

:meth:`Retriever.features` exposes steps 1-2 so that ``benchmarks/tune.py``
fits the fusion weights on exactly the features recall uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .activation import activation_of
from .config import RecallConfig
from .lexical import lexical_evidence, query_weights, tokenize
from .pool import Pool
from .recollection import Recollection
from .relevance import DEFAULT_CALIBRATOR, signals
from .storage.base import Store
from .timeexpr import parse_window, window_fit

#: Features in meaningful units are only centred, not rescaled: activation is
#: in log-odds (ACT-R), temporal fit in [0, 1].  Rescaling them would blow
#: tiny differences (two traces a second apart) up to whole standard deviations.
CENTRED = ("activation", "temporal")
#: Features that are already an indicator (0 or 1) are used as they are.
RAW = ("speaker",)
#: Decay of lexical evidence per step along an episode (spreading activation).
SPREAD_DECAY = 0.5
#: Weight of the top hits' centroid in the pseudo-relevance feedback query.
FEEDBACK_MIX = 0.5
FEEDBACK_DOCS = 5


def zscore(x: np.ndarray) -> np.ndarray:
    """Standardise across candidates; a constant feature contributes nothing."""
    x = _finite(x)
    std = x.std()
    return (x - x.mean()) / std if std > 1e-12 else np.zeros_like(x)


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    if finite.all() or not len(x):
        return x
    return np.where(finite, x, x[finite].min() if finite.any() else 0.0)


def normalise(feature: str, x: np.ndarray) -> np.ndarray:
    if feature in RAW:
        return _finite(x)
    if feature in CENTRED:
        x = _finite(x)
        return x - x.mean()
    return zscore(x)


def fuse(raw: dict[str, np.ndarray], weights) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted sum of normalised features: (scores, contribution per feature)."""
    contributions = {f: weights[f] * normalise(f, v) for f, v in raw.items() if weights.get(f, 0.0)}
    n = len(next(iter(raw.values()))) if raw else 0
    score = np.sum(list(contributions.values()), axis=0) if contributions else np.zeros(n)
    return score, contributions


def strip_names(query: str, names) -> str:
    """The query's topic: the query without the names of known speakers.

    Names dominate the embedding of a short question, so "What did Caroline
    paint?" sits closer to every turn Caroline spoke than to the one about
    painting.  The semantic pathway compares the topic; the speaker pathway
    handles who (on LoCoMo the plain query's cosine added nothing on top:
    ``benchmarks/tune.py`` gave it weight 0 next to the topic's).
    """
    out = query
    for name in sorted(names, key=len, reverse=True):
        out = re.sub(r"\b" + re.escape(name) + r"(?:'s)?\b", " ", out, flags=re.IGNORECASE)
    return " ".join(out.split())


def names_in(query: str, names) -> set[str]:
    """Known speaker names that the query mentions (whole words, any case)."""
    words = set(re.findall(r"\w+", query.lower()))
    return {n for n in names if n and set(re.findall(r"\w+", n.lower())) <= words}


def _codes(labels: list) -> np.ndarray:
    """Small integers naming equal labels alike, in order of first appearance."""
    seen: dict = {}
    return np.fromiter((seen.setdefault(x, len(seen)) for x in labels), np.int64, len(labels))


@dataclass
class FeatureTable:
    """The candidates of one query (their ids) and the raw value of every enabled feature."""

    ids: list[str]
    raw: dict[str, np.ndarray]
    #: Share of the query's distinct words that no trace of the namespace contains.
    unseen: float = 0.0


@dataclass(frozen=True)
class Query:
    """One recall request, with the query's vectors already computed."""

    text: str
    vector: np.ndarray
    namespace: str
    now: float
    #: Embedding of the query without speaker names (None: same as ``vector``).
    topic_vector: np.ndarray | None = None
    #: Speaker names known in the namespace.
    names: frozenset[str] = frozenset()


class Retriever:
    """Ranks a namespace's traces for one query; stateless apart from its config."""

    def __init__(self, store: Store, config: RecallConfig) -> None:
        self.store = store
        self.config = config

    def recall(
        self, query: Query, k: int, *, prototypes: np.ndarray | None = None, explain: bool = False
    ) -> list[Recollection]:
        table = self.features(query, prototypes=prototypes)
        if not table.ids:
            return []
        score, contributions = fuse(table.raw, self.config.weights)
        # -- relevance hook: a probability comparable across queries (relevance.py)
        relevance = DEFAULT_CALIBRATOR.predict(signals(table.raw, score, table.unseen))
        order = np.argsort(-score, kind="stable")[:k].tolist()
        # Only the winners are read whole; one deleted meanwhile is left out.
        traces = {t.id: t for t in self.store.get([table.ids[i] for i in order], query.namespace)}
        return [
            Recollection(
                trace=traces[table.ids[i]],
                score=float(score[i]),
                features={f: float(c[i]) for f, c in contributions.items()},
                raw={f: float(v[i]) for f, v in table.raw.items() if f in contributions} if explain else {},
                relevance=float(relevance[i]),
            )
            for i in order
            if table.ids[i] in traces
        ]

    # -- steps 1 and 2 -----------------------------------------------------------
    def features(self, query: Query, *, prototypes: np.ndarray | None = None) -> FeatureTable:
        cfg = self.config
        ns, qv = query.namespace, query.vector
        tv = query.vector if query.topic_vector is None else query.topic_vector
        terms = tokenize(query.text) if query.text else []
        pool = self._pool(ns, qv, tv, terms)
        if not len(pool):
            return FeatureTable([], {})
        # equal codes for the rows of one episode; a row without an episode is alone in its own
        episodes = _codes([ep if ep is not None else (i,) for i, ep in enumerate(pool.episodes)])
        nb = self._neighbours(pool, episodes)

        semantic = pool.content @ tv
        lexical = np.zeros(len(pool))
        unseen = 0.0
        if terms:
            n, avg, df = self.store.lexical_stats(ns, terms)
            unseen = sum(1 for t in set(terms) if not df.get(t)) / len(set(terms))
            lexical = lexical_evidence(pool.tokens, terms, query_weights(terms, n, df), avg)
        # The window centred on a trace is the context of the trace after it.
        own = pool.context @ qv
        after = nb[:, cfg.neighbour_radius + 1] if cfg.neighbour_radius else np.full(len(pool), -1)
        context = np.where(after >= 0, own[after], own)
        spread = self._spread(lexical, nb)

        raw: dict[str, np.ndarray] = {
            "semantic": semantic.astype(np.float64),
            "context": context.astype(np.float64),
            "lexical": lexical,
            "spread": spread,
        }
        direct = zscore(raw["semantic"]) + zscore(raw["context"]) + zscore(raw["lexical"]) + zscore(spread)
        if cfg.enabled("episode"):
            raw["episode"] = self._episode_strength(episodes, direct)
        if cfg.enabled("speaker"):
            named = {n.lower() for n in names_in(query.text, query.names)}
            raw["speaker"] = np.array([1.0 if (s or "").lower() in named else 0.0 for s in pool.speakers])
        if cfg.enabled("feedback"):
            top = np.argsort(-direct, kind="stable")[:FEEDBACK_DOCS]
            fb = tv + FEEDBACK_MIX * pool.content[top].mean(axis=0)
            raw["feedback"] = (pool.content @ (fb / max(float(np.linalg.norm(fb)), 1e-12))).astype(np.float64)
        if cfg.enabled("activation"):
            raw["activation"] = activation_of(pool.first_access, pool.access_count, pool.recent_access, query.now, cfg.decay)
        if cfg.enabled("temporal"):
            window = parse_window(query.text, query.now) if query.text else None
            if window is not None:
                raw["temporal"] = window_fit(pool.times, window)
        if cfg.enabled("category") and prototypes is not None and len(prototypes):
            match = np.append(prototypes @ qv, 0.0)  # category -1 (none) reads the 0 at the end
            cats = pool.categories
            raw["category"] = match[np.where((cats >= 0) & (cats < len(prototypes)), cats, -1)].astype(np.float64)
        return FeatureTable(pool.ids, {f: v for f, v in raw.items() if cfg.enabled(f)}, unseen)

    def _pool(self, ns: str, qv: np.ndarray, tv: np.ndarray, terms: list[str]) -> Pool:
        """The first-round candidates of every pathway and (in the same store
        call) their episodic neighbours, ``neighbour_radius`` each side."""
        searches = [("content", qv), ("context", qv)] + ([("content", tv)] if tv is not qv else [])
        return self.store.candidates(ns, searches, terms, self.config.candidates, self.config.neighbour_radius)

    def _neighbours(self, pool: Pool, episodes: np.ndarray) -> np.ndarray:
        """``nb[i, r + d]``: the row of trace i's neighbour at offset d
        (-r..r) in its episode, or -1 where the pool has none."""
        r = self.config.neighbour_radius
        nb = np.full((len(pool), 2 * r + 1), -1, dtype=np.int64)
        placed = np.array([i for i, ep in enumerate(pool.episodes) if ep is not None], dtype=np.int64)
        if r and len(placed):
            # (episode, position) as one sortable integer; a neighbour is a binary search away
            codes = episodes[placed]
            pos = pool.positions[placed]
            slot = codes << 32 | pos
            order = np.argsort(slot, kind="stable")
            ranked, rows = slot[order], placed[order]
            for d in range(-r, r + 1):
                if d:
                    at = np.minimum(np.searchsorted(ranked, slot + d), len(ranked) - 1)
                    ok = (ranked[at] == slot + d) & (pos + d >= 0)
                    nb[placed[ok], r + d] = rows[at[ok]]
        return nb

    def _spread(self, lexical: np.ndarray, nb: np.ndarray) -> np.ndarray:
        """Lexical evidence spreading along the episode: each trace receives its
        neighbours' BM25, halved per step.  The answer to a question often
        shares no word with it; the question just before it does.  (Dense
        evidence already has its window: the context vector.)"""
        out = np.zeros(len(lexical))
        if not lexical.any():
            return out
        r = self.config.neighbour_radius
        for d in range(-r, r + 1):
            if d:
                j = nb[:, r + d]
                has = j >= 0
                out[has] += SPREAD_DECAY ** (abs(d) - 1) * lexical[j[has]]
        return out

    def _episode_strength(self, codes: np.ndarray, direct: np.ndarray) -> np.ndarray:
        """Mean of the three best direct matches in each trace's episode (rows
        of equal ``codes``): a conversation that is about the question lifts
        all of its turns."""
        order = np.lexsort((-direct, codes))  # by episode, best first
        rank = np.arange(len(order)) - np.searchsorted(codes[order], codes[order])
        top = order[rank < 3]
        sums = np.bincount(codes[top], weights=direct[top])
        counts = np.bincount(codes[top])
        return (sums / counts)[codes]
