"""The PostgreSQL layout (one Postgres schema, ``memoryweave`` by default) and its migrations.

``traces`` holds one row per trace with its tokens (``toks``, and a
``terms`` tsvector built from exactly those tokens, so stemming and
stopwords are the in-memory store's; ``tok_ids``, their ids in the
namespace's ``vocab``, which recall scores) and both vectors as pgvector columns;
``access`` holds the logs of used traces only, narrow rows so that a
recall's writes do not rewrite the vectors; ``nsstats`` and ``terms`` hold
BM25's statistics; ``state``/``state_arrays`` the engine state (never pickle).
"""

from __future__ import annotations

from typing import Any, Callable

from ...errors import CorruptStoreError, DimensionMismatchError, SchemaVersionError
from ..context import UNRECORDED
from .plan import Plan, Stmt, rows

#: Version of the layout below; bump it and add a migration when it changes.
SCHEMA_VERSION = 6

#: ``MIGRATIONS[v](conn, schema)`` upgrades schema version ``v`` to ``v + 1``.
MIGRATIONS: dict[int, Callable[[Any, str], None]] = {}


def migration(from_version: int) -> Callable[[Callable[[Any, str], None]], Callable[[Any, str], None]]:
    """Register a function as the step from ``from_version`` to the next."""

    def register(step: Callable[[Any, str], None]) -> Callable[[Any, str], None]:
        MIGRATIONS[from_version] = step
        return step

    return register


def access_table(conn: Any, schema: str) -> None:
    conn.execute(
        f'CREATE TABLE "{schema}".access (key bigint PRIMARY KEY REFERENCES "{schema}".traces (key) ON DELETE CASCADE,'
        " uses integer NOT NULL, recent double precision[] NOT NULL)"
    )


@migration(1)
def split_access(conn: Any, schema: str) -> None:
    """Version 1 kept the access log in ``traces`` itself (``first_access``,
    always the trace's time, ``access_count`` and ``recent``)."""
    access_table(conn, schema)
    conn.execute(
        f'INSERT INTO "{schema}".access SELECT key, access_count - 1, recent FROM "{schema}".traces WHERE access_count > 1'
    )
    conn.execute(f'ALTER TABLE "{schema}".traces DROP COLUMN first_access, DROP COLUMN access_count, DROP COLUMN recent')


def lifecycle_columns(conn: Any, schema: str) -> None:
    """Versions and expiry (see :mod:`.lifecycle`): existing rows are first versions that never expire."""
    conn.execute(
        f'ALTER TABLE "{schema}".traces ADD COLUMN version integer NOT NULL DEFAULT 1, ADD COLUMN supersedes text,'
        " ADD COLUMN superseded_at double precision, ADD COLUMN expires_at double precision"
    )
    conn.execute(
        f'CREATE INDEX traces_lifecycle ON "{schema}".traces (namespace)'
        " WHERE superseded_at IS NOT NULL OR supersedes IS NOT NULL OR expires_at IS NOT NULL"
    )
    conn.execute(f'CREATE INDEX traces_expiry ON "{schema}".traces (expires_at) WHERE expires_at IS NOT NULL')


@migration(2)
def versions_and_expiry(conn: Any, schema: str) -> None:
    """Updates keep history and traces may expire (schema version 3)."""
    lifecycle_columns(conn, schema)


def ids_index(conn: Any, schema: str) -> None:
    """A trace id is unique within its namespace (the same id may name traces of two namespaces)."""
    conn.execute(f'CREATE UNIQUE INDEX IF NOT EXISTS traces_id ON "{schema}".traces (namespace, id)')


@migration(3)
def ids_per_namespace(conn: Any, schema: str) -> None:
    """Ids were unique store-wide (the column's UNIQUE constraint); now per namespace."""
    conn.execute(f'ALTER TABLE "{schema}".traces DROP CONSTRAINT IF EXISTS traces_id_key')
    ids_index(conn, schema)


def token_id_tables(conn: Any, s: str) -> None:
    """Each namespace's vocabulary (:mod:`.tokenids`) and each trace's token ids: ``nsstats.nsid``
    names a namespace's vocabulary, new each time the namespace is created afresh."""
    conn.execute(f'CREATE SEQUENCE "{s}".nsids')
    conn.execute(f'ALTER TABLE "{s}".nsstats ADD COLUMN nsid bigint NOT NULL DEFAULT nextval(\'"{s}".nsids\') UNIQUE')
    conn.execute(f'CREATE TABLE "{s}".vocab (nsid bigint NOT NULL, id integer NOT NULL, word text NOT NULL,'
                 " PRIMARY KEY (nsid, id), UNIQUE (nsid, word))")
    conn.execute(f'ALTER TABLE "{s}".traces ADD COLUMN tok_ids bytea NOT NULL DEFAULT \'\'::bytea')
    # rows already there read '' until the migration fills them; a writer of
    # an older version, still connected, fails instead of adding rows without ids
    conn.execute(f'ALTER TABLE "{s}".traces ALTER COLUMN tok_ids DROP DEFAULT')


@migration(4)
def token_ids(conn: Any, s: str) -> None:
    """Recall scores tokens as integer ids (:mod:`memoryweave_core.vocab`):
    every distinct token of a namespace gets a row in ``vocab``, ids dense
    in order of first sight (by key, then position), as the write path
    assigns them, and every trace its ids in ``tok_ids``.  ``toks`` stays:
    the BM25 search and deletes read it.  Rewrites every trace row, with the
    HNSW indexes dropped meanwhile and built again after: inserting each
    rewritten row into the graphs costs far more than one bulk build."""
    orphan = conn.execute(f'SELECT t.namespace FROM "{s}".traces t WHERE NOT EXISTS'
                          f' (SELECT 1 FROM "{s}".nsstats n WHERE n.namespace = t.namespace) LIMIT 1').fetchone()
    if orphan:
        raise CorruptStoreError(f"schema {s!r}: namespace {orphan[0]!r} has traces but no statistics row")
    token_id_tables(conn, s)
    graphs = [r[0] for r in conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'traces'"
        " AND indexname IN ('traces_content_hnsw', 'traces_context_hnsw') ORDER BY indexname", (s,))]
    conn.execute(f'DROP INDEX IF EXISTS "{s}".traces_content_hnsw, "{s}".traces_context_hnsw')
    conn.execute(
        f'INSERT INTO "{s}".vocab (nsid, id, word)'
        " SELECT nsid, (row_number() OVER (PARTITION BY nsid ORDER BY key, ord) - 1)::int, word FROM"
        " (SELECT DISTINCT ON (n.nsid, u.word) n.nsid, u.word, t.key, u.ord"
        f'  FROM "{s}".traces t JOIN "{s}".nsstats n ON n.namespace = t.namespace'
        "  CROSS JOIN LATERAL unnest(t.toks) WITH ORDINALITY AS u(word, ord)"
        "  ORDER BY n.nsid, u.word, t.key, u.ord) seen"
    )
    conn.execute(
        f'UPDATE "{s}".traces t SET tok_ids = coalesce((SELECT string_agg(int4send(v.id), \'\'::bytea ORDER BY u.ord)'
        f'  FROM unnest(t.toks) WITH ORDINALITY AS u(word, ord) JOIN "{s}".vocab v ON v.nsid = n.nsid AND v.word = u.word),'
        f" ''::bytea) FROM \"{s}\".nsstats n WHERE n.namespace = t.namespace"
    )
    for graph in graphs:  # as ensure_dim made them, with their parameters
        conn.execute(graph)


@migration(5)
def context_record(conn: Any, s: str) -> None:
    """The store records how its context vectors are made (:mod:`..context`);
    an older schema holds the default of the versions that wrote it."""
    for key, value in UNRECORDED.meta():
        conn.execute(f'INSERT INTO "{s}".meta VALUES (%s, %s) ON CONFLICT (key) DO NOTHING', (key, value))


def tables(s: str) -> list[str]:
    """The statements creating every table but ``access`` in schema ``s``."""
    return f"""
        CREATE TABLE "{s}".meta (key text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE "{s}".traces (
            key bigserial PRIMARY KEY,
            id text NOT NULL,  -- unique within its namespace (traces_id)
            namespace text NOT NULL,
            text text NOT NULL,
            speaker text,
            episode text,
            position integer NOT NULL,
            time double precision NOT NULL,
            metadata json NOT NULL,  -- json keeps the text as written (jsonb would turn 4.8e16 into an int)
            category integer,
            toks text[] NOT NULL,
            ntokens integer NOT NULL,
            terms tsvector NOT NULL,
            content vector NOT NULL,
            context vector NOT NULL
        );
        CREATE INDEX traces_ns ON "{s}".traces (namespace, key);
        CREATE INDEX traces_episode ON "{s}".traces (namespace, episode, position);
        CREATE INDEX traces_terms ON "{s}".traces USING gin (terms);
        CREATE TABLE "{s}".nsstats (namespace text PRIMARY KEY, n bigint NOT NULL, total_len bigint NOT NULL);
        CREATE TABLE "{s}".terms (namespace text NOT NULL, term text NOT NULL, df integer NOT NULL, PRIMARY KEY (namespace, term));
        CREATE TABLE "{s}".state (namespace text NOT NULL, key text NOT NULL, doc jsonb NOT NULL, PRIMARY KEY (namespace, key));
        CREATE TABLE "{s}".state_arrays (
            namespace text NOT NULL, key text NOT NULL, name text NOT NULL,
            dtype text NOT NULL, shape jsonb NOT NULL, data bytea NOT NULL,
            PRIMARY KEY (namespace, key, name)
        )
    """.split(";")


def setup(conn: Any, s: str) -> None:
    """Create schema ``s``, or check its version and migrate it, under the DDL advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('memoryweave-ddl'))")
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{s}"')
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'", (s,)
        ).fetchone()
        if exists:
            version = conn.execute(f"SELECT value FROM \"{s}\".meta WHERE key = 'schema_version'").fetchone()
            version = int(version[0]) if version else 0
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"schema {s!r} has version {version}; this MemoryWeave reads up to {SCHEMA_VERSION}: upgrade memoryweave"
                )
            while version < SCHEMA_VERSION:
                step = MIGRATIONS.get(version)
                if step is None:
                    raise SchemaVersionError(f"schema {s!r}: no migration from version {version}")
                step(conn, s)
                version += 1
                conn.execute(f"UPDATE \"{s}\".meta SET value = %s WHERE key = 'schema_version'", (str(version),))
            return
        for stmt in tables(s):
            conn.execute(stmt)
        access_table(conn, s)
        lifecycle_columns(conn, s)
        ids_index(conn, s)
        token_id_tables(conn, s)
        conn.execute(f'INSERT INTO "{s}".meta VALUES (\'schema_version\', %s)', (str(SCHEMA_VERSION),))


def ensure_dim(s: str, dim: int, m: int, ef_construction: int) -> Plan[None]:
    """First add: fix the vector dimension and build the HNSW indexes (in the add's transaction)."""
    yield Stmt("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"memoryweave-dim-{s}",))
    found = yield from rows(f"SELECT value FROM \"{s}\".meta WHERE key = 'dim'", binary=False)
    if found:
        if int(found[0][0]) != dim:
            raise DimensionMismatchError(f"this store holds {found[0][0]}-d vectors, not {dim}-d")
        return
    for col in ("content", "context"):
        yield Stmt(f'ALTER TABLE "{s}".traces ALTER COLUMN {col} TYPE vector({int(dim)})')
        yield Stmt(
            f'CREATE INDEX traces_{col}_hnsw ON "{s}".traces USING hnsw ({col} vector_cosine_ops)'
            f" WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
        )
    yield Stmt(f'INSERT INTO "{s}".meta VALUES (\'dim\', %s)', (str(dim),))


def pgvector_version(conn: Any) -> tuple[int, ...]:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    try:
        return tuple(int(p) for p in row[0].split(".")[:2])
    except (TypeError, ValueError):
        return (0, 0)
