"""PostgreSQL work written once, run by a sync and an async connection alike.

A *plan* is a generator: it yields the statements it needs (:class:`Stmt`),
receives each one's rows (or row count), and returns its result.  It never
touches a connection, so :func:`run` drives it on a psycopg ``Connection``
(``PostgresStore``) and :func:`arun` on an ``AsyncConnection`` from a pool
(``AsyncPostgres``): both backends send exactly the same SQL, kept in one
place, and only the executor differs.  Transactions and retries belong to
the caller, which may re-run a plan from the start (plans hold no state
between runs).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Generator, Mapping, Sequence, TypeVar, cast

T = TypeVar("T")


@dataclass(frozen=True)
class Stmt:
    """One statement of a plan.

    ``many``: ``executemany`` over ``params`` (a list of rows), nothing comes
    back.  Otherwise the plan receives the rows, or the row count when the
    statement returns none.  ``binary`` asks for binary results.  Several
    statements in one ``sql`` need no ``params`` and no ``binary`` (the
    simple query protocol).
    """

    sql: str
    params: Sequence[Any] | Mapping[str, Any] | None = None
    many: bool = False
    binary: bool = False


#: A plan yields statements, receives their rows (or row counts), returns a T.
Plan = Generator[Stmt, Any, T]


def rows(sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *, binary: bool = True) -> Plan[list[tuple]]:
    """The plan of one query: its rows."""
    got = yield Stmt(sql, params, binary=binary)
    return list(got)


def run(conn: Any, plan: Plan[T]) -> T:
    """Drive ``plan`` on a sync psycopg connection (in the caller's transaction, if any)."""
    reply: Any = None
    try:
        while True:
            stmt = plan.send(reply)
            if stmt.many:
                with conn.cursor() as cur:
                    cur.executemany(stmt.sql, stmt.params)
                reply = None
            else:
                cur = conn.execute(stmt.sql, stmt.params, binary=stmt.binary)
                reply = cur.fetchall() if cur.description is not None else cur.rowcount
    except StopIteration as done:
        return done.value


#: A plan handed more rows than this resumes on a worker thread: turning a
#: pool's rows into arrays is CPU work that would hold up the event loop.
OFF_LOOP_ROWS = 32


def _step(plan: Plan[T], reply: Any) -> tuple[bool, Any]:
    """One step of ``plan``: (True, its result) when it has finished, else
    (False, its next statement); a StopIteration cannot cross into a Future."""
    try:
        return False, plan.send(reply)
    except StopIteration as done:
        return True, done.value


async def arun(conn: Any, plan: Plan[T]) -> T:
    """Drive ``plan`` on a psycopg ``AsyncConnection``: :func:`run`, awaiting
    each statement; the plan's own work on a large reply runs off the loop."""
    reply: Any = None
    try:
        while True:
            if isinstance(reply, list) and len(reply) > OFF_LOOP_ROWS:
                finished, out = await asyncio.to_thread(_step, plan, reply)
                if finished:
                    return cast(T, out)
                stmt = out
            else:
                stmt = plan.send(reply)
            if stmt.many:
                async with conn.cursor() as cur:
                    await cur.executemany(stmt.sql, stmt.params)
                reply = None
            else:
                cur = await conn.execute(stmt.sql, stmt.params, binary=stmt.binary)
                reply = await cur.fetchall() if cur.description is not None else cur.rowcount
    except StopIteration as done:
        return done.value
