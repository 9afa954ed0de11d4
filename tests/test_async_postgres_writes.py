"""Async writes on PostgreSQL: their SQL on psycopg's async pool, against the real server.

Runs against ``MEMORYWEAVE_PG_DSN`` (skipped without it, a failure under
``CI=true``), each test in a schema of its own.  Which executor sent a
statement is read by tapping the two plan runners, never by timing.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import pytest
from backends import pg_dsn

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import InvalidInputError

pytestmark = pytest.mark.pg

_WRITES = ("INSERT INTO", "UPDATE ", "DELETE FROM")


@pytest.fixture
def pg_memory(clock):
    from memoryweave_core.storage.postgres import PostgresStore

    store = PostgresStore(pg_dsn(), schema=f"mwawrite_{uuid.uuid4().hex[:10]}")
    memory = MemoryWeave(store=store, embedder=HashingEmbedder(dim=64), clock=clock)
    yield memory
    store.drop()
    memory.close()


def _tapped(plan: Any, into: list[str]) -> Any:
    """``plan``, noting the SQL of every statement it yields."""
    reply = None
    try:
        while True:
            stmt = plan.send(reply)
            into.append(stmt.sql)
            reply = yield stmt
    except StopIteration as done:
        return done.value


@pytest.fixture
def sent(monkeypatch) -> dict[str, list[str]]:
    """The statements each runner sent: ``async`` (the pool's) and ``sync`` (the store's connection)."""
    from memoryweave_core.storage.postgres import aio
    from memoryweave_core.storage.postgres import store as store_module

    seen: dict[str, list[str]] = {"async": [], "sync": []}
    real_arun, real_run = aio.arun, store_module.run
    monkeypatch.setattr(aio, "arun", lambda conn, plan: real_arun(conn, _tapped(plan, seen["async"])))
    monkeypatch.setattr(store_module, "run", lambda conn, plan: real_run(conn, _tapped(plan, seen["sync"])))
    return seen


def _writes(sqls: list[str]) -> list[str]:
    return [sql for sql in sqls if any(w in sql for w in _WRITES)]


def test_async_writes_send_their_sql_on_the_async_pool(pg_memory, sent):
    async def main():
        first = await pg_memory.aadd("I moved to Lisbon last spring", namespace="u", speaker="Ana")
        many = await pg_memory.aadd_many([f"fact {i}: I planted tomato number {i}" for i in range(5)], namespace="u")
        await pg_memory.aadd_conversation([("Ana", "I bought a bike"), ("Bo", "Nice, which one?")], namespace="u")
        newer = await pg_memory.aupdate(first.id, text="I moved to Porto last spring", namespace="u")
        await pg_memory.atouch([many[1].id], namespace="u")
        gone = await pg_memory.aforget(many[0].id, namespace="u")
        face = await pg_memory.store.open_async()
        stats = face._writes.get_stats()
        await pg_memory.store.close_async()
        return first, newer, gone, stats

    first, newer, gone, stats = asyncio.run(main())
    on_pool = _writes(sent["async"])
    assert _writes(sent["sync"]) == []  # not one write on the store's own connection
    assert sum('"traces" (id' in s or ".traces (id" in s for s in on_pool) == 4  # add, add_many, conversation, update
    assert any(s.startswith(f'DELETE FROM "{pg_memory.store.schema}".traces') for s in on_pool)  # forget
    assert any(".state VALUES" in s for s in on_pool) and any("access" in s for s in on_pool)  # ART state, touch
    assert stats["requests_num"] >= 6  # each write took a connection of the writes' pool
    assert gone == 1 and pg_memory.count("u") == 7
    assert [t.text for t in pg_memory.history(first.id, namespace="u")] == [first.text, newer.text]

    sent["async"].clear()
    pg_memory.add("a sync add writes on the store's connection", namespace="u")
    assert _writes(sent["sync"]) and not sent["async"]


def test_concurrent_async_adds_in_one_namespace_keep_positions_and_state(pg_memory, sent):
    async def main():
        calls = [pg_memory.aadd(f"turn {i} of the long talk", namespace="u", episode="talk") for i in range(60)]
        calls += [pg_memory.aadd_many([f"batch {j} item {i}" for i in range(3)], namespace="u") for j in range(20)]
        calls += [pg_memory.aadd(f"loose note {i}", namespace="u") for i in range(40)]
        done = await asyncio.gather(*calls)
        await pg_memory.store.close_async()
        return done

    done = asyncio.run(main())
    added = [t for d in done for t in (d if isinstance(d, list) else [d])]
    assert len({t.id for t in added}) == len(added) == 160
    stored = list(pg_memory.traces("u"))
    assert len(stored) == pg_memory.count("u") == 160
    by_episode: dict[str, list[int]] = {}
    for t in stored:
        by_episode.setdefault(t.episode, []).append(t.position)
    for episode, positions in by_episode.items():
        assert sorted(positions) == list(range(len(positions))), episode  # unique and gapless
    assert len(by_episode["talk"]) >= 60
    # the ART state the adds committed is the one the memory holds: no fit lost between writes
    saved = pg_memory.store.load_state("u", "art")
    held = pg_memory._art("u").get_state()
    np.testing.assert_array_equal(saved["prototypes"], held["prototypes"])
    np.testing.assert_array_equal(saved["counts"], held["counts"])
    assert int(held["counts"].sum()) == 160
    assert _writes(sent["async"]) and not _writes(sent["sync"])


def test_concurrent_async_adds_of_one_id_keep_one(pg_memory):
    async def main():
        tries = [pg_memory.aadd(f"version {i}", namespace="u", metadata={"i": i}) for i in range(3)]
        tries += [pg_memory.aadd_many([{"id": "same", "text": f"claim {i}"}], namespace="u") for i in range(10)]
        got = await asyncio.gather(*tries, return_exceptions=True)
        await pg_memory.store.close_async()
        return got

    got = asyncio.run(main())
    refused = [g for g in got if isinstance(g, BaseException)]
    assert len(refused) == 9 and all(isinstance(e, InvalidInputError) for e in refused)
    assert pg_memory.count("u") == 4
    art = pg_memory._art("u").get_state()
    assert int(art["counts"].sum()) == 4  # the refused adds left the categoriser as it was
    np.testing.assert_array_equal(pg_memory.store.load_state("u", "art")["counts"], art["counts"])


def test_200_concurrent_arecalls_equal_recall(pg_memory):
    pg_memory.add_many([f"note {i}: {w} in the garden" for i, w in enumerate(["tomato", "basil", "mint", "rain"] * 10)],
                       namespace="u")
    queries = [f"what about the {w} number {i}?" for i, w in enumerate(["tomato", "mint", "rain", "sun"] * 50)]
    sync = [pg_memory.recall(q, k=4, namespace="u", record_access=False) for q in queries]

    async def main():
        got = await asyncio.gather(*[pg_memory.arecall(q, k=4, namespace="u", record_access=False) for q in queries])
        await pg_memory.store.close_async()
        return got

    got = asyncio.run(main())
    assert [[r.trace.id for r in res] for res in got] == [[r.trace.id for r in res] for res in sync]
    assert [r.score for res in got for r in res] == pytest.approx([r.score for res in sync for r in res])


def test_a_face_runs_a_bounded_number_of_recalls_at_once(pg_memory, monkeypatch):
    from memoryweave_core.storage.postgres import aio

    pg_memory.add_many([f"note {i} about the garden" for i in range(30)], namespace="u")
    inside, most = [0], [0]
    real = aio.AsyncPostgres.candidates

    async def counted(self, *args, **kwargs):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        try:
            return await real(self, *args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(aio.AsyncPostgres, "candidates", counted)

    async def main():
        got = await asyncio.gather(*[pg_memory.arecall("garden", k=2, namespace="u") for _ in range(60)])
        await pg_memory.store.close_async()
        return got

    got = asyncio.run(main())
    assert all(len(r) == 2 for r in got)
    assert 1 < most[0] <= aio.RECALLS_AT_ONCE  # concurrent, yet never more than the bound
