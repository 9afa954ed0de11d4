"""SQLite's pools, column by column and bit for bit, against pools built other ways.

``storage/sqlite/decode.py`` builds a pool from rows in the order SQLite
returns them and gathers it into pool order once.  These tests fill an
SQLite store (with and without the vector cache) and a MemoryStore with the
same random traces, deletions, versions and accesses
(``test_columnar_pool._store``) and require, for random asked ids, radii and
filters: the pool of the asked ids alone to equal the MemoryStore's; a pool
with neighbours to equal one built from whole traces and access logs, in
:func:`pool_order`; and ``candidates`` (recall's path, on row keys) to equal
the generic path over the store's own searches and ``pool``.  (With several
traces at one position of an episode, as here, the two backends may gather
different neighbours, so neighbourhoods are not compared across them.)
"""

from __future__ import annotations

import numpy as np
import pytest
from test_columnar_pool import DIM, WORDS, _assert_same, _plain, _store

from memoryweave_core.errors import CorruptStoreError
from memoryweave_core.filters import parse_filter
from memoryweave_core.pool import pool_order
from memoryweave_core.storage.base import gather_candidates
from memoryweave_core.storage.sqlite import SQLiteStore


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("vector_cache", [0, 1 << 20])
def test_sqlite_pools_equal_pools_built_other_ways(tmp_path, seed, vector_cache):
    memory, ids = _store(np.random.default_rng(seed))
    sqlite, same = _store(np.random.default_rng(seed), SQLiteStore(tmp_path / "s.db", vector_cache=vector_cache))
    assert same == ids
    rng = np.random.default_rng(1000 + seed)
    try:
        for ns in ("a", "b"):
            if not ids[ns]:
                continue
            for _ in range(6):
                asked = list(rng.choice(ids[ns] + ["missing"], int(rng.integers(1, 10))))  # repeats and a stranger
                where = parse_filter({"speaker": "ann"}) if rng.random() < 0.3 else None
                _assert_same(sqlite.pool(ns, ids=asked, where=where), memory.pool(ns, ids=asked, where=where))
                radius = int(rng.integers(1, 3))
                got = sqlite.pool(ns, ids=asked, radius=radius, where=where)
                _assert_same(got, _plain(sqlite, ns, got.ids.tolist()))
                traces = {t.id: t for t in sqlite.get(got.ids.tolist(), ns)}
                rows = list(traces)
                order = pool_order([i for i in dict.fromkeys(asked) if i in traces], rows,
                                   [traces[i].episode for i in rows], [traces[i].position for i in rows])
                assert got.ids.tolist() == [rows[i] for i in order]
                v = rng.normal(size=(2, DIM)).astype(np.float32)
                searches = [("content", v[0]), ("context", v[1])]
                terms = list(rng.choice(WORDS, 2))
                n = int(rng.integers(1, 6))
                _assert_same(sqlite.candidates(ns, searches, terms, n, radius, where=where),
                             gather_candidates(sqlite, ns, searches, terms, n, radius, where=where))
    finally:
        sqlite.close()


@pytest.mark.parametrize("column, value", [  # values that the columns' type affinities keep as they are
    ("speaker", "x'00'"), ("episode", "x'33'"), ("position", "1.5"), ("position", "'one'"),
    ("time", "'noon'"), ("category", "1.5"), ("category", "'one'"), ("tok_ids", "'abcd'"),
    ("content", "CAST(zeroblob(32) AS TEXT)"), ("context", "zeroblob(28)"),
])
def test_a_pool_cell_of_the_wrong_type_is_a_corrupt_store(tmp_path, column, value):
    """Most pool cells are checked by the conversions that read them; a refusal still names the column."""
    store, ids = _store(np.random.default_rng(3), SQLiteStore(tmp_path / "s.db"))
    try:
        ns = "a"
        victim = ids[ns][len(ids[ns]) // 2]
        store._db.conn.execute("PRAGMA ignore_check_constraints = 1")
        store._db.conn.execute(f"UPDATE traces SET {column} = {value} WHERE id = ? AND ns = (SELECT id FROM namespaces WHERE name = ?)",
                               (victim, ns))
        store._caches.invalidate()
        with pytest.raises(CorruptStoreError, match=f"unreadable {column}"):
            store.pool(ns, ids=[victim, ids[ns][0]], radius=1)
    finally:
        store.close()


@pytest.mark.parametrize("field", ["content", "context"])
@pytest.mark.parametrize("damage", ["huge", "nan", "zero"])
def test_a_damaged_vector_in_a_pool_is_a_corrupt_store_naming_its_trace(tmp_path, field, damage):
    """A vector of the right size that no store would write (finite but huge,
    NaN, all zeros) would overflow the pathways' products and outrank every
    trace it meets: the pool refuses it by name, and forgetting that trace
    makes recall whole again."""
    import warnings

    from memoryweave_core import MemoryWeave
    from memoryweave_core.embedders import HashingEmbedder

    path = tmp_path / "m.db"
    memory = MemoryWeave(path=path, embedder=HashingEmbedder(dim=DIM))
    try:
        memory.add_conversation([("ana", f"the {w} was on the table") for w in WORDS[:6]], episode="e")
        victim = [t.id for t in memory.traces()][2]
        value = {"huge": 1e30, "nan": float("nan"), "zero": 0.0}[damage]
        blob = np.full(DIM, value, np.float32).tobytes()
        memory.store._db.conn.execute(f"UPDATE traces SET {field} = ? WHERE id = ?", (blob, victim))
        memory.store._caches.invalidate()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow warning reaches the caller
            with pytest.raises(CorruptStoreError, match=f"{victim}.*{field} vector"):
                memory.recall(f"the {WORDS[2]}", k=3)
        memory.forget([victim])
        assert victim not in [r.trace.id for r in memory.recall(f"the {WORDS[2]}", k=6)]
    finally:
        memory.close()


def test_damaged_rows_finds_only_damaged_rows():
    from memoryweave_core.vectors import damaged_rows

    rng = np.random.default_rng(4)
    v = rng.normal(size=(50, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert damaged_rows(v).tolist() == [] and damaged_rows(v[:0]).tolist() == []
    v[[3, 40]] = [[np.inf] * 8, [2.0] * 8]
    assert damaged_rows(v).tolist() == [3, 40]
