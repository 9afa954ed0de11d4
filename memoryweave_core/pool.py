"""A recall's candidate pool as columns.

Recall scores a few hundred candidates per query and returns ten.  Building
a full :class:`~memoryweave_core.trace.Trace` (text, JSON metadata) for every
candidate cost more than all the scoring, so stores hand the pool over as
columns (the fields scoring reads, an array or list each) and only the
winners are read as traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, cast

import numpy as np

from .activation import AccessLog, log_columns
from .trace import Trace
from .vocab import TokenRows, Vocabulary


@dataclass
class Pool:
    """Row ``i`` of every column describes the trace ``ids[i]``."""

    ids: list[str]
    speakers: list[str | None]
    episodes: list[str | None]
    positions: np.ndarray  # int64
    times: np.ndarray  # float64, Unix seconds
    categories: np.ndarray  # int64 ART category, -1 where none
    tokens: TokenRows  # lexical tokens in text order (lexical.tokenize), as ids; token strings are interned
    content: np.ndarray  # float32 [n, dim]
    context: np.ndarray  # float32 [n, dim]
    # access logs as columns (activation.log_columns): creation, count, recent uses NaN-padded [n, RECENT]
    first_access: np.ndarray
    access_count: np.ndarray
    recent_access: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.tokens, TokenRows):  # token strings: interned in a vocabulary of their own
            self.tokens = TokenRows.from_words(self.tokens)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: Sequence[int]) -> "Pool":
        """The pool of these rows, in this order."""
        idx = np.asarray(rows, dtype=np.int64)
        pick = [int(r) for r in idx]
        return Pool(
            ids=[self.ids[r] for r in pick], speakers=[self.speakers[r] for r in pick],
            episodes=[self.episodes[r] for r in pick], positions=self.positions[idx], times=self.times[idx],
            categories=self.categories[idx], tokens=self.tokens.take(idx), content=self.content[idx],
            context=self.context[idx], first_access=self.first_access[idx], access_count=self.access_count[idx],
            recent_access=self.recent_access[idx],
        )

    @classmethod
    def empty(cls, dim: int | None) -> "Pool":
        return cls.from_traces([], [], [], dim)

    @classmethod
    def from_traces(
        cls, traces: Sequence[Trace], tokens: TokenRows | Sequence[Sequence[str]], logs: Sequence[AccessLog],
        dim: int | None = None
    ) -> "Pool":
        """Columns of traces already in memory (the in-memory store)."""
        return cls.from_columns(
            [t.id for t in traces], [t.speaker for t in traces], [t.episode for t in traces],
            [t.position for t in traces], [t.time for t in traces], [t.category for t in traces], tokens,
            [cast(np.ndarray, t.content) for t in traces], [cast(np.ndarray, t.context) for t in traces], logs, dim,
        )

    @classmethod
    def from_columns(
        cls, ids: Sequence[str], speakers: Sequence[str | None], episodes: Sequence[str | None], positions: Sequence[int],
        times: Sequence[float], categories: Sequence[int | None], tokens: TokenRows | Sequence[Sequence[str]],
        content: Sequence[np.ndarray] | np.ndarray, context: Sequence[np.ndarray] | np.ndarray, logs: Sequence[AccessLog],
        dim: int | None = None, vocab: Vocabulary | None = None,
    ) -> "Pool":
        """A pool from one sequence per field, row ``i`` of each describing
        one trace (a category of None: none); the PostgreSQL store reads its
        rows into these.  Token strings are interned in ``vocab`` (the
        store's; a fresh one if None)."""
        n = len(ids)
        d = dim or (len(content[0]) if n else 0)
        first, count, recent = log_columns(list(logs))
        return cls(
            ids=list(ids),
            speakers=list(speakers),
            episodes=list(episodes),
            positions=np.fromiter(positions, np.int64, n),
            times=np.fromiter(times, np.float64, n),
            categories=np.fromiter((-1 if c is None else c for c in categories), np.int64, n),
            tokens=tokens if isinstance(tokens, TokenRows) else TokenRows.from_words(tokens, vocab),
            content=np.array(content, dtype=np.float32).reshape(n, d),
            context=np.array(context, dtype=np.float32).reshape(n, d),
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
    rank: dict[str | None, int] = {}
    for i in first:
        if episodes[i] is not None:
            rank.setdefault(episodes[i], len(rank))
    taken = set(first)
    near = [i for i in range(len(keys)) if i not in taken]
    # under a filter, a neighbour's asked row may have been left out: its episode ranks after, by name
    for e in sorted({episodes[i] for i in near} - rank.keys(), key=str):
        rank[e] = len(rank)
    by = np.lexsort(([positions[i] for i in near], [rank[episodes[i]] for i in near]))  # stable
    return first + [near[i] for i in by.tolist()]
