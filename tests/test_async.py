"""The async core: many concurrent calls from one loop lose nothing and run off the loop.

The loop's worst lag is printed (``-s``) but not asserted: speed belongs in
``benchmarks/bench_async.py``.  What is asserted is structural: every
embedding and every store call ran on a worker thread, never the loop's.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.loop_lag import LoopLag
from memoryweave_core.storage.memory import MemoryStore


class ThreadSpyEmbedder(HashingEmbedder):
    """A HashingEmbedder that notes which threads embedded."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.threads: set[int] = set()

    def embed(self, texts):
        self.threads.add(threading.get_ident())
        return super().embed(texts)


def make(kind, tmp_path, clock):
    emb = ThreadSpyEmbedder()
    path = tmp_path / "async.db" if kind == "sqlite" else None
    return MemoryWeave(path, embedder=emb, clock=clock, store=None if path else MemoryStore()), emb


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_200_concurrent_calls_lose_nothing_and_run_off_the_loop(kind, tmp_path, clock):
    memory, emb = make(kind, tmp_path, clock)
    memory.add_many([f"seed fact number {i} about gardening" for i in range(20)], namespace="u")

    async def main():
        loop_thread = threading.get_ident()
        emb.threads.clear()
        async with LoopLag() as lag:
            adds = [memory.aadd(f"note {i}: I planted tomato number {i}", namespace="u", metadata={"i": i}) for i in range(100)]
            recalls = [memory.arecall("what did I plant?", k=3, namespace="u") for _ in range(100)]
            results = await asyncio.gather(*[c for pair in zip(adds, recalls) for c in pair])
        return loop_thread, results, lag

    loop_thread, results, lag = asyncio.run(main())
    added, recalled = results[0::2], results[1::2]
    assert len({t.id for t in added}) == 100
    assert sorted(t.metadata["i"] for t in added) == list(range(100))
    assert memory.count("u") == 120
    stored = {t.id for t in memory.traces("u")}
    assert {t.id for t in added} <= stored
    assert all(len(r) == 3 for r in recalled)
    assert loop_thread not in emb.threads and emb.threads  # the work ran on worker threads
    assert len(lag.gaps) > 1  # the loop kept ticking while the work ran
    print(f"\n{kind}: {len(lag.gaps)} heartbeats, worst loop gap {lag.worst * 1000:.1f} ms")


def test_async_twins_return_and_raise_like_the_sync_calls(memory):
    async def main():
        traces = await memory.aadd_conversation([("Ana", "I moved to Lisbon"), ("Bo", "Nice, when?")], namespace="n")
        many = await memory.aadd_many(["one more thing"], namespace="n")
        found = await memory.arecall("where did Ana move?", k=1, namespace="n")
        with pytest.raises(ValueError):
            await memory.arecall("", namespace="n")
        gone = await memory.aforget([many[0].id], namespace="n")
        return traces, found, gone

    traces, found, gone = asyncio.run(main())
    assert found[0].trace.id == traces[0].id and gone == 1
    assert memory.count("n") == 2


def test_aimport_and_aexport_move_the_lines_of_their_sync_twins(memory, tmp_path):
    memory.add_conversation([("Ana", "I moved to Lisbon"), ("Bo", "Nice, when?")], namespace="n")
    path = tmp_path / "n.jsonl"

    async def main():
        written = await memory.aexport_jsonl(path)
        copy = MemoryWeave(embedder=memory.encoder.embedder)
        return written, copy, await copy.aimport_jsonl(path)

    written, copy, traces = asyncio.run(main())
    assert written == 2 and [t.id for t in traces] == [t.id for t in memory.traces("n")]
    assert copy.recall("where did Ana move?", 1, namespace="n")[0].text == "I moved to Lisbon"


def test_aupdate_writes_a_version_like_update(memory):
    async def main():
        trace = await memory.aadd("I live in Porto", namespace="n")
        new = await memory.aupdate(trace.id, text="I live in Lisbon", namespace="n")
        return trace, new

    trace, new = asyncio.run(main())
    assert new.id == trace.id and new.version == 2
    assert [t.text for t in memory.history(trace.id, namespace="n")] == ["I live in Porto", "I live in Lisbon"]


def test_the_lifecycle_twins_return_and_raise_like_the_sync_calls(memory, clock):
    from memoryweave_core.errors import TraceNotFoundError

    async def main():
        trace = await memory.aadd("My gate code is 4321", namespace="n")
        await memory.aupdate(trace.id, text="My gate code is 9876", namespace="n")
        got = await memory.aget(trace.id, namespace="n")
        versions = await memory.ahistory(trace.id, namespace="n")
        with pytest.raises(TraceNotFoundError):
            await memory.aget("no-such-id", namespace="n")
        expiring = await memory.aset_expiry([trace.id, "no-such-id"], ttl=60, namespace="n")
        clock.advance(61)
        return got, versions, expiring, await memory.aprune(namespace="n")

    got, versions, expiring, pruned = asyncio.run(main())
    assert got.text == "My gate code is 9876" and [v.version for v in versions] == [1, 2]
    assert expiring == 1 and pruned == 1 and memory.count("n") == 0


def test_loop_lag_sees_a_blocked_loop():
    """The heartbeat the benchmark reports: a coroutine that blocks the loop shows as a gap at least that long."""
    async def main():
        async with LoopLag() as lag:
            await asyncio.sleep(0.005)
            time.sleep(0.05)  # blocks the loop, as a sync call in a coroutine would
            await asyncio.sleep(0.005)
        return lag

    lag = asyncio.run(main())
    assert lag.worst >= 0.05 and len(lag.gaps) >= 2 and lag.median <= lag.worst
