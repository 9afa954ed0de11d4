"""The background saver: HNSW graphs are written as they change, not all at close.

A graph is saved once its indexer has caught up (or, during a long bulk
import, once its unsaved rows match its size), at most once per
:data:`MIN_INTERVAL` seconds; a graph with only a few changes (no more than
``close()`` leaves unsaved) is saved once it has been idle that long, and less
often, so that its saves take at most 1/:data:`SPEND` of the time.  ``close()`` then finds little or nothing left to write.  The files are written
while searches go on (see :meth:`HNSWIndex.stage
<memoryweave_core.ann.hnsw.HNSWIndex.stage>`) and put in place inside a short
write transaction with their digests, exactly as an explicit save does.  A
save that fails (a full disk) leaves the graph dirty, for the next try or close.
"""

from __future__ import annotations

import atexit
import functools
import sys
import threading
import time
import warnings
import weakref
from typing import TYPE_CHECKING

from ...ann import AutoIndex
from .tasks import discard_staged, run_all

if TYPE_CHECKING:
    from .indexes import Index, VectorIndexes

#: Seconds between the saver's looks at the graphs.
TICK = 0.5
#: Seconds between two background saves of one graph, at least.
MIN_INTERVAL = 5.0
#: A graph's saves take at most 1/SPEND of the time (a large graph is saved less often).
SPEND = 20
#: Unsaved rows that make a graph due while its indexer is still busy (at least this, and as many as it holds).
BACKLOG = 50_000
#: Unsaved rows per graph that close() always leaves unsaved when a save of it exists
#: (the next open puts them back from the database, as after a crash).
UNSAVED_AT_CLOSE = 1000
#: Above that, close() leaves unsaved up to this share of the graph's rows: rewriting a
#: big graph for a small share of changes is what made close() slow after a bulk import.
UNSAVED_SHARE = 0.125
#: ...and never more than this many rows: the next open searches them exactly (reading
#: their vectors from the database at the first search) until they are back in the graph.
UNSAVED_CAP = 200_000

_RUNNING: "weakref.WeakSet[Saver]" = weakref.WeakSet()


def unsaved(index: "Index") -> int:
    """How many rows the index's live set is from its saved file: the changes that reached
    the graph since it was saved (or loaded), plus the rows not in the graph yet.  Rows
    carried over from earlier sessions count too: a loaded graph counts the rows it was
    synced with.  (A loading index counts its delta in ``changes``; its ``pending`` is 0.)"""
    return index.changes + index.pending


def allowance(index: "Index") -> int:
    """The unsaved rows close() may leave to the next open (see :data:`UNSAVED_SHARE`)."""
    return max(UNSAVED_AT_CLOSE, min(UNSAVED_CAP, int(UNSAVED_SHARE * index.in_graph)))


def worth_saving(index: "Index") -> bool:
    """close() writes this graph: more unsaved rows than it may leave, some of them a save
    would cover (rows still waiting for the graph are not in a save of it either)."""
    return index.changes > 0 and unsaved(index) > allowance(index)


@atexit.register
def _stop_savers() -> None:
    """Stop every saver before the interpreter tears down (an hnswlib save
    must not be running on a daemon thread then)."""
    for saver in list(_RUNNING):
        saver.stop()


class Saver:
    """One thread per store that saves its changed graphs in the background."""

    def __init__(self, owner: "VectorIndexes", *, enabled: bool = True) -> None:
        self._owner = weakref.ref(owner)
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: dict[tuple[int, str], tuple[float, float]] = {}  # slot -> (when, seconds it took)
        self._seen: dict[tuple[int, str], tuple[int, float]] = {}  # slot -> (unsaved rows, unchanged since)
        self.saves = 0  # background saves published (tests count these)

    def start(self) -> None:
        if self.enabled and self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="memoryweave-saver", daemon=True)
            _RUNNING.add(self)
            self._thread.start()

    def stop(self) -> None:
        """Stop after the save in progress, if any (its files are put in place or discarded)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        _RUNNING.discard(self)

    def due(self, slot: tuple[int, str], index: "AutoIndex", now: float) -> bool:
        """Caught up with more than close() would leave: soon.  Fewer: once the graph has
        been idle a while, when saves have cost little of the time (the first time in a
        process: soon after an import is indexed, in the process's idle time).  Still
        indexing: once the unsaved rows match the graph."""
        changes = index.changes
        if not changes or index.kind != "hnsw":
            return False
        when, took = self._last.get(slot, (float("-inf"), 0.0))
        if index.pending:
            if changes < max(BACKLOG, index.in_graph):
                return False  # (an infinite wait would still pass against a graph never saved)
            wait = MIN_INTERVAL
        elif worth_saving(index):
            wait = MIN_INTERVAL
        elif not self._idle(slot, index, now):
            return False
        else:
            wait = max(MIN_INTERVAL, SPEND * took)
        return now - when >= wait

    def _idle(self, slot: tuple[int, str], index: "AutoIndex", now: float) -> bool:
        """Nothing changed in the graph for MIN_INTERVAL seconds.  A graph within what close()
        leaves is saved only then: not while an import pauses between batches (a 1M graph's
        save holds the GIL for seconds, and would hold only the rows indexed so far)."""
        count = unsaved(index)
        seen = self._seen.get(slot)
        if seen is None or seen[0] != count:
            self._seen[slot] = (count, now)
            return False
        return now - seen[1] >= MIN_INTERVAL

    def _run(self) -> None:
        warned = False
        while not self._stop.wait(TICK):
            if sys.is_finalizing():
                return
            try:
                if not self.step():
                    return
            except Exception as exc:  # noqa: BLE001 - a thread has no caller to raise to
                if not warned:
                    warnings.warn(f"background save of HNSW graphs failed ({exc}); close() tries again",
                                  RuntimeWarning, stacklevel=1)
                    warned = True

    def _acquire(self, lock: threading.RLock) -> bool:
        """Take the store's lock, unless we are being stopped (close() holds it while it joins us)."""
        while not lock.acquire(timeout=0.1):
            if self._stop.is_set():
                return False
        return True

    def step(self) -> bool:
        """Save the due graphs, if any (all at once, each on its thread); False once the owner is gone."""
        owner = self._owner()
        if owner is None or owner.db.closed:
            return False
        now = time.monotonic()
        if not self._acquire(owner.lock):
            return False
        try:
            due = [(slot, index) for slot, index in owner._indexes.items()
                   if isinstance(index, AutoIndex) and self.due(slot, index, now)]
        finally:
            owner.lock.release()
        if not due:
            return True
        owner.readers.wait_idle()  # a save holds the GIL for a while: not in the middle of a recall
        started = time.monotonic()
        staged = run_all([functools.partial(index.stage, owner.path(*slot)) for slot, index in due], discard_staged)
        if not self._acquire(owner.lock):
            for done in staged:
                discard_staged(done)
            return False
        try:
            if self._stop.is_set() or owner.db.closed:
                for done in staged:
                    discard_staged(done)
                return False
            owner._publish([(slot, index, files, counted) for (slot, index), (files, counted) in zip(due, staged)])
        finally:
            owner.lock.release()
        took = time.monotonic() - started
        for slot, _ in due:
            self._last[slot] = (time.monotonic(), took)
        self.saves += len(due)
        return True
