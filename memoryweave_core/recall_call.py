"""One recall's arguments, checked once for ``recall`` and ``arecall`` alike.

Recall runs in three stages whatever the executor: check the arguments
(nothing read yet), embed the query, then gather candidates, rank and record
access.  ``MemoryWeave.recall`` runs them in the calling thread;
:mod:`~memoryweave_core.asyncio_api` runs the store's stages on an async
connection pool where the store has one.  This module holds what both share,
so the two paths cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

import numpy as np

from .answerable import ANSWERABLE_FLOOR
from .config import RecallConfig
from .errors import InvalidInputError
from .filters import Node, parse_filter
from .lifecycle import live
from .pathways import Query
from .prompt import MinRelevance, default_min_relevance
from .recollection import Recollection
from .relevance import check_relevance
from .retrieval import Retriever
from .scopes import Namespace
from .storage.base import Store
from .timeutil import to_timestamp
from .trace import check_namespace, check_text


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


@dataclass(frozen=True)
class RecallCall:
    """The checked arguments of one recall (see ``MemoryWeave.recall`` for their meaning)."""

    query: str
    k: int
    namespace: str
    now: float
    where: Node | None
    floor: float
    excluded: frozenset[str]
    explain: bool
    record_access: bool
    config: RecallConfig
    query_vector: Any
    include_superseded: bool
    include_descendants: bool = False

    @classmethod
    def check(cls, mem: Any, query: str, k: int, *, namespace: Namespace = "default", at: Any = None, explain: bool = False,
              record_access: bool = True, exclude: Iterable[str] = (), config: RecallConfig | None = None,
              query_vector: Any = None, min_relevance: MinRelevance = None, filter: Any = None,
              include_superseded: bool = False, include_descendants: bool = False) -> RecallCall:
        """Every argument checked, in this order, before anything is read or written."""
        where = parse_filter(filter)
        if query_vector is None or query:
            check_text(query, "query")
        k = check_k(k)
        floor = check_relevance(default_min_relevance(mem) if min_relevance == "auto" else min_relevance)
        ns = check_namespace(namespace)
        excluded = frozenset({exclude} if isinstance(exclude, str) else exclude)
        now = to_timestamp(at, default=mem.clock())
        return cls(query, k, ns, now, where, floor, excluded, explain, record_access, config or mem.config,
                   query_vector, include_superseded, bool(include_descendants))

    def capped(self, held: int) -> RecallCall:
        """No recall returns more than the namespace holds: never ask a
        backend for more candidates than that (a huge k overflowed SQLite's LIMIT)."""
        return replace(self, k=min(self.k, held))

    @property
    def wanted(self) -> int:
        """How many to rank: ``k``, plus the excluded ids that may take places."""
        return self.k + len(self.excluded)

    def request(self, mem: Any, spaces: Sequence[str] | None = None) -> Query:
        """The query embedded (a model call: not on an event loop), with the
        filter and liveness; ``spaces`` are the namespaces it ranks over
        (default: its own), whose speakers' names it looks for."""
        found = mem._query(self.query, list(spaces or [self.namespace]), self.now, self.query_vector)
        return replace(found, where=self.where, live=live(mem, self.now, self.include_superseded))

    def retriever(self, store: Store) -> Retriever:
        cfg = self.config
        return Retriever(store, cfg if self.wanted <= cfg.candidates else replace(cfg, candidates=self.wanted))

    def keep(self, found: list[Recollection]) -> list[Recollection]:
        """The ranked winners less the excluded ids, the top ``k``, at least
        ``floor`` relevant; with a floor, nothing when the memory probably holds
        no evidence for the query (``answerable.ANSWERABLE_FLOOR``)."""
        found = [r for r in found if r.trace.id not in self.excluded][: self.k]
        if self.floor > 0 and found and found[0].answerable < ANSWERABLE_FLOOR:
            return []
        return [r for r in found if r.relevance >= self.floor]
