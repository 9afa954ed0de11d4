"""A shared/exclusive lock for one HNSW graph: searches and saves read it
together, inserts and removals change it alone.

hnswlib's insert is not safe beside a search, but a save only reads the
graph, so a background save must not hold searches up for the seconds it
takes to write a large graph.  A writer waiting for the lock keeps new
readers out (a stream of searches cannot starve the indexer); writers take
the graph's mutation lock first, which a save also holds, so a writer never
waits behind a save while blocking searches.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator


class SharedLock:
    """Many holders in :meth:`shared` mode, or one in :meth:`exclusive` mode."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._waiting = 0  # writers waiting: new readers wait behind them

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            try:
                self._cond.wait_for(lambda: not self._writing and not self._readers)
            finally:
                self._waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
