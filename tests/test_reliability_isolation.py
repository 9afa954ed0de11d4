"""Reliability (issue 8.4): a namespace never sees another, and forgetting one is total.

* Property (hypothesis, every backend): whatever is written to namespaces A, B
  and C -- the same words, the same episode names, the same texts -- recall in
  one namespace only returns its own traces, and so does every candidate path
  the engine uses (content and context vector search, with the HNSW graph on
  SQLite; lexical search and scores; episode neighbours; last trace; get).
* ``forget(namespace=...)`` removes every trace, vector, index entry, access-log
  row and engine state of that namespace and nothing of the others: checked
  through the API, in the in-memory store's structures, and for SQLite by
  reading the database file directly with ``sqlite3`` (and its index files).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections import defaultdict

import pytest
from backends import BACKENDS, make_store, pg_dsn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoryweave_core import HashingEmbedder, MemoryWeave, TraceNotFoundError
from memoryweave_core.lexical import tokenize
from memoryweave_core.storage.sqlite import SQLiteStore

DIM = 64
NAMESPACES = ("A", "B", "C")
WORDS = ("cat", "luna", "pottery", "bowl", "sunday", "hiking", "password", "hunter2", "paris", "tabby")


# -- backends (the same small factory in every reliability file) -------------
# -- the property -------------------------------------------------------------------
ITEMS = st.lists(
    st.tuples(
        st.sampled_from(NAMESPACES),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join),
        st.sampled_from(["shared-episode", "other-episode", None]),
        st.sampled_from(["Ana", "Ben", None]),
    ),
    min_size=1,
    max_size=30,
)
QUERIES = st.lists(st.lists(st.sampled_from(WORDS + ("nothing",)), min_size=1, max_size=4).map(" ".join), min_size=1, max_size=3)


def check_isolated(m: MemoryWeave, ids: dict[str, set[str]], queries: list[str]) -> None:
    store = m.store
    everything = {i for s in ids.values() for i in s}
    for ns in NAMESPACES:
        mine, others = ids[ns], everything - ids[ns]
        assert m.count(ns) == len(mine)
        assert {t.id for t in store.iter_traces(ns)} == mine
        assert store.get(sorted(others), ns) == []
        for tid in list(others)[:3]:
            with pytest.raises(TraceNotFoundError):
                m.get(tid, namespace=ns)
        last = store.last_trace(ns)
        assert (last is None) == (not mine) and (last is None or last.id in mine)
        for q in queries:
            result = m.recall(q, k=len(everything) + 5, namespace=ns, record_access=False)
            got = [r.trace.id for r in result]
            assert set(got) <= mine, f"recall in {ns} returned traces of another namespace"
            assert len(got) == len(mine), "recall with k >= count must return the whole namespace"
            terms = tokenize(q)
            if terms:
                assert {i for i, _ in store.lexical(ns, terms, 50)} <= mine
                if others:
                    assert not store.pool(ns, ids=sorted(others), radius=2).ids.tolist()
        # candidate generation with vectors *from other namespaces* as queries
        for t in [t for t in store.iter_traces() if t.namespace != ns][:5]:
            for field in ("content", "context"):
                assert {i for i, _ in store.nearest(ns, field, getattr(t, field), 50)} <= mine
            assert {i for i, _ in store.lexical(ns, tokenize(t.text), 50)} <= mine
        for ep in ("shared-episode", "other-episode"):
            members = store.episode_traces(ns, ep, 0, 1000)
            assert {t.id for t in members} <= mine and all(t.namespace == ns for t in members)
            assert store.episode_length(ns, ep) == (max((t.position for t in members), default=-1) + 1)


@pytest.mark.parametrize("kind", BACKENDS)
def test_recall_in_one_namespace_never_returns_another(kind, tmp_path):
    if kind == "postgres":
        pg_dsn()
    counter = itertools.count()

    @settings(max_examples=25 if kind == "memory" else 15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(items=ITEMS, queries=QUERIES, victim=st.sampled_from(NAMESPACES))
    def prop(items, queries, victim):
        path = str(tmp_path / f"iso-{next(counter)}.db")
        # a tiny ANN threshold: SQLite's candidate generation runs through HNSW graphs too
        store = make_store(kind, path, ann_threshold=4)
        m = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
        try:
            ids: dict[str, set[str]] = defaultdict(set)
            for ns, text, episode, speaker in items:
                ids[ns].add(m.add(text, namespace=ns, episode=episode, speaker=speaker).id)
            check_isolated(m, ids, queries)
            # forgetting a namespace takes exactly that namespace
            kept = {ns: sorted((t.id, t.text) for t in store.iter_traces(ns)) for ns in NAMESPACES if ns != victim}
            assert m.forget(namespace=victim) == len(ids[victim])
            assert m.count(victim) == 0 and victim not in m.namespaces()
            assert {ns: sorted((t.id, t.text) for t in store.iter_traces(ns)) for ns in kept} == kept
            removed = ids.pop(victim, set())
            ids[victim] = set()
            assert store.get(sorted(removed), victim) == []
            check_isolated(m, ids, queries)
        finally:
            if kind == "postgres":
                for ns in store.namespaces():
                    store.delete_namespace(ns)
            m.close()

    prop()


# -- forget(namespace=...) down to the storage layer ---------------------------------
SECRET = "zqxsecretword"


def _fill(m: MemoryWeave) -> dict[str, list[str]]:
    ids = {}
    for ns in ("keep", "drop"):
        marker = SECRET if ns == "drop" else "publicword"
        traces = m.add_conversation(
            [("Ana", f"{marker} my cat is called Luna {i}") if i % 2 == 0 else ("Ben", f"{marker} what breed {i}") for i in range(30)],
            episode="same-episode-name",
            namespace=ns,
        )
        ids[ns] = [t.id for t in traces]
        m.recall(f"{marker} cat", namespace=ns)  # access-log rows beyond creation, ART state, loaded indexes
    return ids


def test_forget_namespace_in_memory_store_leaves_nothing():
    from memoryweave_core.storage.memory import MemoryStore

    store = MemoryStore()
    m = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    ids = _fill(m)
    assert m.forget(namespace="drop") == 30
    assert "drop" not in store._spaces and "drop" not in m._arts
    assert not set(ids["drop"]) & {i for s in store._spaces.values() for i in s.keys}
    columns = store._columns
    assert not set(ids["drop"]) & set(columns.ids[: columns.size].tolist())  # forgotten keys hold no id
    keep = store._spaces["keep"]
    assert len(keep.content) == len(keep.context) == len(keep.bm25) == len(keep.traces) == 30
    assert {t.id for t in keep.traces.values()} == set(ids["keep"])
    assert store.access_logs(ids["drop"][:1], "drop") == {}
    assert len(store.access_logs(ids["keep"], "keep")) == 30
    # re-adding starts from nothing: no old category, no old neighbour
    t = m.add(f"{SECRET} again", namespace="drop", episode="same-episode-name")
    assert t.position == 0 and [c.members for c in m.categories("drop")] == [(t.id,)]


def test_forget_namespace_in_sqlite_file_leaves_nothing(tmp_path):
    """Read the database file itself: no row, vector, FTS entry, log or state of the namespace survives."""
    store_cls = SQLiteStore
    path = str(tmp_path / "forget.db")
    m = MemoryWeave(store=store_cls(path, ann_threshold=10), embedder=HashingEmbedder(DIM))
    ids = _fill(m)
    m.store.save_indexes()  # HNSW graph files on disk for both namespaces
    with sqlite3.connect(path) as raw:
        nsid = raw.execute("SELECT id FROM namespaces WHERE name = 'drop'").fetchone()[0]
        keys = [r[0] for r in raw.execute("SELECT key FROM traces WHERE ns = ?", (nsid,))]
        assert len(keys) == 30 and raw.execute("SELECT count(*) FROM state WHERE ns = ?", (nsid,)).fetchone()[0] > 0
    index_files = [f for f in os.listdir(tmp_path) if f.startswith("forget.db.") and f".{nsid}.hnsw" in f]
    assert index_files, "expected saved HNSW graphs for the namespace"

    assert m.forget(namespace="drop") == 30
    m.close()

    raw = sqlite3.connect(path)
    try:
        q = lambda sql, *p: raw.execute(sql, p).fetchall()  # noqa: E731
        assert q("SELECT * FROM namespaces WHERE name = 'drop' OR id = ?", nsid) == []
        assert q("SELECT id FROM traces WHERE ns = ?", nsid) == []
        assert q(f"SELECT id FROM traces WHERE id IN ({','.join('?' * 30)})", *ids["drop"]) == []
        assert q(f"SELECT key FROM access WHERE key IN ({','.join('?' * 30)})", *keys) == []
        assert q("SELECT * FROM state WHERE ns = ?", nsid) == []
        assert q("SELECT name FROM state_arrays WHERE ns = ?", nsid) == []
        # the lexical index: no term of that namespace, no document with its keys
        assert q("SELECT term, doc FROM lex_vocab WHERE term LIKE ?", f"n{nsid}x%") == []
        assert q(f"SELECT rowid FROM lex WHERE rowid IN ({','.join('?' * 30)})", *keys) == []
        # generic sweep: no table holds a row of that namespace or its secret word
        tables = [r[0] for r in q("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'")]
        for table in tables:
            if table.startswith("lex_") or table.startswith("sqlite_"):
                continue  # FTS5 shadow tables hold binary segments, checked through lex/lex_vocab above
            cols = [c[1] for c in q(f"PRAGMA table_info({table})")]
            if "ns" in cols:
                assert q(f"SELECT count(*) FROM {table} WHERE ns = ?", nsid) == [(0,)], table
            for col in cols:
                hits = q(f"SELECT count(*) FROM {table} WHERE CAST({col} AS TEXT) LIKE ?", f"%{SECRET}%")
                assert hits == [(0,)], f"{table}.{col} still holds text of the forgotten namespace"
        # the other namespace is whole
        keep = q("SELECT t.key, t.id FROM traces t JOIN namespaces n ON n.id = t.ns WHERE n.name = 'keep'")
        assert sorted(i for _, i in keep) == sorted(ids["keep"])
        used = {k for (k,) in q("SELECT key FROM access")}
        assert used and used <= {k for k, _ in keep}  # the kept namespace's used traces keep their logs
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        raw.close()
    left = [f for f in os.listdir(tmp_path) if f.startswith("forget.db.") and f".{nsid}.hnsw" in f]
    assert left == [], f"index files of the forgotten namespace remain: {left}"

    # reopen: the forgotten namespace is gone for good, the other one works
    with MemoryWeave(store=store_cls(path, ann_threshold=10), embedder=HashingEmbedder(DIM)) as m2:
        assert m2.namespaces() == ["keep"] and m2.count() == 30
        assert m2.recall(f"{SECRET} cat Luna", k=50, namespace="drop") == []
        assert {r.trace.id for r in m2.recall("publicword cat Luna", k=50, namespace="keep")} == set(ids["keep"])


def test_forget_episode_with_a_shared_name_stays_in_its_namespace(tmp_path):
    for kind in ("memory", "sqlite"):
        store = make_store(kind, str(tmp_path / "ep.db"))
        with MemoryWeave(store=store, embedder=HashingEmbedder(DIM)) as m:
            ids = _fill(m)
            assert m.forget(episode="same-episode-name", namespace="drop") == 30
            assert m.count("drop") == 0 and {t.id for t in m.store.iter_traces("keep")} == set(ids["keep"])
            with pytest.raises(TraceNotFoundError):
                m.forget(ids["keep"][:1], namespace="drop")  # ids of another namespace are unknown here
            assert m.count("keep") == 30
