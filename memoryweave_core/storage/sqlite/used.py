"""Which rows have an access row, known in RAM so that a pool skips the join.

Most traces are never recalled after their creation and have no ``access``
row (its absence is the fresh log), yet the pool's query probed the access
table for each of its few hundred rows.  With the keys that do have one held
here, the pool reads its rows without the join and then fetches the access
rows of only those keys.  Only :func:`access.record` writes access rows, so
the set is kept current by adding what each commit wrote and discarding
deleted keys; a set that holds a key too many only costs a probe that finds
nothing, never a wrong log.  Another connection's commit drops it (as it
drops every cache), and it is read back (one scan of the access table) only
at the second pool after that, so a store that other processes write to
between every recall keeps the join instead of re-reading the set each time.
"""

from __future__ import annotations

from typing import Iterable

from .connection import Database


class UsedKeys:
    """Row keys that have an ``access`` row, or None while unknown."""

    def __init__(self) -> None:
        self._keys: set[int] | None = None
        self._armed = False  # the next ask may read the set

    def invalidate(self) -> None:
        self._keys = None
        self._armed = False

    def get(self, db: Database) -> set[int] | None:
        """The set (read from the file at the second ask since it was dropped), or None: use the join."""
        if self._keys is None:
            if not self._armed:
                self._armed = True
                return None
            self._keys = {k for k, in db.sql("SELECT key FROM access")}  # an INTEGER PRIMARY KEY: ints
        return self._keys

    def add(self, keys: Iterable[int]) -> None:
        """Keys whose access rows a commit of ours just wrote."""
        if self._keys is not None:
            self._keys.update(keys)

    def discard(self, keys: Iterable[int]) -> None:
        """Deleted rows (their access rows went with them)."""
        if self._keys is not None:
            self._keys.difference_update(keys)
