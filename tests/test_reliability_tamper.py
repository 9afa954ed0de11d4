"""Reliability (issue 23, defects 10 and 9): a database file written by someone else.

* Schema objects that the store never creates (a trigger, a view, an extra
  table or index) are refused on open with :class:`CorruptStoreError`, before
  any of them can run; the connection runs with ``trusted_schema=OFF``.
* A tampered namespace counter is a :class:`CorruptStoreError`, not a bare
  ``ValueError`` from the BM25 arithmetic.
* A crafted HNSW graph whose digest is forged in ``meta`` is checked (header,
  sizes, neighbour ids) before hnswlib reads it, and rebuilt instead.
* A healthy file opened read-only says so; many processes creating one new
  file at once all succeed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import CorruptStoreError
from memoryweave_core.storage.sqlite import SQLiteStore

DIM = 32


def _build(path: Path, n: int = 30) -> None:
    with MemoryWeave(store=SQLiteStore(str(path), background_index=False), embedder=HashingEmbedder(DIM)) as m:
        for i in range(n):
            m.add(f"alpha beta note {i}", namespace="ns")


def _sql(path: Path, *statements: str) -> None:
    con = sqlite3.connect(path)
    try:
        for s in statements:
            con.execute(s)
        con.commit()
    finally:
        con.close()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE loot (t TEXT)",
        "CREATE TRIGGER steal AFTER INSERT ON traces BEGIN DELETE FROM traces WHERE key = 1; END",
        "CREATE VIEW peek AS SELECT text FROM traces",
        "CREATE INDEX extra ON traces (text)",
    ],
    ids=["table", "trigger", "view", "index"],
)
def test_unknown_schema_objects_are_refused_before_they_run(tmp_path, statement):
    path = tmp_path / "t.db"
    _build(path)
    _sql(path, statement)
    with pytest.raises(CorruptStoreError, match="unknown schema"):
        SQLiteStore(str(path))
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM traces").fetchone()[0] == 30
    con.close()


def test_the_store_runs_with_untrusted_schema(tmp_path):
    store = SQLiteStore(str(tmp_path / "t.db"))
    try:
        assert store._db.pragma("trusted_schema") == 0
    finally:
        store.close()


@pytest.mark.parametrize("values", ["n = -5", "n = 1, total_len = -1000", "total_len = 'x'"])
def test_a_tampered_namespace_counter_is_a_typed_error(tmp_path, values):
    path = tmp_path / "t.db"
    _build(path)
    _sql(path, f"UPDATE namespaces SET {values}")
    with pytest.raises(CorruptStoreError):
        with MemoryWeave(store=SQLiteStore(str(path)), embedder=HashingEmbedder(DIM)) as m:
            m.recall("alpha beta note 3", namespace="ns")


# -- crafted graphs with forged digests -------------------------------------------
def _with_graph(tmp_path: Path) -> Path:
    pytest.importorskip("hnswlib")
    path = tmp_path / "g.db"
    _build(path, 60)
    with MemoryWeave(store=SQLiteStore(str(path), ann_threshold=10, background_index=False),
                     embedder=HashingEmbedder(DIM)) as m:
        m.recall("alpha beta", namespace="ns")
    assert len(list(tmp_path.glob("g.db.*.hnsw"))) == 2
    return path


def _forge(db: Path, graph: Path, data: bytes) -> None:
    """Write ``data`` as the graph and record its digest in meta, as an attacker with write access could."""
    graph.write_bytes(data)
    keys = Path(str(graph) + ".keys.npy").read_bytes()
    sidecar = Path(str(graph) + ".json")
    doc = json.loads(sidecar.read_text())
    doc["files"][graph.name]["size"] = len(data)
    sidecar.write_text(json.dumps(doc))
    con = sqlite3.connect(db)
    digests = [{"graph": hashlib.sha256(data).hexdigest(), "keys": hashlib.sha256(keys).hexdigest()}]
    _, field, nsid, _ = graph.name.rsplit(".", 3)
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"hnsw_sha256.{field}.{nsid}", json.dumps(digests)))
    con.commit()
    con.close()


def _crafts(data: bytes) -> dict[str, bytes]:
    out = {}
    b = bytearray(data)
    struct.pack_into("<Q", b, 16, 10**9)  # element count
    out["huge-count"] = bytes(b)
    b = bytearray(data)
    struct.pack_into("<Q", b, 24, 1 << 40)  # bytes per element
    out["huge-element"] = bytes(b)
    b = bytearray(data)
    struct.pack_into("<I", b, 52, 10**8)  # entry point
    out["entry-point"] = bytes(b)
    b = bytearray(data)
    size_data, off_data = struct.unpack_from("<Q", b, 24)[0], 96
    for e in range(5):  # neighbour ids far outside the graph
        struct.pack_into("<HHI", b, off_data + e * size_data, 3, 0, 10**8)
    out["neighbours"] = bytes(b)
    return out


@pytest.mark.parametrize("craft", ["huge-count", "huge-element", "entry-point", "neighbours"])
def test_a_crafted_graph_with_a_forged_digest_is_rebuilt_not_loaded(tmp_path, craft):
    path = _with_graph(tmp_path)
    for graph in tmp_path.glob("g.db.*.hnsw"):
        _forge(path, graph, _crafts(graph.read_bytes())[craft])
    script = textwrap.dedent(
        f"""
        import sys
        from memoryweave_core import HashingEmbedder, MemoryWeave
        from memoryweave_core.storage.sqlite import SQLiteStore
        with MemoryWeave(store=SQLiteStore(sys.argv[1], ann_threshold=10), embedder=HashingEmbedder({DIM})) as m:
            print("top", m.recall("alpha beta note 7", k=1, namespace="ns")[0].trace.text, flush=True)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"died with {proc.returncode}: {proc.stderr[-1000:]}"
    assert "top alpha beta note 7" in proc.stdout


def test_the_graph_check_accepts_what_hnswlib_writes(tmp_path):
    from memoryweave_core.ann.graphfile import check_graph
    from memoryweave_core.ann.hnsw import HNSWIndex

    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(0)
    index = HNSWIndex(DIM)
    index.add(np.arange(500), rng.normal(size=(500, DIM)).astype(np.float32))
    index.save(str(tmp_path / "x.hnsw"))
    index.remove(np.arange(10))
    index.save(str(tmp_path / "x.hnsw"))
    assert check_graph(str(tmp_path / "x.hnsw"), DIM, np.arange(10, 500))
    assert not check_graph(str(tmp_path / "x.hnsw"), DIM, np.arange(10, 501))
    assert not check_graph(str(tmp_path / "x.hnsw"), DIM + 1, np.arange(10, 500))


# -- defect 9: read-only files, simultaneous first opens -----------------------------
_OPEN = textwrap.dedent(
    """
    import sys, time
    from memoryweave_core.storage.sqlite import SQLiteStore
    from memoryweave_core.errors import StoreError
    start = float(sys.argv[2])
    while time.time() < start:
        pass
    try:
        SQLiteStore(sys.argv[1]).close()
        print("ok")
    except StoreError as exc:
        print(type(exc).__name__, exc)
    """
)


def test_many_processes_creating_one_new_file_all_succeed(tmp_path):
    import os
    import time

    for attempt in range(1):
        path = tmp_path / f"new-{attempt}.db"
        start = str(time.time() + 3.0)
        procs = [subprocess.Popen([sys.executable, "-c", _OPEN, str(path), start], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env={**os.environ})
                 for _ in range(20)]
        outs = [p.communicate(timeout=120) for p in procs]
        failed = [o for o, e in outs if o.strip() != "ok"]
        assert not failed, failed[:3]


def test_a_first_open_waits_for_another_processes_write_lock(tmp_path):
    import threading

    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # as another process creating the schema holds it
    release = threading.Timer(0.5, lambda: other.execute("ROLLBACK"))
    release.start()
    try:
        SQLiteStore(str(path), busy_timeout=10).close()
    finally:
        release.join()
        other.close()


def test_a_read_only_file_says_read_only(tmp_path, monkeypatch):
    """Permissions do not bind root (the tests' user), so the filesystem's answer is simulated:
    ``access()`` reports EROFS for every user on a read-only mount."""
    import os

    from memoryweave_core.errors import ReadOnlyStoreError
    from memoryweave_core.storage.sqlite import schema

    path = tmp_path / "ro.db"
    _build(path)
    real = os.access
    monkeypatch.setattr(schema.os, "access", lambda p, mode: False if mode & os.W_OK else real(p, mode))
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        SQLiteStore(str(path))
    assert issubclass(ReadOnlyStoreError, PermissionError) and not issubclass(ReadOnlyStoreError, CorruptStoreError)


# -- defect 8: recall while the background indexer runs --------------------------------
def test_the_background_indexer_holds_the_graph_lock_for_small_inserts_only():
    """A search waits for the graph's lock; the indexer used to hold it for a whole chunk
    (256 inserts), which made recall during indexing wait that long every time."""
    pytest.importorskip("hnswlib")
    from memoryweave_core.ann.auto import STEP, AutoIndex

    sizes: list[int] = []

    class Counting:
        def __init__(self, real):
            self.real = real

        def add_items(self, vectors, keys, **kw):
            sizes.append(len(keys))
            return self.real.add_items(vectors, keys, **kw)

        def __getattr__(self, name):
            return getattr(self.real, name)

    rng = np.random.default_rng(0)
    index = AutoIndex(DIM, threshold=50, background=True)
    index.add(np.arange(60), rng.normal(size=(60, DIM)).astype(np.float32))
    assert index.wait(60)
    index._graph._index = Counting(index._graph._index)
    index.add(np.arange(60, 1060), rng.normal(size=(1000, DIM)).astype(np.float32))
    assert index.wait(120)
    assert sum(sizes) == 1000 and max(sizes) <= STEP
    index.close()
