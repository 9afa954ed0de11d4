"""Versions and expiry in SQL: which rows a recall must not see, archiving a
superseded version, and finding expired rows.

Kept apart from the candidate queries so that a filter rendered elsewhere
and the "live at time t" condition here compose without touching each other.
"""

from __future__ import annotations

import sqlite3

from ...errors import InvalidInputError
from ..base import Live
from .connection import Database, chunks, marks
from .schema import LIFECYCLE_ROWS


def hidden_sql(live: Live) -> tuple[str, list]:
    """The condition (and its parameters) true of rows ``live`` excludes; it
    implies :data:`LIFECYCLE_ROWS`, so the partial index answers it."""
    sql = "(expires_at IS NOT NULL AND expires_at <= ?)"
    params: list = [live.now]
    if live.at is not None:
        sql += " OR (superseded_at IS NOT NULL AND superseded_at <= ?) OR (supersedes IS NOT NULL AND time > ?)"
        params += [live.at, live.at]
    return f"({sql})", params


def hidden_keys(db: Database, nsid: int, live: Live) -> dict[int, str]:
    """Key -> id of the namespace's rows that ``live`` excludes."""
    cond, params = hidden_sql(live)
    rows = db.sql(f"SELECT key, id FROM traces WHERE ns = ? AND ({LIFECYCLE_ROWS}) AND {cond}", (nsid, *params))
    return {int(k): i for k, i in rows}


def archive(conn: sqlite3.Connection, old_id: str, archived_id: str, when: float, nsid: int) -> int:
    """Rename the current version ``old_id`` to ``archived_id`` and mark it
    superseded at ``when`` (inside the update's transaction); returns its key."""
    row = conn.execute("SELECT key, superseded_at FROM traces WHERE id = ? AND ns = ?", (old_id, nsid)).fetchone()
    if row is None or row[1] is not None:
        raise InvalidInputError(f"no current trace {old_id!r} to supersede")
    conn.execute("UPDATE traces SET id = ?, superseded_at = ? WHERE key = ?", (archived_id, float(when), row[0]))
    return int(row[0])


def expired_ids(db: Database, now: float, limit: int, nsid: int | None) -> list[tuple[str, str]]:
    """Up to ``limit`` ``(namespace, id)`` pairs of rows expired by ``now`` (oldest
    expiry first), through the expiry index."""
    sql = ("SELECT n.name, t.id FROM traces t JOIN namespaces n ON n.id = t.ns"
           " WHERE t.expires_at IS NOT NULL AND t.expires_at <= ?")
    params: list = [float(now)]
    if nsid is not None:
        sql += " AND t.ns = ?"
        params.append(nsid)
    return [(r[0], r[1]) for r in db.sql(sql + " ORDER BY t.expires_at LIMIT ?", (*params, int(limit)))]


def set_expiry(conn: sqlite3.Connection, nsid: int, ids: list[str], expires_at: float | None) -> int:
    """Set the expiry of these rows of the namespace (inside a transaction); returns how many matched."""
    changed = 0
    for part in chunks(ids):
        cur = conn.execute(f"UPDATE traces SET expires_at = ? WHERE ns = ? AND id IN ({marks(len(part))})",
                           [expires_at, nsid, *part])
        changed += cur.rowcount
    return changed
