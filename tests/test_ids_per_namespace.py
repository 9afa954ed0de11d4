"""Ids unique per namespace (issue 23, defect 11): the migrations that get
there keep every row and every recall, on a file or schema written at schema
version 3, and an export/import round trip carries equal ids of two namespaces.

The SQLite file ``fixtures/sqlite_v3.db`` was written by the code of schema
version 3 (``fixtures/make_sqlite_v3.py``), with the recalls it gave then;
the PostgreSQL schema is taken back to version 3's constraint by hand.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest
from test_cli import CLI, _write_jsonl

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.storage.sqlite import SQLiteStore
from memoryweave_core.storage.sqlite.schema import SCHEMA_VERSION, expected_objects

FIXTURES = Path(__file__).parent / "fixtures"
TABLES = ("meta", "namespaces", "traces", "access", "state", "state_arrays", "lex_vocab", "sqlite_sequence")


def _dump(path: Path) -> dict[str, list[tuple]]:
    """Every row the store keeps, but the schema version, the context record (schema 6's) and the graph names."""
    conn = sqlite3.connect(path)
    try:
        out = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
        out["meta"] = [r for r in out["meta"] if r[0] not in ("schema_version", "context_mode", "context_window",
                                                               "graph_name", "graph_owner")]
        columns = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(traces)") if r[1] != "tok_ids")  # schema 5's
        out["traces"] = conn.execute(f"SELECT {columns} FROM traces ORDER BY key").fetchall()  # keys in order, columns in order
        return out
    finally:
        conn.close()


def _recalls(m: MemoryWeave, queries: list, at: float) -> dict[str, list]:
    return {f"{ns}|{q}": [[r.trace.id, round(r.score, 6)] for r in m.recall(q, k=8, namespace=ns, at=at, record_access=False)]
            for ns, q in queries}


def test_a_schema_3_sqlite_file_migrates_keeping_every_row_and_recall(tmp_path):
    path = tmp_path / "v3.db"
    shutil.copy(FIXTURES / "sqlite_v3.db", path)
    want = json.loads((FIXTURES / "sqlite_v3_recall.json").read_text())
    before = _dump(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    assert conn.execute("SELECT sql FROM sqlite_master WHERE name = 'traces'").fetchone()[0].count("UNIQUE") == 1
    conn.close()

    store = SQLiteStore(path, background_index=False)
    assert store._db.meta("schema_version") == str(SCHEMA_VERSION) == "6"  # through 4 (ids), 5 (token ids) and 6 (context record)
    m = MemoryWeave(store=store, embedder=HashingEmbedder(64), clock=lambda: want["at"])
    got = _recalls(m, want["queries"], want["at"])
    # the same traces in the same order; scores equal to float32 rounding (pathways may sum in another order)
    assert {q: [i for i, _ in found] for q, found in got.items()} == {q: [i for i, _ in found] for q, found in want["want"].items()}
    assert all(s == pytest.approx(w, abs=1e-5) for q in got for (_, s), (_, w) in zip(got[q], want["want"][q], strict=True))
    m.close()
    assert _dump(path) == before  # every row, key and the key sequence as they were
    conn = sqlite3.connect(path)
    objects = {(t, n) for t, n in conn.execute("SELECT type, name FROM sqlite_master") if not n.startswith("sqlite_stat")}
    conn.close()
    assert objects == set(expected_objects())  # what a new file holds: the tamper check accepts it
    assert ("index", "traces_id") in objects and ("index", "sqlite_autoindex_traces_1") not in objects

    with MemoryWeave(store=SQLiteStore(path, background_index=False), embedder=HashingEmbedder(64)) as m:
        (t,) = m.add_many([{"text": "Bob's own first note", "id": "alice-0-0"}], namespace="bob")  # alice's id
        assert m.get("alice-0-0", namespace="alice").text != t.text
        seq = before["sqlite_sequence"]
        assert m.store._db.sql("SELECT key FROM traces WHERE ns = (SELECT id FROM namespaces WHERE name = 'bob')"
                               " ORDER BY key DESC LIMIT 1")[0][0] == dict(seq)["traces"] + 1  # keys are never reused


def test_a_foreign_index_on_a_migrated_file_is_still_refused(tmp_path):
    from memoryweave_core.errors import CorruptStoreError

    path = tmp_path / "v3.db"
    shutil.copy(FIXTURES / "sqlite_v3.db", path)
    SQLiteStore(path, background_index=False).close()
    conn = sqlite3.connect(path)
    conn.execute("CREATE INDEX traces_planted ON traces (id)")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptStoreError, match="traces_planted"):
        SQLiteStore(path)


@pytest.mark.pg
def test_a_schema_3_postgres_schema_migrates_keeping_every_row_and_recall():
    from backends import pg_dsn, pg_undo_token_ids

    from memoryweave_core.storage import postgres as pg

    dsn, name = pg_dsn(), f"mwtest_{uuid.uuid4().hex[:10]}"
    clock = [1_700_000_000.0]
    store = pg.PostgresStore(dsn, schema=name)
    try:
        m = MemoryWeave(store=store, embedder=HashingEmbedder(64), clock=lambda: clock[0])
        for ns in ("alice", "bob"):
            m.add_many([{"text": f"{ns} note {i} about the lake and a dog", "id": f"{ns}-{i}", "speaker": ns.title()}
                        for i in range(12)], namespace=ns)
        m.update("alice-3", text="Alice painted the lake at dawn", namespace="alice")
        m.set_expiry("bob-2", expires_at=1_800_000_000.0, namespace="bob")
        m.recall("lake", k=4, namespace="alice")
        queries = [("alice", "who painted the lake?"), ("bob", "a dog note 5")]
        want = _recalls(m, queries, clock[0] + 10)
        s = f'"{name}"'

        def rows() -> dict[str, list]:
            return {t: [r[0] for r in store._conn.execute(  # schema 5's token ids aside
                        f"SELECT (to_jsonb(x) - 'tok_ids' - 'nsid')::text FROM {s}.{t} x ORDER BY 1")]
                    for t in ("traces", "access", "state", "state_arrays", "nsstats", "terms")}

        before = rows()
        # back to version 3: no token ids (schema 5), the id column's own UNIQUE constraint, no (namespace, id) index
        pg_undo_token_ids(store._conn, name)
        store._conn.execute(f"DROP INDEX {s}.traces_id")
        store._conn.execute(f"ALTER TABLE {s}.traces ADD CONSTRAINT traces_id_key UNIQUE (id)")
        store._conn.execute(f"UPDATE {s}.meta SET value = '3' WHERE key = 'schema_version'")
        store.close()

        store = pg.PostgresStore(dsn, schema=name)
        assert store._meta("schema_version") == str(pg.SCHEMA_VERSION) == "6"
        assert not store._conn.execute("SELECT 1 FROM pg_constraint WHERE conname = 'traces_id_key'"
                                       " AND connamespace = %s::regnamespace", (name,)).fetchall()
        assert rows() == before
        m = MemoryWeave(store=store, embedder=HashingEmbedder(64), clock=lambda: clock[0])
        assert _recalls(m, queries, clock[0] + 10) == want
        m.add_many([{"text": "Bob's note under alice's id", "id": "alice-1"}], namespace="bob")
        assert m.get("alice-1", namespace="alice").text == "alice note 1 about the lake and a dog"
    finally:
        store.drop()
        store.close()


def test_export_and_import_carry_equal_ids_of_two_namespaces(tmp_path):
    rows = [
        {"text": "Ana's locker code is 4815", "id": "locker", "namespace": "ana", "time": "2024-06-01T10:00"},
        {"text": "Ben keeps his bike in locker 12", "id": "locker", "namespace": "ben", "time": "2024-06-01T11:00"},
        {"text": "Ana walks to work", "id": "commute", "namespace": "ana", "time": "2024-06-02T10:00"},
    ]
    cli = CLI(tmp_path / "memory.db")
    cli("import", str(_write_jsonl(tmp_path / "in.jsonl", rows)), "--quiet")
    exported = cli("export").stdout  # text: each import embeds it again (vectors round trip only to float rounding)
    lines = [json.loads(ln) for ln in exported.splitlines()]
    assert sorted((ln["namespace"], ln["id"]) for ln in lines) == [("ana", "commute"), ("ana", "locker"), ("ben", "locker")]
    path = tmp_path / "export.jsonl"
    path.write_text(exported)
    copy = CLI(tmp_path / "copy.db")
    copy("import", str(path), "--quiet")
    assert copy("export").stdout == exported  # every field, ids and namespaces included
    for ns, text in (("ana", "Ana's locker code is 4815"), ("ben", "Ben keeps his bike in locker 12")):
        args = ("recall", "locker", "-k", "1", "--namespace", ns, "--at", "2024-07-01", "--no-record")
        got = copy.json(*args)
        assert got == cli.json(*args) and text in json.dumps(got)
    copy.fails("import", str(path), match="already exists in namespace")  # the second time: its ids are taken
