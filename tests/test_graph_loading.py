"""An open that does not wait (issue 22 item 3): a saved graph loads in the
background while searches are answered exactly from the graph file's vectors.

The load is held back on an Event, so each test sees the store while its
graphs are loading, then after they are in.  Small stores with a high
``ef_search`` make the graph's answers exact, so "the same answers while
loading as after" is checked against a plain exact search of the
database's vectors.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib

import numpy as np
import pytest

from memoryweave_core import MemoryWeave
from memoryweave_core.ann import hnsw
from memoryweave_core.ann.graphfile import HEADER
from memoryweave_core.ann.graphscan import GraphScan
from memoryweave_core.ann.loading import LoadingIndex
from memoryweave_core.storage.sqlite import SQLiteStore

pytest.importorskip("hnswlib")

DIM = 32
N = 300
EXACT = {"ef_search": 2000}  # the graph's answers are exact at this size
QUERIES = ["garden water", "note 17 about", "a kitchen shelf", "b garden", "about the"]


class Embedder:
    """A random unit vector per text (seeded by the text): no two rows tie, so "the same
    answers" means the same ids in the same order, not up to the order of equal scores."""

    dim = DIM

    def embed(self, texts) -> np.ndarray:
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(DIM) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def _build(path, n: int = N) -> None:
    store = SQLiteStore(str(path), ann_threshold=20, background_index=False)
    with MemoryWeave(store=store, embedder=Embedder()) as memory:
        for ns in ("a", "b"):
            memory.add_many([{"text": f"{ns} note {i} about the {('garden', 'kitchen', 'shelf')[i % 3]} {i * 7 % 13}"}
                             for i in range(n)], namespace=ns)


@pytest.fixture
def gate(monkeypatch):
    """Graph loads wait until the Event is set (set at teardown, so no thread is left waiting)."""
    event = threading.Event()
    real = hnsw.HNSWIndex.load.__func__  # type: ignore[attr-defined]

    def held(cls, *args, **kwargs):
        assert event.wait(60)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(hnsw.HNSWIndex, "load", classmethod(held))
    yield event
    event.set()


def _exact(store: SQLiteStore, ns: str, field: str, query: np.ndarray, n: int) -> list[tuple[str, float]]:
    """A plain exact search of the namespace's vectors in the database."""
    nsid = store._caches.nsid(ns)
    keys = store._indexes.keys(nsid)
    vectors = store._indexes._vectors(field, keys)
    q = query / np.linalg.norm(query)
    sims = vectors @ q
    top = np.argsort(-sims, kind="stable")[:n]
    ids = store._caches.ids(nsid, keys[top].tolist())
    return [(ids[k], float(s)) for k, s in zip(keys[top].tolist(), sims[top].tolist())]


def _same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    """The same scores in the same order, and the same ids up to the order of equal scores
    (rows tied with the last one may differ: which of them makes the cut is arbitrary)."""
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    last = want[-1][1] if want else 0.0
    assert {i for i, s in got if s > last + 1e-5} == {i for i, s in want if s > last + 1e-5}
    ours = dict(want)
    for i, s in got:
        assert i in ours or abs(s - last) <= 1e-5
        assert i not in ours or abs(ours[i] - s) <= 1e-5


def _kinds(store: SQLiteStore, ns: str) -> set[str]:
    nsid = store._caches.nsid(ns)
    return {index.kind for (n, _), index in store._indexes._indexes.items() if n == nsid}


def _answers(store: SQLiteStore, ns: str = "a", n: int = 10) -> dict:
    emb = Embedder()
    return {(q, f): store.nearest(ns, f, emb.embed([q])[0], n) for q in QUERIES for f in ("content", "context")}


def _check_exact(store: SQLiteStore, ns: str = "a", n: int = 10) -> dict:
    emb = Embedder()
    got = _answers(store, ns, n)
    for (q, f), answer in got.items():
        _same(answer, _exact(store, ns, f, emb.embed([q])[0], n))
    return got


def test_searches_while_loading_are_exact_and_equal_to_the_loaded_graphs(tmp_path, gate):
    path = tmp_path / "s.db"
    _build(path)
    store = SQLiteStore(str(path), ann_threshold=20, **EXACT)
    with MemoryWeave(store=store, embedder=Embedder(), clock=lambda: 2e9) as memory:
        before = [(r.trace.id, r.score) for r in memory.recall("garden water", k=10, namespace="a", record_access=False)]
        assert _kinds(store, "a") == {"loading"}  # answered without waiting for hnswlib
        during = _check_exact(store)
        assert _kinds(store, "a") == {"loading"}
        gate.set()
        assert store.wait_for_index(60)
        assert _kinds(store, "a") == {"hnsw"}
        for slot, answer in _check_exact(store).items():
            _same(answer, during[slot])
        after = [(r.trace.id, r.score) for r in memory.recall("garden water", k=10, namespace="a", record_access=False)]
        assert [i for i, _ in after] == [i for i, _ in before]
        np.testing.assert_allclose([s for _, s in after], [s for _, s in before], atol=1e-6)


def test_writes_during_the_load_are_answered_at_once_and_kept_after_it(tmp_path, gate):
    path = tmp_path / "w.db"
    _build(path)
    store = SQLiteStore(str(path), ann_threshold=20, **EXACT)
    with MemoryWeave(store=store, embedder=Embedder()) as memory:
        memory.recall("garden", k=3, namespace="a")  # starts the load
        assert _kinds(store, "a") == {"loading"}
        gone = [r.trace.id for r in memory.recall("garden water", k=5, namespace="a")]
        memory.forget(gone, namespace="a")
        new = memory.add("a brand new garden water note", namespace="a")
        assert _kinds(store, "a") == {"loading"}
        during = _check_exact(store)
        flat = {i for answer in during.values() for i, _ in answer}
        assert not flat & set(gone)
        assert store.nearest("a", "content", Embedder().embed([new.text])[0], 1)[0][0] == new.id
        gate.set()
        assert store.wait_for_index(60)
        assert _kinds(store, "a") == {"hnsw"}
        _check_exact(store)
    with MemoryWeave(store=SQLiteStore(str(path), ann_threshold=20, **EXACT), embedder=Embedder()) as memory:
        store = memory.store
        _check_exact(store)
        assert store.wait_for_index(60)
        _check_exact(store)


def test_close_during_a_load_does_not_wait_for_it_and_the_next_open_is_right(tmp_path, gate):
    path = tmp_path / "c.db"
    _build(path)
    store = SQLiteStore(str(path), ann_threshold=20, **EXACT)
    memory = MemoryWeave(store=store, embedder=Embedder())
    memory.recall("garden", k=3, namespace="a")
    loading = [index for index in store._indexes.loaded() if isinstance(index, LoadingIndex)]
    assert len(loading) == 2 and not any(index.done for index in loading)
    assert [index.changes for index in loading] == [0, 0]  # the live rows are the saved file's
    memory.add("one more garden note", namespace="a")  # a few changes: left for the next open
    assert [index.changes for index in loading] == [1, 1]
    memory.close()  # returns with the loads still held back
    assert not any(index.done for index in loading)
    gate.set()
    assert all(index.wait(60) for index in loading)
    assert all(index._result is None for index in loading)  # the late result was dropped
    with MemoryWeave(store=SQLiteStore(str(path), ann_threshold=20, **EXACT), embedder=Embedder()) as memory:
        assert memory.count(namespace="a") == N + 1
        _check_exact(memory.store)
        assert memory.store.wait_for_index(60)
        _check_exact(memory.store)


def test_close_waits_for_a_load_that_holds_many_changes_and_saves_them(tmp_path, gate, monkeypatch):
    from memoryweave_core.storage.sqlite import saver

    monkeypatch.setattr(saver, "UNSAVED_AT_CLOSE", 2)
    monkeypatch.setattr(saver, "UNSAVED_SHARE", 0.0)
    path = tmp_path / "m.db"
    _build(path)
    store = SQLiteStore(str(path), ann_threshold=20, **EXACT)
    memory = MemoryWeave(store=store, embedder=Embedder())
    memory.recall("garden", k=3, namespace="a")
    memory.add_many([{"text": f"late note {i}"} for i in range(5)], namespace="a")
    nsid = store._caches.nsid("a")
    before = store._indexes._digests(nsid, "content")
    finish_loads = store._indexes._finish_loads

    def open_the_gate_once_close_waits(*args, **kwargs):
        # (a timer started before close() could open the gate first on a loaded machine,
        # and a load finished before close() leaves its rows to the indexer, not to a save)
        threading.Timer(0.2, gate.set).start()
        return finish_loads(*args, **kwargs)

    monkeypatch.setattr(store._indexes, "_finish_loads", open_the_gate_once_close_waits)
    memory.close()  # waits for the load, then saves the changes
    assert gate.is_set()
    reopened = SQLiteStore(str(path), ann_threshold=20, **EXACT)
    try:
        assert reopened._indexes._digests(nsid, "content") != before
    finally:
        reopened.close()


def test_forgetting_a_namespace_during_its_load(tmp_path, gate):
    path = tmp_path / "f.db"
    _build(path)
    store = SQLiteStore(str(path), ann_threshold=20, **EXACT)
    with MemoryWeave(store=store, embedder=Embedder()) as memory:
        memory.recall("garden", k=3, namespace="a")
        loading = [index for index in store._indexes.loaded() if isinstance(index, LoadingIndex)]
        nsid = store._caches.nsid("a")
        memory.forget(namespace="a")
        assert not list(tmp_path.glob(f"f.db.*.{nsid}.hnsw*"))
        assert memory.recall("garden", k=3, namespace="a") == []
        gate.set()
        assert all(index.wait(60) for index in loading)
        assert memory.store.wait_for_index(60)
        assert memory.count(namespace="a") == 0
        _check_exact(store, "b")


# -- crafted files ---------------------------------------------------------------------------
def _graph(tmp_path, field: str = "content") -> tuple[bytearray, int, int, int]:
    """The content graph of namespace "a" (the first saved), with its stride, vector and label offsets."""
    path = sorted(tmp_path.glob(f"*.{field}.*.hnsw"))[0]
    data = bytearray(path.read_bytes())
    (_, _, _, size_el, label_off, off_data, *_rest) = HEADER.unpack_from(data)
    return data, size_el, off_data, label_off


def test_crafted_labels_and_vectors_never_leak_rows_and_are_answered_from_the_database(tmp_path, gate):
    path = tmp_path / "x.db"
    _build(path)
    probe = SQLiteStore(str(path))
    nsid_b = probe._caches.nsid("b")
    other = probe._indexes.keys(nsid_b)
    b_ids = set(probe._caches.ids(nsid_b, other.tolist()).values())
    probe.close()
    assert len(b_ids) == N
    for field in ("content", "context"):
        graph = sorted(tmp_path.glob(f"x.db.*.{field}.*.hnsw"))[0]
        data, size_el, off_data, label_off = _graph(tmp_path, field)
        for row in range(6):  # labels of another namespace's rows
            struct.pack_into("<q", data, HEADER.size + row * size_el + label_off, int(other[row]))
        struct.pack_into("<q", data, HEADER.size + 6 * size_el + label_off, 10**12)  # a key nobody has
        first = struct.unpack_from("<q", data, HEADER.size + 7 * size_el + label_off)[0]
        struct.pack_into("<q", data, HEADER.size + 8 * size_el + label_off, first)  # a label twice
        struct.pack_into("<f", data, HEADER.size + 9 * size_el + off_data, float("nan"))
        vec = HEADER.size + 10 * size_el + off_data
        data[vec : vec + DIM * 4] = (np.frombuffer(bytes(data[vec : vec + DIM * 4]), np.float32) * 3).tobytes()
        graph.write_bytes(bytes(data))  # the keys file and its digest are untouched; the graph's digest no longer holds
    store = SQLiteStore(str(path), ann_threshold=20, **EXACT)
    with MemoryWeave(store=store, embedder=Embedder()):
        during = _check_exact(store, n=N)  # every row of "a", in the exact order, none of "b"
        assert _kinds(store, "a") == {"loading"}
        assert not {i for answer in during.values() for i, _ in answer} & b_ids
        gate.set()
        assert store.wait_for_index(60)
        assert _kinds(store, "a") <= {"hnsw", "exact"}  # failed its check: rebuilt from the database
        _check_exact(store)


def _scan_of(tmp_path, data: bytes):
    crafted = tmp_path / "crafted.hnsw"
    crafted.write_bytes(data)
    return GraphScan.open(str(crafted), DIM)


def test_a_graph_file_with_a_lying_header_or_cut_short_is_not_mapped(tmp_path):
    _build(tmp_path / "h.db", n=60)
    data, size_el, _, _ = _graph(tmp_path)
    assert _scan_of(tmp_path, bytes(data)) is not None
    cut = bytes(data[: HEADER.size + 30 * size_el])
    assert _scan_of(tmp_path, cut) is None
    for offset, fmt, value in ((16, "<Q", 10**9), (24, "<Q", 1 << 40), (40, "<Q", 7), (52, "<I", 10**8), (64, "<Q", 0)):
        b = bytearray(data)
        struct.pack_into(fmt, b, offset, value)
        assert _scan_of(tmp_path, bytes(b)) is None, (offset, value)
    assert _scan_of(tmp_path, bytes(data[:50])) is None
    assert _scan_of(tmp_path, b"") is None
    assert GraphScan.open(str(tmp_path / "missing.hnsw"), DIM) is None
    assert GraphScan.open(str(tmp_path / sorted(os.listdir(tmp_path))[0]), DIM + 1) is None


def test_a_damaged_header_falls_back_to_the_blocking_load_and_a_rebuild(tmp_path):
    path = tmp_path / "d.db"
    _build(path)
    for graph in tmp_path.glob("d.db.*.hnsw"):
        b = bytearray(graph.read_bytes())
        struct.pack_into("<Q", b, 16, 10**9)
        graph.write_bytes(bytes(b))
    store = SQLiteStore(str(path), ann_threshold=20, **EXACT)
    with MemoryWeave(store=store, embedder=Embedder()):
        _check_exact(store)
        assert "loading" not in _kinds(store, "a")


def test_a_load_that_is_no_longer_wanted_gives_up_before_hnswlib_reads(tmp_path, monkeypatch):
    """close() during a load, or the exit handler, does not wait for hnswlib to read a file
    nobody will use: the load checks ``stop`` after each step."""
    path = tmp_path / "g.db"
    _build(path, n=60)
    store = SQLiteStore(str(path))
    nsid = store._caches.nsid("a")
    graph, digests = store._indexes.path(nsid, "content"), store._indexes._digests(nsid, "content")
    store.close()
    assert hnsw.HNSWIndex.load(graph, DIM, digests=digests) is not None
    steps: list[int] = []
    assert hnsw.HNSWIndex.load(graph, DIM, digests=digests, stop=lambda: steps.append(1) or True) is None
    assert steps == [1]  # gave up after the read, before hashing


def test_a_load_cancelled_by_close_is_not_taken_for_a_failed_one(tmp_path, gate, monkeypatch):
    """close() drops a load it does not need.  If that load gives up only after close()
    has cancelled it, it must not be taken for a failed check: that rebuilt the graph
    from the database and wrote it, so a store closed with one change saved both graphs
    (seen in CI under load)."""
    from graph_calls import record_saves

    from memoryweave_core.storage.sqlite import saver

    monkeypatch.setattr(saver, "UNSAVED_AT_CLOSE", 10)  # a rebuilt graph's rows are more than close() leaves
    path = tmp_path / "x.db"
    _build(path)
    store = SQLiteStore(str(path), ann_threshold=20, background_index=False, **EXACT)
    memory = MemoryWeave(store=store, embedder=Embedder())
    memory.add("one more garden note", namespace="a")  # starts both loads: one change each
    staged = record_saves(monkeypatch)
    real_close = LoadingIndex.close

    def close_then_let_the_load_end(self):
        real_close(self)
        gate.set()  # the load now sees it is cancelled, and ends before close() goes on
        assert self.wait(60)

    monkeypatch.setattr(LoadingIndex, "close", close_then_let_the_load_end)
    memory.close()
    assert staged == []  # the saved files stay; the one change is put back at the next open
    with MemoryWeave(store=SQLiteStore(str(path), ann_threshold=20, **EXACT), embedder=Embedder()) as memory:
        assert memory.count(namespace="a") == N + 1
        _check_exact(memory.store)
