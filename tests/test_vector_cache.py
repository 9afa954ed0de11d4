"""The SQLite store's bounded vector cache (issue 22 item 3): ``vector_cache`` bytes.

It is filled by recalls, never at open; it never holds more than its budget;
and recall answers exactly as without it (same ids, same scores), whatever
the budget, with and without evictions.  Checked by counting rows read,
never by timing.
"""

from __future__ import annotations

import shutil

import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import InvalidInputError
from memoryweave_core.storage.sqlite import SQLiteStore
from memoryweave_core.storage.sqlite.vcache import ENTRY_OVERHEAD

DIM = 64
ROW = 2 * 4 * DIM + ENTRY_OVERHEAD  # what one cached row counts against the budget
QUERIES = ["topic 3 and item 1", "note about topic 11", "item 4", "topic 7", "note 42", "topic 3 and item 1"]


def _mem(path, clock, **kw) -> MemoryWeave:
    return MemoryWeave(store=SQLiteStore(path, **kw), embedder=HashingEmbedder(dim=DIM), clock=clock)


@pytest.fixture
def base(tmp_path, clock):
    path = tmp_path / "base.db"
    mem = _mem(path, clock)
    mem.add_many([{"text": f"note {i} about topic {i % 17} and item {i % 5}", "episode": f"e{i // 10}",
                   "time": 1_690_000_000 + i} for i in range(400)])
    mem.close()
    return path


def _copy(base, tmp_path, name: str):
    path = tmp_path / name
    shutil.copy(base, path)
    return path


def _answers(mem: MemoryWeave, budget: int | None = None) -> list:
    out = []
    for q in QUERIES:  # access is recorded: each recall changes what the next one scores
        out.append([(r.trace.id, r.score) for r in mem.recall(q, k=8, at=1_700_000_000)])
        cache = mem.store._caches.vectors
        if budget is not None:
            assert cache is not None and cache.nbytes <= budget
            assert cache.nbytes == len(cache) * ROW
    return out


def test_recall_is_identical_with_and_without_the_cache(base, tmp_path, clock):
    plain = _mem(_copy(base, tmp_path, "plain.db"), clock)
    assert plain.store._caches.vectors is None  # budget 0: no cache, the pool reads the file
    want = _answers(plain)
    plain.close()
    for budget in (10 * ROW, 40 * ROW, 1 << 30):  # evicting every recall, sometimes, never
        mem = _mem(_copy(base, tmp_path, f"c{budget}.db"), clock, vector_cache=budget)
        assert _answers(mem, budget) == want
        mem.close()


def test_the_cache_is_filled_by_recalls_not_at_open_and_reused(base, tmp_path, clock):
    mem = _mem(_copy(base, tmp_path, "m.db"), clock, vector_cache=1 << 30)
    cache = mem.store._caches.vectors
    assert cache is not None and len(cache) == 0 and cache.reads == 0
    mem.recall(QUERIES[0], k=8, record_access=False)
    first = cache.reads
    assert first > 0 and len(cache) == first
    mem.recall(QUERIES[0], k=8, record_access=False)
    assert cache.reads == first  # the same pool again: every vector from RAM
    victim = mem.recall(QUERIES[0], k=1, record_access=False)[0].trace.id
    held = len(cache)
    mem.forget(victim)
    assert len(cache) == held - 1  # a deleted row leaves the cache at once
    mem.close()


def test_a_small_budget_is_never_exceeded(base, tmp_path, clock):
    budget = 5 * ROW + ROW // 2
    mem = _mem(_copy(base, tmp_path, "m.db"), clock, vector_cache=budget)
    cache = mem.store._caches.vectors
    for q in QUERIES * 2:
        mem.recall(q, k=8, record_access=False)
        assert 0 < cache.nbytes <= budget and len(cache) == 5
    mem.close()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1GB"])
def test_a_bad_budget_is_refused(tmp_path, bad):
    with pytest.raises(InvalidInputError):
        SQLiteStore(tmp_path / "m.db", vector_cache=bad)
