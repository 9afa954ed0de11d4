"""A store records how its context vectors were made, and a memory of another
context mode or window is refused instead of mixing vectors of two kinds.

Every backend records ``(context_mode, context_window)`` on the first open
(:mod:`memoryweave_core.storage.context`); files and schemas written before
the record existed are migrated to the default every earlier version wrote
with; ``memoryweave export`` carries the record to the store an import makes.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from backends import pg_dsn
from test_cli import CLI

from memoryweave_core import ContextModeMismatchError, HashingEmbedder, MemoryWeave, RecallConfig
from memoryweave_core.storage.context import UNRECORDED, ContextRecord
from memoryweave_core.storage.memory import MemoryStore
from memoryweave_core.storage.sqlite import SQLiteStore
from memoryweave_core.storage.sqlite.schema import SCHEMA_VERSION

FIXTURES = Path(__file__).parent / "fixtures"
MEAN = RecallConfig(context_mode="mean")
TURNS = [("Ana", "I adopted a kitten, her name is Luna"), ("Ben", "How is she settling in?"),
         ("Ana", "She sleeps on my keyboard all day")]


def _weave(store, config: RecallConfig | None = None) -> MemoryWeave:
    return MemoryWeave(store=store, embedder=HashingEmbedder(64), config=config)


def _refused(store, config: RecallConfig | None, held: str, asked: str) -> None:
    """Opening ``store`` with ``config`` is refused, naming both modes, and leaves the store as it was."""
    before = (store.context_record(), store.count())
    with pytest.raises(ContextModeMismatchError) as err:
        _weave(store, config)
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert f"context_mode={held!r}" in message and f"context_mode={asked!r}" in message
    assert f"RecallConfig(context_mode={held!r}" in message and "export" in message
    assert (store.context_record(), store.count()) == before


# ----------------------------------------------------------------------------- in memory


def test_memory_store_records_its_mode_and_refuses_another():
    store = MemoryStore()
    assert store.context_record() is None
    m = _weave(store, MEAN)
    assert store.context_record() == ContextRecord("mean", 2)
    m.add_conversation(TURNS, episode="chat")
    _refused(store, None, held="mean", asked="model")
    _refused(store, RecallConfig(context_mode="mean", context_window=1), held="mean", asked="mean")
    assert _weave(store, MEAN).count() == 3  # the same mode opens it


def test_a_store_that_holds_no_trace_takes_the_mode_of_whoever_opens_it():
    store = MemoryStore()
    _weave(store, MEAN)
    _weave(store)  # nothing was written in "mean" yet: nothing to mix
    assert store.context_record() == ContextRecord("model", 2)


def test_an_unknown_mode_is_compared_as_it_is():
    """A newer MemoryWeave may record a mode this one does not know: refused by name, not misread."""
    store = MemoryStore()
    _weave(store).add("a memory")
    store.record_context(ContextRecord("onepass", 2))
    _refused(store, None, held="onepass", asked="model")


# ----------------------------------------------------------------------------- SQLite


def test_sqlite_file_keeps_its_mode_across_reopens(tmp_path):
    path = tmp_path / "m.db"
    with MemoryWeave(path, embedder=HashingEmbedder(64), config=MEAN) as m:
        m.add_conversation(TURNS, episode="chat")
    store = SQLiteStore(path)
    try:
        assert store.context_record() == ContextRecord("mean", 2)
        _refused(store, None, held="mean", asked="model")
    finally:
        store.close()
    with pytest.raises(ContextModeMismatchError):  # opened by path: the store it opened is closed again
        MemoryWeave(path, embedder=HashingEmbedder(64))
    with MemoryWeave(path, embedder=HashingEmbedder(64), config=MEAN) as m:
        m.add("and she purrs", episode="chat")
        assert m.count() == 4


def _as_schema_5(path: Path) -> None:
    """Take a file of today's layout back to schema version 5, which had no context record."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM meta WHERE key IN ('context_mode', 'context_window')")
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    conn.close()


@pytest.mark.parametrize("fixture", ["sqlite_v3.db", "sqlite_v4.db", "schema 5"])
def test_an_older_sqlite_file_is_recorded_as_the_default_it_was_written_with(tmp_path, fixture):
    path = tmp_path / "old.db"
    if fixture == "schema 5":
        with MemoryWeave(path, embedder=HashingEmbedder(64)) as m:
            m.add_conversation(TURNS, episode="chat")
        _as_schema_5(path)
    else:
        shutil.copy(FIXTURES / fixture, path)
    store = SQLiteStore(path, background_index=False)
    try:
        assert store._db.meta("schema_version") == str(SCHEMA_VERSION)
        assert store.context_record() == UNRECORDED == ContextRecord("model", 2)
        _refused(store, MEAN, held="model", asked="mean")
        assert _weave(store).count() > 0
    finally:
        store.close()


# ----------------------------------------------------------------------------- PostgreSQL


def test_postgres_schema_records_its_mode_and_migrates_older_ones(schema):
    from memoryweave_core.storage.postgres import PostgresStore
    from memoryweave_core.storage.postgres import schema as pg

    dsn = pg_dsn()
    store = PostgresStore(dsn, schema=schema)
    try:
        _weave(store, MEAN).add_conversation(TURNS, episode="chat")
        store.close()
        store = PostgresStore(dsn, schema=schema)
        assert store.context_record() == ContextRecord("mean", 2)
        _refused(store, None, held="mean", asked="model")
        # back to version 5, which had no record: the migration records the default of then
        store._conn.execute(f"DELETE FROM \"{schema}\".meta WHERE key IN ('context_mode', 'context_window')")
        store._conn.execute(f"UPDATE \"{schema}\".meta SET value = '5' WHERE key = 'schema_version'")
        store.close()
        store = PostgresStore(dsn, schema=schema)
        assert store._meta("schema_version") == str(pg.SCHEMA_VERSION) == "6"
        assert store.context_record() == UNRECORDED
        _refused(store, MEAN, held="model", asked="mean")
    finally:
        store.close()


# ----------------------------------------------------------------------------- export and import


def test_export_carries_the_mode_to_the_store_an_import_makes(tmp_path):
    with MemoryWeave(tmp_path / "src.db", embedder=HashingEmbedder(256), config=MEAN) as m:
        m.add_conversation(TURNS, episode="chat")
    src = CLI(tmp_path / "src.db")
    src("remember", "She chased a moth at night", "--episode", "chat")  # the CLI writes in the store's mode
    lines = [json.loads(ln) for ln in src("export", "--vectors").stdout.splitlines()]
    assert len(lines) == 4 and {(ln["context_mode"], ln["context_window"]) for ln in lines} == {("mean", 2)}
    exported = tmp_path / "out.jsonl"
    exported.write_text(src("export", "--vectors").stdout)

    copy = CLI(tmp_path / "copy.db")
    copy("import", str(exported), "--quiet")
    store, original = SQLiteStore(tmp_path / "copy.db"), SQLiteStore(tmp_path / "src.db")
    try:
        assert store.context_record() == ContextRecord("mean", 2)
        assert ({t.id: t.context.tolist() for t in store.iter_traces()}  # made again, the same way
                == {t.id: t.context.tolist() for t in original.iter_traces()})
    finally:
        store.close()
        original.close()


def test_import_refuses_lines_of_two_modes_and_the_cli_an_unknown_mode(tmp_path):
    rows = [{"text": "one", "context_mode": "mean", "context_window": 2},
            {"text": "two", "context_mode": "model", "context_window": 2}]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cli = CLI(tmp_path / "m.db")
    cli.fails("import", str(path), match="mixed.jsonl:2: its context_mode and context_window differ from line 1's")
    assert not cli.db.exists()

    with MemoryWeave(tmp_path / "m.db", embedder=HashingEmbedder(256)) as m:
        m.add("a memory")
        m.store.record_context(ContextRecord("from-the-future", 2))
    cli.fails("list", match="context_mode='from-the-future', which this MemoryWeave does not know")


def _toggle_record(write_both, clear_both, stop) -> None:
    """Another process's writer: the record written whole, then gone, over and over (each a transaction)."""
    while not stop.is_set():
        write_both()
        clear_both()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_record_written_meanwhile_is_read_whole_or_not_at_all(kind, tmp_path, request):
    """Two processes opening one new store raced: the first read ``context_mode``
    before the second wrote the record and ``context_window`` after, and saw a
    corrupt record (``None, '2'``; found by the two-process token-id test in CI).
    The two keys are now read in one statement."""
    import threading

    if kind == "sqlite":
        store = SQLiteStore(str(tmp_path / "r.db"))
        other = sqlite3.connect(str(tmp_path / "r.db"), isolation_level=None, check_same_thread=False)
        table, mark = "meta", "?"
    else:
        import psycopg

        from memoryweave_core.storage.postgres import PostgresStore

        schema = request.getfixturevalue("schema")
        store = PostgresStore(pg_dsn(), schema=schema)
        other = psycopg.connect(pg_dsn(), autocommit=True)
        table, mark = f'"{schema}".meta', "%s"
    rows = UNRECORDED.meta()

    def write_both() -> None:  # both connections run statements as given (autocommit)
        other.execute("BEGIN")
        for key, value in rows:
            other.execute(f"INSERT INTO {table} VALUES ({mark}, {mark})", (key, value))
        other.execute("COMMIT")

    def clear_both() -> None:
        other.execute(f"DELETE FROM {table} WHERE key IN ('context_mode', 'context_window')")

    clear_both()
    stop = threading.Event()
    writer = threading.Thread(target=_toggle_record, args=(write_both, clear_both, stop))
    writer.start()
    try:
        seen = {store.context_record() for _ in range(1500)}
    finally:
        stop.set()
        writer.join()
        other.close()
        store.close()
    assert seen <= {None, UNRECORDED}



@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
@pytest.mark.parametrize("first", ["model", "mean"])
def test_two_memories_of_different_modes_on_one_empty_store_never_mix(kind, first, tmp_path, request):
    """Both open the empty store (each recording its mode: the last one's
    stands), then both write.  Whichever writes first takes the store; the
    other's adds and updates are refused whole, so every trace in it was made
    in the store's recorded mode.  On SQLite and PostgreSQL each memory has
    its own connection, as two processes would."""
    if kind == "memory":
        shared = MemoryStore()
        stores = [shared, shared]
    elif kind == "sqlite":
        stores = [SQLiteStore(str(tmp_path / "m.db")) for _ in range(2)]
    else:
        from memoryweave_core.storage.postgres import PostgresStore

        schema = request.getfixturevalue("schema")
        stores = [PostgresStore(pg_dsn(), schema=schema) for _ in range(2)]
    weaves = {"model": _weave(stores[0]), "mean": _weave(stores[1], MEAN)}
    second = "mean" if first == "model" else "model"
    kept = weaves[first].add("I adopted a kitten, her name is Luna", metadata={"mode": first})
    with pytest.raises(ContextModeMismatchError, match="nothing was written"):
        weaves[second].add("She sleeps on my keyboard all day", metadata={"mode": second})
    with pytest.raises(ContextModeMismatchError):
        weaves[second].update(kept.id, text="Her name is Nova")
    weaves[first].add_conversation(TURNS, episode="chat")
    record = stores[0].context_record()
    assert record == ContextRecord(first, 2) == stores[1].context_record()
    assert {t.metadata.get("mode", first) for t in weaves[second].traces()} == {first}
    assert weaves[second].count() == 4 and weaves[first].get(kept.id).version == 1
    for store in dict.fromkeys(stores):
        store.close()
