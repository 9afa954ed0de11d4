"""The async core on PostgreSQL: arecall on psycopg's async pool, against the real server.

Runs against ``MEMORYWEAVE_PG_DSN`` (skipped without it, a failure under
``CI=true``), each test in a schema of its own.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from backends import pg_dsn

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.storage.postgres.aio import AsyncPostgres

pytestmark = pytest.mark.pg


@pytest.fixture
def pg_memory(clock):
    from memoryweave_core.storage.postgres import PostgresStore

    dsn = pg_dsn()
    store = PostgresStore(dsn, schema=f"mwasync_{uuid.uuid4().hex[:10]}")
    memory = MemoryWeave(store=store, embedder=HashingEmbedder(dim=64), clock=clock)
    yield memory
    store.drop()
    memory.close()


def _seed(memory: MemoryWeave) -> None:
    memory.add_conversation(
        [("Ana", "I moved to Lisbon last spring"), ("Bo", "How is the weather there?"),
         ("Ana", "Sunny, and I bought a bike"), ("Bo", "My knee hurts after running")],
        episode="e1", namespace="u",
    )
    facts = memory.add_many([{"text": f"fact {i}: I planted tomato number {i}", "metadata": {"i": i, "kind": "garden"}}
                             for i in range(30)], namespace="u")
    memory.clock.advance(60)
    memory.update(facts[3].id, text="fact 3: I planted a lemon tree instead", namespace="u")  # an archived version
    memory.add("a plant I bought expires soon", namespace="u", ttl=30)
    memory.clock.advance(60)  # ... and an expired trace, both hidden from recall inside the candidate search


def _no_sync_candidates(memory: MemoryWeave) -> list[str]:
    """Make the sync store's recall reads fail loudly: arecall must not use them."""
    used: list[str] = []

    def refuse(name):
        def call(*args, **kwargs):
            used.append(name)
            raise AssertionError(f"arecall used the sync store's {name}")
        return call

    for name in ("candidates", "lexical_stats", "record_access", "pool", "lexical"):
        setattr(memory.store, name, refuse(name))
    return used


@pytest.mark.parametrize("kwargs", [
    {},
    {"filter": {"kind": "garden", "i": {"$lt": 10}}},
    {"explain": True, "k": 8},
    {"exclude": ["missing-id"], "min_relevance": 0.0},
    {"include_superseded": True, "k": 40},
])
def test_arecall_on_the_async_pool_equals_recall(pg_memory, kwargs):
    _seed(pg_memory)
    query = "what did Ana buy in Lisbon and what did I plant?"
    sync = pg_memory.recall(query, namespace="u", record_access=False, **kwargs)

    async def main():
        result = await pg_memory.arecall(query, namespace="u", record_access=False, **kwargs)
        face = await pg_memory.store.open_async()
        await pg_memory.store.close_async()
        return result, face

    used = _no_sync_candidates(pg_memory)
    got, face = asyncio.run(main())
    assert isinstance(face, AsyncPostgres) and not used
    assert [r.trace.id for r in got] == [r.trace.id for r in sync] and got
    assert [r.score for r in got] == pytest.approx([r.score for r in sync])
    assert [r.features for r in got] == [r.features for r in sync]
    assert [r.raw for r in got] == [r.raw for r in sync]
    texts = [r.trace.text for r in got]
    assert "a plant I bought expires soon" not in texts
    assert ("fact 3: I planted tomato number 3" in texts) == bool(kwargs.get("include_superseded"))


def test_arecall_errors_and_empty_namespace_match_recall(pg_memory):
    _seed(pg_memory)

    async def main():
        with pytest.raises(ValueError):
            await pg_memory.arecall("", namespace="u")
        with pytest.raises(ValueError):
            await pg_memory.arecall("x", k=0, namespace="u")
        empty = await pg_memory.arecall("anything", namespace="nobody")
        await pg_memory.store.close_async()
        return empty

    assert list(asyncio.run(main())) == []


def test_200_concurrent_calls_on_postgres_lose_nothing(pg_memory):
    pg_memory.add_many([f"seed fact number {i} about gardening" for i in range(20)], namespace="u")

    async def main():
        adds = [pg_memory.aadd(f"note {i}: I planted tomato number {i}", namespace="u", metadata={"i": i})
                for i in range(100)]
        recalls = [pg_memory.arecall("what did I plant?", k=3, namespace="u") for _ in range(100)]
        results = await asyncio.gather(*[c for pair in zip(adds, recalls) for c in pair])
        stats = (await pg_memory.store.open_async())._pool.get_stats()
        await pg_memory.store.close_async()
        return results, stats

    results, stats = asyncio.run(main())
    added, recalled = results[0::2], results[1::2]
    assert sorted(t.metadata["i"] for t in added) == list(range(100))
    assert pg_memory.count("u") == 120
    assert {t.id for t in added} <= {t.id for t in pg_memory.traces("u")}
    assert all(len(r) == 3 for r in recalled)
    # every recollection handed out was recorded once: no access update lost to a race
    traces = list(pg_memory.traces("u"))
    uses = sum(log.count - 1 for log in pg_memory.store.access_logs([t.id for t in traces], "u").values())
    assert uses == sum(len(r) for r in recalled) == 300
    assert stats["requests_num"] >= 100  # the recalls went through the pool


def test_a_new_event_loop_gets_its_own_pool(pg_memory):
    _seed(pg_memory)

    async def once():
        found = await pg_memory.arecall("bike", k=1, namespace="u")
        return found[0].trace.text, await pg_memory.store.open_async()

    first, face1 = asyncio.run(once())
    second, face2 = asyncio.run(once())
    assert first == second == "Sunny, and I bought a bike"
    assert face1 is not face2 and face2.loop is not face1.loop

    async def close():
        await pg_memory.store.close_async()

    asyncio.run(close())
