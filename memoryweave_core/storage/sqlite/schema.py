"""The SQLite file's layout, how it is opened, checked, created and migrated.

Everything here runs before the store reads a row: a foreign, damaged or
newer file is refused before anything writes to it, and an older one is
brought up to :data:`SCHEMA_VERSION` by the migrations below, applied in
order inside one transaction, the version recorded in ``meta``.
"""

from __future__ import annotations

import functools
import os
import random
import sqlite3
import time
from typing import Callable, Sequence

import numpy as np

from ...errors import CorruptStoreError, ReadOnlyStoreError, SchemaVersionError, StoreError
from ..context import UNRECORDED

#: Version of the layout below; bump it and add a migration when it changes.
SCHEMA_VERSION = 6

#: ``MIGRATIONS[v](conn)`` upgrades a version-``v`` file to ``v + 1`` (inside a transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


def migration(from_version: int) -> Callable[[Callable[[sqlite3.Connection], None]], Callable[[sqlite3.Connection], None]]:
    """Register a function as the step from ``from_version`` to the next."""

    def register(step: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
        MIGRATIONS[from_version] = step
        return step

    return register


@migration(1)
def sparse_access(conn: sqlite3.Connection) -> None:
    """The access table keeps only traces used since their creation (a trace
    without a row has the fresh log of its creation), so adds write one row
    fewer and recall reads only the logs that say something."""
    conn.execute(
        "DELETE FROM access WHERE count = 1 AND recent = '[]'"
        " AND first = (SELECT time FROM traces WHERE traces.key = access.key)"
    )


#: Columns of a trace's lifecycle (versions and expiry), added by schema version 3.
LIFECYCLE_COLUMNS = (
    "version INTEGER NOT NULL DEFAULT 1",  # 1 for the first version of a trace
    "supersedes TEXT",  # id of the archived previous version
    "superseded_at REAL",  # set when a newer version replaced this one
    "expires_at REAL",  # no recall at or after this time; purged
)
#: Rows recall must look at before admitting candidates: few, through a partial index.
LIFECYCLE_ROWS = "superseded_at IS NOT NULL OR supersedes IS NOT NULL OR expires_at IS NOT NULL"
LIFECYCLE_INDEXES = (
    f"CREATE INDEX traces_lifecycle ON traces (ns) WHERE {LIFECYCLE_ROWS}",
    "CREATE INDEX traces_expiry ON traces (expires_at) WHERE expires_at IS NOT NULL",
)


@migration(2)
def versions_and_expiry(conn: sqlite3.Connection) -> None:
    """Updates keep history (a new version supersedes the old) and traces may
    expire: four nullable or defaulted columns, so existing rows are first
    versions that never expire."""
    for column in LIFECYCLE_COLUMNS:
        conn.execute(f"ALTER TABLE traces ADD COLUMN {column}")
    for stmt in LIFECYCLE_INDEXES:
        conn.execute(stmt)


def _traces_table(schema: str, name: str) -> str:
    """The ``CREATE TABLE traces`` statement of ``schema``, for a table called ``name``."""
    start = schema.index("CREATE TABLE traces (")
    return schema[start:schema.index(");", start) + 1].replace("CREATE TABLE traces", f"CREATE TABLE {name}", 1)


@migration(3)
def ids_per_namespace(conn: sqlite3.Connection) -> None:
    """A trace id is unique within its namespace, no longer store-wide: the
    column's UNIQUE constraint becomes the index ``traces_id`` on (ns, id).
    SQLite cannot drop a constraint, so the table is rebuilt with every row
    and key as it was, and the key sequence where it was (keys are never reused)."""
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'traces'").fetchone()
    columns = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(traces)"))
    conn.execute(_traces_table(SCHEMA, "traces_v4"))
    conn.execute(f"INSERT INTO traces_v4 ({columns}) SELECT {columns} FROM traces ORDER BY key")
    conn.execute("DROP TABLE traces")
    conn.execute("ALTER TABLE traces_v4 RENAME TO traces")
    for stmt in [*TRACES_INDEXES, *LIFECYCLE_INDEXES]:
        conn.execute(stmt)
    top = max([r[0] or 0 for r in conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'traces'")]
              + [seq[0] if seq else 0])
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'traces'")
    if top:
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('traces', ?)", (top,))


#: Rows of ``traces`` the token-id migration rewrites per statement.
_MIGRATION_CHUNK = 10_000


@migration(4)
def token_ids(conn: sqlite3.Connection) -> None:
    """Recall scores tokens as integer ids (:mod:`memoryweave_core.vocab`):
    every distinct token of a namespace gets a row in ``vocab`` and every trace its ids in
    ``tok_ids``, so a pool is read as arrays instead of strings to split and
    look up.  The ``tokens`` text stays: the FTS index and deletes read it."""
    if "tok_ids" not in {r[1] for r in conn.execute("PRAGMA table_info(traces)")}:  # rebuilt by step 3: has it
        conn.execute("ALTER TABLE traces ADD COLUMN tok_ids BLOB NOT NULL DEFAULT x''")
    start = SCHEMA.index("CREATE TABLE vocab (")
    conn.execute(SCHEMA[start:SCHEMA.index(");", start) + 2])
    vocabs: dict[int, dict[str, int]] = {}
    rows = conn.execute("SELECT key, ns, tokens FROM traces ORDER BY key").fetchall()
    for part in range(0, len(rows), _MIGRATION_CHUNK):
        updates = []
        for key, ns, tokens in rows[part:part + _MIGRATION_CHUNK]:
            if type(tokens) is not str:
                raise CorruptStoreError(f"trace row {key!r} has unreadable tokens")
            ids = vocabs.setdefault(ns, {})
            updates.append((encode_ids([ids.setdefault(t, len(ids)) for t in tokens.split()]), key))
        conn.executemany("UPDATE traces SET tok_ids = ? WHERE key = ?", updates)
    conn.executemany("INSERT INTO vocab (ns, id, word) VALUES (?, ?, ?)",
                     [(ns, i, w) for ns, ids in vocabs.items() for w, i in ids.items()])


@migration(5)
def context_record(conn: sqlite3.Connection) -> None:
    """The store records how its context vectors are made (:mod:`..context`);
    an older file holds the default of the versions that wrote it."""
    conn.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", UNRECORDED.meta())


def encode_ids(ids: Sequence[int] | np.ndarray) -> bytes:
    """A ``tok_ids`` cell: int32, little-endian."""
    return np.asarray(ids, dtype="<i4").tobytes()


#: Files up to this size get a full ``PRAGMA quick_check`` on open; larger ones
#: are checked cheaply (header, tables, size) and report damage when a query hits it.
QUICK_CHECK_BYTES = 64 << 20

#: WAL pages (4 KiB) between automatic checkpoints: SQLite's default of 1,000
#: checkpoints (and syncs) after every bulk batch; at this size the B-tree
#: pages that every batch rewrites reach the file once per several batches.
CHECKPOINT_PAGES = 8192

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE namespaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    n INTEGER NOT NULL DEFAULT 0,          -- live traces
    total_len INTEGER NOT NULL DEFAULT 0   -- tokens over live traces (BM25 average length)
);
CREATE TABLE traces (
    key INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: index labels stay unambiguous
    id TEXT NOT NULL,                      -- unique within its namespace (traces_id)
    ns INTEGER NOT NULL REFERENCES namespaces(id),
    text TEXT NOT NULL,
    speaker TEXT,
    episode TEXT,
    position INTEGER NOT NULL,
    time REAL NOT NULL,
    metadata TEXT NOT NULL,                -- JSON
    category INTEGER,
    tokens TEXT NOT NULL,                  -- lexical.tokenize(text), space separated
    ntokens INTEGER NOT NULL,
    content BLOB NOT NULL,                 -- float32, unit length
    context BLOB NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    supersedes TEXT,
    superseded_at REAL,
    expires_at REAL,
    tok_ids BLOB NOT NULL DEFAULT x''       -- the tokens' vocab ids, int32 little-endian (schema 5)
);
CREATE INDEX traces_ns ON traces (ns, key);
CREATE INDEX traces_episode ON traces (ns, episode, position);
CREATE UNIQUE INDEX traces_id ON traces (ns, id);
CREATE TABLE access (                      -- only used traces (no row: the fresh log of traces.time)
    key INTEGER PRIMARY KEY,               -- traces.key
    first REAL NOT NULL,
    count INTEGER NOT NULL,
    recent TEXT NOT NULL                   -- JSON list of the newest access times
);
CREATE TABLE state (
    ns INTEGER NOT NULL, key TEXT NOT NULL,
    doc TEXT NOT NULL,                     -- JSON of the non-array values
    PRIMARY KEY (ns, key)
);
CREATE TABLE state_arrays (
    ns INTEGER NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
    dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (ns, key, name)
);
CREATE TABLE vocab (                       -- token strings interned once per namespace: recall scores their ids
    ns INTEGER NOT NULL,                   -- per namespace, so forgetting one leaves none of its words
    id INTEGER NOT NULL,                   -- dense from 0 within the namespace, in order of first sight
    word TEXT NOT NULL,
    PRIMARY KEY (ns, id),
    UNIQUE (ns, word)
);
CREATE VIRTUAL TABLE lex USING fts5 (terms, content='', tokenize='ascii');
CREATE VIRTUAL TABLE lex_vocab USING fts5vocab (lex, row);
"""
#: The indexes of ``traces`` (a migration that rebuilds the table creates them again).
TRACES_INDEXES = tuple(stmt.strip() for stmt in SCHEMA.split(";")
                       if stmt.strip().startswith(("CREATE INDEX traces", "CREATE UNIQUE INDEX traces")))
TABLES = {"meta", "namespaces", "traces", "access", "state", "state_arrays", "vocab", "lex", "lex_vocab"}


@functools.lru_cache(maxsize=1)
def expected_objects() -> dict[tuple[str, str], str | None]:
    """``(type, name) -> sql`` of every schema object a fresh file holds (FTS5's shadow tables,
    SQLite's automatic indexes and ``sqlite_sequence`` included), built as :func:`create` builds it."""
    conn = sqlite3.connect(":memory:")
    try:
        for stmt in [*SCHEMA.split(";"), *LIFECYCLE_INDEXES]:
            if stmt.strip():
                conn.execute(stmt)
        return {(t, n): sql for t, n, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")}
    finally:
        conn.close()


#: Objects that files of older schema versions hold and their migrations remove:
#: the UNIQUE constraint on ``traces.id`` (store-wide ids) until version 4.
LEGACY_OBJECTS: dict[tuple[str, str], str | None] = {("index", "sqlite_autoindex_traces_1"): None}


def check_objects(conn: sqlite3.Connection, path: str, version: int = SCHEMA_VERSION) -> None:
    """Refuse schema objects the store never creates: a planted trigger or view would run
    inside the store's own statements; an extra table or index has no business there.
    Virtual tables must be declared exactly as ours (their module runs code).  A file
    of an older ``version`` may also hold the :data:`LEGACY_OBJECTS` its migration removes."""
    expected = expected_objects() if version >= SCHEMA_VERSION else {**LEGACY_OBJECTS, **expected_objects()}
    unknown = []
    for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master"):
        if kind == "table" and name in ("sqlite_stat1", "sqlite_stat4"):  # PRAGMA optimize's planner statistics
            continue
        want = expected.get((kind, name), False)
        if want is False or (isinstance(sql, str) and sql.upper().startswith("CREATE VIRTUAL") and sql != want):
            unknown.append(f"{kind} {name!r}")
    if unknown:
        raise CorruptStoreError(f"{path} holds unknown schema objects: {', '.join(sorted(unknown)[:10])}")


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}


def connect(path: str, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
    """A connection to a checked (and created or migrated) store file in WAL mode.

    SQLite answers "locked" at once, without its busy handler, when this
    connection would need to upgrade its lock while another process holds a
    write lock (as during simultaneous first opens of a new file): the
    whole open is retried until the busy timeout has passed."""
    deadline = time.monotonic() + busy_timeout
    delay = 0.005
    while True:
        try:
            return _connect(path, synchronous, busy_timeout)
        except StoreError as exc:
            if not isinstance(exc.__cause__, sqlite3.OperationalError) or "locked" not in str(exc.__cause__):
                raise
            if time.monotonic() + delay > deadline:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.25)


def writable(path: str) -> bool:
    """The file (if present) and its folder can be written: SQLite's WAL mode needs both
    (``-wal`` and ``-shm`` files beside it), and every recall records accesses."""
    folder = os.path.dirname(os.path.abspath(path))
    return os.access(folder, os.W_OK) and (not os.path.exists(path) or os.access(path, os.W_OK))


def read_only_error(path: str) -> ReadOnlyStoreError:
    return ReadOnlyStoreError(
        f"{path} is read-only (a read-only filesystem or permissions): MemoryWeave needs to write the file"
        " and its folder, also to recall (accesses are recorded); copy it somewhere writable"
    )


def _connect(path: str, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
    exists = os.path.exists(path) and os.path.getsize(path) > 0
    if not writable(path):  # said before SQLite reports it as "unable to open database file"
        raise read_only_error(path)
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA trusted_schema = OFF")  # no SQL functions with side effects from the file's schema
        tables = _tables(conn)
        if exists and os.path.getsize(path) <= QUICK_CHECK_BYTES:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise CorruptStoreError(f"{path} is damaged: {result}")
        # Everything above only reads.  Refuse foreign or newer files before
        # anything below writes to them (the journal-mode switch rewrites the header).
        version = check_layout(conn, path, tables) if tables else None
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise StoreError(f"{path}: cannot switch to WAL journal mode")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
        if version is None:
            create(conn)
        elif version < SCHEMA_VERSION:
            migrate(conn, path)
            tables = _tables(conn)
            if TABLES - tables:
                raise CorruptStoreError(f"{path} lacks tables {sorted(TABLES - tables)}")
            check_objects(conn, path)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        conn.close()
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise StoreError(f"{path} is locked: {exc}") from exc
        if isinstance(exc, sqlite3.OperationalError) and not writable(path):
            raise read_only_error(path) from exc
        raise CorruptStoreError(f"{path} is not a readable MemoryWeave store: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def create(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:  # another process won the race
            conn.execute("ROLLBACK")
            return
        for stmt in [*SCHEMA.split(";"), *LIFECYCLE_INDEXES]:
            if stmt.strip():
                conn.execute(stmt)
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?), ('format', 'memoryweave')", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def check_layout(conn: sqlite3.Connection, path: str, tables: set[str]) -> int:
    """The file's schema version, after checking (read-only) that it is a MemoryWeave store we can read."""
    if "meta" not in tables:
        raise CorruptStoreError(f"{path} is an SQLite file but not a MemoryWeave store")
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('format', 'schema_version')").fetchall())
    if meta.get("format") != "memoryweave" or "schema_version" not in meta:
        raise CorruptStoreError(f"{path} is an SQLite file but not a MemoryWeave store")
    try:
        version = int(meta["schema_version"])
    except (TypeError, ValueError):
        raise CorruptStoreError(f"{path}: unreadable schema version {meta['schema_version']!r}") from None
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has schema version {version}; this MemoryWeave reads up to {SCHEMA_VERSION}: upgrade memoryweave"
        )
    if version == SCHEMA_VERSION and TABLES - tables:  # older files are checked after their migration
        raise CorruptStoreError(f"{path} lacks tables {sorted(TABLES - tables)}")
    check_objects(conn, path, version)  # before any statement of ours could fire what was planted
    return version


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Apply the migrations from the file's version up, recording each step's version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
        while current < SCHEMA_VERSION:
            step = MIGRATIONS.get(current)
            if step is None:
                raise SchemaVersionError(f"{path}: no migration from schema version {current}")
            step(conn)
            current += 1
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(current),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
