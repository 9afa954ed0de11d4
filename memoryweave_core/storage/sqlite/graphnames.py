"""What the graph files beside an SQLite store are called, recorded in the store itself.

Graph files were named after the database file, so renaming the file (not
its folder) orphaned them and every graph was rebuilt.  Now the name they
start with is kept in ``meta`` (``graph_name``), with the path the store was
last opened at (``graph_owner``), and survives a rename.  A file of an
earlier version keeps the name its graphs already have (its own), and a new
store takes its file name plus a random part, so that a store created later
under a renamed store's old name never shares its graph files.  A *copy*
in the same folder would share them too: a store whose recorded path still
holds another file, in the same folder, takes a name of its own, and builds
its graphs again, as a copy always did.  The recorded digests keep any
other store's files from being loaded whatever they are called.
"""

from __future__ import annotations

import os
import secrets
import sqlite3

from .connection import Database

NAME, OWNER = "graph_name", "graph_owner"


def _fresh(path: str) -> str:
    return f"{os.path.basename(path)}.{secrets.token_hex(4)}"


def _copied(owner: str, here: str) -> bool:
    """``owner`` is another file that exists beside ``here`` (the store was copied, not moved)."""
    if os.path.dirname(owner) != os.path.dirname(here) or not os.path.exists(owner):
        return False
    try:
        return not os.path.samefile(owner, here)
    except OSError:
        return True  # cannot tell: a name of its own costs a rebuild, sharing could cost more


def settle(db: Database, path: str) -> str:
    """The name this store's graph files start with (recorded on the first open, and after a copy)."""
    here = os.path.realpath(path)

    def recorded(conn: sqlite3.Connection) -> tuple[str | None, str | None]:
        found = dict(conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", (NAME, OWNER)).fetchall())
        return found.get(NAME), found.get(OWNER)

    name, owner = recorded(db.conn)
    if name is not None and owner == here:
        return name

    def write(conn: sqlite3.Connection) -> str:
        name, owner = recorded(conn)  # again, inside the transaction: another process may have settled it
        if name is None:
            saved = conn.execute("SELECT 1 FROM meta WHERE key LIKE 'hnsw_sha256.%' LIMIT 1").fetchone()
            name = os.path.basename(path) if saved else _fresh(path)  # an older store's graphs carry its file name
        elif owner is not None and owner != here and _copied(owner, here):
            name = _fresh(path)
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(NAME, name), (OWNER, here)])
        return name

    return str(db.write(write))
