"""SQLiteStore: persistence, crash safety, damaged files, schema versions, saved indexes."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import CorruptStoreError, InvalidInputError, SchemaVersionError
from memoryweave_core.storage import sqlite as sqlite_mod
from memoryweave_core.storage.sqlite import SQLiteStore

TURNS = [
    ("Caroline", "I went to the LGBTQ support group yesterday and it was powerful"),
    ("Melanie", "That's great! I painted a lake sunrise last week"),
    ("Caroline", "I'm researching adoption agencies, I want to be a mom"),
    ("Melanie", "Luna the cat knocked my painting off the wall"),
    ("Caroline", "Counseling and mental health are what I want to study"),
    ("Melanie", "We go camping in the mountains every summer"),
]
QUERIES = ["what did Melanie paint?", "adoption plans", "where does the family go camping?", "Luna"]


def fill(mem: MemoryWeave, n_extra: int = 0) -> None:
    mem.add_conversation(TURNS, episode="s1", time=1_690_000_000)
    mem.add_conversation(TURNS[::-1], episode="s2", time=1_690_100_000)
    if n_extra:
        mem.add_many(
            [{"text": f"note {i} about topic {i % 17} and item {i % 5}", "time": 1_690_200_000 + i} for i in range(n_extra)]
        )
    mem.add("Rex is my dog", namespace="pets", time=1_690_300_000)


def snapshot(mem: MemoryWeave) -> list:
    return [
        [(r.trace.id, round(r.score, 9)) for r in mem.recall(q, k=5, at=1_700_000_000, record_access=False)]
        for q in QUERIES
    ]


def settled(mem: MemoryWeave) -> None:
    """Start every namespace's graphs loading (a first search) and wait until they are in."""
    for ns in mem.namespaces():
        mem.recall(QUERIES[0], k=1, namespace=ns, record_access=False)
    assert mem.store.wait_for_index(60)


def open_mem(path, clock, **kw) -> MemoryWeave:
    return MemoryWeave(store=SQLiteStore(path, **kw), embedder=HashingEmbedder(dim=64), clock=clock)


@pytest.mark.parametrize("extra", [0, 300])
def test_reopen_gives_same_recall(tmp_path, clock, extra):
    path = tmp_path / "m.db"
    kw = dict(ann_threshold=100, background_index=False)  # 300 extra rows: the HNSW path
    mem = open_mem(path, clock, **kw)
    fill(mem, extra)
    assert mem.recall("Luna", k=1, at=1_700_000_000)  # recorded access must persist too
    before = snapshot(mem)
    cats = [(c.id, c.size, c.label) for c in mem.categories()]
    logs = {ns: mem.store.access_logs([t.id for t in mem.traces(ns)], ns) for ns in mem.namespaces()}
    mem.close()
    if extra:
        assert glob.glob(str(path) + ".*.content.*.hnsw")
    again = open_mem(path, clock, **kw)
    # The graphs load in the background and searches meanwhile are exact scans of their
    # files, which can cut a group of tied cosines elsewhere than the graph does (these
    # hashed notes tie by the dozen), and the pool's feature scaling then moves every
    # score; once the saved graphs are in, recall is the one before the close, to 1e-9.
    settled(again)
    assert snapshot(again) == before
    assert [(c.id, c.size, c.label) for c in again.categories()] == cats
    assert {ns: again.store.access_logs([t.id for t in again.traces(ns)], ns) for ns in again.namespaces()} == logs
    assert again.count() == len(TURNS) * 2 + extra + 1 and again.namespaces() == ["default", "pets"]
    again.close()
    with MemoryWeave(path, embedder=HashingEmbedder(dim=64), clock=clock) as default:  # the path= route
        assert len(default) == len(TURNS) * 2 + extra + 1


def test_missing_stale_or_damaged_index_is_rebuilt(tmp_path, clock):
    path = tmp_path / "m.db"
    # ef_search above the row count: the graph search is exhaustive, so a rebuilt
    # graph gives the same candidates as the saved one (no approximation flakiness)
    kw = dict(ann_threshold=100, background_index=False, ef_search=1024)
    mem = open_mem(path, clock, **kw)
    fill(mem, 300)
    mem.close()
    saved = {p: open(p, "rb").read() for p in glob.glob(str(path) + ".*.hnsw*")}
    assert saved

    mem = open_mem(path, clock, **kw)
    victims = [r.trace for r in mem.recall("note topic 3 item 2", k=3, record_access=False)]
    mem.forget([t.id for t in victims])
    extra = mem.add_many([{"text": f"late note {i} about topic 3", "time": 1_690_400_000 + i} for i in range(20)])
    expected = snapshot(mem)
    mem.close()

    # stale: the graph files from before the delete and the adds
    for p, data in saved.items():
        open(p, "wb").write(data)
    mem = open_mem(path, clock, **kw)
    settled(mem)  # tied cosines: see test_reopen_gives_same_recall
    assert snapshot(mem) == expected
    for t in victims:
        for field in ("content", "context"):
            assert t.id not in {i for i, _ in mem.store.nearest("default", field, getattr(t, field), 500)}
    assert {t.id for t in extra} <= {i for i, _ in mem.store.nearest("default", "content", extra[0].content, 500)}
    mem.close()

    # damaged: one flipped byte in the graph; then missing altogether.  A rebuilt
    # graph may order exact ties (the notes with cosine 0 to a query) differently,
    # so only the clear winners are compared.
    def ids(snap):
        return [[i for i, _ in q[:3]] for q in snap]

    graph = sorted(glob.glob(str(path) + ".*.content.*.hnsw"))[0]
    data = bytearray(open(graph, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(graph, "wb").write(bytes(data))
    assert sqlite_mod.AutoIndex.load(graph, 64) is None
    mem = open_mem(path, clock, **kw)
    assert ids(snapshot(mem)) == ids(expected)
    mem.close()
    for p in glob.glob(str(path) + ".*.hnsw*"):
        os.remove(p)
    mem = open_mem(path, clock, **kw)
    assert ids(snapshot(mem)) == ids(expected)
    mem.close()


def test_background_indexing_keeps_rows_searchable(tmp_path, clock):
    store = SQLiteStore(tmp_path / "m.db", ann_threshold=50, background_index=True)
    mem = MemoryWeave(store=store, embedder=HashingEmbedder(dim=64), clock=clock)
    added = mem.add_many([f"fact {i} about subject {i % 13}" for i in range(400)])
    for t in added[::37]:  # right away, whether or not the graph has them yet
        assert store.nearest("default", "content", t.content, 1)[0][0] == t.id
    assert store.wait_for_index(timeout=60)
    for t in added[::41]:
        assert store.nearest("default", "content", t.content, 1)[0][0] == t.id
    mem.close()


def test_process_killed_midway_keeps_every_returned_add(tmp_path):
    path = tmp_path / "crash.db"
    script = textwrap.dedent(
        f"""
        import sys
        from memoryweave_core import HashingEmbedder, MemoryWeave
        mem = MemoryWeave({str(path)!r}, embedder=HashingEmbedder(dim=32))
        i = 0
        while True:
            traces = mem.add_many([f"turn {{i}} line {{j}}" for j in range(5)])
            print(" ".join(t.id for t in traces), flush=True)
            i += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    returned = []
    deadline = time.time() + 60
    while len(returned) < 40 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        returned.extend(line.split())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(returned) >= 40 * 5 // 5, "the writer produced too little before the deadline"
    store = SQLiteStore(path)
    got = {t.id for t in store.iter_traces()}
    assert set(returned) <= got
    assert len(got) % 5 == 0  # whole batches only: nothing half-written
    assert store.count() == len(got)
    store.close()


def test_not_a_store_raises_corrupt(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(CorruptStoreError):
        SQLiteStore(junk)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE foo (x)")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptStoreError):
        SQLiteStore(other)


def test_a_path_sqlite_would_misread_is_refused_as_the_argument_it_is(tmp_path):
    """A missing folder used to be reported as a read-only store, an empty
    path as "cannot open .", and ":memory:" as a WAL failure."""
    cases = {
        str(tmp_path / "no-such-folder" / "m.db"): "folder of .* does not exist",
        str(tmp_path): "is a folder, not a store file",
        "": "store path is empty",
        "  ": "store path is empty",
        ":memory:": "use MemoryStore",
        b"m.db": "must be a str or a path",
    }
    for path, message in cases.items():
        with pytest.raises(InvalidInputError, match=message):
            SQLiteStore(path)
        if path != ":memory:":  # which MemoryWeave opens in RAM (below)
            with pytest.raises(InvalidInputError, match=message):
                MemoryWeave(path, embedder=HashingEmbedder())
    assert sorted(os.listdir(tmp_path)) == []  # nothing was created on the way


def test_memory_path_is_the_in_memory_store_and_home_is_expanded(tmp_path, monkeypatch):
    from memoryweave_core.storage.memory import MemoryStore

    assert isinstance(MemoryWeave(":memory:", embedder=HashingEmbedder()).store, MemoryStore)
    monkeypatch.setenv("HOME", str(tmp_path))
    with MemoryWeave("~/m.db", embedder=HashingEmbedder()) as mem:
        mem.add("kept under the home folder")
        assert mem.store.path == str(tmp_path / "m.db")
    assert (tmp_path / "m.db").exists() and not os.path.exists("~")


def _filled(tmp_path, name="m.db") -> str:
    path = str(tmp_path / name)
    mem = open_mem(path, lambda: 1_700_000_000.0)
    fill(mem, 200)
    mem.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def test_truncated_file_raises_corrupt(tmp_path):
    path = _filled(tmp_path)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(CorruptStoreError):
        store = SQLiteStore(path)
        list(store.iter_traces())


def test_tampered_file_raises_corrupt(tmp_path):
    path = _filled(tmp_path)
    data = bytearray(open(path, "rb").read())
    for off in range(8192, len(data) - 4096, 4096):  # scribble over every page past the first two
        data[off + 100 : off + 160] = os.urandom(60)
    open(path, "wb").write(bytes(data))
    with pytest.raises(CorruptStoreError):
        store = SQLiteStore(path)
        list(store.iter_traces())


def test_newer_schema_is_refused(tmp_path):
    path = _filled(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(sqlite_mod.SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match="upgrade"):
        SQLiteStore(path)


def test_older_schema_is_migrated(tmp_path, monkeypatch):
    path = _filled(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(sqlite_mod.SCHEMA_VERSION - 1),))
    conn.commit()
    conn.close()
    ran = []
    monkeypatch.setitem(sqlite_mod.MIGRATIONS, sqlite_mod.SCHEMA_VERSION - 1, lambda c: ran.append(c.execute("SELECT 1").fetchone()))
    store = SQLiteStore(path)
    assert ran == [(1,)]
    assert store._db.meta("schema_version") == str(sqlite_mod.SCHEMA_VERSION)
    store.close()
    monkeypatch.delitem(sqlite_mod.MIGRATIONS, sqlite_mod.SCHEMA_VERSION - 1)
    assert SQLiteStore(path).count() > 0  # already migrated: opens without the hook


def test_version_1_files_keep_only_used_access_logs_after_migration(tmp_path, clock):
    """Schema 1 wrote a fresh access row per trace; 2 keeps rows only for used traces."""
    path = str(tmp_path / "v1.db")
    mem = MemoryWeave(embedder=HashingEmbedder(dim=64), path=path, clock=clock)
    ids = [mem.add(f"note {i} about the lake", episode="e").id for i in range(6)]
    mem.store.record_access([ids[2]], 1_700_000_000.0, "default")
    logs = mem.store.access_logs(ids, "default")
    mem.close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO access SELECT key, time, 1, '[]' FROM traces WHERE key NOT IN (SELECT key FROM access)"
    )  # what version 1 wrote at add time
    conn.commit()
    conn.close()
    from test_lifecycle import downgrade_sqlite_to_2

    downgrade_sqlite_to_2(path)  # and without the columns of version 3
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    assert store._db.sql("SELECT count(*) FROM access")[0][0] == 1
    assert store.access_logs(ids, "default") == logs
    store.close()


def test_file_settings_and_no_pickle(tmp_path):
    store = SQLiteStore(tmp_path / "m.db")
    assert store._db.pragma("journal_mode") == "wal"
    assert store._db.pragma("busy_timeout") > 0
    assert store._db.pragma("synchronous") in (1, 2)  # NORMAL or FULL
    assert store._db.pragma("mmap_size") > 0  # memory-mapped reads by default
    store.close()
    plain = SQLiteStore(tmp_path / "m.db", mmap_size=0)
    assert plain._db.pragma("mmap_size") == 0
    plain.close()
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(InvalidInputError):
            SQLiteStore(tmp_path / "m.db", mmap_size=bad)
    storage = os.path.dirname(os.path.dirname(sqlite_mod.__file__))
    sources = glob.glob(os.path.join(storage, "**", "*.py"), recursive=True)
    sources += glob.glob(os.path.join(storage, "..", "ann", "*.py"))
    assert len(sources) > 10
    for mod in sources:
        src = open(mod).read()
        assert "import pickle" not in src and "allow_pickle=True" not in src and "eval(" not in src, mod


def test_second_connection_sees_writes(tmp_path, clock):
    path = tmp_path / "m.db"
    a = open_mem(path, clock, ann_threshold=20, background_index=False)
    b = open_mem(path, clock, ann_threshold=20, background_index=False)
    fill(a, 30)
    assert b.count() == a.count()
    assert b.recall("Luna", k=1, at=1_700_000_000)  # loads b's indexes
    new = a.add("Zanzibar holiday photos arrived", time=1_690_500_000)
    gone = next(iter(a)).id
    a.forget(gone)
    hits = {i for i, _ in b.store.nearest("default", "content", new.content, 200)}
    assert new.id in hits and gone not in hits
    assert b.recall("Zanzibar holiday", k=1, at=1_700_000_000)[0].trace.id == new.id
    a.close()
    b.close()


def test_copying_a_closed_store_elsewhere(tmp_path, clock):
    """The database is the truth: a copy without the graph files rebuilds them."""
    path = tmp_path / "m.db"
    kw = dict(ann_threshold=100, background_index=False, ef_search=1024)
    mem = open_mem(path, clock, **kw)
    fill(mem, 150)
    before = snapshot(mem)
    mem.close()
    os.makedirs(tmp_path / "copy")
    shutil.copy(path, tmp_path / "copy" / "m.db")
    again = open_mem(tmp_path / "copy" / "m.db", clock, **kw)
    # (exact ties, e.g. notes with cosine 0 to a query, may come in another order)
    assert [[i for i, _ in q[:3]] for q in snapshot(again)] == [[i for i, _ in q[:3]] for q in before]
    again.close()


def test_graph_files_are_trusted_only_with_digests_recorded_in_the_database(tmp_path, clock):
    path = tmp_path / "m.db"
    kw = dict(ann_threshold=100, background_index=False, ef_search=1024)
    mem = open_mem(path, clock, **kw)
    fill(mem, 150)
    mem.close()
    con = sqlite3.connect(path)
    recorded = dict(con.execute("SELECT key, value FROM meta WHERE key LIKE 'hnsw_sha256.%'").fetchall())
    assert len(recorded) == 2  # content and context of the namespace with the graph
    con.execute("DELETE FROM meta WHERE key LIKE 'hnsw_sha256.%'")  # files on disk, nothing vouching for them
    con.commit()
    con.close()
    loads = []
    real = sqlite_mod.AutoIndex.load
    try:
        sqlite_mod.AutoIndex.load = classmethod(lambda cls, *a, **k: loads.append(a) or real(*a, **k))
        mem = open_mem(path, clock, **kw)
        assert mem.recall("Luna", k=1, at=1_700_000_000, record_access=False)  # rebuilt, not loaded
        assert loads == []
        mem.close()  # saves the rebuilt graphs and records their digests again
        mem = open_mem(path, clock, **kw)
        mem.recall("Luna", k=1, at=1_700_000_000, record_access=False)
        assert len(loads) == 2
        mem.close()
    finally:
        sqlite_mod.AutoIndex.load = real


def test_cached_access_logs_follow_another_connection(tmp_path, clock):
    path = tmp_path / "m.db"
    a = open_mem(path, clock)
    fill(a)
    b = open_mem(path, clock)
    tid = next(iter(a)).id
    assert b.store.access_logs([tid], "default")[tid].count == 1  # now cached in b
    a.store.record_access([tid, tid], 1_700_000_000.0, "default")
    assert b.store.access_logs([tid], "default")[tid].count == 3
    b.store.record_access([tid], 1_700_000_100.0, "default")
    assert a.store.access_logs([tid], "default")[tid].count == 4
    assert a.store.access_logs([tid], "default")[tid].recent == [1_700_000_000.0, 1_700_000_000.0, 1_700_000_100.0]
    a.forget(tid)
    assert b.store.access_logs([tid], "default") == {}  # forgotten by another connection: skipped
    a.close()
    b.close()


def test_damaged_rows_are_corrupt_store_errors(tmp_path, clock):
    path = tmp_path / "m.db"
    mem = open_mem(path, clock)
    fill(mem)
    ids = [t.id for t in mem]
    mem.close()
    con = sqlite3.connect(path)
    con.execute("UPDATE traces SET tok_ids = x'01' WHERE id = ?", (ids[0],))  # not whole int32 ids
    con.execute("UPDATE traces SET content = x'00' WHERE id = ?", (ids[1],))
    con.execute("INSERT OR REPLACE INTO access SELECT key, time, 2, '[\"x\"]' FROM traces WHERE id = ?", (ids[2],))
    con.commit()
    con.close()
    store = SQLiteStore(path)
    for call in (
        lambda: store.pool("default", ids=[ids[0]]),  # token ids
        lambda: store.get([ids[1]], "default"),  # content vector
        lambda: store.pool("default", ids=[ids[1]]),
        lambda: store.access_logs([ids[2]], "default"),
        lambda: store.pool("default", ids=[ids[2]]),
    ):
        with pytest.raises(CorruptStoreError):
            call()
    assert [t.id for t in store.get([ids[3]], "default")] == [ids[3]]
    store.close()


@pytest.mark.parametrize("budget", [50_000, 30])
def test_lexical_matches_the_in_memory_bm25_through_adds_and_deletes(tmp_path, monkeypatch, budget):
    """Cached posting arrays stay in step with this store's writes (and another
    connection's); with a small posting budget common words bring no
    candidates, alike in both stores, and the candidates keep their exact BM25."""
    from memoryweave_core import lexical
    from memoryweave_core.storage.memory import MemoryStore
    from memoryweave_core.trace import Trace

    monkeypatch.setattr(lexical, "POSTING_BUDGET", budget)
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    texts = {}

    def traces(start, stop, ns="default"):
        out = []
        for i in range(start, stop):
            size = 200 if i % 37 == 0 else int(rng.integers(3, 12))  # some documents of 128+ tokens
            text = texts[f"t{i}"] = " ".join(rng.choice(words, size, p=np.arange(40, 0, -1) / 820))
            v = rng.standard_normal(8).astype(np.float32)
            out.append(Trace(id=f"t{i}", text=text, namespace=ns, position=i, time=float(i), content=v / np.linalg.norm(v), context=v / np.linalg.norm(v)))
        return out

    sql, mem = SQLiteStore(tmp_path / "m.db"), MemoryStore()
    other = SQLiteStore(tmp_path / "m.db")
    queries = [["w0", "w5", "w5"], ["w3", "w39"], ["w1", "w2", "w7", "w20"], ["w38"], ["nothing"]]

    limited = set()

    def same():
        for q in queries:
            want = mem.lexical("default", q, 10)
            got = sql.lexical("default", q, 10)
            assert [i for i, _ in got] == [i for i, _ in want]
            assert sql.lexical_stats("default", q) == mem.lexical_stats("default", q)  # what recall scores candidates with
            n, avg, df = mem.lexical_stats("default", q)
            weights = lexical.query_weights(q, n, df)
            exact = lexical.bm25_scores([lexical.tokenize(texts[i]) for i, _ in got], weights, avg)
            assert [sc for _, sc in got] == pytest.approx(exact.tolist(), rel=1e-12)
            assert [sc for _, sc in want] == pytest.approx(exact.tolist(), rel=1e-12)
            assert [sc for _, sc in got] == sorted((sc for _, sc in got), reverse=True)
            if lexical.candidate_terms(weights, df) != list(weights):
                limited.add(tuple(q))

    batch = traces(0, 150) + traces(150, 170, ns="other")
    sql.add(batch), mem.add(batch)
    same()  # postings now cached
    batch = traces(170, 300)
    sql.add(batch), mem.add(batch)
    same()
    gone = [f"t{i}" for i in range(0, 300, 3)]
    for ns in ("default", "other"):
        sql.delete(gone, ns), mem.delete(gone, ns)
    same()
    batch = traces(300, 400)
    other.add(batch), mem.add(batch)  # another connection's write: our cache is dropped
    same()
    assert bool(limited) == (budget < 100)  # the small budget did leave common words out
    sql.close(), other.close()


def test_posting_text_is_parsed_strictly():
    from memoryweave_core.storage.sqlite import _ints

    assert _ints("3,1,2").tolist() == [3, 1, 2]
    for bad in ("", "1,,2", "1,x", "1,2,", "0,1", "-4", "1.5", "99999999999999999999", None, b"1"):
        assert _ints(bad) is None


def test_recall_queries_never_scan_a_table(tmp_path):
    """Every statement a recall runs finds its rows through keys or indexes,
    also in a store just built (no ANALYZE statistics for the planner)."""
    mem = MemoryWeave(path=tmp_path / "m.db", embedder=HashingEmbedder(dim=64))
    mem.add_many([{"text": f"note {i} about topic {i % 7}", "episode": f"e{i // 20}"} for i in range(300)])
    conn = mem.store._conn
    assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchall()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    mem.recall("topic 3 note", k=5)
    conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert any("NOT INDEXED" in s for s in selects)  # the pool's query is among them
    for sql in selects:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        # a table scan, or an index search on the namespace alone (all its rows); FTS5's
        # vocabulary tables report an indexed term lookup as "SCAN ... VIRTUAL TABLE INDEX n"
        # (traces_lifecycle is partial: it holds only versions and expiring traces)
        whole = [s for s in plan if (s.startswith("SCAN") and "VIRTUAL TABLE INDEX" not in s)
                 or (s.endswith("(ns=?)") and "traces_lifecycle" not in s)]
        assert not whole, (sql, plan)
    mem.close()
