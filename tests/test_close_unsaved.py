"""close() does not rewrite a big graph for a small share of changes (issue 22, the
close target): the database stays the truth, and the next open puts the rows its
saved graph lacks back from it (exactly searchable at once) and drops the rows it
has that are gone.  Saves are counted, never timed; the figures are in
``benchmarks/results/close_unsaved.json``.
"""

from __future__ import annotations

import glob
import os
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from memoryweave_core import MemoryWeave
from memoryweave_core.ann.loading import LoadingIndex
from memoryweave_core.storage.sqlite import SQLiteStore, saver

pytest.importorskip("hnswlib")

from graph_calls import record_saves  # noqa: E402
from test_graph_loading import EXACT, QUERIES, Embedder, _answers, _build, _check_exact, _same  # noqa: E402

FLOOR = 5  # UNSAVED_AT_CLOSE in these tests: the share decides (1/8 of 300 rows: 37)


@pytest.fixture
def staged(monkeypatch) -> list[str]:
    """Every graph save, by path; the close bound made small enough for 300-row graphs."""
    monkeypatch.setattr(saver, "UNSAVED_AT_CLOSE", FLOOR)
    return record_saves(monkeypatch)


def _open(path, **kw) -> MemoryWeave:
    store = SQLiteStore(str(path), ann_threshold=20, background_index=False, **EXACT, **kw)
    return MemoryWeave(store=store, embedder=Embedder(), clock=lambda: 2e9)


def _distance(path, ns: str = "a") -> dict[str, int]:
    """Per field: how far the namespace's live rows (the database) are from its saved keys file."""
    with sqlite3.connect(str(path)) as conn:
        nsid = conn.execute("SELECT id FROM namespaces WHERE name = ?", (ns,)).fetchone()[0]
        live = np.array([r[0] for r in conn.execute("SELECT key FROM traces WHERE ns = ?", (nsid,))], np.int64)
    out = {}
    for field in ("content", "context"):
        saved = np.load(glob.glob(f"{path}.*.{field}.{nsid}.hnsw.keys.npy")[0], allow_pickle=False)  # see graphnames
        out[field] = len(np.setdiff1d(live, saved)) + len(np.setdiff1d(saved, live))
    return out


def _mtimes(path) -> dict[str, int]:
    return {f: os.stat(os.path.join(os.path.dirname(path), f)).st_mtime_ns
            for f in os.listdir(os.path.dirname(path)) if ".hnsw" in f}


def _notes(prefix: str, n: int) -> list[dict]:
    return [{"text": f"{prefix} {i} about the {('pond', 'attic', 'porch')[i % 3]}"} for i in range(n)]


def test_close_after_a_few_changes_writes_no_graph_and_the_reopen_answers_the_same(tmp_path, staged):
    path = tmp_path / "few.db"
    _build(path)
    staged.clear()
    files = _mtimes(path)
    with _open(path) as memory:
        memory.add_many(_notes("fresh", 20), namespace="a")  # 20 of 300 rows: under 1/8
        gone = [r.trace.id for r in memory.recall("garden", k=5, namespace="a", record_access=False)]
        memory.forget(gone, namespace="a")
        before = _answers(memory.store)
        recalled = [(r.trace.id, r.score) for r in memory.recall("pond", k=10, namespace="a", record_access=False)]
    assert staged == [] and _mtimes(path) == files  # close() wrote no graph file
    assert _distance(path) == {"content": 25, "context": 25}
    with _open(path) as memory:
        after = _check_exact(memory.store)  # answered exactly while the graph loads
        for slot, answer in before.items():
            _same(after[slot], answer)
        assert [(r.trace.id, r.score) for r in memory.recall("pond", k=10, namespace="a", record_access=False)] == recalled
        assert memory.store.wait_for_index(60)  # the unsaved rows are inserted in the background
        for slot, answer in _check_exact(memory.store).items():
            _same(answer, before[slot])
        found = {i for q in QUERIES for r in memory.recall(q, k=50, namespace="a", record_access=False) for i in [r.trace.id]}
        assert not found & set(gone)  # deleted since the save: never back
        assert memory.count(namespace="a") == 300 + 20 - 5


def test_the_bound_forces_a_save(tmp_path, staged):
    path = tmp_path / "many.db"
    _build(path)
    staged.clear()
    with _open(path) as memory:
        memory.add_many(_notes("bulk", 60), namespace="a")  # 60 of 360 rows: over 1/8
    assert sorted(os.path.basename(p).split(".")[-3] for p in staged) == ["content", "context"]  # <name>.<field>.<nsid>.hnsw
    assert _distance(path) == {"content": 0, "context": 0}


def test_cycles_of_small_changes_never_leave_more_than_the_bound(tmp_path, staged):
    """The bound is on the rows unsaved at close, this session's and earlier ones' together."""
    path = tmp_path / "cycles.db"
    _build(path)
    staged.clear()
    saves = []
    for cycle in range(8):
        with _open(path) as memory:
            memory.recall("garden", k=3, namespace="a", record_access=False)  # loads, syncs the carried rows
            memory.add_many(_notes(f"cycle {cycle}", 12), namespace="a")
            if cycle % 3 == 1:
                memory.forget([r.trace.id for r in memory.recall("note", k=2, namespace="a", record_access=False)],
                              namespace="a")
            live = memory.count(namespace="a")
        saves.append(len(staged))
        distance = _distance(path)
        assert max(distance.values()) <= max(FLOOR, int(saver.UNSAVED_SHARE * live))
    assert 0 < saves[-1] < 2 * 8  # some closes saved, most did not


def _loaded(memory: MemoryWeave, namespace: str) -> None:
    """Load the namespace's saved graphs and settle them before the test adds rows.  With
    the load still running as the rows arrive, close() was seen to save both graphs
    for rows under the bound on a loaded machine (about 1 run in 10 there; never
    quiet): a timing this test is not about, and not yet explained."""
    memory.recall("pond", k=1, namespace=namespace, record_access=False)
    store = memory.store
    assert all(index.wait(60) for index in store._indexes.loaded() if isinstance(index, LoadingIndex))
    memory.recall("pond", k=1, namespace=namespace, record_access=False)


def test_a_close_while_the_carried_rows_are_still_being_indexed_counts_them(tmp_path, staged, monkeypatch):
    """Rows put back from the database at the open are unsaved until a save covers them,
    whether or not the background indexer has moved them into the graph yet.  (The
    background saver is held off: on a loaded machine it could save the idle graphs
    between the indexer finishing and the count, and this test is about close().)"""
    monkeypatch.setattr(saver, "MIN_INTERVAL", float("inf"))
    path = tmp_path / "carried.db"
    _build(path)
    staged.clear()
    with _open(path) as memory:
        _loaded(memory, "a")  # (see _loaded)
        memory.add_many(_notes("first", 30), namespace="a")  # under the bound: left unsaved
    assert staged == []
    store = SQLiteStore(str(path), ann_threshold=20, **EXACT)  # background indexing
    with MemoryWeave(store=store, embedder=Embedder()) as memory:
        memory.recall("pond", k=3, namespace="a", record_access=False)
        assert store.wait_for_index(60)
        nsid = store._caches.nsid("a")
        unsaved = {slot: saver.unsaved(index) for slot, index in store._indexes._indexes.items() if slot[0] == nsid}
        assert unsaved and all(n >= 30 for n in unsaved.values())
        memory.add_many(_notes("second", 20), namespace="a")  # 50 unsaved in all: over 1/8 of 350
    assert len(staged) == 2  # both graphs written: the 30 carried rows are in the files now
    assert all(d <= 20 for d in _distance(path).values())  # (the new rows, if not yet indexed at close, are not)


def test_forgetting_a_namespace_with_unsaved_changes_leaves_nothing_behind(tmp_path, staged):
    path = tmp_path / "forget.db"
    _build(path)
    staged.clear()
    with _open(path) as memory:
        memory.add_many(_notes("late", 10), namespace="b")
    with _open(path) as memory:
        nsid = memory.store._caches.nsid("b")
        memory.forget(namespace="b")
    assert not list(tmp_path.glob(f"forget.db.*.{nsid}.hnsw*"))
    with _open(path) as memory:
        assert memory.count(namespace="b") == 0 and memory.recall("late", k=5, namespace="b") == []
        _check_exact(memory.store, "a")


def test_a_crash_between_the_database_commit_and_the_graph_save_loses_no_row_and_revives_none(tmp_path):
    """A process that commits adds and deletes, then dies without closing: the saved graph is
    stale, the database newer.  The next open answers from the database's rows only."""
    path = tmp_path / "crash.db"
    _build(path)
    with _open(path) as memory:
        gone = [r.trace.id for r in memory.recall("kitchen", k=8, namespace="a", record_access=False)]
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_graph_loading import Embedder, EXACT
        from memoryweave_core import MemoryWeave
        from memoryweave_core.storage.sqlite import SQLiteStore
        memory = MemoryWeave(store=SQLiteStore({str(path)!r}, ann_threshold=20, **EXACT), embedder=Embedder())
        memory.add_many([{{"text": f"crash {{i}} in the kitchen"}} for i in range(70)], namespace="a")
        memory.forget({gone!r}, namespace="a")
        os._exit(0)  # no close(), no save: the graph files are the old ones
    """)
    files = _mtimes(path)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)
    assert _mtimes(path) == files
    with _open(path) as memory:
        assert memory.count(namespace="a") == 300 + 70 - len(gone)
        during = _check_exact(memory.store)
        assert memory.store.wait_for_index(60)
        for slot, answer in _check_exact(memory.store).items():
            _same(answer, during[slot])
        found = {r.trace.id for q in QUERIES + ["crash kitchen"] for r in memory.recall(q, k=50, namespace="a")}
        assert not found & set(gone)
        every = [i for i, _ in memory.store.nearest("a", "content", Embedder().embed(["crash"])[0], 1000)]
        assert len(every) == len(set(every)) == 300 + 70 - len(gone) and not set(every) & set(gone)


def test_the_allowance_is_a_share_of_the_graph_with_a_floor_and_a_cap():
    """What close() may leave unsaved: at least UNSAVED_AT_CLOSE rows, 1/8 of the graph, at
    most UNSAVED_CAP; rows still waiting for the graph count, but alone never make a save."""
    from types import SimpleNamespace

    def index(changes: int, pending: int = 0, in_graph: int = 1_000_000):
        return SimpleNamespace(changes=changes, pending=pending, in_graph=in_graph)

    assert saver.allowance(index(0, in_graph=100)) == saver.UNSAVED_AT_CLOSE
    assert saver.allowance(index(0)) == 1_000_000 * saver.UNSAVED_SHARE
    assert saver.allowance(index(0, in_graph=10_000_000)) == saver.UNSAVED_CAP
    assert not saver.worth_saving(index(100_000))  # a 100k import onto 1M: left to the next open
    assert saver.worth_saving(index(125_001))
    assert saver.worth_saving(index(60_000, pending=70_000))  # carried and new rows together
    assert not saver.worth_saving(index(0, pending=500_000))  # a save would hold none of them
