"""AutoIndex, what stores use: exact below a threshold, an HNSW graph plus an exact delta above it.

New rows are searchable the moment ``add`` returns (exactly, in the delta),
and a background thread moves them into the graph in chunks (hnswlib
releases the GIL while it inserts), so bulk adds cost a copy, not a graph
insertion; a search merges the graph's answer with the delta's.  ``wait()``
blocks until the graph holds everything.  Without hnswlib the index stays
exact (with one warning).
"""

from __future__ import annotations

import atexit
import sys
import threading
import warnings
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import MissingDependencyError
from ..keysets import unique, unique_first
from ..vectors import ExactIndex, as_batch, unit_rows
from .files import Staged, remove_files
from .hnsw import HNSWIndex
from .readers import Readers

#: Rows above which AutoIndex builds an HNSW graph (exact search below).
DEFAULT_THRESHOLD = 20_000
#: Rows the background indexer inserts per step (bounds how long a search waits for it).
CHUNK = 256
#: Rows the background indexer inserts per hold of the graph's lock (bounds how long a search waits).
STEP = 16
#: Seconds the exit handler waits for each indexer to finish its chunk.
EXIT_JOIN = 10.0

#: Indexes whose background indexer may be running: stopped at interpreter exit.
_RUNNING: "weakref.WeakSet[AutoIndex]" = weakref.WeakSet()


@atexit.register
def _stop_indexers() -> None:
    """Stop every background indexer before the interpreter tears down.

    An hnswlib insert still running on a daemon thread when the process
    ends aborts it (SIGABRT); rows not yet in a graph are simply put back
    from the database on the next open."""
    for index in list(_RUNNING):
        index.stop(EXIT_JOIN)


def merge(parts: list[tuple[np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best of several searches' (keys, sims), a key that is in two parts counted once."""
    full = [p for p in parts if len(p[0])]
    if len(full) == 1 and np.all(full[0][1][1:] < full[0][1][:-1]):  # one search's hits without ties: its order
        return full[0][0][:n], full[0][1][:n]
    if len(parts) == 1:
        return parts[0]
    keys = np.concatenate([p[0] for p in parts])
    sims = np.concatenate([p[1] for p in parts])
    keys, first, _ = unique_first(keys)  # a row can be in two parts for a moment
    sims = sims[first]
    top = np.argsort(-sims, kind="stable")[:n]
    return keys[top], sims[top]


class AutoIndex:
    """Exact below ``threshold`` rows; HNSW graph plus exact delta above it.

    Parameters
    ----------
    dim : int
    threshold : int
        Row count at which the HNSW graph is built.
    background : bool
        Move delta rows into the graph on a background thread (default).
        When False, ``add`` inserts into the graph before returning.
    readers : Readers
        Reads the background indexer steps aside for (a store shares one
        between its indexes and marks each recall on it); a new one when None.
    hnsw : dict
        Keyword arguments for :class:`HNSWIndex` (``M``, ``ef_construction``, ``ef_search``...).
    """

    def __init__(self, dim: int, *, threshold: int = DEFAULT_THRESHOLD, background: bool = True,
                 readers: Readers | None = None, **hnsw: Any) -> None:
        self.dim = dim
        self.readers = readers if readers is not None else Readers()
        self.threshold = threshold
        self.background = background
        self.hnsw_kwargs = hnsw
        self._graph: HNSWIndex | None = None
        self._delta = ExactIndex(dim)  # everything while exact; rows not yet in the graph after
        self._inflight = ExactIndex(dim, capacity=16)  # rows the indexer is inserting right now
        self._cancelled: set[int] = set()  # in-flight rows removed meanwhile
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._closed = False
        self.changes = 0  # rows added to (or removed from) what a save writes, since the last save/load

    @property
    def dirty(self) -> bool:
        """Changed since the last save or load."""
        return self.changes > 0

    @property
    def kind(self) -> str:
        return "hnsw" if self._graph is not None else "exact"

    def __len__(self) -> int:
        with self._lock:
            fly = set(self._inflight.items()[0].tolist())
            if self._graph is None:
                return len(self._delta) + len(fly - self._cancelled)
            # The indexer adds in-flight rows to the graph outside our lock: until it lands
            # them, a row can be both in flight and in the graph (count it once), and a
            # cancelled one can be in the graph for a moment (not counted).
            live = self._graph._live.copy()  # one C call: the indexer adds outside our lock
            in_graph = len(live) - sum(1 for k in self._cancelled if k in live)
            return len(self._delta) + in_graph + sum(1 for k in fly - self._cancelled if k not in live)

    @property
    def in_graph(self) -> int:
        """Rows in the HNSW graph (0 while exact); cheap, unlike ``len()``."""
        graph = self._graph
        return len(graph) if graph is not None else 0

    @property
    def pending(self) -> int:
        """Rows searchable but not yet in the HNSW graph."""
        with self._lock:
            return len(self._delta) + len(self._inflight) if self._graph is not None else 0

    def keys(self) -> np.ndarray:
        with self._lock:
            parts = [self._delta.items()[0]]
            fly = self._inflight.items()[0]
            parts.append(fly[~np.isin(fly, np.fromiter(self._cancelled, np.int64, len(self._cancelled)))])
            if self._graph is None:
                return np.concatenate(parts)
            cancelled = np.fromiter(self._cancelled, np.int64, len(self._cancelled))
            graph = self._graph.keys()
            parts.append(graph[~np.isin(graph, cancelled)])
            return unique(np.concatenate(parts))  # in flight and already in the graph: once

    # -- writing ---------------------------------------------------------------
    def add(self, keys: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        keys, vectors = as_batch(keys, vectors, self.dim)
        if not len(keys):
            return
        with self._lock:
            self.remove(keys)  # re-adding a key replaces its vector
            self._delta.add(keys, vectors)
            if self._graph is None:
                self.changes += len(keys)
            if self._graph is None and len(self) > self.threshold:
                try:
                    self._graph = HNSWIndex(self.dim, capacity=2 * len(self), **self.hnsw_kwargs)
                    self.changes = 0  # every row is counted again as it lands in the graph
                except MissingDependencyError as exc:
                    warnings.warn(f"{exc}; staying with exact search", RuntimeWarning, stacklevel=2)
                    self.threshold = float("inf")  # type: ignore[assignment]
            if self._graph is not None:
                if self.background:
                    self._start_worker()
                else:
                    self._drain()

    def remove(self, keys: Sequence[int] | np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if not len(keys):
            return
        with self._lock:
            self._delta.remove(keys)
            for k in keys.tolist():
                if k in self._inflight._pos:
                    self._cancelled.add(k)
            if self._graph is None:
                self.changes += len(keys)
            else:  # only rows a save would write differently: not re-added or unknown ones
                graph = self._graph
                self.changes += sum(1 for k in keys.tolist() if k in graph)
                graph.remove(keys)

    # -- background indexing ------------------------------------------------------
    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="memoryweave-hnsw", daemon=True)
            _RUNNING.add(self)
            self._worker.start()

    def _take(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Move the oldest CHUNK delta rows to in-flight (under the lock)."""
        if not len(self._delta) or self._closed or sys.is_finalizing():
            return None
        keys, vecs = self._delta.items(CHUNK)
        self._inflight = ExactIndex(self.dim, capacity=max(len(keys), 16))
        self._inflight.add(keys, vecs)
        self._delta.remove(keys)
        return keys, vecs

    def _land(self) -> None:
        """In-flight rows are in the graph now; drop the ones removed meanwhile (under the lock)."""
        if self._cancelled:
            assert self._graph is not None  # rows are in flight only once a graph exists
            self._graph.remove(list(self._cancelled))
            self._cancelled.clear()
        self.changes += len(self._inflight)
        self._inflight = ExactIndex(self.dim, capacity=16)
        self._idle.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                got = self._take()
                if got is None:
                    self._idle.notify_all()
                    return
                graph = self._graph
            assert graph is not None  # rows are taken only once a graph exists
            keys, vecs = got
            for i in range(0, len(keys), STEP):
                # Outside our lock (searches go on meanwhile; the graph has its own), a few rows
                # per hold of the graph's lock, each step once no recall is running (readers first).
                if not self._closed:
                    self.readers.wait_idle()
                graph.add(keys[i : i + STEP], vecs[i : i + STEP])
            with self._lock:
                self._land()

    def _drain(self) -> None:
        while (got := self._take()) is not None:
            assert self._graph is not None
            self._graph.add(*got)
            self._land()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every row is in the graph (or exact); True when done."""
        with self._lock:
            if self._graph is not None and len(self._delta) and not (self._worker and self._worker.is_alive()):
                self._start_worker()
            return self._idle.wait_for(
                lambda: self._graph is None or (not len(self._delta) and not len(self._inflight)), timeout
            )

    def close(self) -> None:
        """Stop the indexer after its current chunk (rows stay searchable in the delta)."""
        self.stop(None)

    def stop(self, timeout: float | None) -> None:
        """:meth:`close`, waiting at most ``timeout`` seconds for the current chunk."""
        with self._lock:
            self._closed = True
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)
        _RUNNING.discard(self)

    # -- reading -------------------------------------------------------------------
    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        with self.readers.reading():
            return self._search(query, n)

    def _search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            parts = [self._delta.search(query, n)]
            if len(self._inflight):
                k, s = self._inflight.search(query, n)
                keep = ~np.isin(k, np.fromiter(self._cancelled, np.int64, len(self._cancelled)))
                parts.append((k[keep], s[keep]))
            graph = self._graph
        if graph is not None:
            parts.append(graph.search(query, n))
        return merge(parts, n)

    # -- persistence ---------------------------------------------------------------
    def save(self, path: str) -> dict | None:
        """Save the HNSW graph (the delta is not saved: the owner's database has
        those rows and :meth:`sync` puts them back).  Returns the files' SHA-256
        digests (see :meth:`HNSWIndex.save`; truthy), or None when exact (nothing saved)."""
        staged, counted = self.stage(path)
        if staged is None:
            remove_files(path)
            self.saved(counted)
            return None
        staged.publish()
        self.saved(counted)
        return staged.digests

    def stage(self, path: str) -> tuple[Staged | None, int]:
        """The graph written to temporary files beside ``path`` (None when exact:
        nothing to save), and the :attr:`changes` that save covers (pass them to
        :meth:`saved` once it is published).  Searches go on meanwhile."""
        with self._lock:
            graph, counted = self._graph, self.changes
        return (graph.stage(path) if graph is not None else None), counted

    def saved(self, counted: int) -> None:
        """A save covering ``counted`` changes is in place."""
        with self._lock:
            self.changes = max(0, self.changes - counted)

    @classmethod
    def load(
        cls,
        path: str,
        dim: int,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        background: bool = True,
        digests: dict | list | None = None,
        readers: Readers | None = None,
        stop: Callable[[], bool] | None = None,
        **hnsw: Any,
    ) -> "AutoIndex | None":
        graph = HNSWIndex.load(path, dim, digests=digests, stop=stop, **hnsw)
        if graph is None:
            return None
        index = cls(dim, threshold=threshold, background=background, readers=readers, **hnsw)
        index._graph = graph
        return index

    def sync(self, keys: np.ndarray, fetch: Callable[..., np.ndarray]) -> tuple[int, int]:
        """Make the index hold exactly ``keys``: remove the others, and add the
        missing ones with vectors from ``fetch(missing_keys) -> [n, dim]``.
        A fetched vector that is not finite and unit-length (a row deleted
        between the reads, or a damaged one) is never indexed.
        Returns (added, removed)."""
        keys = np.asarray(keys, dtype=np.int64)
        with self._lock:
            have = self.keys()
            extra = np.setdiff1d(have, keys, assume_unique=True)
            missing = np.setdiff1d(keys, have, assume_unique=True)
            self.remove(extra)
            if len(missing):
                vectors = np.asarray(fetch(missing), dtype=np.float32)
                ok = unit_rows(vectors)
                missing = missing[ok]
                self.add(missing, vectors[ok])
            return len(missing), len(extra)
