"""Recall filters on every backend: applied inside the candidate search, never short.

A filter matching 0.1% of 20,000 traces still returns k; a non-matching
trace is never returned, neither as a hit nor as an episodic neighbour; a
filter that cannot be honoured raises before anything is read or written.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from backends import BACKENDS, dispose, make_store, pg_dsn

from memoryweave_core import MemoryWeave
from memoryweave_core.embedders import HashingEmbedder
from memoryweave_core.errors import InvalidFilterError, UnsupportedFilterError
from memoryweave_core.lexical import tokenize

DIM = 32
#: Traces in the selective-filter test: enough that a plain top-n search, filtered
#: afterwards, would find almost none of the 20 matches (0.4%), and past SQLite's graph threshold.
N = 5_000


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    if request.param == "postgres":  # a schema of its own: the dimension differs from other tests'
        from memoryweave_core.storage.postgres import PostgresStore

        s = PostgresStore(pg_dsn(), schema=f"mwfilter_{uuid.uuid4().hex[:10]}")
        yield s
        s.drop()
        s.close()
        return
    s = make_store(request.param, tmp_path / "f.db", ann_threshold=1000, background_index=False) \
        if request.param == "sqlite" else make_store(request.param, tmp_path / "f.db")
    yield s
    dispose(request.param, s)


def _memory(store) -> MemoryWeave:
    return MemoryWeave(embedder=HashingEmbedder(dim=DIM), store=store)


def _vectors(rng, n):
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_selective_filter_returns_k(store):
    """20 of 5,000 traces match (0.4%): a recall of k=10 returns 10 of them."""
    rng = np.random.default_rng(0)
    m = _memory(store)
    items = [
        {"text": f"note {i} about the weather", "episode": f"e{i // 50}", "speaker": "Ana" if i % 2 else "Bo",
         "metadata": {"tenant": "rare" if i % (N // 20) == 7 else "common", "n": i}}
        for i in range(N)
    ]
    m.add_many(items, embeddings=_vectors(rng, N))
    for flt in ({"tenant": "rare"}, {"tenant": {"$in": ["rare"]}}, {"$and": [{"n": {"$gte": 0}}, {"tenant": "rare"}]}):
        got = m.recall("weather", k=10, filter=flt, record_access=False)
        assert len(got) == 10
        assert all(r.trace.metadata["tenant"] == "rare" for r in got)
    all_rare = m.recall("weather", k=50, filter={"tenant": "rare"}, record_access=False)
    assert len(all_rare) == 20  # every match, and only matches
    # a 10% filter (over-fetched ANN path on SQLite) also fills k
    wide = m.recall("weather", k=30, filter={"n": {"$lt": N // 10}}, record_access=False)
    assert len(wide) == 30 and all(r.trace.metadata["n"] < N // 10 for r in wide)
    assert m.recall("weather", k=5, filter={"tenant": "nobody"}) == []


def test_neighbours_respect_the_filter(store):
    """Episode neighbours of a matching trace are candidates only when they match too."""
    m = _memory(store)
    m.add_conversation(
        [{"speaker": "Ana" if i % 2 else "Bo", "text": f"turn {i} about knee surgery recovery",
          "metadata": {"public": i % 3 == 0}} for i in range(12)],
        episode="ep",
    )
    got = m.recall("knee", k=12, filter={"public": True}, record_access=False)
    assert {r.trace.metadata["public"] for r in got} == {True}
    assert len(got) == 4
    table = m.features("knee", filter={"public": True})
    assert set(table.ids) == {r.trace.id for r in got}
    assert {r.trace.speaker for r in m.recall("knee", k=12, filter={"speaker": "Ana"})} == {"Ana"}
    assert {r.trace.speaker for r in m.recall("knee", k=12, filter={"speaker": {"$ne": "Ana"}})} == {"Bo"}


def test_refused_filter_raises_before_anything(store):
    m = _memory(store)
    m.add("a memory", metadata={"x": 1})
    before = list(m.store.access_logs([t.id for t in m.traces()], "default").values())
    for bad, err in (({"x": {"$regex": "a"}}, UnsupportedFilterError), ({"$or": "x"}, InvalidFilterError),
                     ("x", InvalidFilterError)):
        with pytest.raises(err):
            m.recall("memory", filter=bad)
    assert [log.count for log in list(m.store.access_logs([t.id for t in m.traces()], "default").values())] == [log.count for log in before]
    assert isinstance(InvalidFilterError("x"), ValueError)


def test_store_searches_take_where(store):
    """The Store primitives themselves honour ``where`` (the contract the engine relies on)."""
    from memoryweave_core.filters import parse_filter

    m = _memory(store)
    added = m.add_many([{"text": f"apple pie {i}", "metadata": {"k": i % 4}} for i in range(40)],
                     embeddings=_vectors(np.random.default_rng(1), 40))
    ids = [t.id for t in added]
    by_id = {t.id: t for t in m.traces()}
    where = parse_filter({"k": 3})
    q = by_id[ids[0]].content
    near = store.nearest("default", "content", q, 5, where)
    assert len(near) == 5 and all(by_id[i].metadata["k"] == 3 for i, _ in near)
    lex = store.lexical("default", tokenize("apple pie"), 5, where)
    assert len(lex) == 5 and all(by_id[i].metadata["k"] == 3 for i, _ in lex)
    assert store.pool("default", ids=[ids[0], ids[3]], where=where).ids.tolist() == [ids[3]]
