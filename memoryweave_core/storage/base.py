"""The storage protocol: what the engine asks of a backend, and nothing more.

A store keeps traces and answers *candidate* queries: nearest vectors,
lexical matches, and the columns of a candidate pool (with the episodic
neighbours of the first candidates); :meth:`Store.candidates` is all three
for one recall, in one call.  A recall filter (a parsed
:mod:`~memoryweave_core.filters` node, ``where``) is applied inside each of
these searches, never to their results, so a selective filter still finds
``n`` matches when they exist.  ``Store`` is what the engine calls;
``StoreBase`` is what a backend subclasses.  Everything that turns
candidates into a ranking (features, fusion, explanations) lives in the
engine, once, so every backend ranks the same way.  Every method that takes a
namespace applies it inside the query: no backend ever returns a trace of
another namespace.  A trace id is unique within its namespace: the same id
may name different traces of two namespaces, so every call that takes ids
takes the namespace they belong to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import (
    Callable,
    Container,
    Hashable,
    Iterable,
    Iterator,
    Literal,
    Mapping,
    Protocol,
    Sequence,
    TypeVar,
    runtime_checkable,
)

import numpy as np

from ..activation import AccessLog
from ..errors import DimensionMismatchError, InvalidInputError, NonFiniteVectorError
from ..filters import Node
from ..pool import Pool
from ..trace import Trace
from ..vectors import damaged_rows, unit_rows
from .context import ContextRecord

K = TypeVar("K", bound=Hashable)  # a trace id, or a store's row key
Field = Literal["content", "context"]
#: One vector search of a recall: which vectors to search, and the query vector.
Search = tuple[Field, np.ndarray]


@dataclass(frozen=True)
class Live:
    """Which traces a recall may see: versions current at ``at`` (every
    version when ``at`` is None) that have not expired by ``now``.  Expiry is
    judged by the clock, never by ``at``: an expired trace is gone for good."""

    at: float | None
    now: float


def is_live(trace: Trace, live: Live) -> bool:
    """The reference form of the condition each backend renders in its own
    query language (``MemoryStore`` evaluates this one)."""
    if trace.expires_at is not None and trace.expires_at <= live.now:
        return False
    if live.at is None:
        return True
    if trace.superseded_at is not None and trace.superseded_at <= live.at:
        return False
    return trace.supersedes is None or trace.time <= live.at


def check_field(field: str) -> None:
    """A vector search names one of the two vectors a trace has."""
    if field not in ("content", "context"):
        raise InvalidInputError(f"field must be 'content' or 'context', got {field!r}")


def vector_dim(traces: Sequence[Trace], dim: int | None) -> int:
    """The dimension a batch must have (the store's, or the first trace's),
    checked for every vector, and every vector finite and unit-length: what
    the indexes hold and the pools require (``MemoryWeave`` normalises every
    vector; a store used directly refuses the batch before writing any of it)."""
    for t in traces:
        if t.content is None or t.context is None:
            raise DimensionMismatchError(f"trace {t.id} has no vectors to store")
        dim = dim or len(t.content)
        if len(t.content) != dim or len(t.context) != dim:
            raise DimensionMismatchError(f"vectors of {t.id} are not {dim}-dimensional")
    if dim is None:
        raise InvalidInputError("a batch to store holds no traces")
    vectors = np.asarray([v for t in traces for v in (t.content, t.context)], np.float32)
    ok = unit_rows(vectors)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise NonFiniteVectorError(f"the {('content', 'context')[bad % 2]} vector of {traces[bad // 2].id} is not "
                                   "finite and unit-length (stores hold unit vectors; MemoryWeave normalises them)")
    return dim


def pool_vector_damage(ids: Sequence[str], content: np.ndarray, context: np.ndarray) -> str | None:
    """What a pool read from a file or a server must refuse (``vectors.damaged_rows``),
    as the message of its store's corruption error, naming the trace; None: nothing."""
    for name, vectors in (("content", content), ("context", context)):
        bad = damaged_rows(vectors)
        if len(bad):
            return f"trace {ids[bad[0]]!r} has a {name} vector that is not finite and unit-length"
    return None


def one_namespace(traces: Sequence[Trace]) -> str:
    """The namespace all ``traces`` share (engine state belongs to one)."""
    names = {t.namespace for t in traces}
    if len(names) != 1:
        raise InvalidInputError("traces added with engine state must share one namespace")
    return names.pop()


@runtime_checkable
class Store(Protocol):
    """What the engine asks of a store; :class:`StoreBase` derives the
    composite members from a backend's primitives (see ``MemoryStore``)."""

    #: Vector dimension, fixed by the first add (None while empty).
    dim: int | None

    def add(self, traces: Sequence[Trace], *, context: ContextRecord | None = None) -> None:
        """Write all traces atomically, each with a fresh access log at ``trace.time``.
        With ``context`` (how their context vectors were made), the write is
        refused unless the store's record admits it (:func:`.context.admit`),
        checked in the same transaction."""

    def add_with_state(self, traces: Sequence[Trace], states: Mapping[str, dict], *,
                       context: ContextRecord | None = None) -> None:
        """:meth:`add`, and :meth:`save_state` of the traces' one namespace for
        each ``key: state``; a backend that can commits them together."""

    def get(self, ids: Sequence[str], namespace: str) -> list[Trace]:
        """The namespace's traces by id in the given order; ids unknown there are skipped."""

    def delete(self, ids: Sequence[str], namespace: str) -> int:
        """Delete the namespace's traces with these ids, with their vectors, index
        entries and access logs; returns how many (ids unknown there are skipped)."""

    def delete_episode(self, namespace: str, episode: str) -> int: ...

    def delete_namespace(self, namespace: str) -> int: ...

    def count(self, namespace: str | None = None) -> int: ...

    def namespaces(self) -> list[str]: ...

    def iter_traces(self, namespace: str | None = None) -> Iterator[Trace]:
        """Every trace, oldest first (by insertion)."""

    def lexical_stats(self, namespace: str, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        """What BM25 needs to score a recall's candidates: how many traces the
        namespace holds, their average length in tokens, and the document
        frequency of each of the terms that occurs."""

    def episode_traces(self, namespace: str, episode: str, start: int, stop: int) -> list[Trace]:
        """Traces of one episode with ``start <= position < stop``, in order."""

    def snapshot(self) -> AbstractContextManager:
        """Reads inside the block see one state of the store (no writes inside it)."""

    def candidates(self, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int, radius: int,
                   where: Node | None = None, live: Live | None = None) -> Pool:
        """One recall's pool: the ``n`` nearest of every search and the ``n``
        best BM25 matches of ``terms``, asked in that order, with their
        episodic neighbours (as :meth:`StoreBase.pool` gives them); with
        ``where``, only traces matching it, ``n`` per search whenever ``n``
        match; with ``live``, only traces it admits, still ``n`` of each search."""
    def hidden(self, namespace: str, live: Live) -> set[str]:
        """Ids of the namespace's traces that ``live`` excludes (superseded,
        not yet current, or expired): few, found through an index."""

    def supersede(self, old_id: str, archived_id: str, when: float, new: Trace, *,
                  context: ContextRecord | None = None) -> None:
        """In one transaction: the trace ``old_id`` of ``new.namespace`` is kept
        as ``archived_id`` with ``superseded_at = when`` (its access log follows
        it), and ``new`` (whose id is ``old_id``) is added (``context``: as in :meth:`add`)."""

    def expired(self, now: float, limit: int, namespace: str | None = None) -> list[tuple[str, str]]:
        """Up to ``limit`` ``(namespace, id)`` pairs of traces whose ``expires_at <= now``
        (of one namespace, or of all: ids alone would be ambiguous across namespaces)."""

    def set_expiry(self, ids: Sequence[str], expires_at: float | None, namespace: str) -> int:
        """Give these traces of the namespace a new expiry (None: never); returns how
        many exist there.  Expiry is a lifecycle field, not content: it changes in place."""

    def episode_length(self, namespace: str, episode: str) -> int:
        """One past the largest position in the episode (0 when it is new)."""

    def last_trace(self, namespace: str) -> Trace | None:
        """The most recently added trace of the namespace."""

    def access_logs(self, ids: Sequence[str], namespace: str) -> dict[str, AccessLog]:
        """The access logs of the namespace's traces with these ids, by id.  An id
        the namespace does not hold (never did, or forgotten meanwhile by another
        thread or process) is skipped, as :meth:`get` skips it: a caller that
        read ids a moment ago gets the logs of those still there, never an error."""

    def record_access(self, ids: Sequence[str], when: float, namespace: str) -> None:
        """Count one access at ``when`` per listed id of the namespace (an id listed
        twice, twice); ids the namespace does not hold are skipped."""

    def load_state(self, namespace: str, key: str) -> dict | None:
        """Engine state kept beside the traces (ART prototypes), JSON-safe plus arrays."""

    def save_state(self, namespace: str, key: str, state: dict) -> None: ...

    def context_record(self) -> ContextRecord | None:
        """How the store's context vectors were made (:mod:`.context`); None until recorded."""

    def record_context(self, record: ContextRecord) -> None:
        """Record how the store's context vectors are made (the engine settles it: :func:`.context.settle`)."""

    def close(self) -> None: ...


class StoreBase(ABC):
    """A backend's base: it writes the primitives (the abstract methods) and
    inherits :meth:`candidates` and the episode and namespace deletes, which
    it may override for speed (one query instead of several)."""

    dim: int | None = None

    @abstractmethod
    def add(self, traces: Sequence[Trace], *, context: ContextRecord | None = None) -> None: ...

    def add_with_state(self, traces: Sequence[Trace], states: Mapping[str, dict], *,
                       context: ContextRecord | None = None) -> None:
        """:meth:`add`, then :meth:`save_state`: a backend whose add and state
        writes can share a transaction overrides this, so a crash in between
        cannot keep the rows without their state."""
        if not traces:
            return
        namespace = one_namespace(traces)
        self.add(traces, context=context)
        for key, state in states.items():
            self.save_state(namespace, key, state)

    @abstractmethod
    def get(self, ids: Sequence[str], namespace: str) -> list[Trace]: ...

    @abstractmethod
    def delete(self, ids: Sequence[str], namespace: str) -> int: ...

    @abstractmethod
    def count(self, namespace: str | None = None) -> int: ...

    @abstractmethod
    def namespaces(self) -> list[str]: ...

    @abstractmethod
    def iter_traces(self, namespace: str | None = None) -> Iterator[Trace]: ...

    @abstractmethod
    def nearest(self, namespace: str, field: Field, vector: np.ndarray, n: int,
                where: Node | None = None) -> list[tuple[str, float]]:
        """``n`` nearest traces by cosine on the content or context vectors (checks
        ``field``), among those matching ``where``: ``n`` whenever ``n`` match."""

    @abstractmethod
    def lexical(self, namespace: str, terms: Sequence[str], n: int, where: Node | None = None) -> list[tuple[str, float]]:
        """Top ``n`` traces by BM25 over already-tokenised query terms, among those matching ``where``."""

    @abstractmethod
    def lexical_stats(self, namespace: str, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]: ...

    @abstractmethod
    def episode_traces(self, namespace: str, episode: str, start: int, stop: int) -> list[Trace]: ...

    @abstractmethod
    def pool(self, namespace: str, ids: Sequence[str] = (), radius: int = 0, where: Node | None = None) -> Pool:
        """Recall's candidate pool as columns, with tokens and access logs: the
        traces with these ids (ids unknown in the namespace are skipped) and
        their episodic neighbours, the traces of the same episode within
        ``radius`` positions of one of them; each once, in the order of
        :func:`~memoryweave_core.pool.pool_order`.  With ``where``, only the
        traces (asked or neighbours) that match it."""

    @abstractmethod
    def episode_length(self, namespace: str, episode: str) -> int: ...

    @abstractmethod
    def last_trace(self, namespace: str) -> Trace | None: ...

    @abstractmethod
    def access_logs(self, ids: Sequence[str], namespace: str) -> dict[str, AccessLog]: ...

    @abstractmethod
    def record_access(self, ids: Sequence[str], when: float, namespace: str) -> None: ...

    @abstractmethod
    def load_state(self, namespace: str, key: str) -> dict | None: ...

    @abstractmethod
    def save_state(self, namespace: str, key: str, state: dict) -> None: ...

    @abstractmethod
    def context_record(self) -> ContextRecord | None: ...

    @abstractmethod
    def record_context(self, record: ContextRecord) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def snapshot(self) -> AbstractContextManager:
        """No-op here: a backend whose reads can interleave with another
        process's writes overrides this with a read transaction."""
        return nullcontext()

    @abstractmethod
    def hidden(self, namespace: str, live: Live) -> set[str]: ...

    @abstractmethod
    def supersede(self, old_id: str, archived_id: str, when: float, new: Trace, *,
                  context: ContextRecord | None = None) -> None: ...

    @abstractmethod
    def expired(self, now: float, limit: int, namespace: str | None = None) -> list[tuple[str, str]]: ...

    @abstractmethod
    def set_expiry(self, ids: Sequence[str], expires_at: float | None, namespace: str) -> int: ...

    def candidates(self, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int, radius: int,
                   where: Node | None = None, live: Live | None = None) -> Pool:
        """:func:`gather_candidates`; a backend may answer it in one pass instead."""
        return gather_candidates(self, namespace, searches, terms, n, radius, where=where, live=live)

    def delete_episode(self, namespace: str, episode: str) -> int:
        """Every trace of the episode, through :meth:`delete`."""
        traces = self.episode_traces(namespace, episode, 0, self.episode_length(namespace, episode))
        return self.delete([t.id for t in traces], namespace)

    def delete_namespace(self, namespace: str) -> int:
        """Every trace of the namespace, through :meth:`delete` (which drops its state with its last trace)."""
        return self.delete([t.id for t in self.iter_traces(namespace)], namespace)


def gather_candidates(store: StoreBase, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int,
                      radius: int, nearest: Callable[[str, Sequence[Search], int, Node | None], list] | None = None,
                      where: Node | None = None, live: Live | None = None) -> Pool:
    """:meth:`Store.candidates` from the store's ``nearest`` (which checks each
    field), ``lexical`` and ``pool``, each given the filter ``where``;
    ``nearest(namespace, searches, n, where)``, when given, answers every
    search at once (a list of hits per search).

    With ``live``, each search asks for ``n`` plus the number of traces
    ``live`` hides and drops those: an exact search still brings ``n`` live
    traces back, however many versions or expired traces the namespace holds."""
    hide = store.hidden(namespace, live) if live is not None else set()
    m = n + len(hide)
    if nearest is None:
        found = [store.nearest(namespace, field, vector, m, where) for field, vector in searches]
    else:
        found = nearest(namespace, searches, m, where)
    if terms:
        found = [*found, store.lexical(namespace, terms, m, where)]
    return without(store.pool(namespace, ids=list(live_hits(found, hide, n)), radius=radius, where=where), hide)


def live_hits(found: Sequence[Sequence[tuple[str, float]]], hide: set[str], n: int) -> dict[str, None]:
    """The first ``n`` ids of each search's hits that are not hidden, in the
    order asked, each once (the ids a pool is asked for)."""
    return live_keys(([i for i, _ in hits] for hits in found), hide, n)


def live_keys(found: Iterable[Sequence[K]], hide: Container[K], n: int) -> dict[K, None]:
    """:func:`live_hits` for searches that hand over their hits' ids or row
    keys alone, best first (the stores that search in row keys)."""
    keys: dict[K, None] = {}
    for hits in found:
        keys.update(dict.fromkeys([k for k in hits if k not in hide][:n]))
    return keys


def without(pool: Pool, hide: set[str]) -> Pool:
    """The pool less the rows of hidden traces (episodic neighbours that an
    update superseded or that expired)."""
    if not hide:
        return pool
    keep = [r for r, i in enumerate(pool.ids.tolist()) if i not in hide]
    return pool if len(keep) == len(pool) else pool.take(keep)
