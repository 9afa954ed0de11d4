"""SQLite store: the embedded default whenever MemoryWeave is given a path.

One file holds everything: traces (vectors as float32 blobs, metadata as
JSON), access logs (a row only once a trace has been used: until then its
log is the creation, read from the trace's time), per-namespace statistics,
engine state (ART prototypes as JSON plus float32 blobs; never pickle) and an
FTS5 index for lexical search.  Reads go through a memory map (``mmap_size``).

Durability
    WAL journal, ``synchronous=NORMAL``, a busy timeout, and one transaction
    per ``add``/``delete``/``record_access`` call: once a call returns its
    rows survive a crash of the process (power loss may lose the last
    commits, never consistency; pass ``synchronous="FULL"`` for that too).
    The WAL is checkpointed into the file every :data:`CHECKPOINT_PAGES`
    pages instead of SQLite's 1,000.

Lexical search
    ``lex`` is a contentless FTS5 table keyed by the trace's integer key.
    Each indexed token is ``n<namespace id>x<hex of the term>`` for the terms
    of :func:`~memoryweave_core.lexical.tokenize`, so FTS5's own statistics
    (``lex_vocab``) give per-namespace document frequencies, and stemming and
    stopwords are exactly the in-memory store's; :meth:`lexical_stats`
    reports them (per-namespace N, average length, document frequencies).
    :meth:`lexical` scores numpy posting arrays the way
    :class:`~memoryweave_core.lexical.BM25Index` does; each term's postings are read once from FTS5 (its ``instance``
    vocabulary, in a TEMP table, and its per-document sizes) and then kept in
    step with this store's writes.  Common terms add to the scores but bring
    no candidates (:func:`~memoryweave_core.lexical.candidate_terms`).

Caches
    Decoded traces (with their token strings), access logs, document
    frequencies and postings are cached; our own writes update them, and a
    commit by any other connection (``PRAGMA data_version``, checked once per
    call) drops them.

Vectors
    An in-process :class:`~memoryweave_core.ann.AutoIndex` per (namespace,
    field), loaded lazily on the namespace's first vector query: exact numpy
    below ``ann_threshold`` rows (read from the blobs), an HNSW graph above
    it, saved beside the database as ``<db>.<field>.<namespace id>.hnsw`` on
    ``close()`` (and at interpreter exit).  A saved graph is loaded only if
    its files hash to a SHA-256 this store recorded in its ``meta`` table when
    it saved them (hnswlib trusts the bytes it reads), and is then *synced*
    with the database's keys: rows added
    after the save are put back (searchable at once, indexed in the
    background), rows deleted since are removed.  A missing or damaged file
    is rebuilt from the blobs.  Results are also mapped back to ids through
    the database with the namespace in the query, so a deleted trace can never
    come back from an index.  Another process writing the same file is
    noticed through ``PRAGMA data_version`` and the indexes are re-synced.

Every query filters by namespace.  Files that are not MemoryWeave stores, or
are truncated or tampered with, raise :class:`CorruptStoreError`; a file
written by a newer schema raises :class:`SchemaVersionError`; older schemas
are upgraded by the functions in :data:`MIGRATIONS`.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import sqlite3
import threading
import warnings
import weakref
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..activation import RECENT, AccessLog, log_columns
from ..ann import DEFAULT_THRESHOLD, AutoIndex, remove_files
from ..errors import CorruptStoreError, DimensionMismatchError, InvalidInputError, SchemaVersionError, StoreError
from ..lexical import best_matches, bm25_term, candidate_terms, query_weights, sum_by_key, tokenize
from ..pool import Pool, pool_order
from ..trace import Trace
from .base import Field, Search, StoreBase, check_field, vector_dim
from .codec import decode_array, encode_state

#: Version of the layout below; bump it and add a migration when it changes.
SCHEMA_VERSION = 2


def _sparse_access(conn: sqlite3.Connection) -> None:
    """1 -> 2: the access table keeps only traces used since their creation
    (a trace without a row has the fresh log of its creation), so adds write
    one row fewer and recall reads only the logs that say something."""
    conn.execute(
        "DELETE FROM access WHERE count = 1 AND recent = '[]'"
        " AND first = (SELECT time FROM traces WHERE traces.key = access.key)"
    )


#: ``MIGRATIONS[v](conn)`` upgrades a version-``v`` file to ``v + 1`` (inside a transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _sparse_access}

#: Files up to this size get a full ``PRAGMA quick_check`` on open; larger ones
#: are checked cheaply (header, tables, size) and report damage when a query hits it.
QUICK_CHECK_BYTES = 64 << 20

#: WAL pages (4 KiB) between automatic checkpoints.  SQLite's default of 1,000
#: checkpointed (and synced) after every bulk batch of 1,000 traces; at 8,192
#: the B-tree pages that every batch rewrites reach the file once per eight
#: batches (building a 300k store: 8.2 -> 5.6 s in commits, 7,624 -> 8,264
#: adds a second).
CHECKPOINT_PAGES = 8192

#: BM25 posting entries kept in memory (LRU by term; 24 bytes each).
POSTINGS_CACHE = 4_000_000

#: Saved graph files stay trusted (loaded, then synced) for this many saves.
KEEP_DIGESTS = 4


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE namespaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    n INTEGER NOT NULL DEFAULT 0,          -- live traces
    total_len INTEGER NOT NULL DEFAULT 0   -- tokens over live traces (BM25 average length)
);
CREATE TABLE traces (
    key INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: index labels stay unambiguous
    id TEXT NOT NULL UNIQUE,
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
    context BLOB NOT NULL
);
CREATE INDEX traces_ns ON traces (ns, key);
CREATE INDEX traces_episode ON traces (ns, episode, position);
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
CREATE VIRTUAL TABLE lex USING fts5 (terms, content='', tokenize='ascii');
CREATE VIRTUAL TABLE lex_vocab USING fts5vocab (lex, row);
"""
_TABLES = {"meta", "namespaces", "traces", "access", "state", "state_arrays", "lex", "lex_vocab"}
_COLS = "key, id, text, speaker, episode, position, time, metadata, category, content, context"
_POOL_COLS = ("t.key, t.id, t.speaker, t.episode, t.position, t.time, t.category, t.tokens, t.content, t.context,"
              " a.first, a.count, a.recent")
_SQL_CHUNK = 900

_NONE = type(None)
#: The types a readable cell of each checked column may hold (vectors must also be ``dim`` float32).
_CELL_TYPES: dict[str, set[type]] = {
    "key": {int}, "id": {str}, "text": {str}, "speaker": {str, _NONE}, "episode": {str, _NONE}, "position": {int},
    "time": {float, int}, "category": {int, _NONE}, "tokens": {str}, "content": {bytes}, "context": {bytes},
    "first": {float, int, _NONE}, "count": {int, _NONE}, "recent": {str, _NONE},
}


def _ints(text: Any) -> np.ndarray | None:
    """Comma-separated integers (a posting list from FTS5), parsed in C: six
    times faster than split() for the 25,000-entry lists of a large store.
    None when the text is anything else."""
    if not isinstance(text, str):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns (and stops early) on text it cannot read to the end
        try:
            out = np.fromstring(text, dtype=np.int64, sep=",")
        except (ValueError, DeprecationWarning):
            return None
    ok = len(out) == text.count(",") + 1 and out.min() > 0 and out.max() < np.iinfo(np.int64).max  # rowids; no overflow
    return out if ok else None


def _names(columns: str) -> list[str]:
    """Bare column names of a SELECT list: "t.key, a.first" -> ["key", "first"]."""
    return [c.strip().split(".")[-1] for c in columns.split(",")]


@functools.lru_cache(maxsize=1 << 16)
def _hex(term: str) -> str:
    return term.encode("utf-8").hex()


def _fts_term(nsid: int, term: str) -> str:
    return f"n{nsid}x{_hex(term)}"


def _fts_doc(nsid: int, tokens: str) -> str:
    prefix = f"n{nsid}x"
    return " ".join([prefix + _hex(t) for t in tokens.split()])


def _pool_sql(count: int, neighbours: bool) -> str:
    """The pool's query for ``count`` keys (parameters: the keys, the
    namespace id, then, with ``neighbours``, the radius twice, the keys and
    the namespace id again).  ``NOT INDEXED`` keeps the first-round rows to
    key lookups: without ANALYZE statistics (a store just built) the planner
    would rather scan the namespace's whole episode index for them."""
    wanted = f"SELECT key FROM traces WHERE key IN ({_marks(count)}) AND ns = ?"
    if neighbours:
        wanted += (
            " UNION ALL SELECT n.key FROM traces f NOT INDEXED JOIN traces n ON n.ns = f.ns AND n.episode = f.episode"
            f" AND n.position BETWEEN f.position - ? AND f.position + ? WHERE f.key IN ({_marks(count)}) AND f.ns = ?"
        )
    return f"SELECT {_POOL_COLS} FROM traces t LEFT JOIN access a ON a.key = t.key WHERE t.key IN ({wanted})"


def _chunks(seq: Sequence, size: int = _SQL_CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class SQLiteStore(StoreBase):
    """Traces, vectors, access logs and engine state in one SQLite file.

    Parameters
    ----------
    path : str or Path
        The database file (created when missing).
    ann_threshold : int
        Rows per namespace above which vector search uses an HNSW graph.
    synchronous : "NORMAL" or "FULL"
        SQLite's sync level in WAL mode (see the module docstring).
    busy_timeout : float
        Seconds to wait for another process's write lock.
    background_index : bool
        Insert into HNSW graphs on a background thread (rows are searchable
        exactly meanwhile).
    cache_size : int
        Traces kept decoded in memory (LRU).  Traces never change, so the
        cache only has to forget deleted ones (and everything when another
        process writes); recall reads the same candidates several times.
    mmap_size : int
        Bytes of the file SQLite reads through a memory map instead of
        read() calls (its build caps this at 2 GiB); about a tenth off a
        recall at 100k traces.  Pass 0 for plain reads: with a map, a disk
        I/O error under a running process is a signal, not an exception.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        ann_threshold: int = DEFAULT_THRESHOLD,
        synchronous: str = "NORMAL",
        busy_timeout: float = 30.0,
        background_index: bool = True,
        cache_size: int = 32_768,
        mmap_size: int = 1 << 31,
        **hnsw: Any,
    ) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise InvalidInputError("synchronous must be 'NORMAL' or 'FULL'")
        self.path = str(Path(path))
        self.ann_threshold = ann_threshold
        self.background_index = background_index
        self.hnsw_kwargs = hnsw
        self._lock = threading.RLock()
        self._indexes: dict[tuple[int, str], AutoIndex] = {}
        self._stale: set[tuple[int, str]] = set()
        self._ns_ids: dict[str, int] = {}
        # key <-> id of the traces searches found lately (forgets deleted ones)
        self._id_of: dict[int, tuple[str, int]] = {}  # key -> (id, ns)
        self._key_of: dict[str, int] = {}
        # id -> (trace, ns, key); traces never change, so this only forgets deleted ones
        self._cache: OrderedDict[str, tuple[Trace, int, int]] = OrderedDict()
        # id -> access log as of our last read or write (cleared when another connection commits)
        self._logs: OrderedDict[str, AccessLog] = OrderedDict()
        self._df: dict[int, dict[str, int]] = {}  # nsid -> term -> document frequency (cleared on any write)
        # (nsid, term) -> (keys, term frequencies, document lengths): BM25 postings, kept in step with our writes
        self._postings: OrderedDict[tuple[int, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self._posting_rows = 0
        self._vocab_ready = False
        self._doclen = np.zeros(1024, np.uint32)  # key -> token count (lengths never change)
        self._doclen_upto = 0  # rows up to this key have been read
        self.cache_size = cache_size
        self._closed = False
        if isinstance(mmap_size, bool) or not isinstance(mmap_size, int) or mmap_size < 0:
            raise InvalidInputError(f"mmap_size must be an integer >= 0, got {mmap_size!r}")
        self._conn = self._open(synchronous.upper(), busy_timeout)
        self._conn.execute(f"PRAGMA mmap_size = {mmap_size}")
        self._data_version = self._pragma("data_version")
        self.dim: int | None = None
        dim = self._meta("dim")
        self.dim = int(dim) if dim is not None else None
        ref = weakref.ref(self)
        self._atexit = lambda: (s := ref()) is not None and s.close()
        atexit.register(self._atexit)

    # -- opening ---------------------------------------------------------------
    def _open(self, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        try:
            conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
            if exists and os.path.getsize(self.path) <= QUICK_CHECK_BYTES:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise CorruptStoreError(f"{self.path} is damaged: {result}")
            # Everything above only reads.  Refuse foreign or newer files before
            # anything below writes to them (the journal-mode switch rewrites the header).
            version = self._check_layout(conn, tables) if tables else None
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch to WAL journal mode")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
            if version is None:
                self._create(conn)
            elif version < SCHEMA_VERSION:
                self._migrate(conn, version)
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
                if _TABLES - tables:
                    raise CorruptStoreError(f"{self.path} lacks tables {sorted(_TABLES - tables)}")
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise StoreError(f"{self.path} is locked: {exc}") from exc
            raise CorruptStoreError(f"{self.path} is not a readable MemoryWeave store: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:  # another process won the race
                conn.execute("ROLLBACK")
                return
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?), ('format', 'memoryweave')", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _check_layout(self, conn: sqlite3.Connection, tables: set[str]) -> int:
        """The file's schema version, after checking (read-only) that it is a MemoryWeave store we can read."""
        if "meta" not in tables:
            raise CorruptStoreError(f"{self.path} is an SQLite file but not a MemoryWeave store")
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('format', 'schema_version')").fetchall())
        if meta.get("format") != "memoryweave" or "schema_version" not in meta:
            raise CorruptStoreError(f"{self.path} is an SQLite file but not a MemoryWeave store")
        try:
            version = int(meta["schema_version"])
        except (TypeError, ValueError):
            raise CorruptStoreError(f"{self.path}: unreadable schema version {meta['schema_version']!r}") from None
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} has schema version {version}; this MemoryWeave reads up to {SCHEMA_VERSION}: upgrade memoryweave"
            )
        if version == SCHEMA_VERSION and _TABLES - tables:  # older files are checked after their migration
            raise CorruptStoreError(f"{self.path} lacks tables {sorted(_TABLES - tables)}")
        return version

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
            while current < SCHEMA_VERSION:
                step = MIGRATIONS.get(current)
                if step is None:
                    raise SchemaVersionError(f"{self.path}: no migration from schema version {current}")
                step(conn)
                current += 1
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(current),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- plumbing --------------------------------------------------------------
    def _sql(self, sql: str, params: Sequence = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> StoreError:
        if isinstance(exc, UnicodeDecodeError):  # text cells that are not UTF-8: written by something else
            return CorruptStoreError(f"{self.path} is damaged: {exc}")
        if type(exc) is sqlite3.DatabaseError or "malformed" in str(exc) or "not a database" in str(exc):
            return CorruptStoreError(f"{self.path} is damaged: {exc}")
        return StoreError(f"{self.path}: {exc}")

    def _pragma(self, name: str) -> Any:
        return self._sql(f"PRAGMA {name}")[0][0]

    def _meta(self, key: str) -> str | None:
        rows = self._sql("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` in one IMMEDIATE transaction; roll back on any error."""
        if self._closed:
            raise StoreError("the store is closed")
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from exc
        try:
            out = fn(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(exc, (sqlite3.DatabaseError, UnicodeDecodeError)):
                raise self._error(exc) from exc
            raise
        return out

    def _check_external(self) -> None:
        """Another connection committed since we last looked: re-sync our indexes."""
        version = self._pragma("data_version")
        if version != self._data_version:
            self._data_version = version
            self._ns_ids.clear()
            self._cache.clear()
            self._id_of.clear()
            self._key_of.clear()
            self._logs.clear()
            self._df.clear()
            self._postings.clear()
            self._posting_rows = 0
            if self.dim is None:
                dim = self._meta("dim")
                self.dim = int(dim) if dim is not None else None
            self._stale.update(self._indexes)

    def _nsid(self, namespace: str, create: bool = False, conn: sqlite3.Connection | None = None) -> int | None:
        nsid = self._ns_ids.get(namespace)
        if nsid is not None:
            return nsid
        c = conn or self._conn
        row = c.execute("SELECT id FROM namespaces WHERE name = ?", (namespace,)).fetchone()
        if row is None:
            if not create:
                return None
            row = (c.execute("INSERT INTO namespaces (name) VALUES (?)", (namespace,)).lastrowid,)
        self._ns_ids[namespace] = row[0]
        return row[0]

    def _corrupt(self, what: str) -> CorruptStoreError:
        return CorruptStoreError(f"{self.path} is damaged: {what}")

    def _json(self, text: Any, what: str, kind: type) -> Any:
        if text == "{}" or text == "[]":  # most metadata and fresh access logs
            if (text == "{}") == (kind is dict):
                return kind()
        if not isinstance(text, str):
            raise self._corrupt(f"{what} is {type(text).__name__}, not JSON text")
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise self._corrupt(f"{what} is not valid JSON ({exc})") from None
        if not isinstance(value, kind):
            raise self._corrupt(f"{what} is JSON {type(value).__name__}, not {kind.__name__}")
        return value

    def _check_cells(self, rows: Sequence[tuple], names: list[str]) -> list[tuple]:
        """Check every cell of rows whose columns are ``names`` against
        ``_CELL_TYPES`` a column at a time (a recall reads hundreds of rows);
        returns the columns.  A tampered file gives CorruptStoreError, never a
        stray error further on."""
        cols = list(zip(*rows))
        size = 4 * (self.dim or 0)
        for column, name in enumerate(names):
            types = _CELL_TYPES.get(name)
            if types is None:
                continue
            vector = name in ("content", "context")
            if set(map(type, cols[column])) <= types and (not vector or set(map(len, cols[column])) == {size}):
                continue
            bad = next(row for row in rows if type(row[column]) not in types or (vector and len(row[column]) != size))
            raise self._corrupt(f"trace row {bad[0]!r} has an unreadable {name} (vectors are {self.dim} float32)")
        return cols

    def _traces(self, rows: Sequence[tuple], namespaces: Sequence[str]) -> list[Trace]:
        """Traces from rows that start with ``_COLS``, every cell checked (a
        tampered file gives CorruptStoreError, never a stray error).  Cells are
        checked a column at a time: one recall decodes hundreds of rows."""
        if not rows:
            return []
        self._check_cells(rows, _names(_COLS))
        return [
            Trace(
                id=tid,
                text=text,
                namespace=namespace,
                speaker=speaker,
                episode=episode,
                position=position,
                time=float(time),
                metadata=self._json(metadata, f"metadata of trace {tid!r}", dict),
                content=np.frombuffer(content, dtype=np.float32),
                context=np.frombuffer(context, dtype=np.float32),
                category=category,
            )
            for (_, tid, text, speaker, episode, position, time, metadata, category, content, context, *_), namespace
            in zip(rows, namespaces)
        ]

    def _access_log(self, tid: str, first: Any, count: Any, recent: Any) -> AccessLog:
        times = self._json(recent, f"access log of {tid!r}", list)
        if type(first) not in (float, int) or type(count) is not int or not all(type(t) in (float, int) for t in times):
            raise self._corrupt(f"access log of {tid!r} has cells of the wrong type")
        return AccessLog(first=float(first), count=count, recent=[float(t) for t in times])

    def _ns_names(self) -> dict[int, str]:
        return {i: n for i, n in self._sql("SELECT id, name FROM namespaces")}

    # -- writing ---------------------------------------------------------------
    def add(self, traces: Sequence[Trace]) -> None:
        if not traces:
            return
        with self._lock:
            dim = vector_dim(traces, self.dim)
            tokens = [" ".join(tokenize(t.text)) for t in traces]
            self._check_external()

            def write(conn: sqlite3.Connection) -> dict[int, list[int]]:
                if self.dim is None:
                    stored = conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
                    if stored is not None and int(stored[0]) != dim:
                        raise DimensionMismatchError(f"this store holds {stored[0]}-d vectors, not {dim}-d")
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (str(dim),))
                seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'traces'").fetchone()
                first = (seq[0] if seq else 0) + 1
                rows, fts = [], []
                groups: dict[int, list[int]] = {}
                stats: dict[int, list[int]] = {}
                for i, (t, tok) in enumerate(zip(traces, tokens)):
                    key = first + i
                    nsid = self._nsid(t.namespace, create=True, conn=conn)
                    ntok = tok.count(" ") + 1 if tok else 0
                    rows.append(
                        (key, t.id, nsid, t.text, t.speaker, t.episode, int(t.position), float(t.time),
                         json.dumps(dict(t.metadata)), t.category, tok, ntok,
                         np.asarray(t.content, np.float32).tobytes(), np.asarray(t.context, np.float32).tobytes())
                    )
                    fts.append((key, _fts_doc(nsid, tok)))
                    groups.setdefault(nsid, []).append(i)
                    s = stats.setdefault(nsid, [0, 0])
                    s[0] += 1
                    s[1] += ntok
                conn.executemany(
                    "INSERT INTO traces (key, id, ns, text, speaker, episode, position, time, metadata, category,"
                    " tokens, ntokens, content, context) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    rows,
                )
                conn.executemany("INSERT INTO lex (rowid, terms) VALUES (?, ?)", fts)
                conn.executemany(
                    "UPDATE namespaces SET n = n + ?, total_len = total_len + ? WHERE id = ?",
                    [(n, ln, nsid) for nsid, (n, ln) in stats.items()],
                )
                return {nsid: [first + i for i in idx] for nsid, idx in groups.items()}

            self._df.clear()
            try:
                groups = self._write(write)
            except StoreError as exc:
                if isinstance(exc.__cause__, sqlite3.IntegrityError):
                    self._ns_ids.clear()
                    raise InvalidInputError(f"a trace id already exists in {self.path}: {exc.__cause__}") from exc
                self._ns_ids.clear()
                raise
            except BaseException:
                self._ns_ids.clear()  # namespace rows created in the rolled-back transaction
                raise
            self.dim = dim
            first_key = min(k for ks in groups.values() for k in ks)
            new_keys = [k for ks in groups.values() for k in ks]
            new_tokens = [tokens[k - first_key] for k in new_keys]
            if self._doclen_upto:
                self._doclen_set(np.asarray(new_keys, np.int64), np.array([t.count(" ") + 1 if t else 0 for t in new_tokens]))
            if self._postings:
                self._postings_add(groups, new_tokens, first_key)
            for nsid, keys in groups.items():
                for field in ("content", "context"):
                    index = self._indexes.get((nsid, field))
                    if index is None or (nsid, field) in self._stale:
                        self._index(nsid, field)  # loads (or builds) it, new rows included
                    else:
                        vecs = np.stack([getattr(traces[k - first_key], field) for k in keys])
                        index.add(np.asarray(keys, np.int64), vecs)

    def delete(self, ids: Sequence[str], namespace: str | None = None) -> int:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return 0
        with self._lock:
            self._check_external()

            def write(conn: sqlite3.Connection) -> tuple[dict[int, list[int]], list[int]]:
                found: list[tuple] = []
                nsid = None
                if namespace is not None:
                    nsid = self._nsid(namespace, conn=conn)
                    if nsid is None:
                        return {}, []
                for part in _chunks(ids):
                    sql = f"SELECT key, ns, tokens, ntokens FROM traces WHERE id IN ({_marks(len(part))})"
                    params = list(part)
                    if nsid is not None:
                        sql += " AND ns = ?"
                        params.append(nsid)
                    found.extend(conn.execute(sql, params).fetchall())
                if not found:
                    return {}, []
                keys = [r[0] for r in found]
                for part in _chunks(keys):
                    conn.execute(f"DELETE FROM traces WHERE key IN ({_marks(len(part))})", part)
                    conn.execute(f"DELETE FROM access WHERE key IN ({_marks(len(part))})", part)
                for k, ns, tok, ntok in found:
                    if not isinstance(tok, str) or type(ntok) is not int:
                        raise self._corrupt(f"trace row {k!r} has unreadable tokens")
                removed_tokens[:] = [(ns, k, tok) for k, ns, tok, _ in found]
                conn.executemany(
                    "INSERT INTO lex (lex, rowid, terms) VALUES ('delete', ?, ?)",
                    [(k, _fts_doc(ns, tok)) for k, ns, tok, _ in found],
                )
                groups: dict[int, list[int]] = {}
                stats: dict[int, list[int]] = {}
                for k, ns, _, ntok in found:
                    groups.setdefault(ns, []).append(k)
                    s = stats.setdefault(ns, [0, 0])
                    s[0] += 1
                    s[1] += ntok
                conn.executemany(
                    "UPDATE namespaces SET n = n - ?, total_len = total_len - ? WHERE id = ?",
                    [(n, ln, ns) for ns, (n, ln) in stats.items()],
                )
                emptied = [r[0] for r in conn.execute(
                    f"SELECT id FROM namespaces WHERE n <= 0 AND id IN ({_marks(len(stats))})", list(stats)
                )]
                for ns in emptied:  # an empty namespace disappears with its state, as in MemoryStore
                    conn.execute("DELETE FROM namespaces WHERE id = ?", (ns,))
                    conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (self._digest_key(ns, "content"), self._digest_key(ns, "context")))
                    conn.execute("DELETE FROM state WHERE ns = ?", (ns,))
                    conn.execute("DELETE FROM state_arrays WHERE ns = ?", (ns,))
                return groups, emptied

            removed_tokens: list[tuple[int, int, str]] = []  # (ns, key, tokens) of the deleted rows
            try:
                groups, emptied = self._write(write)
            except BaseException:
                removed_tokens.clear()
                raise
            finally:
                self._df.clear()
            for tid in ids:
                self._cache.pop(tid, None)
                self._key_of.pop(tid, None)
                self._logs.pop(tid, None)
            if self._postings:
                self._postings_remove(removed_tokens)
            for nsid, keys in groups.items():
                for key in keys:
                    self._id_of.pop(key, None)
                for field in ("content", "context"):
                    index = self._indexes.get((nsid, field))
                    if index is not None:
                        index.remove(np.asarray(keys, np.int64))
            for nsid in emptied:
                self._ns_ids = {n: i for n, i in self._ns_ids.items() if i != nsid}
                for field in ("content", "context"):
                    index = self._indexes.pop((nsid, field), None)
                    if index is not None:
                        index.close()
                    self._stale.discard((nsid, field))
                    remove_files(self._index_path(nsid, field))
            return sum(len(k) for k in groups.values())

    def delete_episode(self, namespace: str, episode: str) -> int:
        with self._lock:
            nsid = self._nsid(namespace)
            if nsid is None:
                return 0
            ids = [r[0] for r in self._sql("SELECT id FROM traces WHERE ns = ? AND episode = ?", (nsid, episode))]
            return self.delete(ids, namespace)

    def delete_namespace(self, namespace: str) -> int:
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            if nsid is None:
                return 0
            ids = [r[0] for r in self._sql("SELECT id FROM traces WHERE ns = ?", (nsid,))]
            return self.delete(ids, namespace)

    # -- reading ---------------------------------------------------------------
    def get(self, ids: Sequence[str], namespace: str | None = None) -> list[Trace]:
        ids = list(ids)
        if not ids:
            return []
        with self._lock:
            self._check_external()
            nsid = None
            if namespace is not None:
                nsid = self._nsid(namespace)
                if nsid is None:
                    return []
            found = self._cached(ids, nsid)
            return [found[i] for i in ids if i in found]

    def _cached(self, ids: Sequence[str], nsid: int | None) -> dict[str, Trace]:
        """Traces by id through the LRU cache (misses read in one query per chunk)."""
        return {tid: entry[0] for tid, entry in self._entries(ids, nsid).items()}

    def _entries(self, ids: Sequence[str], nsid: int | None) -> dict[str, tuple[Trace, int, int]]:
        """Cache entries ``(trace, ns, key)`` by id, misses read in one query per chunk."""
        found: dict[str, tuple[Trace, int, int]] = {}
        missing = []
        get, touch = self._cache.get, self._cache.move_to_end
        for tid in ids:
            hit = get(tid)
            if hit is None:
                missing.append(tid)
            elif nsid is None or hit[1] == nsid:
                touch(tid)
                found[tid] = hit
        if missing:
            self._read_entries(list(dict.fromkeys(missing)), nsid, found)
        return found

    def _read_entries(self, ids: list[str], nsid: int | None, found: dict) -> None:
        """Read, check and cache the traces with these ids; add them to ``found``."""
        cache = self._cache
        names = {i: n for n, i in self._ns_ids.items()}
        for part in _chunks(ids):
            rows = [row for row in self._sql(f"SELECT {_COLS}, ns FROM traces WHERE id IN ({_marks(len(part))})", part)
                    if nsid is None or row[11] == nsid]
            if any(row[11] not in names for row in rows):
                names = self._ns_names()
            for row, trace in zip(rows, self._traces(rows, [names.get(row[11], "") for row in rows])):
                entry = (trace, row[11], row[0])
                if self.cache_size > 0:
                    cache[trace.id] = entry
                found[trace.id] = entry
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def _ids(self, nsid: int, keys: Sequence[int]) -> dict[int, str]:
        """Ids of the namespace's traces by integer key (what an index or a
        posting list holds), read without decoding the rows."""
        known, out, missing = self._id_of, {}, []
        for key in keys:
            hit = known.get(key)
            if hit is not None and hit[1] == nsid:
                out[key] = hit[0]
            else:
                missing.append(key)
        if not missing:
            return out
        read: dict[int, str] = {}
        for part in _chunks(missing):
            read.update(self._sql(f"SELECT key, id FROM traces WHERE key IN ({_marks(len(part))}) AND ns = ?", [*part, nsid]))
        if not all(type(v) is str for v in read.values()):
            raise self._corrupt("a trace row has an unreadable id")
        self._remember_ids(nsid, read)
        out.update(read)
        return out

    def _remember_ids(self, nsid: int, ids: dict[int, str]) -> None:
        """Keep the key <-> id pairs a search just read: pool() asks for these traces next."""
        if len(self._id_of) > 4 * max(self.cache_size, 1024):
            self._id_of.clear()
            self._key_of.clear()
        self._id_of.update((key, (tid, nsid)) for key, tid in ids.items())
        self._key_of.update((tid, key) for key, tid in ids.items())

    def count(self, namespace: str | None = None) -> int:
        with self._lock:
            self._check_external()
            if namespace is None:
                return int(self._sql("SELECT coalesce(sum(n), 0) FROM namespaces")[0][0])
            rows = self._sql("SELECT n FROM namespaces WHERE name = ?", (namespace,))
            return int(rows[0][0]) if rows else 0

    def namespaces(self) -> list[str]:
        with self._lock:
            return sorted(r[0] for r in self._sql("SELECT name FROM namespaces WHERE n > 0"))

    def iter_traces(self, namespace: str | None = None) -> Iterator[Trace]:
        """Every trace, oldest first, read in pages (a snapshot per page)."""
        with self._lock:
            nsid = self._nsid(namespace) if namespace is not None else None
            if namespace is not None and nsid is None:
                return iter(())
        return self._pages(nsid)

    def _pages(self, nsid: int | None) -> Iterator[Trace]:
        last = 0
        while True:
            with self._lock:
                names = self._ns_names()
                if nsid is None:
                    rows = self._sql(f"SELECT {_COLS}, ns FROM traces WHERE key > ? ORDER BY key LIMIT 1000", (last,))
                else:
                    rows = self._sql(
                        f"SELECT {_COLS}, ns FROM traces WHERE ns = ? AND key > ? ORDER BY key LIMIT 1000", (nsid, last)
                    )
            if not rows:
                return
            yield from self._traces(rows, [names.get(row[-1], "") for row in rows])
            last = rows[-1][0]

    # -- vectors -----------------------------------------------------------------
    def _index_path(self, nsid: int, field: str) -> str:
        return f"{self.path}.{field}.{nsid}.hnsw"

    def _index(self, nsid: int, field: str) -> AutoIndex:
        """The namespace's vector index, loaded or rebuilt on first use, re-synced when stale."""
        slot = (nsid, field)
        index = self._indexes.get(slot)
        if index is not None and slot not in self._stale:
            return index
        keys = np.array([r[0] for r in self._sql("SELECT key FROM traces WHERE ns = ?", (nsid,))], dtype=np.int64)
        if index is None:
            opts = dict(threshold=self.ann_threshold, background=self.background_index, **self.hnsw_kwargs)
            digests = self._index_digests(nsid, field)
            index = None
            if self.dim and digests is not None:  # only graph files this store recorded writing are read
                index = AutoIndex.load(self._index_path(nsid, field), self.dim, digests=digests, **opts)
            if index is None or len(np.setdiff1d(keys, index.keys())) > max(len(keys) // 2, 1000):
                index = AutoIndex(self.dim, **opts)  # missing, damaged, or mostly out of date: rebuild
            self._indexes[slot] = index
        index.sync(keys, lambda missing: self._vectors(field, missing))
        self._stale.discard(slot)
        return index

    def _vectors(self, field: str, keys: np.ndarray) -> np.ndarray:
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        pos = {int(k): i for i, k in enumerate(keys)}
        for part in _chunks(keys.tolist(), 20_000):
            for key, blob in self._sql(f"SELECT key, {field} FROM traces WHERE key IN ({_marks(len(part))})", part):
                out[pos[key]] = np.frombuffer(blob, dtype=np.float32)
        return out

    def nearest(self, namespace: str, field: Field, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        check_field(field)
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            if nsid is None or self.dim is None:
                return []
            keys, sims = self._index(nsid, field).search(np.asarray(vector, np.float32), n)
            ids = self._ids(nsid, keys.tolist())
            return [(ids[k], float(s)) for k, s in zip(keys.tolist(), sims.tolist()) if k in ids]

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Block until every loaded HNSW graph holds all its rows (benchmarks and tests)."""
        with self._lock:
            indexes = list(self._indexes.values())
        return all(index.wait(timeout) for index in indexes)

    @staticmethod
    def _digest_key(nsid: int, field: str) -> str:
        return f"hnsw_sha256.{field}.{nsid}"

    def _index_digests(self, nsid: int, field: str) -> list | None:
        """The SHA-256 digests of the graph files this store saved last (newest first; None: none saved).

        A few older saves stay trusted too: a stale graph this store wrote
        (restored from a backup, say) is loaded and synced, not rebuilt."""
        raw = self._meta(self._digest_key(nsid, field))
        try:
            doc = json.loads(raw) if raw is not None else None
        except (TypeError, ValueError):
            return None
        return doc if isinstance(doc, list) and doc else None

    def save_indexes(self) -> None:
        """Write changed HNSW graphs beside the database (close() does this too).

        The graph files' SHA-256 digests are recorded in the database (one
        transaction, after the files are in place); a graph file is loaded
        later only if it still hashes to them, since hnswlib trusts the bytes it
        reads and a crafted file could crash the process.  Files written but
        not recorded (a crash in between) are rebuilt, never trusted."""
        with self._lock:
            saved: dict[str, str | None] = {}
            for (nsid, field), index in list(self._indexes.items()):
                if index.dirty:
                    digests = index.save(self._index_path(nsid, field))
                    if digests:
                        older = self._index_digests(nsid, field) or []
                        digests = [digests, *[d for d in older if d != digests][: KEEP_DIGESTS - 1]]
                    saved[self._digest_key(nsid, field)] = json.dumps(digests) if digests else None
            if not saved:
                return

            def write(conn: sqlite3.Connection) -> None:
                conn.executemany("DELETE FROM meta WHERE key = ?", [(k,) for k, v in saved.items() if v is None])
                conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, v) for k, v in saved.items() if v])

            self._write(write)

    # -- lexical -----------------------------------------------------------------
    def _lex_stats(self, nsid: int, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        """Traces in the namespace, their average length, and each known term's document frequency."""
        rows = self._sql("SELECT n, total_len FROM namespaces WHERE id = ?", (nsid,))
        if not rows or type(rows[0][0]) is not int or type(rows[0][1]) is not int:
            raise self._corrupt(f"namespace row {nsid} is missing or unreadable")
        n, total = rows[0]
        known = self._df.setdefault(nsid, {})
        if len(known) > 100_000:
            known.clear()
        ask = [t for t in dict.fromkeys(terms) if t not in known]
        if ask:
            fts = {_fts_term(nsid, t): t for t in ask}
            found = dict(self._sql(f"SELECT term, doc FROM lex_vocab WHERE term IN ({_marks(len(fts))})", list(fts)))
            for f, t in fts.items():
                known[t] = int(found.get(f) or 0)
        return n, total / max(n, 1), {t: known[t] for t in terms if known[t] > 0}

    def lexical_stats(self, namespace: str, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            return (0, 0.0, {}) if nsid is None else self._lex_stats(nsid, list(terms))

    # BM25 postings: read from FTS5 once per term (its vocabulary's instance table
    # and its per-document sizes), then kept in step with this store's writes;
    # another connection's commit drops them (PRAGMA data_version).
    def _posting(self, nsid: int, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        slot = (nsid, term)
        hit = self._postings.get(slot)
        if hit is not None:
            self._postings.move_to_end(slot)
            return hit
        if not self._vocab_ready:
            self._sql("CREATE VIRTUAL TABLE IF NOT EXISTS temp.mw_lex_instance USING fts5vocab(main, lex, instance)")
            self._vocab_ready = True
        docs = self._sql("SELECT group_concat(doc) FROM temp.mw_lex_instance WHERE term = ?", (_fts_term(nsid, term),))[0][0]
        if docs is None:
            hit = (np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float64))
        else:
            occ = _ints(docs)
            if occ is None:
                raise self._corrupt("the full-text index is unreadable")
            keys, tfs = np.unique(occ, return_counts=True)
            hit = (keys, tfs.astype(np.float64), self._doc_lengths(keys))
        self._postings[slot] = hit
        self._posting_rows += len(hit[0])
        while self._posting_rows > POSTINGS_CACHE and len(self._postings) > 1:
            self._posting_rows -= len(self._postings.popitem(last=False)[1][0])
        return hit

    def _doc_lengths(self, keys: np.ndarray) -> np.ndarray:
        """Token counts of documents by key, from an array read once (sequentially) from FTS5's own
        per-document sizes; rows added later are read on demand, and lengths never change."""
        top = int(keys[-1]) if len(keys) else 0
        if top > self._doclen_upto:
            rows = self._sql(
                "SELECT group_concat(id), group_concat(length(sz)), group_concat(hex(sz), ''), max(id) FROM lex_docsize WHERE id > ?",
                (self._doclen_upto,),
            )[0]
            if rows[0] is not None:
                ids, sizes = _ints(rows[0]), _ints(rows[1])
                try:
                    raw = np.frombuffer(bytes.fromhex(rows[2]), np.uint8).astype(np.int64)
                except (ValueError, TypeError) as exc:
                    raise self._corrupt(f"the full-text index's document sizes are unreadable ({exc})") from None
                if ids is None or sizes is None or len(ids) != len(sizes) or sizes.sum() != len(raw) or sizes.max() > 8:
                    raise self._corrupt("the full-text index's document sizes are unreadable")
                # SQLite varints, 7 bits a byte, most significant first (a document's token count)
                start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                value = np.zeros(len(ids), np.int64)
                for j in range(int(sizes.max())):
                    m = sizes > j
                    value[m] = (value[m] << 7) | (raw[start[m] + j] & 0x7F)
                self._doclen_set(ids, value)
            self._doclen_upto = max(self._doclen_upto, int(rows[3] or 0), top)
        return self._doclen[keys].astype(np.float64)

    def _doclen_set(self, keys: np.ndarray, lengths: np.ndarray) -> None:
        top = int(keys.max()) + 1
        if top > len(self._doclen):
            grown = np.zeros(max(top, 2 * len(self._doclen)), np.uint32)
            grown[: len(self._doclen)] = self._doclen
            self._doclen = grown
        self._doclen[keys] = np.minimum(lengths, 2**32 - 1)

    def _postings_add(self, groups: dict[int, list[int]], tokens: list[str], first_key: int) -> None:
        """New rows (``groups``: nsid -> keys, ``tokens`` in the same order) join the cached postings."""
        grow: dict[tuple[int, str], list[tuple[int, int, int]]] = {}
        i = 0
        for nsid, keys in groups.items():
            for key in keys:
                tok = tokens[i]
                i += 1
                if not tok:
                    continue
                counts = Counter(tok.split())
                length = sum(counts.values())
                for term, tf in counts.items():
                    if (nsid, term) in self._postings:
                        grow.setdefault((nsid, term), []).append((key, tf, length))
        for slot, rows in grow.items():
            keys, tfs, lens = self._postings[slot]
            extra = np.array(rows, dtype=np.float64)
            self._postings[slot] = (
                np.concatenate([keys, extra[:, 0].astype(np.int64)]),  # keys only grow: still sorted
                np.concatenate([tfs, extra[:, 1]]),
                np.concatenate([lens, extra[:, 2]]),
            )
            self._posting_rows += len(rows)

    def _postings_remove(self, rows: list[tuple[int, int, str]]) -> None:
        gone: dict[tuple[int, str], list[int]] = {}
        for nsid, key, tok in rows:
            for term in set(tok.split()):
                if (nsid, term) in self._postings:
                    gone.setdefault((nsid, term), []).append(key)
        for slot, keys_gone in gone.items():
            keys, tfs, lens = self._postings[slot]
            keep = ~np.isin(keys, keys_gone)
            self._postings[slot] = (keys[keep], tfs[keep], lens[keep])
            self._posting_rows -= int((~keep).sum())

    def lexical(self, namespace: str, terms: Sequence[str], n: int) -> list[tuple[str, float]]:
        """Top ``n`` by BM25 from cached posting arrays, as :meth:`BM25Index.search
        <memoryweave_core.lexical.BM25Index.search>` finds them."""
        terms = list(terms)
        if not terms or n <= 0:
            return []
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            if nsid is None:
                return []
            best = self._lexical(nsid, terms, n)
            ids = self._ids(nsid, [k for k, _ in best])
        return [(ids[k], s) for k, s in best if k in ids]

    def _lexical(self, nsid: int, terms: list[str], n: int) -> list[tuple[int, float]]:
        """:meth:`lexical` by row key."""
        n_docs, avg, df = self._lex_stats(nsid, terms)
        weights = query_weights(terms, n_docs, df)
        use = candidate_terms(weights, df)
        if not use:
            return []
        parts_keys, parts_scores = [], []
        for t in use:
            keys, tfs, lens = self._posting(nsid, t)
            parts_keys.append(keys)
            parts_scores.append(bm25_term(tfs, lens, avg, weights[t]))
        keys, totals = sum_by_key(parts_keys, parts_scores)
        return best_matches(keys, totals, n, len(use) == len(weights), lambda ks: self._tokens_of(nsid, ks), weights, avg)

    def _tokens_of(self, nsid: int, keys: list[int]) -> dict[int, list[str]]:
        """Tokens of these rows (the ids read with them are remembered)."""
        found: dict[int, tuple] = {}
        for part in _chunks(keys):
            sql = f"SELECT key, id, tokens FROM traces WHERE key IN ({_marks(len(part))}) AND ns = ?"
            found.update((row[0], row) for row in self._sql(sql, [*part, nsid]))
        if not all(type(tid) is str and type(tok) is str for _, tid, tok in found.values()):
            raise self._corrupt("a trace row has unreadable tokens")
        self._remember_ids(nsid, {key: tid for key, tid, _ in found.values()})
        return {key: tok.split() for key, _, tok in found.values()}

    # -- episodes ----------------------------------------------------------------
    def episode_traces(self, namespace: str, episode: str, start: int, stop: int) -> list[Trace]:
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            if nsid is None:
                return []
            ids = [
                r[0]
                for r in self._sql(
                    "SELECT id FROM traces WHERE ns = ? AND episode = ? AND position >= ? AND position < ? ORDER BY position, key",
                    (nsid, episode, max(int(start), 0), int(stop)),
                )
            ]
            found = self._cached(ids, nsid)
        out = [found[i] for i in ids if i in found]
        for t in out:  # a damaged file's episode index can disagree with its rows
            if t.episode != episode or not max(int(start), 0) <= t.position < int(stop):
                raise self._corrupt(f"trace {t.id!r} is indexed under another episode or position")
        return out

    def pool(self, namespace: str, ids: Sequence[str] = (), radius: int = 0) -> Pool:
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            if nsid is None or self.dim is None:
                return Pool.empty(self.dim)
            key_of = self._keys_of(ids)
            return self._pool(nsid, [key_of[i] for i in ids if i in key_of], radius)

    def candidates(self, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int, radius: int) -> Pool:
        """The searches' row keys go straight into the pool's query: the ids
        come with the rows, never mapped from keys and back."""
        for field, _ in searches:
            check_field(field)
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            if nsid is None or self.dim is None:
                return Pool.empty(self.dim)
            keys: dict[int, None] = {}
            for field, vector in searches:
                keys.update(dict.fromkeys(self._index(nsid, field).search(np.asarray(vector, np.float32), n)[0].tolist()))
            if terms and n > 0:
                keys.update(dict.fromkeys(k for k, _ in self._lexical(nsid, list(terms), n)))
            return self._pool(nsid, list(keys), radius)

    def _pool(self, nsid: int, keys: list[int], radius: int) -> Pool:
        """Columns straight from the rows (no Trace objects, no metadata JSON)
        of these keys and their neighbours, in one query per chunk of keys.
        The neighbours' keys come from the covering (ns, episode, position)
        index alone; keys of other namespaces or deleted rows find nothing."""
        keys = list(dict.fromkeys(keys))
        rows: dict[int, tuple] = {}
        for part in _chunks(keys, _SQL_CHUNK // 2):
            params = [*part, nsid] + ([radius, radius, *part, nsid] if radius else [])
            rows.update((row[0], row) for row in self._sql(_pool_sql(len(part), bool(radius)), params))
        asked = set(keys)
        episodes = {row[3] for key, row in rows.items() if key in asked}
        if any(row[3] not in episodes for key, row in rows.items() if key not in asked):
            raise self._corrupt("a trace is indexed under another episode than its row holds")
        return self._pool_of(list(rows.values()), keys)

    def _pool_of(self, rows: list[tuple], asked: list[int]) -> Pool:
        """A Pool from rows of ``_POOL_COLS`` (every cell checked a column at a
        time), in :func:`pool_order` for the ``asked`` keys."""
        if not rows:
            return Pool.empty(self.dim)
        cols = self._check_cells(rows, _names(_POOL_COLS))
        cols = list(zip(*[rows[i] for i in pool_order(asked, cols[0], cols[3], cols[4])]))
        n = len(rows)
        used = [i for i, count in enumerate(cols[11]) if count is not None]  # rows of traces used since creation
        first, count, recent = log_columns([self._access_log(cols[1][i], cols[10][i], cols[11][i], cols[12][i]) for i in used])
        first_access = np.array(cols[5], dtype=np.float64)
        access_count = np.ones(n)
        recent_access = np.full((n, RECENT), np.nan)
        first_access[used], access_count[used], recent_access[used] = first, count, recent
        return Pool(
            ids=list(cols[1]),
            speakers=list(cols[2]),
            episodes=list(cols[3]),
            positions=np.array(cols[4], dtype=np.int64),
            times=np.array(cols[5], dtype=np.float64),
            categories=np.array([-1 if c is None else c for c in cols[6]], dtype=np.int64),
            tokens=[tok.split() for tok in cols[7]],
            content=np.frombuffer(b"".join(cols[8]), np.float32).reshape(n, self.dim),
            context=np.frombuffer(b"".join(cols[9]), np.float32).reshape(n, self.dim),
            first_access=first_access,
            access_count=access_count,
            recent_access=recent_access,
        )

    def episode_length(self, namespace: str, episode: str) -> int:
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            if nsid is None:
                return 0
            top = self._sql("SELECT max(position) FROM traces WHERE ns = ? AND episode = ?", (nsid, episode))[0][0]
            return 0 if top is None else int(top) + 1

    def last_trace(self, namespace: str) -> Trace | None:
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            if nsid is None:
                return None
            rows = self._sql(f"SELECT {_COLS} FROM traces WHERE ns = ? ORDER BY key DESC LIMIT 1", (nsid,))
        return self._traces(rows, [namespace])[0] if rows else None

    # -- access logs ---------------------------------------------------------------
    def _read_logs(self, conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, AccessLog]:
        """Access logs from the database (one query per chunk), new objects the
        caller may keep; copies of those read from rows are cached.  A trace
        without an access row has not been used since its creation."""
        logs: dict[str, AccessLog] = {}
        read: list[str] = []
        by_key: dict[int, str] = {}  # traces in the cache: their keys and times are known
        by_id = []
        for tid in dict.fromkeys(ids):
            hit = self._cache.get(tid)
            if hit is None:
                by_id.append(tid)
            else:
                by_key[hit[2]] = tid
                logs[tid] = AccessLog(first=hit[0].time)
        try:
            for part in _chunks(list(by_key)):
                sql = f"SELECT key, first, count, recent FROM access WHERE key IN ({_marks(len(part))})"
                for key, first, count, recent in conn.execute(sql, part).fetchall():
                    tid = by_key[key]
                    logs[tid] = self._access_log(tid, first, count, recent)
                    read.append(tid)
            for part in _chunks(by_id):
                sql = ("SELECT t.id, t.time, a.first, a.count, a.recent FROM traces t LEFT JOIN access a ON a.key = t.key"
                       f" WHERE t.id IN ({_marks(len(part))})")
                for tid, time, first, count, recent in conn.execute(sql, part).fetchall():
                    if count is None:
                        first, count, recent = time, 1, "[]"
                    else:
                        read.append(tid)
                    logs[tid] = self._access_log(tid, first, count, recent)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from exc
        self._remember_logs({t: AccessLog(logs[t].first, logs[t].count, list(logs[t].recent)) for t in read})
        return logs

    def _remember_logs(self, logs: dict[str, AccessLog]) -> None:
        if self.cache_size <= 0:
            return
        cache = self._logs
        cache.update(logs)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def access_logs(self, ids: Sequence[str]) -> list[AccessLog]:
        ids = list(ids)
        with self._lock:
            self._check_external()
            logs: dict[str, AccessLog] = {}
            missing = []
            for tid in ids:
                hit = self._logs.get(tid)
                if hit is None:
                    missing.append(tid)
                else:
                    logs[tid] = AccessLog(hit.first, hit.count, list(hit.recent))
            if missing:
                logs.update(self._read_logs(self._conn, missing))
                missing = [i for i in missing if i not in logs]
            if missing:
                # Unknown id (KeyError, as MemoryStore) unless the trace is there after all: a table
                # scan, since a damaged file's id index may disagree with its table (errors only).
                if self._sql("SELECT 1 FROM traces NOT INDEXED WHERE id = ?", (missing[0],)):
                    raise self._corrupt(f"trace {missing[0]!r} has no readable access log")
                raise KeyError(missing[0])
            return [logs[i] for i in ids]

    def record_access(self, ids: Sequence[str], when: float) -> None:
        ids = list(ids)
        if not ids:
            return

        times = Counter(ids)  # an id listed twice is two accesses, as in MemoryStore

        def write(conn: sqlite3.Connection) -> dict[str, AccessLog]:
            # Read-modify-write inside one IMMEDIATE transaction: no other writer can interleave.
            # Our cached logs are current unless another connection committed (checked under the lock).
            self._check_external()
            cache = self._logs
            logs = {i: cache[i] for i in times if i in cache}
            missing = [i for i in times if i not in logs]
            if missing:
                logs.update(self._read_logs(conn, missing))
            keys = self._keys_of(list(logs))
            new: dict[str, AccessLog] = {}
            rows = []
            for tid, old in logs.items():
                if tid not in keys:
                    continue
                log = AccessLog(first=old.first, count=old.count, recent=list(old.recent))
                for _ in range(times[tid]):
                    log.touch(float(when))
                new[tid] = log
                rows.append((keys[tid], log.first, log.count, json.dumps(log.recent)))
            conn.executemany("INSERT OR REPLACE INTO access VALUES (?, ?, ?, ?)", rows)
            return new

        with self._lock:
            new = self._write(write)
            self._remember_logs(new)  # only after the commit

    def _keys_of(self, ids: Sequence[str]) -> dict[str, int]:
        """Integer keys of traces by id: those a search just found or the trace
        cache holds are known, the rest are read in one query per chunk."""
        keys: dict[str, int] = {}
        missing = []
        for tid in ids:
            key = self._key_of.get(tid)
            if key is None:
                hit = self._cache.get(tid)
                key = None if hit is None else hit[2]
            if key is None:
                missing.append(tid)
            else:
                keys[tid] = key
        for part in _chunks(list(dict.fromkeys(missing))):
            keys.update(self._sql(f"SELECT id, key FROM traces WHERE id IN ({_marks(len(part))})", part))
        return keys

    # -- engine state ------------------------------------------------------------------
    def load_state(self, namespace: str, key: str) -> dict | None:
        with self._lock:
            self._check_external()
            nsid = self._nsid(namespace)
            if nsid is None:
                return None
            rows = self._sql("SELECT doc FROM state WHERE ns = ? AND key = ?", (nsid, key))
            if not rows:
                return None
            state = self._json(rows[0][0], f"state {key!r}", dict)
            for name, dtype, shape, data in self._sql(
                "SELECT name, dtype, shape, data FROM state_arrays WHERE ns = ? AND key = ?", (nsid, key)
            ):
                shape = self._json(shape, f"shape of state array {name!r}", list)
                state[name] = decode_array(name, dtype, shape, data, lambda m: CorruptStoreError(f"{self.path}: {m}"))
            return state

    def save_state(self, namespace: str, key: str, state: dict) -> None:
        text, arrays = encode_state(key, state)

        def write(conn: sqlite3.Connection) -> None:
            nsid = self._nsid(namespace, conn=conn)
            if nsid is None:  # as MemoryStore: state lives with a namespace's traces
                return
            conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (nsid, key, text))
            conn.execute("DELETE FROM state_arrays WHERE ns = ? AND key = ?", (nsid, key))
            conn.executemany("INSERT INTO state_arrays VALUES (?, ?, ?, ?, ?, ?)", [(nsid, key, *a) for a in arrays])

        with self._lock:
            self._write(write)

    # -- closing -----------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                for index in self._indexes.values():
                    index.close()
                self.save_indexes()
            finally:
                self._closed = True
                self._indexes.clear()
                atexit.unregister(self._atexit)
                try:
                    self._conn.execute("PRAGMA optimize")
                except sqlite3.Error:
                    pass
                self._conn.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"
