"""Which rows of a namespace match a recall filter, as sorted row keys.

One query per (namespace, filter) through :func:`~memoryweave_core.filter_sql.to_sqlite`
(``json_extract`` over the metadata column; the namespace bound by the
``(ns, key)`` index), kept until the next write, so repeated recalls under
one filter (a tenant's scope, say) read it once.  The filtered searches of
:mod:`memoryweave_core.storage.filtered` take it from here.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from ...filter_sql import to_sqlite
from ...filters import Node
from .connection import Database

#: Filters whose matching keys are kept per store (LRU).
CACHED_FILTERS = 64


def where_sql(where: Node | None, alias: str = "t") -> tuple[str, list[Any]]:
    """The filter as an SQL condition over ``alias`` (``"1"`` for None)."""
    return to_sqlite(where, alias=alias)


class Matching:
    """Sorted keys matching a filter, per (namespace id, filter); :meth:`clear` on every write."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._keys: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()

    def clear(self) -> None:
        self._keys.clear()

    def keys(self, nsid: int, where: Node) -> np.ndarray:
        slot = (nsid, repr(where))  # not the node: 1 == True == 1.0 would share a slot, and they match differently
        found = self._keys.get(slot)
        if found is not None:
            self._keys.move_to_end(slot)
            return found
        cond, params = where_sql(where)
        rows = self.db.sql(f"SELECT t.key FROM traces t WHERE t.ns = ? AND ({cond}) ORDER BY t.key", [nsid, *params])
        found = self._keys[slot] = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        while len(self._keys) > CACHED_FILTERS:
            self._keys.popitem(last=False)
        return found
