"""What an SQLite store keeps in memory between calls, behind one ``invalidate()``.

Traces never change and keys are never reused, so our own writes only have
to add and forget entries; a commit by another connection (``PRAGMA
data_version``) makes the store call :meth:`Caches.invalidate`, which drops
everything at once: namespace ids, decoded traces, key <-> id pairs, access
logs, BM25 frequencies and postings, and marks the vector indexes stale.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from typing import Callable, Sequence

from ...activation import AccessLog
from ...trace import Trace
from . import decode
from .connection import Database, chunks, marks
from .indexes import VectorIndexes
from .postings import Postings
from .vcache import VectorCache

Entry = tuple[Trace, int, int]  # (trace, namespace id, key)
#: What the caches are keyed by: ids are unique per namespace, not store-wide.
Ref = tuple[int, str]  # (namespace id, trace id)


class Caches:
    """The store's caches and the reads that go through them."""

    def __init__(self, db: Database, dim: Callable[[], int | None], size: int, postings: Postings,
                 indexes: VectorIndexes, vectors: VectorCache | None = None) -> None:
        self.db = db
        self._dim = dim
        self.size = size
        self.postings = postings
        self.indexes = indexes
        self.vectors = vectors  # hot rows' vectors (never stale: rows never change, keys are never reused)
        self.ns_ids: dict[str, int] = {}
        # (ns, id) -> (trace, ns, key); traces never change, so this only forgets deleted ones
        self.traces: OrderedDict[Ref, Entry] = OrderedDict()
        # key <-> id of the traces searches found lately (forgets deleted ones)
        self.id_of: dict[int, tuple[str, int]] = {}  # key -> (id, ns)
        self.key_of: dict[Ref, int] = {}
        # (ns, id) -> access log as of our last read or write
        self.logs: OrderedDict[Ref, AccessLog] = OrderedDict()

    def invalidate(self) -> None:
        """Forget everything another connection's commit may have changed."""
        self.ns_ids.clear()
        self.traces.clear()
        self.id_of.clear()
        self.key_of.clear()
        self.logs.clear()
        self.postings.invalidate()
        self.indexes.invalidate()

    def forget(self, nsid: int | None, ids: Sequence[str], keys: Sequence[int]) -> None:
        """Deleted (or changed) traces of the namespace ``nsid``."""
        for tid in ids:
            if nsid is None:
                break
            ref = (nsid, tid)
            self.traces.pop(ref, None)
            self.key_of.pop(ref, None)
            self.logs.pop(ref, None)
        for key in keys:
            self.id_of.pop(key, None)
        if self.vectors is not None:
            self.vectors.forget(keys)

    def forget_namespace(self, nsid: int) -> None:
        self.ns_ids = {n: i for n, i in self.ns_ids.items() if i != nsid}

    def nsid(self, namespace: str, create: bool = False, conn: sqlite3.Connection | None = None) -> int | None:
        """A namespace's id (None when it has none, unless ``create``), through ``conn`` when given."""
        nsid = self.ns_ids.get(namespace)
        if nsid is not None:
            return nsid
        c = conn or self.db.conn
        row = c.execute("SELECT id FROM namespaces WHERE name = ?", (namespace,)).fetchone()
        if row is None:
            if not create:
                return None
            row = (c.execute("INSERT INTO namespaces (name) VALUES (?)", (namespace,)).lastrowid,)
        self.ns_ids[namespace] = row[0]
        return row[0]

    def new_nsid(self, namespace: str, conn: sqlite3.Connection) -> int:
        """A namespace's id, its row created in ``conn``'s transaction when new."""
        nsid = self.nsid(namespace, create=True, conn=conn)
        assert nsid is not None  # created when missing
        return nsid

    def ns_names(self) -> dict[int, str]:
        return {i: n for i, n in self.db.sql("SELECT id, name FROM namespaces")}

    # -- traces by id ------------------------------------------------------------
    def entries(self, ids: Sequence[str], nsid: int) -> dict[str, Entry]:
        """Cache entries of the namespace's traces by id; misses read in one query per chunk."""
        found: dict[str, Entry] = {}
        missing = []
        get, touch = self.traces.get, self.traces.move_to_end
        for tid in ids:
            hit = get((nsid, tid))
            if hit is None:
                missing.append(tid)
            else:
                touch((nsid, tid))
                found[tid] = hit
        if missing:
            self._read_entries(list(dict.fromkeys(missing)), nsid, found)
        return found

    def _read_entries(self, ids: list[str], nsid: int, found: dict[str, Entry]) -> None:
        """Read, check and cache the namespace's traces with these ids; add them to ``found``."""
        cache = self.traces
        names = {i: n for n, i in self.ns_ids.items()}
        for part in chunks(ids):
            sql = f"SELECT {decode.COLS}, ns FROM traces WHERE ns = ? AND id IN ({marks(len(part))})"
            rows = [row for row in self.db.sql(sql, [nsid, *part]) if row[-1] == nsid]
            if any(row[-1] not in names for row in rows):
                names = self.ns_names()
            for row, trace in zip(rows, decode.traces(self.db, self._dim(), rows, [names.get(row[-1], "") for row in rows])):
                entry = (trace, row[-1], row[0])
                if self.size > 0:
                    cache[(nsid, trace.id)] = entry
                found[trace.id] = entry
        while len(cache) > self.size:
            cache.popitem(last=False)

    # -- keys <-> ids ------------------------------------------------------------
    def ids(self, nsid: int, keys: Sequence[int]) -> dict[int, str]:
        """Ids of the namespace's traces by integer key (what an index or a
        posting list holds), read without decoding the rows."""
        known, out, missing = self.id_of, {}, []
        for key in keys:
            hit = known.get(key)
            if hit is not None and hit[1] == nsid:
                out[key] = hit[0]
            else:
                missing.append(key)
        if not missing:
            return out
        read: dict[int, str] = {}
        for part in chunks(missing):
            read.update(self.db.sql(f"SELECT key, id FROM traces WHERE key IN ({marks(len(part))}) AND ns = ?", [*part, nsid]))
        if not all(type(v) is str for v in read.values()):
            raise self.db.corrupt("a trace row has an unreadable id")
        self.remember_ids(nsid, read)
        out.update(read)
        return out

    def keys(self, nsid: int, ids: Sequence[str]) -> dict[str, int]:
        """Integer keys of the namespace's traces by id: those a search just found
        or the trace cache holds are known, the rest are read in one query per chunk."""
        keys: dict[str, int] = {}
        missing = []
        for tid in ids:
            key = self.key_of.get((nsid, tid))
            if key is None:
                hit = self.traces.get((nsid, tid))
                key = None if hit is None else hit[2]
            if key is None:
                missing.append(tid)
            else:
                keys[tid] = key
        for part in chunks(list(dict.fromkeys(missing))):
            keys.update(self.db.sql(f"SELECT id, key FROM traces WHERE ns = ? AND id IN ({marks(len(part))})", [nsid, *part]))
        return keys

    def remember_ids(self, nsid: int, ids: dict[int, str]) -> None:
        """Keep the key <-> id pairs a search just read: pool() asks for these traces next."""
        if len(self.id_of) > 4 * max(self.size, 1024):
            self.id_of.clear()
            self.key_of.clear()
        self.id_of.update((key, (tid, nsid)) for key, tid in ids.items())
        self.key_of.update(((nsid, tid), key) for key, tid in ids.items())

    # -- access logs ---------------------------------------------------------------
    def remember_logs(self, nsid: int, logs: dict[str, AccessLog]) -> None:
        if self.size <= 0:
            return
        cache = self.logs
        cache.update(((nsid, tid), log) for tid, log in logs.items())
        while len(cache) > self.size:
            cache.popitem(last=False)
