"""Recall as a three-step pipeline: candidates, features, fusion.

1. **Candidates.** The union of the nearest content vectors (for the query
   and for its *topic*: the query without the names in it), the nearest
   context vectors and the best BM25 matches; then their episodic
   neighbours.  Everything after this step touches candidates only, so a
   recall costs the same at ten thousand memories as at a million.
2. **Features**, one array per enabled pathway over the candidates, each
   computed as its entry in the registry (:mod:`memoryweave_core.pathways`)
   says.
3. **Fusion.** Each feature is normalised across the candidates as its
   pathway declares and weighted; each weight times its normalised feature
   is that pathway's contribution, kept on the Recollection for ``explain()``.

:meth:`Retriever.features` exposes steps 1-2 so that ``benchmarks/tune.py``
fits the fusion weights on exactly the features recall uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import lexscore
from . import names as names_module
from . import relevance as relevance_module
from .answerable import judge
from .config import RecallConfig
from .coverage import Terms, window_hits
from .lexical import idf, tokenize
from .pathways import Context, Query, fuse, normalise, pathways, zscore
from .pathways.registry import LexicalStats
from .pool import Pool
from .recollection import Recollection
from .relevance import DEFAULT_CALIBRATOR, signals
from .storage.base import Search, Store
from .trace import Trace

__all__ = ["FeatureTable", "Query", "Ranked", "Retriever", "fuse", "names_in", "normalise", "strip_names", "zscore"]


def strip_names(query: str, names: Iterable[str]) -> str:
    """The query's topic: the query without the names of known speakers.

    Names dominate the embedding of a short question, so "What did Caroline
    paint?" sits closer to every turn Caroline spoke than to the one about
    painting.  The semantic pathway compares the topic; the speaker pathway
    handles who (on LoCoMo the plain query's cosine added nothing on top:
    ``benchmarks/tune.py`` gave it weight 0 next to the topic's).
    The matching lives in :mod:`.names` (indexed, so that its cost does not
    grow with the number of speakers).
    """
    return names_module.strip_names(query, names)


def names_in(query: str, names: Iterable[str]) -> set[str]:
    """Known speaker names that the query mentions (whole words, any case)."""
    return names_module.names_in(query, names)


@dataclass
class FeatureTable:
    """The candidates of one query (their ids) and the raw value of every enabled feature."""

    ids: "Sequence[str] | np.ndarray"  # a list, or an object array (a pool's)
    raw: dict[str, np.ndarray]
    #: Share of the query's distinct words that no trace of the namespace contains.
    unseen: float = 0.0
    #: The query's content words against the memory and each candidate (the answerable gate's input).
    terms: Terms | None = None
    #: Each candidate's length in lexical tokens (fusion's length share; None: no share).
    lengths: np.ndarray | None = None


class Retriever:
    """Ranks a namespace's traces for one query; stateless apart from its config."""

    def __init__(self, store: Store, config: RecallConfig) -> None:
        self.store = store
        self.config = config

    def recall(
        self, query: Query, k: int, *, prototypes: np.ndarray | None = None, explain: bool = False
    ) -> list[Recollection]:
        ranked = self.rank(self.features(query, prototypes=prototypes), k, explain=explain)
        # Only the winners are read whole; one deleted meanwhile is left out.
        return ranked.recollections(self.store.get(ranked.ids, query.namespace))

    def rank(self, table: FeatureTable, k: int, *, explain: bool = False) -> Ranked:
        """Step 3: fuse the features and keep the top ``k`` (as rows of ``table``)."""
        if not len(table.ids):
            return Ranked(table, [], np.zeros(0), {}, np.zeros(0), explain)
        score, contributions = fuse(table.raw, self.config.weights, table.lengths)
        # -- relevance hook: a probability comparable across queries (relevance.py),
        # and whether the memory holds evidence for the query at all (answerable.py)
        ranking = np.argsort(-score, kind="stable")  # one sort for the calibrator, the gate and the top k
        terms = table.terms or Terms.empty(len(score))
        x = signals(table.raw, score, table.unseen, terms, ranking)
        relevance = DEFAULT_CALIBRATOR.predict(x)
        gate, why = judge(terms, table.raw, score, relevance, ranking, explain=explain)
        return Ranked(table, ranking[:k].tolist(), score, contributions, relevance, explain, gate, why,
                      x if explain else None)

    # -- steps 1 and 2 -----------------------------------------------------------
    def features(self, query: Query, *, prototypes: np.ndarray | None = None) -> FeatureTable:
        terms = self.terms(query)
        return self.table(query, terms, self.candidates(query, terms),
                          lambda t: self.store.lexical_stats(query.namespace, t), prototypes)

    def candidates(self, query: Query, terms: list[str]) -> Pool:
        """The first-round candidates of every pathway and (in the same store
        call) their episodic neighbours, ``neighbour_radius`` each side, all
        matching the query's filter (applied inside the store's searches)."""
        return self.store.candidates(query.namespace, self.searches(query), terms, self.config.candidates,
                                     self.config.neighbour_radius, where=query.where, live=query.live)

    @staticmethod
    def terms(query: Query) -> list[str]:
        return tokenize(query.text) if query.text else []

    @staticmethod
    def searches(query: Query) -> list[Search]:
        """The vector searches of step 1: the query's content and context
        vectors, and its topic's content vector when it differs.  With the
        :meth:`terms`, ``config.candidates`` and ``config.neighbour_radius``,
        they make the store's :meth:`~memoryweave_core.storage.base.Store.candidates`
        request, whose filter and liveness come from the query."""
        qv, tv = query.vector, query.topic
        searches: list[Search] = [("content", qv), ("context", qv)]
        if tv is not qv:
            searches.append(("content", tv))
        return searches

    def table(self, query: Query, terms: list[str], pool: Pool, lexical_stats: Callable[[Sequence[str]], LexicalStats],
              prototypes: np.ndarray | None = None) -> FeatureTable:
        """Step 2 over a gathered pool: one namespace's, or several merged by
        :mod:`.span` (``lexical_stats(terms)`` gives the BM25 statistics)."""
        cfg = self.config
        if not len(pool):
            return FeatureTable([], {})
        ctx = Context(
            pool, query, terms=terms, neighbour_radius=cfg.neighbour_radius, decay=cfg.decay,
            lexical_stats=lexical_stats, prototypes=prototypes,
        )
        raw: dict[str, np.ndarray] = {}
        for p in pathways():
            if cfg.enabled(p.name):
                value = ctx.value(p.name)
                if value is not None:
                    raw[p.name] = value
        unseen = 0.0
        if terms:  # the share of query words no trace of the namespace holds (a relevance signal)
            df = ctx.lexical_stats()[2]
            unseen = sum(1 for t in set(terms) if not df.get(t)) / len(set(terms))
        return FeatureTable(pool.ids, raw, unseen, content_terms(ctx, pool), pool.tokens.lengths)


def content_terms(ctx: Context, pool: Pool) -> Terms:
    """The query's distinct words less the speaker names it mentions (the
    speaker pathway handles who), weighted by their IDF in the memory, and
    which candidates hold each."""
    named = set(tokenize(" ".join(ctx.named_speakers())))
    distinct = list(dict.fromkeys(ctx.terms))
    keep = [j for j, t in enumerate(distinct) if t not in named]
    if not keep:
        return Terms.empty(len(pool))
    words = [distinct[j] for j in keep]
    n, _, df = ctx.lexical_stats()
    found = lexscore.select(ctx.term_hits(), keep)  # the pool's token ids were searched once, for every term
    hits = np.zeros((len(pool), len(words)), bool)
    hits[found.row, found.col] = True
    return Terms(np.array([idf(n, df.get(t, 0)) for t in words]), np.array([df.get(t, 0) > 0 for t in words]), hits,
                 window_hits(hits, pool.episode.codes, pool.positions))


@dataclass
class Ranked:
    """The top rows of a FeatureTable with their scores, before the winners are read."""

    table: FeatureTable
    order: list[int]
    score: np.ndarray
    contributions: dict[str, np.ndarray]
    relevance: np.ndarray
    explain: bool
    #: P(the memory holds evidence for the query): one number for the whole query.
    answerable: float = 1.0
    #: With ``explain``: each gate signal's term in the answerable log-odds (``answerable.reasons``).
    answerable_reasons: dict[str, float] = field(default_factory=dict)
    #: With ``explain``: the calibrator's input of every row (``relevance.signals``), for each winner's reasons.
    signals: np.ndarray | None = None

    @property
    def ids(self) -> list[str]:
        return [self.table.ids[i] for i in self.order]

    def recollections(self, traces: Sequence[Trace]) -> list[Recollection]:
        """The winners, best first, as Recollections (those missing from ``traces`` are left out)."""
        found = {t.id: t for t in traces}
        ids = self.table.ids
        return self.at_rows({i: found[ids[i]] for i in self.order if ids[i] in found})

    def at_rows(self, traces: Mapping[int, Trace]) -> list[Recollection]:
        """The winners, best first, given each winning row's trace (rows
        missing from ``traces`` are left out): for pools whose ids repeat
        across namespaces."""
        raw = self.table.raw
        return [
            Recollection(
                trace=traces[i],
                score=float(self.score[i]),
                features={f: float(c[i]) for f, c in self.contributions.items()},
                raw={f: float(v[i]) for f, v in raw.items() if f in self.contributions} if self.explain else {},
                relevance=float(self.relevance[i]),
                answerable=self.answerable,
                answerable_reasons=self.answerable_reasons,
                relevance_reasons=relevance_module.reasons(self.signals[i]) if self.signals is not None else {},
            )
            for i in self.order
            if i in traces
        ]
