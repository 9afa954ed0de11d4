"""PostgreSQL + pgvector store: one memory shared by many processes and machines.

Layout (all tables in one Postgres schema, ``memoryweave`` by default):

``traces``
    one row per trace: text, speaker, episode, position, time, ``metadata``
    (jsonb), category, the tokenised text (``toks text[]``, from
    :func:`~memoryweave_core.lexical.tokenize`, and ``ntokens``), a
    ``terms tsvector`` built from exactly those tokens
    (``array_to_tsvector``: no second parser, so stemming and stopwords are
    the in-memory store's) with a GIN index, both vectors as pgvector
    ``vector(dim)`` columns with HNSW indexes (``vector_cosine_ops``, m=16).
``access``
    the access log of each trace used since its creation (``uses``, and the
    ``recent`` newest access times); no row means unused.  It is a table of
    its own so that a recall's writes touch narrow rows: updating a
    ``traces`` row writes a new version of the whole row, vectors included,
    and inserts it into both HNSW indexes again.
``nsstats`` / ``terms``
    per-namespace document count and total length, and per-namespace
    document frequency of every term: the statistics of BM25.
``state`` / ``state_arrays``
    engine state (ART prototypes) as jsonb plus raw ``bytea`` arrays with
    dtype and shape (never pickle).
``meta``
    schema version and vector dimension.

Lexical scores are Okapi BM25 with the in-memory
:class:`~memoryweave_core.lexical.BM25Index` formula (k1=1.2, b=0.75,
``idf = ln(1 + (N - df + 0.5) / (df + 0.5))`` over the namespace, query term
counts as weights), computed in SQL for :meth:`lexical`: candidates come from
the GIN index for the query words that
:func:`~memoryweave_core.lexical.candidate_terms` lets bring them, and every
query word scores every candidate.  That agrees with the in-memory store to
rounding wherever their budgets pick the same words and leave none out; with
words left out the numpy-backed stores rescore only their best ``2n`` by the
other words (:func:`~memoryweave_core.lexical.best_matches`), which SQL has
no reason to do.  Recall scores its candidates itself from the tokens
:meth:`pool` returns and the statistics of :meth:`lexical_stats`.
(``ts_rank`` is not BM25 and would make the lexical feature mean something
else on this backend.)

Concurrency: every write is one transaction; access logs are updated by
one statement that locks the traces against deletion (``FOR KEY SHARE``)
and upserts in key order (``INSERT ... ON CONFLICT DO UPDATE SET uses =
uses + n, recent = ...``), so concurrent recalls never lose an access; the BM25
statistics are upserted in a fixed order (namespace row first, then terms
sorted) so concurrent writers queue instead of deadlocking, and a
transaction that still deadlocks or fails to serialise is retried.  Every
query has the namespace in its WHERE clause.

Planner statistics: whether a vector search walks the HNSW graph or scans
the namespace's rows exactly is the planner's choice, made on its estimate of
the namespace's size; the store ANALYZEs ``traces`` itself after bulk changes
instead of waiting up to a minute for autovacuum.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import warnings
from collections import Counter
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..activation import RECENT, AccessLog
from ..errors import DimensionMismatchError, InvalidInputError, SchemaVersionError, StoreError, require
from ..lexical import POSTING_BUDGET, B, K1, candidate_terms, query_weights, tokenize
from ..pool import Pool, pool_order
from ..trace import Trace
from .base import Field, Search, StoreBase, check_field, gather_candidates, vector_dim
from .codec import decode_array, encode_state

SCHEMA_VERSION = 2


def _access_table(conn, schema: str) -> None:
    conn.execute(
        f'CREATE TABLE "{schema}".access (key bigint PRIMARY KEY REFERENCES "{schema}".traces (key) ON DELETE CASCADE,'
        " uses integer NOT NULL, recent double precision[] NOT NULL)"
    )


def _split_access(conn, schema: str) -> None:
    """Version 1 kept the access log in ``traces`` itself (``first_access``,
    always the trace's time, ``access_count`` and ``recent``)."""
    _access_table(conn, schema)
    conn.execute(
        f'INSERT INTO "{schema}".access SELECT key, access_count - 1, recent FROM "{schema}".traces WHERE access_count > 1'
    )
    conn.execute(f'ALTER TABLE "{schema}".traces DROP COLUMN first_access, DROP COLUMN access_count, DROP COLUMN recent')


#: ``MIGRATIONS[v](conn, schema)`` upgrades schema version ``v`` to ``v + 1``.
MIGRATIONS: dict[int, Callable[[Any, str], None]] = {1: _split_access}
_COLS = "key, id, namespace, text, speaker, episode, position, time, metadata, category, content, context"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: This process re-ANALYZEs ``traces`` once its adds and deletes reach this
#: share of the rows the table held at the last ANALYZE (and at least
#: ANALYZE_MIN_ROWS): see :meth:`PostgresStore._refresh_statistics`.
ANALYZE_GROWTH = 0.2
ANALYZE_MIN_ROWS = 1000


def _vec(v: Any) -> np.ndarray:
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)


def _log(time: float, uses: int | None, recent: Sequence[float] | None) -> AccessLog:
    """The access log of a trace created at ``time`` from its ``access`` row
    (``uses`` and ``recent`` are None where it has none: never used)."""
    return AccessLog(first=time, count=1 + (uses or 0), recent=[float(x) for x in recent or ()])


def _tsquery(terms: Sequence[str]) -> str:
    return " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)


class PostgresStore(StoreBase):
    """Traces in PostgreSQL with pgvector; see the module docstring.

    Parameters
    ----------
    dsn : str
        A libpq connection string, e.g. ``postgresql://user@host:5432/db``.
    schema : str
        Postgres schema holding the tables (created when missing); lets
        several independent memories share one database.
    m, ef_construction : int
        HNSW index parameters (created with the first add, when the
        dimension is known).
    ef_search : int
        Minimum ``hnsw.ef_search``; each query uses ``max(ef_search, n)``.
    posting_budget : int
        Posting entries a lexical search scores at most (the ``budget`` of
        :func:`~memoryweave_core.lexical.candidate_terms`).  PostgreSQL
        scores each matching row in SQL, about a hundred times slower than
        the other stores merge posting arrays in numpy, so its default is a
        fifth of theirs (:data:`~memoryweave_core.lexical.POSTING_BUDGET`).
    """

    def __init__(self, dsn: str, *, schema: str = "memoryweave", m: int = 16, ef_construction: int = 64, ef_search: int = 64,
                 posting_budget: int = POSTING_BUDGET // 5) -> None:
        psycopg = require("psycopg", "pg")
        pgvector_psycopg = require("pgvector.psycopg", "pg")
        if not _IDENT.match(schema):
            raise InvalidInputError(f"schema must be a lower-case SQL identifier, got {schema!r}")
        self.schema = schema
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.posting_budget = posting_budget
        self._psycopg = psycopg
        self._lock = threading.RLock()
        self._closed = False
        try:
            self._conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('memoryweave-ddl'))")
            self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        pgvector_psycopg.register_vector(self._conn)
        self._iterative = self._pgvector_version() >= (0, 8)
        self._setup()
        dim = self._meta("dim")
        self.dim: int | None = int(dim) if dim is not None else None
        self._rows_at_analyze = self.count()
        self._changed_since_analyze = 0

    # -- setup -----------------------------------------------------------------
    def _pgvector_version(self) -> tuple[int, ...]:
        row = self._conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        try:
            return tuple(int(p) for p in row[0].split(".")[:2])
        except (TypeError, ValueError):
            return (0, 0)

    def _t(self, name: str) -> str:
        return f'"{self.schema}".{name}'

    def _setup(self) -> None:
        s = self.schema
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('memoryweave-ddl'))")
            self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{s}"')
            exists = self._conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'", (s,)
            ).fetchone()
            if exists:
                version = self._conn.execute(f"SELECT value FROM {self._t('meta')} WHERE key = 'schema_version'").fetchone()
                version = int(version[0]) if version else 0
                if version > SCHEMA_VERSION:
                    raise SchemaVersionError(
                        f"schema {s!r} has version {version}; this MemoryWeave reads up to {SCHEMA_VERSION}: upgrade memoryweave"
                    )
                while version < SCHEMA_VERSION:
                    step = MIGRATIONS.get(version)
                    if step is None:
                        raise SchemaVersionError(f"schema {s!r}: no migration from version {version}")
                    step(self._conn, s)
                    version += 1
                    self._conn.execute(f"UPDATE {self._t('meta')} SET value = %s WHERE key = 'schema_version'", (str(version),))
                return
            for stmt in f"""
                CREATE TABLE "{s}".meta (key text PRIMARY KEY, value text NOT NULL);
                CREATE TABLE "{s}".traces (
                    key bigserial PRIMARY KEY,
                    id text NOT NULL UNIQUE,
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
            """.split(";"):
                self._conn.execute(stmt)
            _access_table(self._conn, s)
            self._conn.execute(f"INSERT INTO {self._t('meta')} VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),))

    def _ensure_dim(self, conn, dim: int) -> None:
        """First add: fix the vector dimension and build the HNSW indexes (in the add's transaction)."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"memoryweave-dim-{self.schema}",))
        row = conn.execute(f"SELECT value FROM {self._t('meta')} WHERE key = 'dim'").fetchone()
        if row is not None:
            if int(row[0]) != dim:
                raise DimensionMismatchError(f"this store holds {row[0]}-d vectors, not {dim}-d")
            return
        for col in ("content", "context"):
            conn.execute(f"ALTER TABLE {self._t('traces')} ALTER COLUMN {col} TYPE vector({int(dim)})")
            conn.execute(
                f"CREATE INDEX traces_{col}_hnsw ON {self._t('traces')} USING hnsw ({col} vector_cosine_ops)"
                f" WITH (m = {int(self.m)}, ef_construction = {int(self.ef_construction)})"
            )
        conn.execute(f"INSERT INTO {self._t('meta')} VALUES ('dim', %s)", (str(dim),))

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute(f"SELECT value FROM {self._t('meta')} WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def _refresh_statistics(self, changed: int) -> None:
        """ANALYZE ``traces`` once this process has changed a fifth of it.

        The planner picks between the HNSW index and an exact scan of the
        namespace's rows by its estimate of how many rows the namespace
        holds.  Autovacuum refreshes that estimate within about a minute;
        until then, a namespace that just grew from 200 rows to 10,000 is
        still planned as 200 rows, and every vector search scans all 10,000
        exactly (35 ms instead of 1 ms at 10k).  The refresh runs after the
        write has committed, and only in one process at a time (the others
        skip it); a failure only warns, since the write itself succeeded.
        """
        self._changed_since_analyze += changed
        if self._changed_since_analyze < max(ANALYZE_MIN_ROWS, ANALYZE_GROWTH * self._rows_at_analyze):
            return
        key = f"memoryweave-analyze-{self.schema}"
        try:
            with self._lock, self._conn.transaction():
                if self._conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (key,)).fetchone()[0]:
                    self._conn.execute(f"ANALYZE {self._t('traces')}")
            self._rows_at_analyze = self.count()
        except (self._psycopg.Error, StoreError) as exc:
            warnings.warn(f"could not refresh the planner statistics of {self._t('traces')}: {exc}", stacklevel=3)
        self._changed_since_analyze = 0

    # -- plumbing ----------------------------------------------------------------
    def _tx(self, fn: Callable[[Any], Any], retries: int = 5, *, one_statement: bool = False) -> Any:
        """Run ``fn(conn)`` in a transaction, retrying deadlocks and serialisation failures.
        With ``one_statement`` (``fn`` runs a single statement) no BEGIN and COMMIT
        are sent: in autocommit mode that statement is a transaction already."""
        errors = self._psycopg.errors
        if self._closed:
            raise StoreError("the store is closed")
        with self._lock:
            for attempt in range(retries):
                try:
                    with contextlib.nullcontext() if one_statement else self._conn.transaction():
                        return fn(self._conn)
                except (errors.DeadlockDetected, errors.SerializationFailure):
                    if attempt == retries - 1:
                        raise
                    time.sleep(0.01 * (attempt + 1))
                except self._psycopg.errors.UniqueViolation as exc:
                    raise InvalidInputError(f"a trace id already exists: {exc}") from exc
                except self._psycopg.Error as exc:
                    raise StoreError(f"PostgreSQL: {exc}") from exc

    def _q(self, sql: str, params: Sequence | dict = ()) -> list[tuple]:
        if self._closed:
            raise StoreError("the store is closed")
        with self._lock:
            try:
                return self._conn.execute(sql, params, binary=True).fetchall()
            except self._psycopg.Error as exc:
                raise StoreError(f"PostgreSQL: {exc}") from exc

    def _trace(self, row: tuple) -> Trace:
        key, tid, ns, text, speaker, episode, position, time_, metadata, category, content, context = row
        return Trace(
            id=tid, text=text, namespace=ns, speaker=speaker, episode=episode, position=position, time=time_,
            metadata=metadata, content=_vec(content), context=_vec(context),
            category=category,
        )

    @staticmethod
    def _stats_rows(ns_tokens: list[tuple[str, list[str]]]) -> tuple[dict[str, list[int]], dict[tuple[str, str], int]]:
        stats: dict[str, list[int]] = {}
        df: Counter = Counter()
        for ns, toks in ns_tokens:
            s = stats.setdefault(ns, [0, 0])
            s[0] += 1
            s[1] += len(toks)
            df.update((ns, t) for t in set(toks))
        return stats, df

    # -- writing ---------------------------------------------------------------------
    def add(self, traces: Sequence[Trace]) -> None:
        if not traces:
            return
        dim = vector_dim(traces, self.dim)
        toks = [tokenize(t.text) for t in traces]
        rows = [
            (t.id, t.namespace, t.text, t.speaker, t.episode, int(t.position), float(t.time), json.dumps(dict(t.metadata)),
             t.category, tk, len(tk), tk, np.asarray(t.content, np.float32), np.asarray(t.context, np.float32))
            for t, tk in zip(traces, toks)
        ]
        stats, df = self._stats_rows([(t.namespace, tk) for t, tk in zip(traces, toks)])

        def write(conn) -> None:
            if self.dim is None:
                self._ensure_dim(conn, dim)
            self._bump_stats(conn, stats, df, +1)
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {self._t('traces')} (id, namespace, text, speaker, episode, position, time, metadata,"
                    " category, toks, ntokens, terms, content, context)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, array_to_tsvector(%s::text[]), %s, %s)",
                    rows,
                )

        self._tx(write)
        self.dim = dim
        self._refresh_statistics(len(rows))

    def _bump_stats(self, conn, stats: dict[str, list[int]], df: Counter, sign: int) -> None:
        """Update BM25 statistics in a fixed lock order: namespaces sorted, then their terms sorted."""
        for ns in sorted(stats):
            n, total = stats[ns]
            conn.execute(
                f"INSERT INTO {self._t('nsstats')} AS s VALUES (%s, %s, %s) ON CONFLICT (namespace) DO UPDATE"
                " SET n = s.n + EXCLUDED.n, total_len = s.total_len + EXCLUDED.total_len",
                (ns, sign * n, sign * total),
            )
        items = sorted(df.items())
        if not items:
            return
        nss = [k[0] for k, _ in items]
        terms = [k[1] for k, _ in items]
        counts = [sign * c for _, c in items]
        conn.execute(
            f"INSERT INTO {self._t('terms')} AS t SELECT * FROM unnest(%s::text[], %s::text[], %s::int[]) ORDER BY 1, 2"
            " ON CONFLICT (namespace, term) DO UPDATE SET df = t.df + EXCLUDED.df",
            (nss, terms, counts),
        )
        if sign < 0:
            conn.execute(f"DELETE FROM {self._t('terms')} WHERE namespace = ANY(%s) AND df <= 0", (sorted(stats),))

    def delete(self, ids: Sequence[str], namespace: str | None = None) -> int:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return 0

        def write(conn) -> int:
            sql = f"DELETE FROM {self._t('traces')} WHERE id = ANY(%s)"
            params: list = [ids]
            if namespace is not None:
                sql += " AND namespace = %s"
                params.append(namespace)
            gone = conn.execute(sql + " RETURNING namespace, toks", params).fetchall()
            if not gone:
                return 0
            stats, df = self._stats_rows([(ns, list(tk)) for ns, tk in gone])
            self._bump_stats(conn, stats, df, -1)
            emptied = [r[0] for r in conn.execute(
                f"DELETE FROM {self._t('nsstats')} WHERE namespace = ANY(%s) AND n <= 0 RETURNING namespace", (sorted(stats),)
            ).fetchall()]
            if emptied:  # an empty namespace disappears with its state, as in MemoryStore
                conn.execute(f"DELETE FROM {self._t('state')} WHERE namespace = ANY(%s)", (emptied,))
                conn.execute(f"DELETE FROM {self._t('state_arrays')} WHERE namespace = ANY(%s)", (emptied,))
            return len(gone)

        gone = self._tx(write)
        self._refresh_statistics(gone)
        return gone

    def delete_episode(self, namespace: str, episode: str) -> int:
        ids = [r[0] for r in self._q(f"SELECT id FROM {self._t('traces')} WHERE namespace = %s AND episode = %s", (namespace, episode))]
        return self.delete(ids, namespace)

    def delete_namespace(self, namespace: str) -> int:
        ids = [r[0] for r in self._q(f"SELECT id FROM {self._t('traces')} WHERE namespace = %s", (namespace,))]
        return self.delete(ids, namespace)

    # -- reading -------------------------------------------------------------------------
    def get(self, ids: Sequence[str], namespace: str | None = None) -> list[Trace]:
        ids = list(ids)
        if not ids:
            return []
        sql = f"SELECT {_COLS} FROM {self._t('traces')} WHERE id = ANY(%s)"
        params: list = [ids]
        if namespace is not None:
            sql += " AND namespace = %s"
            params.append(namespace)
        found = {r[1]: self._trace(r) for r in self._q(sql, params)}
        return [found[i] for i in ids if i in found]

    def count(self, namespace: str | None = None) -> int:
        if namespace is None:
            return int(self._q(f"SELECT coalesce(sum(n), 0) FROM {self._t('nsstats')}")[0][0])
        rows = self._q(f"SELECT n FROM {self._t('nsstats')} WHERE namespace = %s", (namespace,))
        return int(rows[0][0]) if rows else 0

    def namespaces(self) -> list[str]:
        return sorted(r[0] for r in self._q(f"SELECT namespace FROM {self._t('nsstats')} WHERE n > 0"))

    def iter_traces(self, namespace: str | None = None) -> Iterator[Trace]:
        last = 0
        while True:
            if namespace is None:
                rows = self._q(f"SELECT {_COLS} FROM {self._t('traces')} WHERE key > %s ORDER BY key LIMIT 1000", (last,))
            else:
                rows = self._q(
                    f"SELECT {_COLS} FROM {self._t('traces')} WHERE namespace = %s AND key > %s ORDER BY key LIMIT 1000",
                    (namespace, last),
                )
            if not rows:
                return
            for r in rows:
                yield self._trace(r)
            last = rows[-1][0]

    def nearest(self, namespace: str, field: Field, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        return self._nearest(namespace, [(field, vector)], n)[0]

    def _nearest(self, namespace: str, searches: Sequence[Search], n: int) -> list[list[tuple[str, float]]]:
        """The ``n`` nearest of every search, in one transaction: the HNSW
        settings once, then one statement holding every search (four round
        trips in all, however many searches)."""
        for field, _ in searches:
            check_field(field)  # before a field name goes into SQL
        if not searches:
            return []
        if self.dim is None or n <= 0:
            if self.dim is None and (dim := self._meta("dim")):
                self.dim = int(dim)
            if self.dim is None or n <= 0:
                return [[] for _ in searches]
        settings = f"SET LOCAL hnsw.ef_search = {min(max(self.ef_search, n), 1000)}"
        if self._iterative:
            settings += "; SET LOCAL hnsw.iterative_scan = strict_order"
        params: dict[str, Any] = {"ns": namespace, "n": n}
        parts = []
        for j, (field, vector) in enumerate(searches):
            params[f"q{j}"] = np.asarray(vector, dtype=np.float32)
            parts.append(
                f"(SELECT {j}, id, 1 - ({field} <=> %(q{j})s) FROM {self._t('traces')} WHERE namespace = %(ns)s"
                f" ORDER BY {field} <=> %(q{j})s LIMIT %(n)s)"
            )

        def search(conn, which: list[int]) -> dict[int, list[tuple[str, float]]]:
            found: dict[int, list[tuple[str, float]]] = {j: [] for j in which}
            for j, tid, sim in conn.execute(" UNION ALL ".join(parts[j] for j in which), params).fetchall():
                found[j].append((tid, float(sim)))
            return found

        def run(conn) -> list[list[tuple[str, float]]]:
            conn.execute(settings)
            found = search(conn, list(range(len(searches))))
            short = [j for j, rows in found.items() if len(rows) < n]
            if short:  # the graph walk ran out before n rows of this namespace: scan exactly
                have = self.count(namespace)
                short = [j for j in short if len(found[j]) < min(n, have)]
                if short:
                    conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = on")
                    found.update(search(conn, short))
            return [found[j] for j in range(len(searches))]

        return self._tx(run)

    def lexical_stats(self, namespace: str, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        rows = self._q(
            f"SELECT s.n, s.total_len, t.term, t.df FROM {self._t('nsstats')} s LEFT JOIN {self._t('terms')} t"
            " ON t.namespace = s.namespace AND t.term = ANY(%s) AND t.df > 0 WHERE s.namespace = %s",
            (list(set(terms)), namespace),
        )
        if not rows:
            return 0, 0.0, {}
        n, total = rows[0][:2]
        return n, total / max(n, 1), {term: df for _, _, term, df in rows if term is not None}

    def lexical(self, namespace: str, terms: Sequence[str], n: int) -> list[tuple[str, float]]:
        """The top ``n`` by BM25 of every query word among the texts holding one
        of the :func:`~memoryweave_core.lexical.candidate_terms`, best first,
        ties by insertion order."""
        terms = list(terms)
        if not terms or n <= 0:
            return []
        n_docs, avg, df = self.lexical_stats(namespace, terms)
        weights = query_weights(terms, n_docs, df)
        if not weights:
            return []
        use = candidate_terms(weights, df, self.posting_budget)
        wt = list(weights)
        # array_positions counts a word's occurrences in C, without unnesting the tokens for every (text, word)
        rows = self._q(
            f"""
            SELECT m.id, sum(q.w * x.tf * {K1 + 1} / (x.tf + {K1} * (1 - {B} + {B} * m.ntokens / %(avg)s))) AS score
            FROM (SELECT key, id, toks, ntokens FROM {self._t('traces')}
                  WHERE namespace = %(ns)s AND terms @@ %(tsq)s::tsquery) m
            CROSS JOIN unnest(%(terms)s::text[], %(w)s::float8[]) AS q(term, w)
            CROSS JOIN LATERAL (SELECT cardinality(array_positions(m.toks, q.term)) AS tf) x
            WHERE x.tf > 0
            GROUP BY m.key, m.id ORDER BY score DESC, m.key LIMIT %(n)s
            """,
            {"avg": max(avg, 1e-9), "ns": namespace, "tsq": _tsquery(use), "terms": wt, "w": [weights[t] for t in wt], "n": n},
        )
        return [(i, float(s)) for i, s in rows]

    def episode_traces(self, namespace: str, episode: str, start: int, stop: int) -> list[Trace]:
        rows = self._q(
            f"SELECT {_COLS} FROM {self._t('traces')} WHERE namespace = %s AND episode = %s AND position >= %s AND position < %s"
            " ORDER BY position, key",
            (namespace, episode, max(int(start), 0), int(stop)),
        )
        return [self._trace(r) for r in rows]

    def pool(self, namespace: str, ids: Sequence[str] = (), radius: int = 0) -> Pool:
        """Columns straight from the rows, without text and metadata (no Trace
        objects: parsing every candidate's metadata cost more than scoring it)."""
        if not ids:
            return Pool.empty(self.dim)
        traces = self._t("traces")
        rows = self._q(
            f"WITH f AS (SELECT key, episode, position FROM {traces} WHERE namespace = %s AND id = ANY(%s))"
            " SELECT t.id, t.speaker, t.episode, t.position, t.time, t.category, t.toks, t.content, t.context, a.uses, a.recent"
            f" FROM {traces} t LEFT JOIN {self._t('access')} a ON a.key = t.key"
            f" WHERE t.key IN (SELECT key FROM f UNION ALL SELECT n.key FROM f JOIN {traces} n"
            " ON n.namespace = %s AND n.episode = f.episode AND n.position BETWEEN f.position - %s AND f.position + %s)",
            (namespace, list(ids), namespace, radius, radius),
        )
        if not rows:
            return Pool.empty(self.dim)
        rows = [rows[i] for i in pool_order(ids, [r[0] for r in rows], [r[2] for r in rows], [r[3] for r in rows])]
        tid, speakers, episodes, positions, times, categories, toks, content, context, uses, recent = zip(*rows)
        return Pool.from_columns(
            tid, speakers, episodes, positions, times, categories, toks,
            [_vec(v) for v in content], [_vec(v) for v in context], [_log(*log) for log in zip(times, uses, recent)], self.dim,
        )

    def candidates(self, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int, radius: int) -> Pool:
        return gather_candidates(self, namespace, searches, terms, n, radius, nearest=self._nearest)

    def episode_length(self, namespace: str, episode: str) -> int:
        top = self._q(f"SELECT max(position) FROM {self._t('traces')} WHERE namespace = %s AND episode = %s", (namespace, episode))[0][0]
        return 0 if top is None else int(top) + 1

    def last_trace(self, namespace: str) -> Trace | None:
        rows = self._q(f"SELECT {_COLS} FROM {self._t('traces')} WHERE namespace = %s ORDER BY key DESC LIMIT 1", (namespace,))
        return self._trace(rows[0]) if rows else None

    # -- access logs --------------------------------------------------------------------
    def access_logs(self, ids: Sequence[str]) -> list[AccessLog]:
        ids = list(ids)
        rows = {
            r[0]: r[1:]
            for r in self._q(
                f"SELECT t.id, t.time, a.uses, a.recent FROM {self._t('traces')} t LEFT JOIN {self._t('access')} a"
                " ON a.key = t.key WHERE t.id = ANY(%s)",
                (list(set(ids)),),
            )
        }
        missing = [i for i in ids if i not in rows]
        if missing:
            raise KeyError(missing[0])
        return [_log(*rows[i]) for i in ids]

    def record_access(self, ids: Sequence[str], when: float) -> None:
        uses = Counter(ids)
        if not uses:
            return
        # One statement, one round trip.  It keeps the traces from being deleted meanwhile
        # (FOR KEY SHARE: concurrent recalls do not wait for each other here) and upserts in
        # key order (no deadlock between concurrent recalls): uses + n, and the RECENT newest
        # of (recent + n copies of `when`).
        self._tx(
            lambda conn: conn.execute(
                f"""
                WITH used AS (
                    SELECT t.key, c.n FROM {self._t('traces')} t
                    JOIN unnest(%(ids)s::text[], %(n)s::int[]) AS c(id, n) ON c.id = t.id
                    ORDER BY t.key FOR KEY SHARE OF t
                )
                INSERT INTO {self._t('access')} AS a (key, uses, recent)
                SELECT key, n, array_fill(%(when)s::float8, ARRAY[least(n, {RECENT})]) FROM used ORDER BY key
                ON CONFLICT (key) DO UPDATE SET
                    uses = a.uses + EXCLUDED.uses,
                    recent = ARRAY(SELECT x FROM (SELECT x FROM unnest(a.recent || EXCLUDED.recent) AS x
                                                  ORDER BY x DESC LIMIT {RECENT}) y ORDER BY x)
                """,
                {"when": float(when), "ids": list(uses), "n": list(uses.values())},
            ),
            one_statement=True,
        )

    # -- engine state ---------------------------------------------------------------------
    def load_state(self, namespace: str, key: str) -> dict | None:
        rows = self._q(
            f"SELECT s.doc FROM {self._t('state')} s JOIN {self._t('nsstats')} n ON n.namespace = s.namespace"
            " WHERE s.namespace = %s AND s.key = %s AND n.n > 0",
            (namespace, key),
        )
        if not rows:
            return None
        state = dict(rows[0][0])
        for name, dtype, shape, data in self._q(
            f"SELECT name, dtype, shape, data FROM {self._t('state_arrays')} WHERE namespace = %s AND key = %s", (namespace, key)
        ):
            state[name] = decode_array(name, dtype, shape, data, StoreError)
        return state

    def save_state(self, namespace: str, key: str, state: dict) -> None:
        text, arrays = encode_state(key, state)

        def write(conn) -> None:
            live = conn.execute(f"SELECT n FROM {self._t('nsstats')} WHERE namespace = %s FOR SHARE", (namespace,)).fetchone()
            if not live or live[0] <= 0:  # as MemoryStore: state lives with a namespace's traces
                return
            conn.execute(
                f"INSERT INTO {self._t('state')} VALUES (%s, %s, %s::jsonb) ON CONFLICT (namespace, key) DO UPDATE SET doc = EXCLUDED.doc",
                (namespace, key, text),
            )
            conn.execute(f"DELETE FROM {self._t('state_arrays')} WHERE namespace = %s AND key = %s", (namespace, key))
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {self._t('state_arrays')} VALUES (%s, %s, %s, %s, %s::jsonb, %s)",
                    [(namespace, key, *a) for a in arrays],
                )

        self._tx(write)

    # -- lifecycle -----------------------------------------------------------------------
    def drop(self) -> None:
        """Delete this store's schema and everything in it (tests, benchmarks)."""
        with self._lock:
            self._conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"
