"""A recall's candidate pool as columns.

Recall scores a few hundred candidates per query and returns ten.  Building
a full :class:`~memoryweave_core.trace.Trace` (text, JSON metadata) for every
candidate cost more than all the scoring, so stores hand the pool over as
columns (the fields scoring reads, an array or list each) and only the
winners are read as traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .activation import AccessLog, log_columns
from .keysets import unique, unique_first
from .vocab import TokenRows, Vocabulary


@dataclass(frozen=True)
class Labels:
    """A column of optional strings as integer codes: row ``i`` holds
    ``labels[codes[i]]``, or None where ``codes[i]`` is -1.  A pool has few
    distinct speakers and episodes, so comparing, grouping and gathering
    them is integer work, and no string is touched per row."""

    codes: np.ndarray  # int64 [n], -1: none
    labels: tuple[str, ...]

    @classmethod
    def of(cls, values: Iterable[str | None]) -> "Labels":
        """Codes in order of first appearance (found by ``dict.fromkeys``, then
        looked up row by row in C: a pool decodes two such columns)."""
        values = values if isinstance(values, (list, tuple)) else list(values)
        labels = tuple(v for v in dict.fromkeys(values) if v is not None)
        table: dict[str | None, int] = dict(zip(labels, range(len(labels))))
        table[None] = -1
        return cls(np.fromiter(map(table.__getitem__, values), np.int64, len(values)), labels)

    def __len__(self) -> int:
        return len(self.codes)

    def values(self) -> list[str | None]:
        """One label per row (None where none), for code that reads a row at a time."""
        table: list[str | None] = [*self.labels, None]  # code -1 reads the None at the end
        return [table[c] for c in self.codes.tolist()]

    def take(self, idx: np.ndarray) -> "Labels":
        return Labels(self.codes[idx], self.labels)

    @staticmethod
    def concat(parts: Sequence["Labels"], prefixes: Sequence[str] | None = None) -> "Labels":
        """The rows of ``parts`` in order, equal labels sharing one code (each
        part's labels prefixed with its entry of ``prefixes``, if given)."""
        table: dict[str, int] = {}
        codes = []
        for j, part in enumerate(parts):
            names = part.labels if prefixes is None else tuple(prefixes[j] + x for x in part.labels)
            remap = np.array([table.setdefault(x, len(table)) for x in names] + [-1], np.int64)
            codes.append(remap[part.codes])
        return Labels(np.concatenate(codes) if codes else np.zeros(0, np.int64), tuple(table))


@dataclass
class Pool:
    """Row ``i`` of every column describes the trace ``ids[i]``."""

    ids: np.ndarray  # object [n]: the trace ids (strings)
    speaker: Labels
    episode: Labels
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
        if not isinstance(self.ids, np.ndarray):
            self.ids = object_array(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def speakers(self) -> list[str | None]:
        """Each row's speaker (None where none): a row at a time; scoring reads ``speaker``."""
        return self.speaker.values()

    @property
    def episodes(self) -> list[str | None]:
        """Each row's episode (None where none): a row at a time; scoring reads ``episode``."""
        return self.episode.values()

    def take(self, rows: Sequence[int] | np.ndarray) -> "Pool":
        """The pool of these rows, in this order."""
        idx = np.asarray(rows, dtype=np.int64)
        return Pool(
            ids=self.ids[idx], speaker=self.speaker.take(idx), episode=self.episode.take(idx),
            positions=self.positions[idx], times=self.times[idx],
            categories=self.categories[idx], tokens=self.tokens.take(idx), content=self.content[idx],
            context=self.context[idx], first_access=self.first_access[idx], access_count=self.access_count[idx],
            recent_access=self.recent_access[idx],
        )

    @classmethod
    def empty(cls, dim: int | None) -> "Pool":
        return cls.from_columns([], [], [], [], [], [], [], np.zeros((0, dim or 0)), np.zeros((0, dim or 0)), [], dim)

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
            ids=object_array(ids),
            speaker=Labels.of(speakers),
            episode=Labels.of(episodes),
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


def object_array(values: Sequence) -> np.ndarray:
    """A 1-d object array of ``values`` (``np.array`` would make strings a fixed-width dtype)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def pool_order(asked: Sequence, keys: Sequence | np.ndarray, episodes: Sequence[str | None] | Labels, positions: Sequence[int] | np.ndarray
               ) -> list[int]:
    """The order in which a store hands a pool's rows over (rows given by
    their ``keys``, episodes and positions): the rows of the ``asked`` keys
    as asked, then the neighbours, episode by episode in the order the
    episodes first appear above, by position within one.  Every store orders
    with this, so ties rank alike on every backend."""
    head = keys[: len(asked)]
    # asked first, as most stores hand them: distinct, as keys are
    if (head.tolist() if isinstance(head, np.ndarray) else list(head)) == list(asked):
        first = np.arange(len(asked), dtype=np.int64)
    elif isinstance(keys, np.ndarray) and keys.dtype == np.int64 and len(keys):  # integer keys: found by sorting
        want = np.fromiter(dict.fromkeys(asked), np.int64)
        sorter = np.argsort(keys, kind="stable")
        rows = sorter[np.minimum(np.searchsorted(keys, want, sorter=sorter), len(keys) - 1)]
        first = rows[keys[rows] == want]
    else:
        row = {key: i for i, key in enumerate(keys)}
        first = np.array([row[k] for k in dict.fromkeys(asked) if k in row], np.int64)
    labels = episodes if isinstance(episodes, Labels) else Labels.of(episodes)
    codes = labels.codes
    rank = np.full(len(labels.labels) + 1, -1, np.int64)  # by code; code -1 (no episode) is the last entry
    placed = first[codes[first] >= 0] if len(first) else first
    seen, at, _ = unique_first(codes[placed])
    rank[seen[np.argsort(at)]] = np.arange(len(seen))
    near = np.ones(len(keys), bool)
    near[first] = False
    near_rows = np.flatnonzero(near)
    # under a filter, a neighbour's asked row may have been left out: its episode ranks after, by name
    left = [int(c) for c in unique(codes[near_rows]) if rank[c] < 0]
    names = [*labels.labels, None]
    for j, c in enumerate(sorted(left, key=lambda c: str(names[c]))):
        rank[c] = len(seen) + j
    by = np.lexsort((np.asarray(positions, np.int64)[near_rows], rank[codes[near_rows]]))  # stable
    return first.tolist() + near_rows[by].tolist()
