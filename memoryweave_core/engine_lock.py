"""The memory's re-entrant lock, which a write may hold while it waits for an event loop.

On PostgreSQL an async write (``aadd``, ``aupdate``, ``aforget``) runs its
sync twin on a worker thread under this lock, from the id check to the
commit, and that thread sends the SQL to the event loop's async pool and
waits for it.  A blocking call made on the loop's own thread that needed the
lock meanwhile would wait for the worker, which waits for the loop: a
deadlock.  So a holder names the loop thread it waits for
(:meth:`EngineLock.waiting_for`), and a thread that finds the lock held for
itself raises :class:`~memoryweave_core.errors.LoopDeadlockError` instead of
hanging (a coroutine awaits ``arecall``/``aadd``, it does not call ``add``).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from types import TracebackType
from typing import Iterator

from .errors import LoopDeadlockError

#: How often a thread waiting for the lock checks whether its holder waits for it (seconds).
POLL = 0.05


class EngineLock:
    """``with lock:`` as a ``threading.RLock``; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._waiting_for: int | None = None

    def __enter__(self) -> EngineLock:
        me = threading.get_ident()
        while not self._lock.acquire(timeout=POLL):
            if self._waiting_for == me:
                raise LoopDeadlockError(
                    "a blocking MemoryWeave call on the event loop's thread needs the memory while one of its"
                    " async writes waits for that loop: await the async method (aadd, arecall...) instead")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._lock.release()

    @contextmanager
    def waiting_for(self, thread: int) -> Iterator[None]:
        """While the block runs, the (held) lock waits for ``thread``: that thread must not block on it."""
        self._waiting_for = thread
        try:
            yield
        finally:
            self._waiting_for = None
