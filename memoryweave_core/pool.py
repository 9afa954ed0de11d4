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


def pool_order(asked: Sequence, keys: Sequence, episodes: Sequence[str | None], positions: Sequence[int]) -> list[int]:
    """The order in which a store hands a pool's rows over (rows given by
    their ``keys``, episodes and positions): the rows of the ``asked`` keys
    as asked, then the neighbours, episode by episode in the order the
    episodes first appear above, by position within one.  Every store orders
    with this, so ties rank alike on every backend."""
    row = {key: i for i, key in enumerate(keys)}
    first = [row[k] for k in dict.fromkeys(asked) if k in row]
    rank: dict[str, int] = {}
    for i in first:
        if episodes[i] is not None:
            rank.setdefault(episodes[i], len(rank))
    taken = set(first)
    near = [i for i in range(len(keys)) if i not in taken]
    by = np.lexsort(([positions[i] for i in near], [rank[episodes[i]] for i in near]))  # stable
    return first + [near[i] for i in by.tolist()]
