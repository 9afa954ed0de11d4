"""The async face of a PostgresStore: its plans on psycopg async connections from a pool.

``PostgresStore`` serialises every call on one connection; under asyncio
that would queue every concurrent recall behind one socket.  ``AsyncPostgres``
runs the very same plans (:mod:`.queries`, driven by :func:`.plan.arun`) on an
``AsyncConnectionPool``, so concurrent ``arecall`` calls each take a
connection, await the server and never hold a thread.

Writes run the same way, with one difference: an add reads the episode it
extends, fits the ART categoriser and checks its ids under the memory's
thread lock, from the id check to the commit, so its sync twin runs on a
worker thread and *lends* it this face (:meth:`AsyncPostgres.lending`): the
store's write plans (:meth:`PostgresStore._write`) then go to the loop, on
a small pool of their own (they wait for a connection holding the lock, so
not behind the recalls), the worker waiting for each; the lock still spans
the commit, so concurrent adds keep positions and ids unique and the ART
state in step.
Reads on that path, the lazy expiry's and eviction's lookups, and schema
setup and migrations (run when the store opened the database) stay on the
store's own connection.

A pool belongs to the event loop that opened it: :func:`for_loop` keeps one
face per store for the running loop and opens a new one when the loop
changes (``MemoryWeave.aclose`` closes it).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Protocol, Sequence, TypeVar

from ...errors import InvalidInputError, StoreError, require
from ...filters import Node
from ...pool import Pool
from ...trace import Trace
from ..base import Live, Search, check_field
from . import queries
from .plan import Plan, arun

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .store import PostgresStore

T = TypeVar("T")

#: Connections a store's async pool keeps open at least, and opens at most
#: (more concurrent calls wait for one to be free).
POOL_MIN, POOL_MAX = 1, 8
#: Connections of the writes' own pool: a write waits for one while it holds
#: the memory's lock, so it never queues behind the recalls for the reads' pool
#: (one memory's writes run one at a time under that lock).
WRITE_POOL_MAX = 2
#: Recalls one face runs at once; the others wait before their first query,
#: holding nothing.  A recall holds its candidate pool (rows, token lists:
#: objects the garbage collector tracks) until a worker thread has ranked it;
#: a hundred such pools queued for two threads make every full collection
#: walk them all, with the GIL held, so the event loop with it.
RECALLS_AT_ONCE = POOL_MAX

_FACES: weakref.WeakKeyDictionary[Any, AsyncPostgres] = weakref.WeakKeyDictionary()


class Holder(Protocol):
    """What a write lends the face under: the memory's lock (an :class:`~memoryweave_core.engine_lock.EngineLock`)."""

    def waiting_for(self, thread: int) -> ContextManager[None]: ...


@dataclass(frozen=True)
class Lent:
    """A face lent to the worker thread running one async write's sync twin."""

    face: AsyncPostgres
    loop_thread: int
    lock: Holder

    def run(self, make: Callable[[], Plan[T]], *, one_statement: bool = False) -> T:
        """Run a write plan on the face's pool, on its loop, and wait for it here (a worker thread)."""
        if threading.get_ident() == self.loop_thread:
            raise AssertionError("a lent face runs plans from a worker thread, never the loop's")  # pragma: no cover
        done = asyncio.run_coroutine_threadsafe(self.face._tx(make, one_statement=one_statement, writing=True),
                                                self.face.loop)
        with self.lock.waiting_for(self.loop_thread):
            return done.result()


#: The face lent to this thread's current call (set in the worker's own context copy only).
_LENT: contextvars.ContextVar[Lent | None] = contextvars.ContextVar("memoryweave_pg_lent", default=None)


def lent(store: PostgresStore) -> Lent | None:
    """The face lent to the call this thread runs, when it is this store's."""
    found = _LENT.get()
    return found if found is not None and found.face.store is store else None


async def for_loop(store: PostgresStore) -> AsyncPostgres:
    """The store's async face on the running loop, opened on first use."""
    loop = asyncio.get_running_loop()
    face = _FACES.get(store)
    if face is None or face.loop is not loop:
        await asyncio.to_thread(require, "psycopg_pool", "pg")  # a first import is long CPU work: not on the loop
        face = _FACES.get(store)
        if face is None or face.loop is not loop:  # no other call opened one meanwhile
            face = _FACES[store] = AsyncPostgres(store, loop)
    await face.ready()
    return face


async def close_for_loop(store: PostgresStore) -> None:
    """Close the store's pool of the running loop, if it has one."""
    face = _FACES.get(store)
    if face is not None and face.loop is asyncio.get_running_loop():
        del _FACES[store]
        await face.close()


class AsyncPostgres:
    """``count``, ``candidates``, ``lexical_stats``, ``get`` and ``record_access``
    of a PostgresStore, awaited (same arguments and results): what ``arecall`` reads and writes."""

    def __init__(self, store: PostgresStore, loop: asyncio.AbstractEventLoop) -> None:
        psycopg_pool = require("psycopg_pool", "pg")
        pgvector_psycopg = require("pgvector.psycopg", "pg")
        self.store, self.loop, self.schema = store, loop, store.schema
        self._psycopg = store._psycopg
        self._pool, self._writes = (psycopg_pool.AsyncConnectionPool(
            store.dsn, min_size=1 if role == "writes" else POOL_MIN, max_size=size, open=False,
            kwargs={"autocommit": True}, configure=pgvector_psycopg.register_vector_async,
            name=f"memoryweave-{store.schema}-{role}",
        ) for role, size in (("reads", POOL_MAX), ("writes", WRITE_POOL_MAX)))
        self._opening: asyncio.Future | None = None
        self.recalling = asyncio.Semaphore(RECALLS_AT_ONCE)

    async def ready(self) -> None:
        if self._opening is None:  # one opening, however many calls wait for it
            self._opening = asyncio.ensure_future(asyncio.gather(self._pool.open(wait=True), self._writes.open(wait=True)))
        try:
            await asyncio.shield(self._opening)
        except self._psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc

    async def close(self) -> None:
        await asyncio.gather(self._pool.close(), self._writes.close())

    def lending(self, lock: Holder) -> Callable[..., Any]:
        """``call(fn, *args, **kwargs)`` for a worker thread: ``fn`` runs with
        this face lent to it, so its store writes go to this loop's pool while
        ``lock`` (which ``fn`` takes) waits for the loop (call on the loop)."""
        lend = Lent(self, threading.get_ident(), lock)

        def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
            token = _LENT.set(lend)
            try:
                return fn(*args, **kwargs)
            finally:
                _LENT.reset(token)

        return call

    # -- executors: the sync store's _tx and _read, awaited ---------------------------
    async def _tx(self, make: Callable[[], Plan[T]], retries: int = 5, *, one_statement: bool = False,
                  writing: bool = False) -> T:
        """Run ``make()`` in a transaction on a pooled connection (of the writes'
        pool when ``writing``), retrying deadlocks and serialisation failures."""
        errors = self._psycopg.errors
        for attempt in range(retries):
            try:
                async with (self._writes if writing else self._pool).connection() as conn:
                    if one_statement:
                        return await arun(conn, make())
                    async with conn.transaction():
                        return await arun(conn, make())
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == retries - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
            except errors.UniqueViolation as exc:
                raise InvalidInputError("a trace id already exists in its namespace") from exc
            except self._psycopg.Error as exc:
                raise StoreError(f"PostgreSQL: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read(self, plan: Plan[T]) -> T:
        return await self._tx(lambda: plan, retries=1, one_statement=True)

    async def known_dim(self) -> int | None:
        if self.store.dim is None and (dim := await self._read(queries.meta(self.schema, "dim"))):
            self.store.dim = int(dim)
        return self.store.dim

    # -- the recall path ---------------------------------------------------------------
    async def count(self, namespace: str | None = None) -> int:
        return await self._read(queries.count(self.schema, namespace))

    async def lexical_stats(self, namespace: str, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        return await self._read(queries.lexical_stats(self.schema, namespace, terms))

    async def get(self, ids: Sequence[str], namespace: str) -> list[Trace]:
        return await self._read(queries.get(self.schema, ids, namespace))

    async def candidates(self, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int, radius: int,
                         where: Node | None = None, live: Live | None = None) -> Pool:
        for field, _ in searches:
            check_field(field)
        dim = await self.known_dim()
        if dim is None:
            return Pool.empty(None)
        store = self.store
        return await self._tx(lambda: queries.candidates(
            self.schema, namespace, searches, terms, n, radius, where, live, dim=dim, ef_search=store.ef_search,
            iterative=store._iterative, budget=store.posting_budget, vocabs=store.vocabs))

    async def record_access(self, ids: Sequence[str], when: float, namespace: str) -> None:
        uses = Counter(ids)
        if uses:
            await self._tx(lambda: queries.record_access(self.schema, namespace, uses, when), one_statement=True)
