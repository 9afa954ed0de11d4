"""Traces of an SQLite store read in order: every trace a page at a time,
and the span of an episode by position.

Export and import walk a whole store, so :func:`pages` holds the store's
lock (and so its snapshot) one page at a time, never for the whole walk.  An
episode's span is read through the caches, and each trace is checked
against the index that found it, since a damaged file's episode index can
disagree with its rows.  :class:`~.store.SQLiteStore` keeps thin methods
over these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from ...trace import Trace
from . import queries

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .store import SQLiteStore


def pages(store: SQLiteStore, nsid: int | None) -> Iterator[Trace]:
    """The namespace's traces (every namespace's when None), oldest first."""
    last = 0
    while True:
        with store._lock:
            names = store._caches.ns_names()
            rows = queries.page(store._db, nsid, last)
        if not rows:
            return
        yield from store._traces(rows, [names.get(row[-1], "") for row in rows])
        last = rows[-1][0]


def episode_traces(store: SQLiteStore, namespace: str, episode: str, start: int, stop: int) -> list[Trace]:
    """The episode's traces at positions ``start`` to ``stop`` (excluded), in position order."""
    with store._lock:
        nsid = store._namespace_id(namespace)
        if nsid is None:
            return []
        ids = queries.episode_span_ids(store._db, nsid, episode, max(int(start), 0), int(stop))
        found = store._caches.entries(ids, nsid)
    out = [found[i][0] for i in ids if i in found]
    for t in out:  # a damaged file's episode index can disagree with its rows
        if t.episode != episode or not max(int(start), 0) <= t.position < int(stop):
            raise store._db.corrupt(f"trace {t.id!r} is indexed under another episode or position")
    return out
