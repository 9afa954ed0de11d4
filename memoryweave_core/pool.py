"""A recall's candidate pool as columns.

Recall scores a few hundred candidates per query and returns ten.  Building
a full :class:`~memoryweave_core.trace.Trace` (text, JSON metadata) for every
candidate cost more than all the scoring, so stores hand the pool over as
columns (the fields scoring reads, an array or list each) and only the
winners are read as traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .activation import AccessLog, log_columns
from .trace import Trace


@dataclass
class Pool:
    """Row ``i`` of every column describes the trace ``ids[i]``."""

    ids: list[str]
    speakers: list[str | None]
    episodes: list[str | None]
    positions: np.ndarray  # int64
    times: np.ndarray  # float64, Unix seconds
    categories: np.ndarray  # int64 ART category, -1 where none
    tokens: list[Sequence[str]]  # lexical tokens in text order (lexical.tokenize)
    content: np.ndarray  # float32 [n, dim]
    context: np.ndarray  # float32 [n, dim]
    # access logs as columns (activation.log_columns): creation, count, recent uses NaN-padded [n, RECENT]
    first_access: np.ndarray
    access_count: np.ndarray
    recent_access: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls, dim: int | None) -> "Pool":
        return cls.from_traces([], [], [], dim)

    @classmethod
    def from_traces(
        cls, traces: Sequence[Trace], tokens: Sequence[Sequence[str]], logs: Sequence[AccessLog], dim: int | None = None
    ) -> "Pool":
        """Columns of traces already in memory (the in-memory and PostgreSQL stores)."""
        d = dim or (len(traces[0].content) if traces else 0)
        first, count, recent = log_columns(list(logs))
        return cls(
            ids=[t.id for t in traces],
            speakers=[t.speaker for t in traces],
            episodes=[t.episode for t in traces],
            positions=np.fromiter((t.position for t in traces), np.int64, len(traces)),
            times=np.fromiter((t.time for t in traces), np.float64, len(traces)),
            categories=np.fromiter((-1 if t.category is None else t.category for t in traces), np.int64, len(traces)),
            tokens=list(tokens),
            content=np.array([t.content for t in traces], dtype=np.float32).reshape(len(traces), d),
            context=np.array([t.context for t in traces], dtype=np.float32).reshape(len(traces), d),
            first_access=first,
            access_count=count,
            recent_access=recent,
        )

    def take(self, rows: Sequence[int]) -> "Pool":
        """The given rows, in that order."""
        pick = np.asarray(rows, dtype=np.int64)
        return Pool(
            ids=[self.ids[i] for i in rows],
            speakers=[self.speakers[i] for i in rows],
            episodes=[self.episodes[i] for i in rows],
            positions=self.positions[pick],
            times=self.times[pick],
            categories=self.categories[pick],
            tokens=[self.tokens[i] for i in rows],
            content=self.content[pick],
            context=self.context[pick],
            first_access=self.first_access[pick],
            access_count=self.access_count[pick],
            recent_access=self.recent_access[pick],
        )

    def arranged(self, ids: Sequence[str]) -> "Pool":
        """The rows in the order every store hands a pool over: those of
        ``ids`` as asked, then the neighbours, episode by episode in the order
        the episodes first appear above, by position within one.  One order on
        every backend, so ties rank alike everywhere."""
        row = {tid: i for i, tid in enumerate(self.ids)}
        first = [row[t] for t in dict.fromkeys(ids) if t in row]
        rank: dict[str, int] = {}
        for i in first:
            if self.episodes[i] is not None:
                rank.setdefault(self.episodes[i], len(rank))
        asked = set(first)
        near = sorted((i for i in range(len(self)) if i not in asked), key=lambda i: (rank[self.episodes[i]], self.positions[i]))
        return self.take(first + near)
