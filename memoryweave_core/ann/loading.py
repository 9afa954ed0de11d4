"""A saved graph that answers searches while it loads: an open that does not wait.

Loading a saved HNSW graph means reading the file, hashing it against the
recorded digest, checking its structure, and then letting hnswlib read it
again.  At a million rows that takes tens of seconds.  :class:`LoadingIndex`
runs all of it on a background thread.  Meanwhile it answers every search
exactly, from the file's own vectors (:class:`~.graphscan.GraphScan`),
merged with an exact delta of the rows the file lacks, as AutoIndex merges
its graph's answer with its delta.  Only keys that are both in the saved
keys file (whose digest is checked first, a cheap hash) and live in the
owner's database are read from the file, so the answers hold exactly the
rows the loaded and synced graph will hold.

Its owner serialises every call (the store's lock) and, once :attr:`done`,
swaps in :meth:`settle`'s index.  When the load fails its check, ``settle``
returns None and the owner rebuilds from its database, as when a file fails
the check at a blocking load.  Answers given before then came from the
file's floats for the namespace's own live rows, never from any other key:
a crafted file could have misranked those rows, and nothing more.
"""

from __future__ import annotations

import atexit
import sys
import threading
import weakref
from typing import Callable, Sequence

import numpy as np

from ..keysets import difference, unique
from ..vectors import ExactIndex, as_batch, unit_rows
from .auto import AutoIndex, merge
from .graphscan import GraphScan
from .hnsw import trusted_keys

#: Seconds the exit handler waits for each load in progress.
EXIT_JOIN = 10.0
#: Thread name of a background load.
THREAD_NAME = "memoryweave-graph-load"

#: Graph loads running at once, process-wide: a namespace's two (content and context)
#: load together, as blocking loads did, and each holds a whole file in memory while it is checked.
LOADS_AT_ONCE = 2
_SLOTS = threading.BoundedSemaphore(LOADS_AT_ONCE)
_RUNNING: "weakref.WeakSet[LoadingIndex]" = weakref.WeakSet()


@atexit.register
def _stop_loads() -> None:
    """Let loads in progress finish (hnswlib must not be reading a file while the interpreter tears down)."""
    for index in list(_RUNNING):
        index.stop(EXIT_JOIN)


class LoadingIndex:
    """The vector index of a namespace whose saved graph is loading in the background.

    :meth:`open` it, :meth:`sync` it with the live keys, then :meth:`begin` the load.
    """

    kind = "loading"
    pending = 0  # its delta is counted in ``changes``: rows the saved file lacks

    def __init__(self, dim: int, scan: GraphScan, file_keys: np.ndarray) -> None:
        self.dim = dim
        self._scan: GraphScan | None = scan
        self._file_keys = unique(file_keys)
        self._rows = np.zeros(scan.count, dtype=bool)  # file rows searched: in the keys file and live
        self._dead: list[np.ndarray] = []  # keys of the keys file the result must drop
        self._delta = ExactIndex(dim)  # live rows the file does not hold, and rows added since
        self.changes = 0  # rows added to or removed from what the saved file holds (what a save would write)
        self._result: AutoIndex | None = None
        self._fetch: Callable[[np.ndarray], np.ndarray] = lambda keys: np.zeros((0, dim), np.float32)
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, path: str, dim: int, digests: dict | list) -> "LoadingIndex | None":
        """The graph saved at ``path``, mapped; None when its header, its sidecar or its
        keys file does not hold (the caller loads it as before, to rebuild it)."""
        keys = trusted_keys(path, dim, digests)
        if keys is None:
            return None
        scan = GraphScan.open(path, dim)
        return None if scan is None else cls(dim, scan, keys)

    def begin(self, load: Callable[..., AutoIndex | None]) -> None:
        """Run ``load(stop=...)`` (the blocking load of the same files, told to give up
        once this index is closed) on a thread of its own."""
        self._thread = threading.Thread(target=self._run, args=(load,), name=THREAD_NAME, daemon=True)
        _RUNNING.add(self)
        self._thread.start()

    @property
    def dirty(self) -> bool:
        return self.changes > 0

    @property
    def done(self) -> bool:
        """The load has finished (or failed, or was cancelled)."""
        return self._done.is_set()

    def __len__(self) -> int:
        return int(self._rows.sum()) + len(self._delta)

    @property
    def in_graph(self) -> int:
        """Rows of the saved file it answers for (those the loaded graph will hold)."""
        return int(self._rows.sum())

    def keys(self) -> np.ndarray:
        held = self._scan.labels[self._rows] if self._scan is not None else np.zeros(0, np.int64)
        return np.concatenate([held, self._delta.items()[0]])

    def missing(self, keys: np.ndarray) -> int:
        """How many of ``keys`` the saved keys file lacks (what a blocking load would sync in)."""
        return len(difference(keys, self._file_keys))

    # -- the owner's writes, while loading --------------------------------------------
    def sync(self, keys: np.ndarray, fetch: Callable[[np.ndarray], np.ndarray]) -> tuple[int, int]:
        """Hold exactly ``keys``, as :meth:`AutoIndex.sync`: the file answers for the rows of
        the keys file it holds soundly, and the others come from ``fetch`` into the exact
        delta.  Returns (added, removed)."""
        assert self._scan is not None  # closed indexes are no longer called
        keys = unique(keys)
        before = self._rows
        self._rows = self._scan.rows(self._file_keys[np.isin(self._file_keys, keys, assume_unique=True)])
        held = self._scan.labels[self._rows]
        self._dead = [difference(self._file_keys, held)]
        rest = difference(keys, held)
        stale = difference(self._delta.items()[0], rest)
        self._delta.remove(stale)
        self._fetch = fetch
        missing = self._from_database(difference(rest, self._delta.items()[0]))
        added = len(missing) + int((self._rows & ~before).sum())
        removed = len(stale) + int((before & ~self._rows).sum())
        self.changes = len(self._dead[0]) + len(self._delta)  # how far the live rows are from the saved file
        return added, removed

    def _from_database(self, keys: np.ndarray) -> np.ndarray:
        """Put these rows in the delta with their vectors from the owner's database (a row
        deleted meanwhile, or not finite and unit-length there, is never added); the keys added."""
        if not len(keys):
            return keys
        vectors = np.asarray(self._fetch(keys), dtype=np.float32)
        ok = unit_rows(vectors)
        self._delta.add(keys[ok], vectors[ok])
        return keys[ok]

    def add(self, keys: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        keys, vectors = as_batch(keys, vectors, self.dim)
        if not len(keys):
            return
        self._forget(keys)  # re-adding a key replaces its vector
        self._delta.add(keys, vectors)
        self.changes += len(keys)

    def remove(self, keys: Sequence[int] | np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if len(keys) and self._scan is not None:
            self._forget(keys)
            self.changes += len(keys)

    def _forget(self, keys: np.ndarray) -> None:
        assert self._scan is not None
        self._delta.remove(keys)
        self._rows[self._scan.find(keys)] = False
        self._dead.append(keys)

    # -- reading -----------------------------------------------------------------------
    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The delta's answer merged with the file's; a file row found unsound is answered
        from the database from then on (and dropped from the loaded graph, which will
        have failed its check anyway)."""
        assert self._scan is not None
        while True:
            keys, sims, bad = self._scan.search(query, n, self._rows)
            if not len(bad):
                return merge([self._delta.search(query, n), (keys, sims)], n)
            self._rows[bad] = False
            unsound = self._scan.labels[bad]
            self._dead.append(unsound)
            self._from_database(unsound)

    # -- the load ------------------------------------------------------------------------
    def _run(self, load: Callable[..., AutoIndex | None]) -> None:
        result: AutoIndex | None = None
        try:
            with _SLOTS:
                if not self._cancel.is_set() and not sys.is_finalizing():
                    result = load(stop=self._cancel.is_set)
        except Exception:  # noqa: BLE001 - a failed load is a rebuild, as at a blocking load
            result = None
        if result is not None and self._cancel.is_set():
            result.close()
            result = None
        self._result = result
        self._done.set()
        _RUNNING.discard(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the load has finished; True when it has."""
        return self._done.wait(timeout)

    def settle(self) -> AutoIndex | None:
        """Once :attr:`done`: the loaded index, made to hold what this one holds (the rows
        removed since dropped, the delta added); None when the load failed its check."""
        index, self._result = self._result, None
        if index is not None:
            index.remove(unique(np.concatenate(self._dead)) if self._dead else np.zeros(0, np.int64))
            index.add(*self._delta.items())
        self.close()
        return index

    def close(self) -> None:
        """Stop using the file; a load in progress is dropped once it returns."""
        self._cancel.set()
        if self._scan is not None:
            self._scan.close()
            self._scan = None

    def stop(self, timeout: float | None) -> None:
        """:meth:`close`, then wait at most ``timeout`` seconds for the load's thread."""
        self.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
