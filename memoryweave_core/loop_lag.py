"""How long an event loop was kept from running other tasks, measured by a heartbeat.

A task sleeps ``interval`` seconds, again and again, and notes the time
between its wake-ups; anything that holds the loop (a blocking call in a
coroutine, or a worker thread holding the GIL) shows as a long gap.  The
async tests and ``benchmarks/bench_async.py`` measure with this one
heartbeat, so a figure in the benchmark means what the test checks.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from types import TracebackType


class LoopLag:
    """``async with LoopLag() as lag: ...``, then ``lag.worst`` (seconds).

    ``gaps`` holds every interval between two wake-ups (at least
    ``interval`` each); ``worst`` is the longest, the loop's worst lag.
    """

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.gaps: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            self.gaps.append(now - last)
            last = now

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._beat())
        await asyncio.sleep(0)  # let the heartbeat start before the work does
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    @property
    def worst(self) -> float:
        return max(self.gaps, default=0.0)

    @property
    def median(self) -> float:
        return statistics.median(self.gaps) if self.gaps else 0.0
