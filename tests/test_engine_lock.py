"""EngineLock: the memory's lock, held by a worker while it waits for an event loop's thread."""

from __future__ import annotations

import threading

import pytest

from memoryweave_core.engine_lock import EngineLock
from memoryweave_core.errors import LoopDeadlockError


def _hold(lock: EngineLock, waiting_for: int | None, held: threading.Event, release: threading.Event) -> None:
    with lock:
        if waiting_for is None:
            held.set()
            release.wait()
            return
        with lock.waiting_for(waiting_for):
            held.set()
            release.wait()


def test_a_thread_the_holder_waits_for_is_refused_instead_of_deadlocking():
    lock, held, release = EngineLock(), threading.Event(), threading.Event()
    worker = threading.Thread(target=_hold, args=(lock, threading.get_ident(), held, release))
    worker.start()
    held.wait()
    try:
        with pytest.raises(LoopDeadlockError), lock:
            pass
        assert isinstance(LoopDeadlockError("x"), RuntimeError)
    finally:
        release.set()
        worker.join()
    with lock:  # free again once the holder is done
        pass


def test_other_threads_wait_for_the_lock_and_it_is_reentrant():
    lock, held, release = EngineLock(), threading.Event(), threading.Event()
    worker = threading.Thread(target=_hold, args=(lock, None, held, release))
    worker.start()
    held.wait()
    order: list[str] = []

    def later() -> None:
        with lock, lock:  # re-entrant
            order.append("waiter")

    waiter = threading.Thread(target=later)
    waiter.start()
    order.append("holder")
    release.set()
    worker.join()
    waiter.join()
    assert order == ["holder", "waiter"]
