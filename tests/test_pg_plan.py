"""PostgreSQL plans (storage/postgres/plan.py) driven by the async runner, on a fake connection."""

from __future__ import annotations

import asyncio
import threading

from memoryweave_core.storage.postgres.plan import OFF_LOOP_ROWS, Plan, arun, rows


class _Cursor:
    description = ("n",)
    rowcount = -1

    def __init__(self, found):
        self._found = found

    async def fetchall(self):
        return self._found


class _Conn:
    """Answers every statement with ``n`` rows."""

    def __init__(self, n: int) -> None:
        self.n = n

    async def execute(self, sql, params=None, binary=True):
        return _Cursor([(i,) for i in range(self.n)])


def _plan(seen: list[str]) -> Plan[int]:
    first = yield from rows("SELECT 1")
    seen.append(threading.current_thread().name)
    second = yield from rows("SELECT 2")
    seen.append(threading.current_thread().name)
    return len(first) + len(second)


def test_a_plan_resumes_off_the_loop_on_large_replies_and_returns_its_value():
    seen: list[str] = []
    loop_thread: list[str] = []

    async def main() -> int:
        loop_thread.append(threading.current_thread().name)
        return await arun(_Conn(OFF_LOOP_ROWS + 1), _plan(seen))

    # the last step finishes the plan on a worker thread: its StopIteration must
    # come back as the plan's value, not as an error of the Future
    assert asyncio.run(main()) == 2 * (OFF_LOOP_ROWS + 1)
    assert seen and all(name != loop_thread[0] for name in seen)


def test_a_plan_stays_on_the_loop_for_small_replies():
    seen: list[str] = []
    loop_thread: list[str] = []

    async def main() -> int:
        loop_thread.append(threading.current_thread().name)
        return await arun(_Conn(2), _plan(seen))

    assert asyncio.run(main()) == 4
    assert seen == [loop_thread[0]] * 2
