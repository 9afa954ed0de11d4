"""Graph files read and written on threads of their own.

A namespace's two graphs (content and context) are needed by the same
recall and change together in an import.  Reading one is mostly file reads,
SHA-256 and numpy checks, and writing one is mostly fsync and hashing, all
of which run outside the GIL: doing both graphs at once, each on its
thread, makes the wait the slower of the two instead of their sum.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, Sequence, TypeVar

from ...ann.files import Staged

T = TypeVar("T")


class Task(Generic[T]):
    """``fn()`` started now on a thread; :meth:`result` waits for it (and raises what it raised)."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="memoryweave-graph-file", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set: the thread ended without an error


def run_all(fns: Sequence[Callable[[], T]], undo: Callable[[T], None]) -> list[T]:
    """Every ``fn()`` at once, their results in order; when one raises, the
    others' results are passed to ``undo`` (temporary files removed) and the
    first error is raised.  One function runs in the caller's thread."""
    if len(fns) <= 1:
        return [fn() for fn in fns]
    tasks = [Task(fn) for fn in fns]
    done: list[T] = []
    error: BaseException | None = None
    for task in tasks:
        try:
            done.append(task.result())
        except BaseException as exc:  # noqa: BLE001 - the others are undone first
            error = error or exc
    if error is not None:
        for value in done:
            undo(value)
        raise error
    return done


def discard_staged(staged: tuple[Staged | None, int]) -> None:
    """Undo for :func:`run_all` over ``AutoIndex.stage``: remove the temporary files."""
    if staged[0] is not None:
        staged[0].discard()
