"""The HNSW index lifecycle (issue 23 defect 8, issue 22 item 3): recall during
background indexing, graphs loaded lazily per namespace, graphs saved as they change.

Mechanisms are checked by counting (inserts made while a reader was active,
graph loads, files written), never by timing; the figures are in
``benchmarks/bench_costs.py --indexing`` and ``benchmarks/bench_scale.py``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from graph_calls import record_loads, record_saves

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.ann.auto import AutoIndex
from memoryweave_core.ann.readers import Readers
from memoryweave_core.storage.memory import MemoryStore
from memoryweave_core.storage.sqlite import SQLiteStore

DIM = 32


def _until(predicate, limit: float = 60.0) -> bool:
    """Poll ``predicate`` (a liveness wait, not a timing assertion)."""
    end = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


class _Counting:
    """An hnswlib index that records, for each insert, how many reads were in progress."""

    def __init__(self, real, readers: Readers) -> None:
        self.real, self.readers, self.active_at_insert = real, readers, []

    def add_items(self, vectors, keys, **kw):
        self.active_at_insert.append(self.readers.active)
        return self.real.add_items(vectors, keys, **kw)

    def __getattr__(self, name):
        return getattr(self.real, name)


# -- defect 8: recall during background indexing ---------------------------------------
def test_the_background_indexer_never_inserts_while_a_recall_reads():
    """A recall marks itself as reading; the indexer starts no insert meanwhile (up to
    ``max_pause``, here longer than the test), and the rows stay searchable exactly."""
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(0)
    readers = Readers(max_pause=600)
    index = AutoIndex(DIM, threshold=50, background=True, readers=readers)
    index.add(np.arange(60), rng.normal(size=(60, DIM)).astype(np.float32))
    assert index.wait(60)
    assert index._graph is not None
    counting = _Counting(index._graph._index, readers)
    index._graph._index = counting
    vectors = rng.normal(size=(500, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with readers.reading():
        index.add(np.arange(60, 560), vectors)
        assert _until(lambda: readers.pauses >= 1)  # the indexer is waiting for us
        assert counting.active_at_insert == []
        keys, sims = index.search(vectors[123], 1)  # found exactly, in the pending rows
        assert keys.tolist() == [60 + 123] and sims[0] == pytest.approx(1.0, abs=1e-5)
    assert index.wait(120)
    assert len(counting.active_at_insert) >= 500 // 16 and not any(counting.active_at_insert)
    index.close()


def test_a_waiting_indexer_still_inserts_after_max_pause():
    """A reader that never stops slows indexing down, never stops it."""
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(1)
    readers = Readers(max_pause=0.001)
    index = AutoIndex(DIM, threshold=50, background=True, readers=readers)
    with readers.reading():
        index.add(np.arange(200), rng.normal(size=(200, DIM)).astype(np.float32))
        assert index.wait(120) and index.kind == "hnsw" and index.pending == 0
    index.close()


@pytest.mark.parametrize("make", ["memory", "sqlite"])
def test_a_recall_marks_the_store_as_reading(tmp_path, make):
    store = MemoryStore() if make == "memory" else SQLiteStore(str(tmp_path / "r.db"))
    with MemoryWeave(store=store, embedder=HashingEmbedder(DIM)) as memory:
        memory.add("the garden needs water")
        readers = store._readers if make == "memory" else store._indexes.readers
        seen: list[int] = []
        real = store.candidates

        def candidates(*args, **kwargs):
            seen.append(readers.active)
            return real(*args, **kwargs)

        store.candidates = candidates  # type: ignore[method-assign]
        assert memory.recall("garden", k=1)
        assert seen and all(n >= 1 for n in seen) and readers.active == 0


# -- issue 22 item 3: graphs are loaded per namespace, on its first search -------------
def _three_namespaces(path, n: int = 40) -> None:
    store = SQLiteStore(str(path), ann_threshold=20, background_index=False)
    with MemoryWeave(store=store, embedder=HashingEmbedder(DIM)) as memory:
        for ns in ("a", "b", "c"):
            memory.add_many([{"text": f"{ns} note {i} about the garden"} for i in range(n)], namespace=ns)


def test_opening_a_store_loads_no_graph_and_a_recall_loads_only_its_namespace(tmp_path, monkeypatch):
    pytest.importorskip("hnswlib")

    path = tmp_path / "lazy.db"
    _three_namespaces(path)
    loads = record_loads(monkeypatch)
    store = SQLiteStore(str(path), ann_threshold=20)
    with MemoryWeave(store=store, embedder=HashingEmbedder(DIM)) as memory:
        assert memory.count(namespace="a") == 40 and memory.namespaces() == ["a", "b", "c"]
        assert loads == []
        assert memory.recall("garden", k=3, namespace="b")
        assert store.wait_for_index(60)  # the graphs load in the background
        nsid = store._caches.nsid("b")
        assert sorted(loads) == sorted(store._indexes.path(nsid, f) for f in ("content", "context"))


@pytest.mark.parametrize("old_sidecar", [False, True])
def test_a_moved_store_keeps_its_graphs(tmp_path, monkeypatch, old_sidecar):
    """The sidecars name their files by base name, so a store moved to another folder (or opened
    through another path) loads its saved graphs instead of rebuilding them; a sidecar written by
    an older release, naming the paths it was saved at, is read the same way."""
    pytest.importorskip("hnswlib")
    import json
    import shutil


    (tmp_path / "here").mkdir()
    _three_namespaces(tmp_path / "here" / "lazy.db")
    if old_sidecar:
        for sidecar in (tmp_path / "here").glob("*.hnsw.json"):
            doc = json.loads(sidecar.read_text())
            doc["files"] = {str(tmp_path / "here" / name): entry for name, entry in doc["files"].items()}
            sidecar.write_text(json.dumps(doc))
    shutil.move(str(tmp_path / "here"), str(tmp_path / "there"))
    loads = record_loads(monkeypatch)
    monkeypatch.chdir(tmp_path / "there")
    store = SQLiteStore("lazy.db", ann_threshold=20)  # a relative path this time
    with MemoryWeave(store=store, embedder=HashingEmbedder(DIM)) as memory:
        assert memory.recall("a note about the garden", k=3, namespace="a")
        assert store.wait_for_index(60)
        assert len(loads) == 2


def _as_named_after_the_file(folder, name: str) -> None:
    """Take a store back to the graph names of earlier versions: its files named after the
    database file, nothing recorded (the sidecars name their files by base name)."""
    import json
    import sqlite3

    conn = sqlite3.connect(folder / name)
    prefix = conn.execute("SELECT value FROM meta WHERE key = 'graph_name'").fetchone()[0]
    with conn:
        conn.execute("DELETE FROM meta WHERE key IN ('graph_name', 'graph_owner')")
    conn.close()
    for old in folder.glob(f"{prefix}.*"):
        old.rename(folder / (name + old.name[len(prefix):]))
    for sidecar in folder.glob("*.hnsw.json"):
        doc = json.loads(sidecar.read_text())
        doc["files"] = {name + f[len(prefix):]: entry for f, entry in doc["files"].items()}
        sidecar.write_text(json.dumps(doc))


@pytest.mark.parametrize("made_by", ["today", "an older version"])
def test_a_renamed_store_keeps_its_graphs(tmp_path, monkeypatch, made_by):
    """The graph files' name is recorded in the database, so renaming the database file (not
    its folder) loads the saved graphs instead of rebuilding them; a store whose files are
    named after its file, as earlier versions named them, keeps those names."""
    pytest.importorskip("hnswlib")
    _three_namespaces(tmp_path / "lazy.db")
    if made_by == "an older version":
        _as_named_after_the_file(tmp_path, "lazy.db")
        SQLiteStore(str(tmp_path / "lazy.db")).close()  # opened once before the rename: its name recorded
        assert sorted(tmp_path.glob("lazy.db.content.*.hnsw"))
    for suffix in ("", "-wal", "-shm"):
        if (tmp_path / f"lazy.db{suffix}").exists():
            (tmp_path / f"lazy.db{suffix}").rename(tmp_path / f"renamed.db{suffix}")
    loads = record_loads(monkeypatch)
    store = SQLiteStore(str(tmp_path / "renamed.db"), ann_threshold=20)
    with MemoryWeave(store=store, embedder=HashingEmbedder(DIM)) as memory:
        assert memory.recall("a note about the garden", k=3, namespace="a")
        assert store.wait_for_index(60)
        assert len(loads) == 2 and all(os.path.exists(p) for p in loads)


def test_a_copy_beside_its_store_never_shares_its_graph_files(tmp_path, monkeypatch):
    """A copy in the same folder cannot tell itself from a renamed store by its contents; the
    path its original was opened at still holds the original, so the copy names its graphs anew."""
    pytest.importorskip("hnswlib")
    import shutil

    _three_namespaces(tmp_path / "a.db")
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    original, copy = SQLiteStore(str(tmp_path / "a.db")), SQLiteStore(str(tmp_path / "b.db"))
    try:
        assert original._indexes.prefix != copy._indexes.prefix
        assert os.path.basename(copy._indexes.prefix).startswith("b.db.")
    finally:
        original.close()
        copy.close()
    new = SQLiteStore(str(tmp_path / "c.db"))  # a new store's name is its own, with a random part
    try:
        assert os.path.basename(new._indexes.prefix).startswith("c.db.")
    finally:
        new.close()


# -- issue 22 item 3: graphs saved as they change, not all at close ---------------------
def test_graphs_are_saved_in_the_background_and_close_has_nothing_left_to_write(tmp_path, monkeypatch):
    pytest.importorskip("hnswlib")
    staged = record_saves(monkeypatch)
    path = str(tmp_path / "bg.db")
    store = SQLiteStore(path, ann_threshold=20)
    memory = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    memory.add_many([f"note {i} about the garden" for i in range(60)])
    assert memory.recall("garden", k=3)  # loads both indexes; the indexer builds their graphs
    assert store.wait_for_index(60)
    saver = store._indexes.saver
    assert _until(lambda: saver.saves >= 2)  # both graphs, by the saver thread
    assert not any(index.dirty for index in store._indexes.loaded())
    before = len(staged)
    memory.close()
    assert len(staged) == before  # close() wrote nothing
    loads = []
    from memoryweave_core.ann import hnsw

    real = hnsw.HNSWIndex.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(hnsw.HNSWIndex, "load", classmethod(lambda cls, *a, **k: loads.append(real(cls, *a, **k)) or loads[-1]))
    with MemoryWeave(store=SQLiteStore(path, ann_threshold=20), embedder=HashingEmbedder(DIM)) as again:
        assert again.recall("garden", k=3)
    assert len(loads) == 2 and all(g is not None for g in loads)  # the background saves are trusted


def test_close_leaves_a_few_changes_for_the_next_open_and_saves_many(tmp_path, monkeypatch):
    pytest.importorskip("hnswlib")
    from memoryweave_core.storage.sqlite import saver

    monkeypatch.setattr(saver, "UNSAVED_AT_CLOSE", 10)
    staged = record_saves(monkeypatch)
    path = str(tmp_path / "slack.db")

    def session(texts: list[str]) -> int:
        before = len(staged)
        with MemoryWeave(store=SQLiteStore(path, ann_threshold=20, background_index=False),
                         embedder=HashingEmbedder(DIM)) as memory:
            memory.add_many(texts)
        return len(staged) - before

    assert session([f"note {i} about the garden" for i in range(60)]) == 2  # never saved: saved
    assert session(["the violin lesson is on friday"]) == 0  # one change per graph: left for the next open
    with MemoryWeave(store=SQLiteStore(path, ann_threshold=20), embedder=HashingEmbedder(DIM)) as memory:
        assert memory.recall("violin lesson", k=1)[0].trace.text == "the violin lesson is on friday"
    assert session([f"more {i}" for i in range(30)]) == 2  # beyond the slack: saved


def test_searches_go_on_while_a_graph_is_being_saved(tmp_path):
    """A save writes the graph under the insert lock only: a search does not wait for it."""
    pytest.importorskip("hnswlib")
    import threading

    from memoryweave_core.ann.hnsw import HNSWIndex

    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(100, DIM)).astype(np.float32)
    graph = HNSWIndex(DIM)
    graph.add(np.arange(100), vectors)
    writing, release = threading.Event(), threading.Event()
    real = graph._index

    class Slow:
        def save_index(self, file):
            writing.set()
            release.wait(60)
            return real.save_index(file)

        def __getattr__(self, name):
            return getattr(real, name)

    graph._index = Slow()
    saver = threading.Thread(target=lambda: graph.stage(str(tmp_path / "g.hnsw")).publish())
    saver.start()
    assert writing.wait(60)
    found: list = []
    reader = threading.Thread(target=lambda: found.append(graph.search(vectors[7], 1)[0].tolist()))
    reader.start()
    reader.join(60)
    done = not reader.is_alive()
    remover = threading.Thread(target=lambda: graph.remove([3]))
    remover.start()
    remover.join(60)
    removed = not remover.is_alive()
    release.set()
    saver.join(60)
    reader.join(60)
    assert done and found == [[7]]
    assert removed and 3 not in graph
    assert HNSWIndex.load(str(tmp_path / "g.hnsw"), DIM) is not None


def test_a_background_save_never_writes_a_namespace_forgotten_meanwhile(tmp_path, monkeypatch):
    """The saver stages a graph; another connection forgets the namespace before it
    publishes: the staged files are discarded, nothing is written back (defect 3)."""
    pytest.importorskip("hnswlib")
    import glob
    import os

    path = str(tmp_path / "gone.db")
    store = SQLiteStore(path, ann_threshold=20, background_index=False)
    memory = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    memory.add_many([f"secret {i} of the vault" for i in range(60)], namespace="secret")
    assert memory.recall("vault", k=1, namespace="secret")
    owner = store._indexes
    real = owner._publish

    def forget_first(staged):
        with MemoryWeave(path, embedder=HashingEmbedder(DIM)) as other:
            other.forget(namespace="secret")
        return real(staged)

    monkeypatch.setattr(owner, "_publish", forget_first)
    owner.saver.enabled = True
    assert owner.saver.step()
    assert glob.glob(path + ".*.hnsw*") == [] and not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    memory.close()


def test_when_the_saver_saves_a_graph():
    """Caught up with more than close() leaves: MIN_INTERVAL after the last save; a few
    changes: once idle for MIN_INTERVAL, within the time budget; still indexing: only once the unsaved rows match the graph."""
    from types import SimpleNamespace

    from memoryweave_core.storage.sqlite import saver as s

    def index(changes: int, pending: int = 0, in_graph: int = 200_000, kind: str = "hnsw"):
        return SimpleNamespace(changes=changes, pending=pending, in_graph=in_graph, kind=kind)

    class Owner:
        pass

    sv = s.Saver(Owner(), enabled=False)  # type: ignore[arg-type]
    slot = (1, "content")
    assert not sv.due(slot, index(0), 0.0)  # nothing changed
    assert not sv.due(slot, index(5, kind="exact"), 0.0)  # exact indexes are rebuilt, never saved
    assert not sv.due(slot, index(5), 0.0)  # never saved, but just changed
    assert not sv.due(slot, index(150_000, pending=10), 0.0)  # indexing, never saved: not yet either
    assert not sv.due(slot, index(6), s.MIN_INTERVAL)  # changed again: not idle
    assert sv.due(slot, index(6), 2 * s.MIN_INTERVAL)  # idle for MIN_INTERVAL: saved
    sv._last[slot] = (100.0, 2.0)  # saved at t=100, took 2 s
    big = s.allowance(index(0)) + 1  # more than close() would leave unsaved
    assert s.allowance(index(0)) == 200_000 * s.UNSAVED_SHARE
    assert not sv.due(slot, index(big - 1), 100.0 + s.MIN_INTERVAL)  # no more: the time budget
    assert not sv.due(slot, index(big), 100.0 + s.MIN_INTERVAL - 1)
    assert sv.due(slot, index(big), 100.0 + s.MIN_INTERVAL)
    sv._seen[slot] = (5, 0.0)  # 5 unsaved rows, unchanged since t=0
    assert not sv.due(slot, index(5), 100.0 + s.SPEND * 2.0 - 1)  # a few changes: the time budget
    assert sv.due(slot, index(5), 100.0 + s.SPEND * 2.0)
    assert not sv.due(slot, index(150_000, pending=10), 1e9)  # indexing, fewer unsaved rows than the graph
    assert sv.due(slot, index(200_000, pending=10), 1e9)


# -- issue 22 item 3: both graphs of a namespace read, and written, at once -------------
def test_the_first_search_starts_both_graphs_loading_on_threads_and_reads_the_keys_once(tmp_path, monkeypatch):
    """The content search starts both graph files loading, on background threads
    (it does not wait for them: see tests/test_graph_loading.py), and the
    namespace's keys are read from the database once for both."""
    pytest.importorskip("hnswlib")
    import threading

    from memoryweave_core.ann import hnsw
    from memoryweave_core.storage.sqlite.indexes import VectorIndexes

    path = tmp_path / "both.db"
    _three_namespaces(path)
    threads: list[str] = []
    real = hnsw.HNSWIndex.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(hnsw.HNSWIndex, "load", classmethod(
        lambda cls, *a, **k: threads.append(threading.current_thread().name) or real(cls, *a, **k)))
    key_reads = []
    real_keys = VectorIndexes.keys
    monkeypatch.setattr(VectorIndexes, "keys", lambda self, nsid: key_reads.append(nsid) or real_keys(self, nsid))
    store = SQLiteStore(str(path), ann_threshold=20)
    with MemoryWeave(store=store, embedder=HashingEmbedder(DIM)):
        nsid = store._caches.nsid("b")
        assert nsid is not None
        store.nearest("b", "content", HashingEmbedder(DIM).embed(["garden"])[0], 3)  # one field asked for
        assert store._indexes.loads == 2 and key_reads == [nsid]
        assert {f for n, f in store._indexes._indexes if n == nsid} == {"content", "context"}
        assert store.wait_for_index()
        assert len(threads) == 2 and threading.main_thread().name not in threads
        assert all(index.kind == "hnsw" for index in store._indexes.loaded())
        store.nearest("b", "context", HashingEmbedder(DIM).embed(["garden"])[0], 3)
        assert len(threads) == 2 and key_reads == [nsid]  # already loaded: nothing read again


def test_close_writes_both_changed_graphs_at_once_on_threads(tmp_path, monkeypatch):
    pytest.importorskip("hnswlib")
    import threading

    from memoryweave_core.ann import hnsw

    names: list[str] = []
    real = hnsw.HNSWIndex.stage
    monkeypatch.setattr(hnsw.HNSWIndex, "stage",
                        lambda self, p: names.append(threading.current_thread().name) or real(self, p))
    store = SQLiteStore(str(tmp_path / "w.db"), ann_threshold=20, background_index=False)
    store._indexes.saver.enabled = False  # close() does the writing
    memory = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    memory.add_many([f"note {i} about the garden" for i in range(60)])
    memory.close()
    assert len(names) == 2 and threading.main_thread().name not in names


def test_a_store_left_open_saves_its_graphs_at_exit_without_a_traceback(tmp_path, monkeypatch):
    """The store's ``atexit`` hook closes it after ``concurrent.futures`` has stopped
    starting threads: the two graphs are then written one after the other, not lost
    to "cannot schedule new futures after interpreter shutdown"."""
    pytest.importorskip("hnswlib")
    import subprocess
    import sys

    path = str(tmp_path / "left-open.db")
    script = (
        "from memoryweave_core import HashingEmbedder, MemoryWeave\n"
        "from memoryweave_core.storage.sqlite import SQLiteStore\n"
        f"store = SQLiteStore({path!r}, ann_threshold=20, background_index=False)\n"
        "store._indexes.saver.enabled = False\n"  # nothing saved before exit
        f"memory = MemoryWeave(store=store, embedder=HashingEmbedder({DIM}))\n"
        "memory.add_many([f'note {i} about the garden' for i in range(60)])\n"
        "memory.recall('garden', k=3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    loads = []
    from memoryweave_core.ann import hnsw

    real = hnsw.HNSWIndex.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(hnsw.HNSWIndex, "load", classmethod(lambda cls, *a, **k: loads.append(real(cls, *a, **k)) or loads[-1]))
    with MemoryWeave(store=SQLiteStore(path, ann_threshold=20), embedder=HashingEmbedder(DIM)) as again:
        assert again.recall("garden", k=3)
    assert len(loads) == 2 and all(g is not None for g in loads)  # both written at exit
