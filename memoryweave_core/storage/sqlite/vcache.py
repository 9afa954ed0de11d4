"""Hot rows' vectors kept in RAM, within a byte budget (the ``vector_cache`` knob).

Every recall reads its pool's two 384-d vector columns from the file, a
few hundred rows at a time, and a warm process asks for many of the same
rows again (neighbours of recent turns, a conversation's own memories).
This keeps the vectors of the rows read lately, least recently used first
out, so that the pool's query can leave both columns out for the rows it
holds.  It is filled by the pool reads themselves, never at open, so the
open time does not depend on the budget.  Rows never change and keys are
never reused, so an entry is never stale: a deleted row is only left to
age out (the pool's query no longer finds it).  A budget of 0 keeps no
cache at all and the pool reads its vectors from the file as before.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

from .connection import Database, chunks, marks

#: Bytes an entry costs beyond its two vectors (the key, the dict slot, the
#: two bytes objects' headers and the tuple), counted against the budget.
ENTRY_OVERHEAD = 200

Blobs = tuple[bytes, bytes]  # (content, context) as stored


class VectorCache:
    """Row key -> (content, context) blobs, LRU, at most ``budget`` bytes in all."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.nbytes = 0
        self._rows: OrderedDict[int, Blobs] = OrderedDict()
        self.reads = 0  # rows whose vectors were read from the file (tests count these)

    def __len__(self) -> int:
        return len(self._rows)

    def forget(self, keys: Sequence[int]) -> None:
        for key in keys:
            blobs = self._rows.pop(key, None)
            if blobs is not None:
                self.nbytes -= _size(blobs)

    def vectors(self, db: Database, keys: Sequence[int]) -> dict[int, Blobs]:
        """The rows' blobs: the cached ones, the others read in one query per chunk and
        kept (keys whose row is gone are left out)."""
        found: dict[int, Blobs] = {}
        missing = []
        rows, touch = self._rows, self._rows.move_to_end
        for key in keys:
            hit = rows.get(key)
            if hit is None:
                missing.append(key)
            else:
                touch(key)
                found[key] = hit
        for part in chunks(missing):
            for key, content, context in db.sql(f"SELECT key, content, context FROM traces WHERE key IN ({marks(len(part))})", part):
                found[key] = (content, context)
                self._keep(key, (content, context))
        self.reads += len(missing)
        return found

    def _keep(self, key: int, blobs: Blobs) -> None:
        size = _size(blobs)
        if size > self.budget or key in self._rows:
            return
        self._rows[key] = blobs
        self.nbytes += size
        while self.nbytes > self.budget:
            _, old = self._rows.popitem(last=False)
            self.nbytes -= _size(old)


def _size(blobs: Blobs) -> int:
    content, context = blobs
    return (len(content) if isinstance(content, bytes) else 0) + (len(context) if isinstance(context, bytes) else 0) + ENTRY_OVERHEAD
