"""PostgresStore: one memory shared by many processes and machines (PostgreSQL + pgvector).

Every write is one transaction, retried when it deadlocks or fails to
serialise; every query has the namespace in its WHERE clause.  Access logs
are updated by one statement that locks the traces against deletion and
upserts in key order, so concurrent recalls never lose an access.  Whether a
vector search walks the HNSW graph or scans exactly is the planner's choice,
so the store ANALYZEs ``traces`` itself after bulk changes.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import warnings
from collections import Counter
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import numpy as np

from ...activation import AccessLog
from ...errors import InvalidInputError, StoreError, require
from ...filters import Node
from ...lexical import POSTING_BUDGET
from ...pool import Pool
from ...trace import Trace
from ..base import Field, Live, Search, StoreBase, check_field
from ..codec import encode_state
from ..context import ContextRecord
from . import access, aio, lifecycle, queries
from . import schema as layout
from . import state as state_rows
from .plan import Plan, run
from .tokenids import Vocabularies

T = TypeVar("T")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: This process re-ANALYZEs ``traces`` once its adds and deletes reach this
#: share of the rows the table held at the last ANALYZE (and at least
#: ANALYZE_MIN_ROWS): see :meth:`PostgresStore._refresh_statistics`.
ANALYZE_GROWTH = 0.2
ANALYZE_MIN_ROWS = 1000


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
        scores each matching row in SQL, far slower than the other stores
        merge posting arrays in numpy, so its default is a fifth of theirs
        (:data:`~memoryweave_core.lexical.POSTING_BUDGET`).
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
        self.dsn = dsn  # the async API opens its own pool on it (see .aio)
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
        self._iterative = layout.pgvector_version(self._conn) >= (0, 8)
        layout.setup(self._conn, schema)
        self.vocabs = Vocabularies()  # what the ids of this schema's tokens mean (see .tokenids)
        dim = self._meta("dim")
        self.dim: int | None = int(dim) if dim is not None else None
        self._rows_at_analyze = self.count()
        self._changed_since_analyze = 0

    # -- setup -----------------------------------------------------------------
    def _t(self, name: str) -> str:
        return f'"{self.schema}".{name}'

    def _meta(self, key: str) -> str | None:
        return self._read(queries.meta(self.schema, key))

    def known_dim(self) -> int | None:
        """The vector dimension, read again while unknown (another process may have fixed it)."""
        if self.dim is None and (dim := self._meta("dim")):
            self.dim = int(dim)
        return self.dim

    def _refresh_statistics(self, changed: int) -> None:
        """ANALYZE ``traces`` once this process has changed a fifth of it.

        The planner picks between the HNSW index and an exact scan of the
        namespace's rows by its estimate of how many rows the namespace
        holds.  Autovacuum refreshes that estimate only after a while; until
        then, a namespace that just grew is still planned at its old size,
        and every vector search scans all its rows exactly.  The refresh runs after the
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
                    raise InvalidInputError("a trace id already exists in its namespace") from exc
                except self._psycopg.Error as exc:
                    raise StoreError(f"PostgreSQL: {exc}") from exc

    def _write(self, make: Callable[[], Plan[T]], *, one_statement: bool = False) -> T:
        """Run the write plan ``make()`` in a transaction: on the async pool of
        the event loop whose call this thread runs for (``aadd`` and the other
        async writes lend it: see :mod:`.aio`), else on this store's connection."""
        lent = aio.lent(self)
        if lent is not None:
            return lent.run(make, one_statement=one_statement)
        return self._tx(lambda conn: run(conn, make()), one_statement=one_statement)

    def _q(self, sql: str, params: Sequence | dict = ()) -> list[tuple]:
        if self._closed:
            raise StoreError("the store is closed")
        with self._lock:
            try:
                return self._conn.execute(sql, params, binary=True).fetchall()
            except self._psycopg.Error as exc:
                raise StoreError(f"PostgreSQL: {exc}") from exc

    def _read(self, plan: Plan[T]) -> T:
        """Run a read-only plan (see :mod:`.queries`) outside a transaction."""
        if self._closed:
            raise StoreError("the store is closed")
        with self._lock:
            try:
                return run(self._conn, plan)
            except self._psycopg.Error as exc:
                raise StoreError(f"PostgreSQL: {exc}") from exc

    # -- writing ---------------------------------------------------------------------
    def add(self, traces: Sequence[Trace], *, context: ContextRecord | None = None) -> None:
        self._add(traces, {}, context=context)

    def add_with_state(self, traces: Sequence[Trace], states: Mapping[str, dict], *,
                       context: ContextRecord | None = None) -> None:
        """The rows and the engine state in one transaction: a kill cannot keep one without the other."""
        if traces:
            self._add(traces, states, context=context)

    def _add(self, traces: Sequence[Trace], states: Mapping[str, dict],
             before: Callable[[], Plan[None]] | None = None, context: ContextRecord | None = None) -> None:
        """Insert ``traces`` (and ``states``), after the plan ``before()`` in the same transaction when given."""
        if not traces:
            return
        ready = queries.rows_of(traces, states, self.dim)
        new_dim = (self.m, self.ef_construction) if self.dim is None else None
        self._write(lambda: queries.add(self.schema, ready, new_dim, before() if before else None, context))
        self.dim = ready.dim
        self._refresh_statistics(len(ready.traces))

    def supersede(self, old_id: str, archived_id: str, when: float, new: Trace, *,
                  context: ContextRecord | None = None) -> None:
        if new.id != old_id:
            raise InvalidInputError(f"the new version of {old_id!r} must keep its id, not {new.id!r}")
        self._add([new], {}, lambda: lifecycle.archive(self.schema, old_id, archived_id, when, new.namespace), context)

    def hidden(self, namespace: str, live: Live) -> set[str]:
        return self._read(queries.hidden(self.schema, namespace, live))

    def expired(self, now: float, limit: int, namespace: str | None = None) -> list[tuple[str, str]]:
        sql = f"SELECT namespace, id FROM {self._t('traces')} WHERE expires_at IS NOT NULL AND expires_at <= %s"
        params: list = [float(now)]
        if namespace is not None:
            sql += " AND namespace = %s"
            params.append(namespace)
        return [(r[0], r[1]) for r in self._q(sql + " ORDER BY expires_at LIMIT %s", (*params, int(limit)))]

    def set_expiry(self, ids: Sequence[str], expires_at: float | None, namespace: str) -> int:
        ids = list(dict.fromkeys(ids))
        return self._write(lambda: queries.set_expiry(self.schema, namespace, ids, expires_at), one_statement=True)

    def delete(self, ids: Sequence[str], namespace: str) -> int:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return 0

        gone = self._write(lambda: queries.delete(self.schema, namespace, ids))
        self._refresh_statistics(gone)
        return gone

    def delete_episode(self, namespace: str, episode: str) -> int:
        ids = [r[0] for r in self._q(f"SELECT id FROM {self._t('traces')} WHERE namespace = %s AND episode = %s", (namespace, episode))]
        return self.delete(ids, namespace)

    def delete_namespace(self, namespace: str) -> int:
        ids = [r[0] for r in self._q(f"SELECT id FROM {self._t('traces')} WHERE namespace = %s", (namespace,))]
        return self.delete(ids, namespace)

    # -- reading -------------------------------------------------------------------------
    def get(self, ids: Sequence[str], namespace: str) -> list[Trace]:
        return self._read(queries.get(self.schema, ids, namespace))

    def count(self, namespace: str | None = None) -> int:
        return self._read(queries.count(self.schema, namespace))

    def namespaces(self) -> list[str]:
        return sorted(r[0] for r in self._q(f"SELECT namespace FROM {self._t('nsstats')} WHERE n > 0"))

    def iter_traces(self, namespace: str | None = None) -> Iterator[Trace]:
        last = 0
        while True:
            if namespace is None:
                rows = self._q(f"SELECT {queries.COLS} FROM {self._t('traces')} WHERE key > %s ORDER BY key LIMIT 1000", (last,))
            else:
                rows = self._q(
                    f"SELECT {queries.COLS} FROM {self._t('traces')} WHERE namespace = %s AND key > %s ORDER BY key LIMIT 1000",
                    (namespace, last),
                )
            if not rows:
                return
            for r in rows:
                yield queries.trace(r)
            last = rows[-1][0]

    def nearest(self, namespace: str, field: Field, vector: np.ndarray, n: int,
                where: Node | None = None) -> list[tuple[str, float]]:
        return self._nearest(namespace, [(field, vector)], n, where)[0]

    def _nearest(self, namespace: str, searches: Sequence[Search], n: int,
                 where: Node | None = None) -> list[list[tuple[str, float]]]:
        """:func:`.queries.nearest` in one transaction (four round trips in all, however many searches)."""
        if not searches:
            return []
        if self.known_dim() is None:
            return [[] for _ in searches]
        return self._tx(lambda conn: run(conn, queries.nearest(
            self.schema, namespace, searches, n, where, ef_search=self.ef_search, iterative=self._iterative)))

    def lexical_stats(self, namespace: str, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        return self._read(queries.lexical_stats(self.schema, namespace, terms))

    def lexical(self, namespace: str, terms: Sequence[str], n: int, where: Node | None = None) -> list[tuple[str, float]]:
        """:func:`.queries.lexical`: BM25 over the GIN index's candidates."""
        return self._read(queries.lexical(self.schema, namespace, terms, n, where, self.posting_budget))

    def episode_traces(self, namespace: str, episode: str, start: int, stop: int) -> list[Trace]:
        rows = self._q(
            f"SELECT {queries.COLS} FROM {self._t('traces')} WHERE namespace = %s AND episode = %s AND position >= %s AND position < %s"
            " ORDER BY position, key",
            (namespace, episode, max(int(start), 0), int(stop)),
        )
        return [queries.trace(r) for r in rows]

    def pool(self, namespace: str, ids: Sequence[str] = (), radius: int = 0, where: Node | None = None) -> Pool:
        """:func:`.queries.pool`: columns straight from the rows, no Trace objects."""
        return self._read(queries.pool(self.schema, namespace, ids, radius, where, self.known_dim(), self.vocabs))

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One REPEATABLE READ, READ ONLY transaction around the block, holding the
        store's lock: a recall's searches, pool and winners read one state of the
        database whatever others commit (a search could otherwise name a trace
        gone when the pool reads it).  Writes inside fail; nested blocks share it."""
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            if self._conn.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE:
                yield
                return
            try:
                self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            except self._psycopg.Error as exc:
                raise StoreError(f"PostgreSQL: {exc}") from exc
            ok = False
            try:
                yield
                ok = True
            finally:
                try:
                    self._conn.execute("COMMIT" if ok else "ROLLBACK")
                except self._psycopg.Error:
                    pass

    def candidates(self, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int, radius: int,
                   where: Node | None = None, live: Live | None = None) -> Pool:
        """:func:`.queries.candidates` in one transaction (a savepoint inside
        recall's :meth:`snapshot`): the plan the async API runs too."""
        for field, _ in searches:
            check_field(field)  # refused alike on an empty store
        if self.known_dim() is None:
            return Pool.empty(None)
        dim = self.dim
        assert dim is not None
        return self._tx(lambda conn: run(conn, queries.candidates(
            self.schema, namespace, searches, terms, n, radius, where, live, dim=dim, ef_search=self.ef_search,
            iterative=self._iterative, budget=self.posting_budget, vocabs=self.vocabs)))

    def episode_length(self, namespace: str, episode: str) -> int:
        top = self._q(f"SELECT max(position) FROM {self._t('traces')} WHERE namespace = %s AND episode = %s", (namespace, episode))[0][0]
        return 0 if top is None else int(top) + 1

    def last_trace(self, namespace: str) -> Trace | None:
        rows = self._q(f"SELECT {queries.COLS} FROM {self._t('traces')} WHERE namespace = %s ORDER BY key DESC LIMIT 1", (namespace,))
        return queries.trace(rows[0]) if rows else None

    # -- access logs --------------------------------------------------------------------
    def access_logs(self, ids: Sequence[str], namespace: str) -> dict[str, AccessLog]:
        return access.logs(self._q, self.schema, namespace, list(ids))

    def record_access(self, ids: Sequence[str], when: float, namespace: str) -> None:
        uses = Counter(ids)
        if uses:  # one statement, one round trip: no BEGIN and COMMIT
            self._write(lambda: queries.record_access(self.schema, namespace, uses, when), one_statement=True)

    # -- engine state ---------------------------------------------------------------------
    def load_state(self, namespace: str, key: str) -> dict | None:
        return state_rows.load(self._q, self.schema, namespace, key)

    def save_state(self, namespace: str, key: str, state: dict) -> None:
        text, arrays = encode_state(key, state)
        self._write(lambda: state_rows.save(self.schema, namespace, key, text, arrays))

    def context_record(self) -> ContextRecord | None:
        return self._read(queries.context_record(self.schema))

    def record_context(self, record: ContextRecord) -> None:
        self._write(lambda: queries.set_meta(self.schema, record.meta()))

    # -- async ---------------------------------------------------------------------------
    async def open_async(self) -> aio.AsyncPostgres:
        """This store's async face on the running event loop: the same plans on
        a psycopg ``AsyncConnectionPool`` (see :mod:`.aio`)."""
        return await aio.for_loop(self)

    async def close_async(self) -> None:
        """Close the async pool of the running loop (the sync connection stays open)."""
        await aio.close_for_loop(self)

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
