"""Recall as a three-step pipeline: candidates, features, fusion.

1. **Candidates.** The union of the nearest content vectors, the nearest
   context vectors and the best BM25 matches, plus the episodic neighbours of
   the strongest of them.  Everything after this step touches candidates
   only, so a recall costs the same at ten thousand memories as at a million.
2. **Features**, one array per pathway over the candidates (see
   ``config.FEATURES``).  Similarity-like features are z-normalised across
   the candidates, so weights mean the same thing for every query and every
   embedder; activation and temporal fit are only centred (see ``CENTRED``).
3. **Fusion.** A weighted sum; each weight times its normalised feature is
   that pathway's contribution, kept on the Recollection for ``explain()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activation import base_levels
from .config import RecallConfig
from .lexical import tokenize
from .recollection import Recollection
from .storage.base import Store
from .timeexpr import parse_window, window_fit
from .trace import Trace

#: The pathways that score a candidate by itself; the rest derive from these.
DIRECT = ("semantic", "context", "lexical")


#: Features already in meaningful units are only centred, not rescaled:
#: activation is in log-odds (ACT-R), temporal fit in [0, 1].  Rescaling
#: them would blow tiny differences (two traces a second apart) up to whole
#: standard deviations.
CENTRED = ("activation", "temporal")


def normalise(feature: str, x: np.ndarray) -> np.ndarray:
    if feature in CENTRED:
        x = np.asarray(x, dtype=np.float64)
        finite = np.isfinite(x)
        if not finite.any():
            return np.zeros_like(x)
        x = np.where(finite, x, x[finite].min())
        return x - x.mean()
    return zscore(x)


def zscore(x: np.ndarray) -> np.ndarray:
    """Standardise across candidates; a constant feature contributes nothing."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    x = np.where(finite, x, x[finite].min())
    std = x.std()
    return (x - x.mean()) / std if std > 1e-12 else np.zeros_like(x)


@dataclass
class _Pool:
    """Candidates and their direct-match features, grown in two rounds."""

    traces: list[Trace]
    semantic: np.ndarray
    context: np.ndarray
    lexical: np.ndarray


class Retriever:
    """Ranks a namespace's traces for one query; stateless apart from its config."""

    def __init__(self, store: Store, config: RecallConfig) -> None:
        self.store = store
        self.config = config

    def recall(
        self,
        query: str,
        query_vector: np.ndarray,
        *,
        namespace: str,
        k: int,
        now: float,
        prototypes: np.ndarray | None = None,
        explain: bool = False,
    ) -> list[Recollection]:
        cfg = self.config
        terms = tokenize(query)
        pool = self._direct(self._first_candidates(namespace, query_vector, terms), query_vector, terms, namespace)
        if not pool.traces:
            return []
        base = self._base(pool)
        neighbours = self._neighbours(namespace, pool, base)
        if neighbours:
            more = self._direct(neighbours, query_vector, terms, namespace)
            pool = _Pool(
                pool.traces + more.traces,
                *(np.concatenate([getattr(pool, f), getattr(more, f)]) for f in DIRECT),
            )
            base = self._base(pool)

        raw: dict[str, np.ndarray] = {f: getattr(pool, f) for f in DIRECT if cfg.enabled(f)}
        if cfg.enabled("activation"):
            raw["activation"] = base_levels(self.store.access_logs([t.id for t in pool.traces]), now, cfg.decay)
        if cfg.enabled("temporal"):
            window = parse_window(query, now)
            if window is not None:
                raw["temporal"] = window_fit([t.time for t in pool.traces], window)
        if cfg.enabled("episode"):
            raw["episode"] = self._episode_strength(pool, base)
        if cfg.enabled("spread"):
            raw["spread"] = self._spread(pool, base)
        if cfg.enabled("category") and prototypes is not None and len(prototypes):
            raw["category"] = self._resonance(pool, query_vector, prototypes)

        contributions = {f: cfg.weights[f] * normalise(f, v) for f, v in raw.items()}
        score = np.sum(list(contributions.values()), axis=0)
        order = np.argsort(-score, kind="stable")[:k]
        return [
            Recollection(
                trace=pool.traces[i],
                score=float(score[i]),
                features={f: float(c[i]) for f, c in contributions.items()},
                raw={f: float(v[i]) for f, v in raw.items()} if explain else {},
            )
            for i in order
        ]

    # -- step 1: candidates ---------------------------------------------------
    def _first_candidates(self, namespace: str, qv: np.ndarray, terms: list[str]) -> list[Trace]:
        n = self.config.candidates
        ids: dict[str, None] = {}
        for field in ("content", "context"):
            ids.update(dict.fromkeys(i for i, _ in self.store.nearest(namespace, field, qv, n)))
        if terms:
            ids.update(dict.fromkeys(i for i, _ in self.store.lexical(namespace, terms, n)))
        return self.store.get(list(ids), namespace)

    def _neighbours(self, namespace: str, pool: _Pool, base: np.ndarray) -> list[Trace]:
        """Episodic neighbours of the strongest direct hits that are not candidates yet."""
        r = self.config.neighbour_radius
        if not r or not self.config.seeds:
            return []
        have = {t.id for t in pool.traces}
        found: dict[str, Trace] = {}
        for i in np.argsort(-base, kind="stable")[: self.config.seeds]:
            seed = pool.traces[i]
            if seed.episode is None:
                continue
            for t in self.store.episode_traces(namespace, seed.episode, seed.position - r, seed.position + r + 1):
                if t.id not in have:
                    found[t.id] = t
        return list(found.values())

    def _direct(self, traces: list[Trace], qv: np.ndarray, terms: list[str], namespace: str) -> _Pool:
        if not traces:
            empty = np.zeros(0)
            return _Pool([], empty, empty, empty)
        content = np.stack([t.content for t in traces]) @ qv
        context = np.stack([t.context for t in traces]) @ qv
        lexical = (
            self.store.lexical_scores(namespace, terms, [t.id for t in traces]) if terms else np.zeros(len(traces))
        )
        return _Pool(traces, content.astype(np.float64), context.astype(np.float64), np.asarray(lexical, np.float64))

    # -- step 2: derived features ---------------------------------------------
    def _base(self, pool: _Pool) -> np.ndarray:
        """How well each candidate matches the query by itself (direct pathways)."""
        w = self.config.weights
        return sum(w[f] * zscore(getattr(pool, f)) for f in DIRECT)

    def _episode_strength(self, pool: _Pool, base: np.ndarray) -> np.ndarray:
        """Mean of the two best direct matches in each candidate's episode."""
        best: dict[str | None, list[float]] = {}
        for t, b in zip(pool.traces, base):
            best.setdefault(t.episode, []).append(float(b))
        strength = {ep: float(np.mean(sorted(v, reverse=True)[:2])) for ep, v in best.items()}
        return np.array([strength[t.episode] if t.episode is not None else 0.0 for t in pool.traces])

    def _spread(self, pool: _Pool, base: np.ndarray) -> np.ndarray:
        """Activation flowing from the strongest hits along three kinds of link:
        temporal (same episode, nearby position, 1/distance), similarity
        (content cosine above ``similarity_link``), and category (same ART
        category).  A trace never spreads to itself."""
        cfg = self.config
        seeds = np.argsort(-base, kind="stable")[: max(cfg.seeds, 1)]
        energy = np.maximum(base[seeds], 0.0)
        if not energy.any():
            return np.zeros(len(pool.traces))
        vecs = np.stack([t.content for t in pool.traces])
        sim = vecs[seeds] @ vecs.T  # [seeds, candidates]
        links = np.clip((sim - cfg.similarity_link) / (1.0 - cfg.similarity_link), 0.0, None)
        episodes = np.array([hash(t.episode) if t.episode is not None else 0 for t in pool.traces])
        has_ep = np.array([t.episode is not None for t in pool.traces])
        positions = np.array([t.position for t in pool.traces])
        gap = np.abs(positions[seeds][:, None] - positions[None, :])
        same_ep = (episodes[seeds][:, None] == episodes[None, :]) & has_ep[None, :] & has_ep[seeds][:, None]
        near = same_ep & (gap > 0) & (gap <= max(cfg.neighbour_radius, 1) + 1)
        links += np.where(near, 1.0 / np.maximum(gap, 1), 0.0)
        cats = np.array([-1 if t.category is None else t.category for t in pool.traces])
        links += 0.5 * ((cats[seeds][:, None] == cats[None, :]) & (cats[None, :] >= 0))
        links[np.arange(len(seeds)), seeds] = 0.0  # no self-loops
        return energy @ links

    def _resonance(self, pool: _Pool, qv: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
        """Cosine of the query with each candidate's category prototype."""
        match = prototypes @ qv
        return np.array(
            [float(match[t.category]) if t.category is not None and t.category < len(match) else 0.0 for t in pool.traces]
        )
