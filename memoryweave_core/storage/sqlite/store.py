"""SQLiteStore: the embedded default whenever MemoryWeave is given a path.

One file (WAL journal, one transaction per write call) holds the traces,
access logs, engine state and an FTS5 index; vector indexes live in memory
and beside the file.  This class takes the lock, notices other processes'
commits, and composes the modules of this package, which hold the rest.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading
import weakref
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import numpy as np

from ...activation import AccessLog
from ...ann import DEFAULT_THRESHOLD
from ...errors import InvalidInputError
from ...filters import Node
from ...pool import Pool
from ...trace import Trace
from ..base import Field, Live, Search, StoreBase, check_field, one_namespace
from ..codec import encode_state
from ..context import ContextRecord
from . import access, decode, graphnames, lifecycle, paging, queries, schema, search, write_path
from . import state as state_rows
from .cache import Caches
from .connection import Database
from .indexes import VectorIndexes
from .location import store_path
from .matching import Matching
from .postings import Postings
from .tokenids import StoredVocabulary
from .vcache import VectorCache

T = TypeVar("T")


class SQLiteStore(StoreBase):
    """Traces, vectors, access logs and engine state in one SQLite file.

    Parameters
    ----------
    path : str or Path
        The database file (created when missing).
    ann_threshold : int
        Rows per namespace above which vector search uses an HNSW graph.
    synchronous : "NORMAL" or "FULL"
        SQLite's sync level in WAL mode: with NORMAL a power loss may lose
        the last commits (never consistency); FULL keeps them too.
    busy_timeout : float
        Seconds to wait for another process's write lock.
    background_index : bool
        Insert into HNSW graphs on a background thread (rows are searchable
        exactly meanwhile).
    cache_size : int
        Traces (and access logs) kept decoded in memory (LRU); recall reads
        the same candidates several times.
    mmap_size : int
        Bytes of the file SQLite reads through a memory map instead of
        read() calls (its build caps this at 2 GiB).  Pass 0 for plain reads:
        with a map, a disk I/O error under a running process is a signal, not
        an exception.
    vector_cache : int
        Bytes of RAM for the vectors of rows recall read lately (LRU, filled
        as recalls read them, never at open; see :mod:`.vcache`).  0, the
        default, keeps none: each recall reads its pool's vectors from the file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        ann_threshold: int = DEFAULT_THRESHOLD,
        synchronous: str = "NORMAL",
        busy_timeout: float = 30.0,
        background_index: bool = True,
        cache_size: int = 32_768,
        mmap_size: int = 1 << 31,
        vector_cache: int = 0,
        **hnsw: Any,
    ) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise InvalidInputError("synchronous must be 'NORMAL' or 'FULL'")
        if isinstance(mmap_size, bool) or not isinstance(mmap_size, int) or mmap_size < 0:
            raise InvalidInputError(f"mmap_size must be an integer >= 0, got {mmap_size!r}")
        if isinstance(vector_cache, bool) or not isinstance(vector_cache, int) or vector_cache < 0:
            raise InvalidInputError(f"vector_cache must be a number of bytes >= 0, got {vector_cache!r}")
        self.path = store_path(path)
        self.ann_threshold = ann_threshold
        self.background_index = background_index
        self.hnsw_kwargs = hnsw
        self.cache_size = cache_size
        self._lock = threading.RLock()
        self._conn = schema.connect(self.path, synchronous.upper(), busy_timeout)
        self._db = Database(self._conn, self.path)
        self._conn.execute(f"PRAGMA mmap_size = {mmap_size}")
        self._data_version = self._db.pragma("data_version")
        self.dim: int | None = None
        dim = self._db.meta("dim")
        self.dim = int(dim) if dim is not None else None
        self._indexes = VectorIndexes(self._db, lambda: self.dim, graphnames.settle(self._db, self.path),
                                      threshold=ann_threshold,
                                      background=background_index, hnsw=hnsw, lock=self._lock)
        self._postings = Postings(self._db)
        self._vocab = StoredVocabulary(self._db)  # token ids (lexical scoring reads ids)
        self._caches = Caches(self._db, lambda: self.dim, cache_size, self._postings, self._indexes,
                              VectorCache(vector_cache) if vector_cache else None)
        self._matching = Matching(self._db)
        ref = weakref.ref(self)

        def close_at_exit() -> None:
            store = ref()
            if store is not None:
                store.close()

        self._atexit = close_at_exit
        atexit.register(self._atexit)

    # -- plumbing --------------------------------------------------------------
    def _check_external(self) -> None:
        """Another connection committed since we last looked: drop what we cached."""
        version = self._db.pragma("data_version")
        if version != self._data_version:
            self._data_version = version
            self._caches.invalidate()
            # graphs of namespaces another process forgot: never searched or saved again
            self._indexes.prune({r[0] for r in self._db.sql("SELECT id FROM namespaces")})
            self._matching.clear()
            if self.dim is None:
                dim = self._db.meta("dim")
                self.dim = int(dim) if dim is not None else None

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in one write transaction that first catches up with other
        processes' commits, inside it: a namespace id cached before another
        process forgot that namespace is never written under."""

        def run(conn: sqlite3.Connection) -> T:
            self._check_external()
            return fn(conn)

        return self._db.write(run)

    def _namespace_id(self, namespace: str) -> int | None:
        """The namespace's id (None when it has none) once other processes'
        commits are caught up with; called under the lock."""
        self._check_external()
        return self._caches.nsid(namespace)

    def _traces(self, rows: Sequence[tuple], namespaces: Sequence[str]) -> list[Trace]:
        return decode.traces(self._db, self.dim, rows, namespaces)

    # -- writing ---------------------------------------------------------------
    def add(self, traces: Sequence[Trace], *, context: ContextRecord | None = None) -> None:
        write_path.add(self, traces, [], context=context)

    def add_with_state(self, traces: Sequence[Trace], states: Mapping[str, dict], *,
                       context: ContextRecord | None = None) -> None:
        """The rows and the engine state in one transaction: a kill cannot keep one without the other."""
        if not traces:
            return
        namespace = one_namespace(traces)
        encoded = [(key, *encode_state(key, state)) for key, state in states.items()]
        write_path.add(self, traces, [(namespace, *e) for e in encoded], context=context)

    def supersede(self, old_id: str, archived_id: str, when: float, new: Trace, *,
                  context: ContextRecord | None = None) -> None:
        write_path.supersede(self, old_id, archived_id, when, new, context)

    def hidden(self, namespace: str, live: Live) -> set[str]:
        with self._lock:
            nsid = self._namespace_id(namespace)
            return set() if nsid is None else set(lifecycle.hidden_keys(self._db, nsid, live).values())

    def expired(self, now: float, limit: int, namespace: str | None = None) -> list[tuple[str, str]]:
        with self._lock:
            self._check_external()
            nsid = self._caches.nsid(namespace) if namespace is not None else None
            if namespace is not None and nsid is None:
                return []
            return lifecycle.expired_ids(self._db, now, limit, nsid)

    def set_expiry(self, ids: Sequence[str], expires_at: float | None, namespace: str) -> int:
        return write_path.set_expiry(self, ids, expires_at, namespace)

    def delete(self, ids: Sequence[str], namespace: str) -> int:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return 0
        return write_path.delete(self, lambda conn, nsid: ids, namespace)

    def delete_episode(self, namespace: str, episode: str) -> int:
        """The episode's ids from one query (no traces decoded), then :meth:`delete`."""
        with self._lock:
            nsid = self._caches.nsid(namespace)
            if nsid is None:
                return 0
            ids = queries.episode_ids(self._db, nsid, episode)
            return self.delete(ids, namespace)

    def delete_namespace(self, namespace: str) -> int:
        """Every row of the namespace, its ids read in the deleting transaction:
        an add that another process commits first is deleted too."""
        return write_path.delete(self, queries.namespace_ids, namespace)

    # -- reading ---------------------------------------------------------------
    def get(self, ids: Sequence[str], namespace: str) -> list[Trace]:
        ids = list(ids)
        if not ids:
            return []
        with self._lock:
            nsid = self._namespace_id(namespace)
            if nsid is None:
                return []
            found = self._caches.entries(ids, nsid)
            return [found[i][0] for i in ids if i in found]

    def count(self, namespace: str | None = None) -> int:
        with self._lock:
            self._check_external()
            return queries.count(self._db, namespace)

    def namespaces(self) -> list[str]:
        with self._lock:
            return queries.namespace_names(self._db)

    def iter_traces(self, namespace: str | None = None) -> Iterator[Trace]:
        """Every trace, oldest first, read in pages (a snapshot per page)."""
        with self._lock:
            nsid = self._caches.nsid(namespace) if namespace is not None else None
            if namespace is not None and nsid is None:
                return iter(())
        return paging.pages(self, nsid)

    def episode_traces(self, namespace: str, episode: str, start: int, stop: int) -> list[Trace]:
        return paging.episode_traces(self, namespace, episode, start, stop)

    def episode_length(self, namespace: str, episode: str) -> int:
        with self._lock:
            nsid = self._namespace_id(namespace)
            if nsid is None:
                return 0
            return queries.episode_length(self._db, nsid, episode)

    def last_trace(self, namespace: str) -> Trace | None:
        with self._lock:
            nsid = self._namespace_id(namespace)
            if nsid is None:
                return None
            rows = queries.last_row(self._db, nsid)
        return self._traces(rows, [namespace])[0] if rows else None

    # -- candidates ------------------------------------------------------------
    def nearest(self, namespace: str, field: Field, vector: np.ndarray, n: int,
                where: Node | None = None) -> list[tuple[str, float]]:
        check_field(field)
        with self._lock:
            nsid = self._namespace_id(namespace)
            if nsid is None or self.dim is None:
                return []
            keys, sims = search.nearest_keys(self, nsid, field, vector, n, where)
            ids = self._caches.ids(nsid, keys.tolist())
            return [(ids[k], float(s)) for k, s in zip(keys.tolist(), sims.tolist()) if k in ids]

    def lexical_stats(self, namespace: str, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        with self._lock:
            nsid = self._namespace_id(namespace)
            return (0, 0.0, {}) if nsid is None else self._postings.stats(nsid, list(terms))

    def lexical(self, namespace: str, terms: Sequence[str], n: int, where: Node | None = None) -> list[tuple[str, float]]:
        """Top ``n`` by BM25 from cached posting arrays, as :meth:`BM25Index.search
        <memoryweave_core.lexical.BM25Index.search>` finds them."""
        terms = list(terms)
        if not terms or n <= 0:
            return []
        with self._lock:
            nsid = self._namespace_id(namespace)
            if nsid is None:
                return []
            best = search.lexical_keys(self, nsid, terms, n, where)
            ids = self._caches.ids(nsid, [k for k, _ in best])
        return [(ids[k], s) for k, s in best if k in ids]

    def pool(self, namespace: str, ids: Sequence[str] = (), radius: int = 0, where: Node | None = None) -> Pool:
        with self._lock:
            nsid = self._namespace_id(namespace)
            if nsid is None or self.dim is None:
                return Pool.empty(self.dim)
            key_of = self._caches.keys(nsid, ids)
            return decode.pool(self._db, self.dim, nsid, [key_of[i] for i in ids if i in key_of], radius, self._vocab, where,
                               self._caches.vectors)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One deferred read transaction (WAL: a snapshot) around the block,
        holding the store's lock; nested blocks share the outer one."""
        with self._lock, self._indexes.readers.reading():
            if self._conn.in_transaction:
                yield
                return
            self._db.sql("BEGIN")
            try:
                yield
            finally:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error:
                    pass

    def candidates(self, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int, radius: int,
                   where: Node | None = None, live: Live | None = None) -> Pool:
        """The searches' row keys go straight into the pool's query: the ids
        come with the rows, never mapped from keys and back.  Rows ``live``
        hides are searched past (each search asks for as many more) and left out."""
        for field, _ in searches:
            check_field(field)
        with self.snapshot():
            nsid = self._namespace_id(namespace)
            if nsid is None or self.dim is None:
                return Pool.empty(self.dim)
            return search.candidates(self, nsid, self.dim, searches, terms, n, radius, where, live)

    # -- access logs and state ---------------------------------------------------
    def access_logs(self, ids: Sequence[str], namespace: str) -> dict[str, AccessLog]:
        with self._lock:
            nsid = self._namespace_id(namespace)
            return {} if nsid is None else access.logs(self._caches, nsid, list(ids))

    def record_access(self, ids: Sequence[str], when: float, namespace: str) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._lock:
            nsid = self._namespace_id(namespace)
            if nsid is None:
                return
            new = access.record(self._caches, nsid, ids, when, self._check_external)
            self._caches.remember_logs(nsid, new)  # only after the commit

    def load_state(self, namespace: str, key: str) -> dict | None:
        with self._lock:
            nsid = self._namespace_id(namespace)
            return None if nsid is None else state_rows.load(self._db, nsid, key)

    def save_state(self, namespace: str, key: str, state: dict) -> None:
        write_path.save_state(self, namespace, key, state)

    # -- vector indexes and closing ------------------------------------------------
    def context_record(self) -> ContextRecord | None:
        with self._lock:
            return queries.context_record(self._db, self.path)

    def record_context(self, record: ContextRecord) -> None:
        with self._lock:
            self._db.write(lambda conn: conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", record.meta()))

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Block until every loaded HNSW graph holds all its rows (benchmarks and tests)."""
        return self._indexes.wait(timeout)

    def save_indexes(self) -> None:
        """Write changed HNSW graphs beside the database and record their digests (close() does this too)."""
        with self._lock:
            self._indexes.save()

    def close(self) -> None:
        with self._lock:
            if self._db.closed:
                return
            try:
                self._indexes.close()
            finally:
                self._db.closed = True
                atexit.unregister(self._atexit)
                try:
                    self._conn.execute("PRAGMA optimize")
                except sqlite3.Error:
                    pass
                self._conn.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"
