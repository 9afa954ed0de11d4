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

    def __add__(self, other: "Pool") -> "Pool":
        """Both pools' rows, ``other``'s rows whose id is already here left out."""
        if not len(other):
            return self
        if not len(self):
            return other
        seen = set(self.ids)
        new = [i for i, tid in enumerate(other.ids) if tid not in seen]
        pick = np.array(new, dtype=np.int64)
        return Pool(
            ids=self.ids + [other.ids[i] for i in new],
            speakers=self.speakers + [other.speakers[i] for i in new],
            episodes=self.episodes + [other.episodes[i] for i in new],
            positions=np.concatenate([self.positions, other.positions[pick]]),
            times=np.concatenate([self.times, other.times[pick]]),
            categories=np.concatenate([self.categories, other.categories[pick]]),
            tokens=self.tokens + [other.tokens[i] for i in new],
            content=np.concatenate([self.content, other.content[pick]]),
            context=np.concatenate([self.context, other.context[pick]]),
            first_access=np.concatenate([self.first_access, other.first_access[pick]]),
            access_count=np.concatenate([self.access_count, other.access_count[pick]]),
            recent_access=np.concatenate([self.recent_access, other.recent_access[pick]]),
        )


def neighbour_spans(episodes: Sequence[str | None], positions: Sequence[int], radius: int) -> list[tuple[str, int, int]]:
    """The ``(episode, start, stop)`` spans holding every position within
    ``radius`` of the given traces that is not one of them: what recall reads
    next to add the candidates' episodic neighbours."""
    by_episode: dict[str, set[int]] = {}
    for ep, p in zip(episodes, positions):
        if ep is not None:
            by_episode.setdefault(ep, set()).add(int(p))
    spans: list[tuple[str, int, int]] = []
    for ep, have in by_episode.items():
        wanted = sorted({p + d for p in have for d in range(-radius, radius + 1)} - have)
        for p in wanted:
            if p < 0:
                continue
            if spans and spans[-1][0] == ep and spans[-1][2] == p:
                spans[-1] = (ep, spans[-1][1], p + 1)
            else:
                spans.append((ep, p, p + 1))
    return spans
