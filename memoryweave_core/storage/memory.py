"""In-memory store: numpy matrices and a BM25 index per namespace.

The reference backend, and the right one for notebooks and tests.  Each
namespace is a separate *space* with its own indexes, so isolation is a
property of the data layout rather than a filter someone could forget; ids
and access logs live in the space too, so an id is unique per namespace.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import AbstractSet, Iterator, Sequence, cast

import numpy as np

from ..activation import AccessLog
from ..ann import AutoIndex
from ..ann.readers import Readers
from ..errors import InvalidInputError
from ..filters import Columns, Node, mask
from ..keysets import difference
from ..lexical import BM25Index, DocLengths, search_postings, tokenize
from ..pool import Pool, pool_order
from ..trace import Trace
from .base import Field, Live, Search, StoreBase, check_field, is_live, live_keys, vector_dim
from .context import ContextRecord, admit
from .filtered import nearest_within, restrict_postings
from .keycolumns import Interned, KeyColumns


@dataclass
class _Space:
    """Everything one namespace holds."""

    dim: int
    readers: Readers = field(default_factory=Readers)  # the store's: its recalls come first
    content: AutoIndex = None  # type: ignore[assignment]
    context: AutoIndex = None  # type: ignore[assignment]
    bm25: BM25Index = field(default_factory=BM25Index)
    traces: dict[int, Trace] = field(default_factory=dict)  # insertion ordered
    keys: dict[str, int] = field(default_factory=dict)  # id -> key
    episodes: dict[str, dict[int, int]] = field(default_factory=dict)  # episode -> position -> key
    state: dict[str, dict] = field(default_factory=dict)
    matching: dict[str, np.ndarray] = field(default_factory=dict)  # repr(filter) -> sorted keys; cleared on writes
    lifecycle: set[int] = field(default_factory=set)  # keys of versions and expiring traces
    speakers: Interned = field(default_factory=Interned)  # the codes of its speakers in the store's KeyColumns
    episode_codes: Interned = field(default_factory=Interned)
    code: int = 0  # its code in the store's KeyColumns.space

    def __post_init__(self) -> None:
        # exact numpy search up to ann.DEFAULT_THRESHOLD rows, an HNSW graph above (see memoryweave_core.ann)
        self.content = AutoIndex(self.dim, readers=self.readers)
        self.context = AutoIndex(self.dim, readers=self.readers)


class MemoryStore(StoreBase):
    """Keeps everything in RAM; lost when the process ends."""

    def __init__(self) -> None:
        self.dim: int | None = None
        self._spaces: dict[str, _Space] = {}
        self._next_key = 0
        self._next_space = 0
        self._columns: KeyColumns | None = None  # every space's pool fields and access logs, by key
        self._lock = threading.RLock()
        self._readers = Readers()
        self._lengths = DocLengths()  # every space's document lengths, by key (keys are the store's)
        self._context: ContextRecord | None = None  # how its context vectors are made (see .context)

    # -- writing ---------------------------------------------------------
    def add(self, traces: Sequence[Trace], *, context: ContextRecord | None = None) -> None:
        if not traces:
            return
        with self._lock:
            dim = vector_dim(traces, self.dim)
            self._admit(context)
            self.dim = dim
            by_space: dict[str, list[Trace]] = {}
            for t in traces:
                by_space.setdefault(t.namespace, []).append(t)
            for ns, group in by_space.items():  # checked before anything is written, as a unique index would
                held = self._spaces[ns].keys if ns in self._spaces else {}
                ids = [t.id for t in group]
                if len(set(ids)) != len(ids) or any(i in held for i in ids):
                    raise InvalidInputError(f"a trace id already exists in namespace {ns!r}")
            for ns, group in by_space.items():
                space = self._spaces.get(ns)
                if space is None:  # its own BM25Index and vocabulary: forgetting it forgets its words
                    space = self._spaces[ns] = _Space(dim, self._readers, bm25=BM25Index(lengths=self._lengths),
                                                      code=self._next_space)
                    self._next_space += 1
                space.matching.clear()
                keys = np.arange(self._next_key, self._next_key + len(group))
                self._next_key += len(group)
                space.content.add(keys, np.stack([cast(np.ndarray, t.content) for t in group]))  # checked by vector_dim
                space.context.add(keys, np.stack([cast(np.ndarray, t.context) for t in group]))
                for key, t in zip(keys.tolist(), group):
                    space.bm25.add(key, tokenize(t.text))
                if self._columns is None:
                    self._columns = KeyColumns(dim)
                columns = self._columns
                group = columns.add(keys.tolist(), group, [space.bm25.token_ids(k) for k in keys.tolist()],
                                    space.speakers, space.episode_codes, space.code)  # their vectors now views of the columns'
                for key, t in zip(keys.tolist(), group):
                    space.traces[key] = t
                    space.keys[t.id] = key
                    if t.episode is not None and t.superseded_at is None:
                        members = space.episodes.setdefault(t.episode, {})
                        if t.position in members:
                            columns.set_member(members[t.position], False)
                        members[t.position] = key
                        columns.set_member(key, True)
                    if t.supersedes is not None or t.superseded_at is not None or t.expires_at is not None:
                        space.lifecycle.add(key)

    def supersede(self, old_id: str, archived_id: str, when: float, new: Trace, *,
                  context: ContextRecord | None = None) -> None:
        with self._lock:
            space = self._spaces.get(new.namespace)
            if space is None or old_id not in space.keys or archived_id in space.keys or new.id != old_id:
                raise InvalidInputError(f"cannot supersede {old_id!r} by {new.id!r} as {archived_id!r}")
            vector_dim([new], self.dim)
            self._admit(context)
            key = space.keys.pop(old_id)
            space.traces[key] = replace(space.traces[key], id=archived_id, superseded_at=when)
            space.keys[archived_id] = key
            space.lifecycle.add(key)
            cast(KeyColumns, self._columns).rename(key, archived_id)  # the access log stays with the key
            self.add([new])

    def _admit(self, context: ContextRecord | None) -> None:
        """Refuse, or record, ``context`` before a write (two memories may share this store)."""
        if context is not None and admit(self._context, context, lambda: self._next_key > 0 and any(
                space.traces for space in self._spaces.values())):
            self._context = context

    def snapshot(self) -> AbstractContextManager:
        """Marks a recall as reading: the background HNSW indexers step aside meanwhile."""
        return self._readers.reading()

    def hidden(self, namespace: str, live: Live) -> set[str]:
        with self._lock:
            space = self._spaces.get(namespace)
            if space is None:
                return set()
            return {t.id for t in map(space.traces.__getitem__, space.lifecycle) if not is_live(t, live)}

    def expired(self, now: float, limit: int, namespace: str | None = None) -> list[tuple[str, str]]:
        with self._lock:
            names = [namespace] if namespace in self._spaces else [] if namespace else list(self._spaces)
            out = [(ns, t.id) for ns in names for t in map(self._spaces[ns].traces.__getitem__, sorted(self._spaces[ns].lifecycle))
                   if t.expires_at is not None and t.expires_at <= now]
        return out[:limit]

    def set_expiry(self, ids: Sequence[str], expires_at: float | None, namespace: str) -> int:
        with self._lock:
            space = self._spaces.get(namespace)
            found = [space.keys[i] for i in dict.fromkeys(ids) if i in space.keys] if space else []
            for key in found:
                assert space is not None  # found is empty without it
                space.traces[key] = replace(space.traces[key], expires_at=expires_at)
                space.lifecycle.add(key)
            return len(found)

    def delete_episode(self, namespace: str, episode: str) -> int:
        """Every version of every trace of the episode (the episode map holds current versions only)."""
        with self._lock:
            space = self._spaces.get(namespace)
            ids = [t.id for t in space.traces.values() if t.episode == episode] if space else []
            return self.delete(ids, namespace)

    def delete(self, ids: Sequence[str], namespace: str) -> int:
        removed = 0
        with self._lock:
            space = self._spaces.get(namespace)
            for tid in ids if space is not None else ():
                assert space is not None  # no ids are walked without it
                key = space.keys.pop(tid, None)
                if key is None:
                    continue
                space.matching.clear()
                t = space.traces.pop(key)
                space.content.remove([key])
                space.context.remove([key])
                space.bm25.remove(key)
                cast(KeyColumns, self._columns).forget(key)
                space.lifecycle.discard(key)
                members = space.episodes.get(t.episode) if t.episode is not None else None
                if members is not None and members.get(t.position) == key:
                    del members[t.position]  # the columns forgot the key, membership included
                    if not members and t.episode is not None:
                        del space.episodes[t.episode]
                removed += 1
            if space is not None and not space.traces:
                del self._spaces[namespace]
        return removed

    # -- reading ---------------------------------------------------------
    def get(self, ids: Sequence[str], namespace: str) -> list[Trace]:
        with self._lock:
            space = self._spaces.get(namespace)
            if space is None:
                return []
            return [space.traces[space.keys[tid]] for tid in ids if tid in space.keys]

    def count(self, namespace: str | None = None) -> int:
        with self._lock:
            if namespace is None:
                return sum(len(s.traces) for s in self._spaces.values())
            space = self._spaces.get(namespace)
            return len(space.traces) if space else 0

    def namespaces(self) -> list[str]:
        with self._lock:
            return sorted(self._spaces)

    def iter_traces(self, namespace: str | None = None) -> Iterator[Trace]:
        with self._lock:
            spaces = [self._spaces[namespace]] if namespace in self._spaces else [] if namespace else list(self._spaces.values())
            snapshot = [t for s in spaces for t in s.traces.values()]
        return iter(snapshot)

    def _ids(self, space: _Space, keys: np.ndarray) -> list[str]:
        return [space.traces[int(k)].id for k in keys]

    def _matching(self, space: _Space, where: Node) -> np.ndarray:
        """The sorted keys of the space's traces that match ``where`` (cached until the next write)."""
        slot = repr(where)  # not the node: 1 == True == 1.0 would share a slot, and they match differently
        found = space.matching.get(slot)
        if found is None:
            if len(space.matching) > 64:
                space.matching.clear()
            keys = np.fromiter(space.traces, np.int64, len(space.traces))  # insertion order: sorted
            found = space.matching[slot] = keys[mask(where, Columns.of(list(space.traces.values())))]
        return found

    def nearest(self, namespace: str, field: Field, vector: np.ndarray, n: int,
                where: Node | None = None) -> list[tuple[str, float]]:
        check_field(field)
        with self._lock:
            space = self._spaces.get(namespace)
            if space is None:
                return []
            keys, sims = self._nearest(space, field, vector, n, where)
            return list(zip(self._ids(space, keys), sims.tolist()))

    def _nearest(self, space: _Space, field: Field, vector: np.ndarray, n: int,
                 where: Node | None) -> tuple[np.ndarray, np.ndarray]:
        index = getattr(space, field)
        if where is None:
            return index.search(vector, n)
        return nearest_within(self._matching(space, where), len(space.traces), vector, n, index.search,
                              lambda ks: cast(KeyColumns, self._columns).vectors(np.asarray(ks, np.int64), field))

    def lexical(self, namespace: str, terms: Sequence[str], n: int, where: Node | None = None) -> list[tuple[str, float]]:
        with self._lock:
            space = self._spaces.get(namespace)
            if space is None:
                return []
            return [(space.traces[k].id, s) for k, s in self._lexical(space, terms, n, where)]

    def _lexical(self, space: _Space, terms: Sequence[str], n: int, where: Node | None) -> list[tuple[int, float]]:
        bm25 = space.bm25
        if where is None:
            return bm25.search(terms, n)
        return search_postings(terms, n, bm25.stats(terms), restrict_postings(bm25._posting_arrays, self._matching(space, where)),
                               bm25.rows)

    def lexical_stats(self, namespace: str, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        with self._lock:
            space = self._spaces.get(namespace)
            return space.bm25.stats(terms) if space else (0, 0.0, {})

    def episode_traces(self, namespace: str, episode: str, start: int, stop: int) -> list[Trace]:
        with self._lock:
            space = self._spaces.get(namespace)
            members = space.episodes.get(episode) if space else None
            if space is None or not members:
                return []
            return [space.traces[members[p]] for p in range(max(start, 0), stop) if p in members]

    def pool(self, namespace: str, ids: Sequence[str] = (), radius: int = 0, where: Node | None = None) -> Pool:
        with self._lock:
            space = self._spaces.get(namespace)
            if space is None:
                return Pool.empty(self.dim)
            return self._pool(space, [space.keys[i] for i in ids if i in space.keys], radius, where)

    def _pool(self, space: _Space, asked: list[int], radius: int, where: Node | None, hide: AbstractSet[int] = frozenset()) -> Pool:
        """The pool of the ``asked`` keys and their neighbours, matching ``where``, less the keys ``hide``."""
        columns = cast(KeyColumns, self._columns)
        first = np.array(list(dict.fromkeys(asked)), np.int64)
        near = np.zeros(0, np.int64)
        if radius and len(first):
            near, probe, position = columns.neighbours(first, radius, space.code)
            episodes, labels = columns.episode[probe].tolist(), space.episode_codes.labels
            looked = [space.episodes.get(labels[e], {}).get(p) for e, p in zip(episodes, position.tolist())]
            near = np.concatenate([near, np.array([k for k in looked if k is not None], np.int64)])
            near = difference(near, first)  # pool_order places the neighbours by episode and position alone
        at = np.concatenate([first, near])
        if where is not None:
            matching = self._matching(space, where)
            at, first = at[np.isin(at, matching)], first[np.isin(first, matching)]
        if not len(at):
            return Pool.empty(self.dim)
        keys = at.tolist()
        order = np.array(pool_order(first.tolist(), keys, space.episode_codes.pool_labels(columns.episode[at]),
                                    columns.positions[at]), np.int64)
        at = at[order]
        if hide:
            at = at[~np.isin(at, np.fromiter(hide, np.int64, len(hide)))]
        return columns.pool(at, space.bm25.vocab, space.speakers, space.episode_codes)

    def candidates(self, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int, radius: int,
                   where: Node | None = None, live: Live | None = None) -> Pool:
        """:func:`~.base.gather_candidates`, on row keys: the searches' keys
        go straight into the pool, never mapped to ids and back."""
        for name, _ in searches:
            check_field(name)
        with self._lock:
            space = self._spaces.get(namespace)
            if space is None:
                return Pool.empty(self.dim)
            hide = {space.keys[i] for i in self.hidden(namespace, live)} if live is not None else set()
            m = n + len(hide)
            found = [self._nearest(space, name, vector, m, where)[0].tolist() for name, vector in searches]
            if terms:
                found.append([k for k, _ in self._lexical(space, terms, m, where)])
            return self._pool(space, list(live_keys(found, hide, n)), radius, where, hide)

    def episode_length(self, namespace: str, episode: str) -> int:
        with self._lock:
            space = self._spaces.get(namespace)
            members = space.episodes.get(episode) if space else None
            return max(members) + 1 if members else 0

    def last_trace(self, namespace: str) -> Trace | None:
        with self._lock:
            space = self._spaces.get(namespace)
            if not space or not space.traces:
                return None
            return space.traces[next(reversed(space.traces))]

    def access_logs(self, ids: Sequence[str], namespace: str) -> dict[str, AccessLog]:
        with self._lock:
            space = self._spaces.get(namespace)
            if space is None or self._columns is None:
                return {}
            return {tid: self._columns.log(space.keys[tid]) for tid in ids if tid in space.keys}

    def record_access(self, ids: Sequence[str], when: float, namespace: str) -> None:
        with self._lock:
            space = self._spaces.get(namespace)
            for tid in ids if space is not None and self._columns is not None else ():
                if tid in space.keys:  # type: ignore[union-attr]
                    self._columns.touch(space.keys[tid], when)  # type: ignore[union-attr]

    def load_state(self, namespace: str, key: str) -> dict | None:
        with self._lock:
            space = self._spaces.get(namespace)
            return space.state.get(key) if space else None

    def save_state(self, namespace: str, key: str, state: dict) -> None:
        with self._lock:
            if namespace in self._spaces:
                self._spaces[namespace].state[key] = state

    def context_record(self) -> ContextRecord | None:
        return self._context

    def record_context(self, record: ContextRecord) -> None:
        self._context = record

    def close(self) -> None:
        pass
