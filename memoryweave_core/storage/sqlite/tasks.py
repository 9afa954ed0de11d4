"""Graph files read and written on threads of their own.

A namespace's two graphs (content and context) are needed by the same
recall and change together in an import.  Reading one is mostly file reads,
SHA-256 and numpy checks, and writing one is mostly fsync and hashing, all
of which run outside the GIL: doing both graphs at once, each on its
thread, makes the wait the slower of the two instead of their sum.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

from ...ann.files import Staged

T = TypeVar("T")
#: Thread name prefix of the graph-file threads.
THREAD_NAME = "memoryweave-graph-file"


def run_all(fns: Sequence[Callable[[], T]], undo: Callable[[T], None]) -> list[T]:
    """Every ``fn()`` at once, each on a thread, their results in order;
    when one raises, the others' results are passed to ``undo`` (temporary
    files removed) and the first error is raised.  A single ``fn`` runs in
    the caller's thread."""
    if len(fns) <= 1:
        return [fn() for fn in fns]
    with ThreadPoolExecutor(max_workers=len(fns), thread_name_prefix=THREAD_NAME) as pool:
        futures = [_submit(pool, fn) for fn in fns]
    done: list[T] = []
    error: BaseException | None = None
    for future in futures:
        try:
            done.append(future.result())
        except BaseException as exc:  # noqa: BLE001 - the others are undone first
            error = error or exc
    if error is not None:
        for value in done:
            undo(value)
        raise error
    return done


def _submit(pool: ThreadPoolExecutor, fn: Callable[[], T]) -> Future[T]:
    """``fn`` on a thread of ``pool``, or in the caller's thread once the
    interpreter is shutting down: a store closed at exit (its ``atexit``
    hook) runs after ``concurrent.futures`` has stopped starting threads."""
    try:
        return pool.submit(fn)
    except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
        done: Future[T] = Future()
        try:
            done.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - raised by run_all, as a thread's would be
            done.set_exception(exc)
        return done


def discard_staged(staged: tuple[Staged | None, int]) -> None:
    """Undo for :func:`run_all` over ``AutoIndex.stage``: remove the temporary files."""
    if staged[0] is not None:
        staged[0].discard()
