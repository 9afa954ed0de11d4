"""Readers first: a background indexer steps aside while a recall is running.

On a machine with few cores the indexer's inserts compete with a recall for
the CPU, the GIL and the graph's lock, so recall during indexing ran several
times slower than after it.  Each recall (a store's ``snapshot()``) and each
search marks itself as reading; the indexer starts its next small insert
only once no one reads, or after :data:`MAX_PAUSE` seconds of waiting, so a
steady stream of recalls slows indexing down but never stops it.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

#: Seconds an indexer waits for readers before it inserts one step anyway.
MAX_PAUSE = 0.05


class Readers:
    """Reads in progress on a set of indexes (one per store, shared by its indexes)."""

    def __init__(self, max_pause: float = MAX_PAUSE) -> None:
        self.max_pause = max_pause
        self._count = 0
        self._cond = threading.Condition(threading.Lock())
        self.pauses = 0  # times an indexer found a reader and waited (tests count these)

    @property
    def active(self) -> int:
        return self._count

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._count += 1
        try:
            yield
        finally:
            with self._cond:
                self._count -= 1
                if not self._count:
                    self._cond.notify_all()

    def wait_idle(self) -> bool:
        """Block until no one reads, at most ``max_pause`` seconds; True when idle."""
        with self._cond:
            if not self._count:
                return True
            self.pauses += 1
            return self._cond.wait_for(lambda: not self._count, self.max_pause)
