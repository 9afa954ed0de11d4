"""The store's plain read queries: counts, ids and undecoded trace rows.

Each takes the :class:`~.connection.Database` (or, inside a write
transaction, its connection) and the namespace's id, and returns cells as
SQLite gives them; the store decodes rows (:mod:`.decode`) and goes
through its caches.  Kept apart so the SQL of a read is in one place, as
in the PostgreSQL store's ``queries``.
"""

from __future__ import annotations

import sqlite3

from ..context import CONTEXT_KEYS, ContextRecord, from_meta
from .connection import Database
from .decode import COLS

#: Rows :func:`page` reads at a time.
PAGE = 1000


def count(db: Database, namespace: str | None) -> int:
    """Rows of the namespace (of every namespace when None)."""
    if namespace is None:
        return int(db.sql("SELECT coalesce(sum(n), 0) FROM namespaces")[0][0])
    rows = db.sql("SELECT n FROM namespaces WHERE name = ?", (namespace,))
    return int(rows[0][0]) if rows else 0


def context_record(db: Database, where: str) -> ContextRecord | None:
    """The store's context record, its two keys read in one statement (another
    process may be writing them); inside a write transaction, the transaction's view."""
    held = dict(db.sql("SELECT key, value FROM meta WHERE key IN (?, ?)", CONTEXT_KEYS))
    return from_meta(held.get("context_mode"), held.get("context_window"), where)


def held(db: Database, nsid: int) -> int:
    """Rows of the namespace with this id."""
    return int(db.sql("SELECT n FROM namespaces WHERE id = ?", (nsid,))[0][0])


def namespace_names(db: Database) -> list[str]:
    """The namespaces that hold rows, sorted."""
    return sorted(r[0] for r in db.sql("SELECT name FROM namespaces WHERE n > 0"))


def page(db: Database, nsid: int | None, after: int) -> list[tuple]:
    """Up to :data:`PAGE` rows (:data:`~.decode.COLS`, then ``ns``) with keys
    above ``after``, in key order, of the namespace (of all when None)."""
    if nsid is None:
        return db.sql(f"SELECT {COLS}, ns FROM traces WHERE key > ? ORDER BY key LIMIT {PAGE}", (after,))
    return db.sql(f"SELECT {COLS}, ns FROM traces WHERE ns = ? AND key > ? ORDER BY key LIMIT {PAGE}", (nsid, after))


def last_row(db: Database, nsid: int) -> list[tuple]:
    """The namespace's newest row (:data:`~.decode.COLS`), in a list of none or one."""
    return db.sql(f"SELECT {COLS} FROM traces WHERE ns = ? ORDER BY key DESC LIMIT 1", (nsid,))


def namespace_ids(conn: sqlite3.Connection, nsid: int) -> list[str]:
    """Every id of the namespace, read through ``conn`` (a write transaction's)."""
    return [r[0] for r in conn.execute("SELECT id FROM traces WHERE ns = ?", (nsid,))]


def episode_ids(db: Database, nsid: int, episode: str) -> list[str]:
    """Every id of the episode."""
    return [r[0] for r in db.sql("SELECT id FROM traces WHERE ns = ? AND episode = ?", (nsid, episode))]


def episode_span_ids(db: Database, nsid: int, episode: str, start: int, stop: int) -> list[str]:
    """Ids of the episode's rows at positions ``start`` to ``stop`` (excluded), in position order."""
    return [r[0] for r in db.sql(
        "SELECT id FROM traces WHERE ns = ? AND episode = ? AND position >= ? AND position < ? ORDER BY position, key",
        (nsid, episode, start, stop),
    )]


def episode_length(db: Database, nsid: int, episode: str) -> int:
    """One past the episode's highest position (0 for none)."""
    top = db.sql("SELECT max(position) FROM traces WHERE ns = ? AND episode = ?", (nsid, episode))[0][0]
    return 0 if top is None else int(top) + 1
