"""Engine state (ART prototypes, speaker names) in the SQLite file, never pickled.

A state dict is one JSON row in ``state`` plus one ``state_arrays`` row per
numpy array (see :mod:`~memoryweave_core.storage.codec`).
"""

from __future__ import annotations

import sqlite3

from ...errors import CorruptStoreError
from ..codec import decode_array
from .connection import Database


def load(db: Database, nsid: int, key: str) -> dict | None:
    rows = db.sql("SELECT doc FROM state WHERE ns = ? AND key = ?", (nsid, key))
    if not rows:
        return None
    state = db.json(rows[0][0], f"state {key!r}", dict)
    for name, dtype, shape, data in db.sql("SELECT name, dtype, shape, data FROM state_arrays WHERE ns = ? AND key = ?",
                                           (nsid, key)):
        shape = db.json(shape, f"shape of state array {name!r}", list)
        state[name] = decode_array(name, dtype, shape, data, lambda m: CorruptStoreError(f"{db.path}: {m}"))
    return state


def save(conn: sqlite3.Connection, nsid: int, key: str, doc: str, arrays: list[tuple[str, str, str, bytes]]) -> None:
    conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (nsid, key, doc))
    conn.execute("DELETE FROM state_arrays WHERE ns = ? AND key = ?", (nsid, key))
    conn.executemany("INSERT INTO state_arrays VALUES (?, ?, ?, ?, ?, ?)", [(nsid, key, *a) for a in arrays])


def drop(conn: sqlite3.Connection, nsid: int) -> None:
    """A namespace's state, gone with its last trace."""
    conn.execute("DELETE FROM state WHERE ns = ?", (nsid,))
    conn.execute("DELETE FROM state_arrays WHERE ns = ?", (nsid,))
