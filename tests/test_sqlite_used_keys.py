"""SQLite's pool skips the access join once it knows which rows have an access row.

The set (``storage/sqlite/used.py``) must never miss a key that has one: a
pool read through it equals the pool a fresh store reads with the join,
through this store's access writes and deletes and another connection's."""

from __future__ import annotations

import numpy as np

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.storage.sqlite import SQLiteStore


def columns(store: SQLiteStore, ids: list[str]) -> tuple:
    p = store.pool("default", ids=ids, radius=2)
    return (p.ids.tolist(), p.first_access.tolist(), p.access_count.tolist(),
            np.nan_to_num(p.recent_access, nan=-1.0).tolist())


def joined(path, ids: list[str]) -> tuple:
    """The pool as a fresh store reads it: its first pool uses the join."""
    fresh = SQLiteStore(path)
    try:
        assert fresh._caches.used.get(fresh._db) is None  # the first ask: the join
        return columns(fresh, ids)
    finally:
        fresh.close()


def test_the_pool_without_the_join_equals_the_pool_with_it(tmp_path):
    path = tmp_path / "m.db"
    mem = MemoryWeave(store=SQLiteStore(path), embedder=HashingEmbedder(dim=32), clock=lambda: 1_700_000_000.0)
    mem.add_many([{"text": f"turn {i} of episode {i // 10}", "episode": f"e{i // 10}", "time": 1_690_000_000 + i}
                  for i in range(60)])
    ids = [t.id for t in mem][::7]
    store = mem.store
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)

    def check() -> None:
        want = joined(path, ids)  # (opening a store commits: ours then drops its set)
        for _ in range(2):  # after an invalidation, the first pool joins and the second reads the set
            statements.clear()
            assert columns(store, ids) == want
        pool_sql = [s for s in statements if "NOT INDEXED" in s]
        assert pool_sql and not any("JOIN access" in s for s in pool_sql)

    check()
    store.record_access([ids[0], ids[1], ids[1]], 1_700_000_100.0, "default")
    assert store._caches.used._keys is not None and len(store._caches.used._keys) == 2  # our own commit is in the set
    check()
    other = SQLiteStore(path)
    other.record_access([ids[2]], 1_700_000_200.0, "default")  # another connection's: the set is dropped
    check()
    mem.forget(ids[1])
    assert len(store._caches.used._keys) == 2  # the deleted key left the set
    check()
    other.close()
    mem.close()
