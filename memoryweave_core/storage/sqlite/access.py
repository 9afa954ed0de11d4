"""Access logs in SQLite: read through the cache, written in one transaction.

A trace without an ``access`` row has not been used since its creation (its
log is the creation, read from the trace's time), so adds write no access
rows and recall reads only the logs that say something.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from typing import Callable, Sequence

from ...activation import AccessLog
from . import decode
from .cache import Caches
from .connection import chunks, marks


def read(caches: Caches, conn: sqlite3.Connection, nsid: int, ids: Sequence[str]) -> dict[str, AccessLog]:
    """Access logs of the namespace's traces from the database (one query per
    chunk), new objects the caller may keep; copies of those read from rows
    are cached.  Ids the namespace does not hold are left out."""
    db = caches.db
    logs: dict[str, AccessLog] = {}
    read_rows: list[str] = []
    by_key: dict[int, str] = {}  # traces in the cache: their keys and times are known
    by_id = []
    for tid in dict.fromkeys(ids):
        hit = caches.traces.get((nsid, tid))
        if hit is None:
            by_id.append(tid)
        else:
            by_key[hit[2]] = tid
            logs[tid] = AccessLog(first=hit[0].time)
    try:
        for part in chunks(list(by_key)):
            sql = f"SELECT key, first, count, recent FROM access WHERE key IN ({marks(len(part))})"
            for key, first, count, recent in conn.execute(sql, part).fetchall():
                tid = by_key[key]
                logs[tid] = decode.access_log(db, tid, first, count, recent)
                read_rows.append(tid)
        for part in chunks(by_id):
            sql = ("SELECT t.id, t.time, a.first, a.count, a.recent FROM traces t LEFT JOIN access a ON a.key = t.key"
                   f" WHERE t.ns = ? AND t.id IN ({marks(len(part))})")
            for tid, time, first, count, recent in conn.execute(sql, [nsid, *part]).fetchall():
                if count is None:
                    first, count, recent = time, 1, "[]"
                else:
                    read_rows.append(tid)
                logs[tid] = decode.access_log(db, tid, first, count, recent)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise db.error(exc) from exc
    caches.remember_logs(nsid, {t: AccessLog(logs[t].first, logs[t].count, list(logs[t].recent)) for t in read_rows})
    return logs


def logs(caches: Caches, nsid: int, ids: list[str]) -> dict[str, AccessLog]:
    """The logs of the namespace's traces with these ids, by id; ids it does
    not hold (forgotten meanwhile, say) are skipped."""
    found: dict[str, AccessLog] = {}
    missing = []
    for tid in ids:
        hit = caches.logs.get((nsid, tid))
        if hit is None:
            missing.append(tid)
        else:
            found[tid] = AccessLog(hit.first, hit.count, list(hit.recent))
    if missing:
        found.update(read(caches, caches.db.conn, nsid, missing))
        missing = [i for i in dict.fromkeys(missing) if i not in found]
    for part in chunks(missing):
        # Skipped, unless the trace is there after all: a table scan, since a damaged
        # file's id index may disagree with its table (only ids found missing pay it).
        sql = f"SELECT id FROM traces NOT INDEXED WHERE ns = ? AND id IN ({marks(len(part))}) LIMIT 1"
        for (tid,) in caches.db.sql(sql, [nsid, *part]):
            raise caches.db.corrupt(f"trace {tid!r} has no readable access log")
    return found


def record(caches: Caches, nsid: int, ids: list[str], when: float,
           check_external: Callable[[], None]) -> dict[str, AccessLog]:
    """Touch the logs of these traces of the namespace (an id listed twice is
    two accesses, as in MemoryStore; ids it does not hold are skipped) in one
    IMMEDIATE transaction; returns the new logs, for the caller to cache once
    the transaction has committed."""
    times = Counter(ids)

    def write(conn: sqlite3.Connection) -> dict[str, AccessLog]:
        # Read-modify-write inside the transaction: no other writer can interleave.
        # Our cached logs are current unless another connection committed.
        check_external()
        cache = caches.logs
        old_logs = {i: cache[(nsid, i)] for i in times if (nsid, i) in cache}
        missing = [i for i in times if i not in old_logs]
        if missing:
            old_logs.update(read(caches, conn, nsid, missing))
        keys = caches.keys(nsid, list(old_logs))
        new: dict[str, AccessLog] = {}
        rows = []
        for tid, old in old_logs.items():
            if tid not in keys:
                continue
            log = AccessLog(first=old.first, count=old.count, recent=list(old.recent))
            for _ in range(times[tid]):
                log.touch(float(when))
            new[tid] = log
            rows.append((keys[tid], log.first, log.count, json.dumps(log.recent)))
        conn.executemany("INSERT OR REPLACE INTO access VALUES (?, ?, ?, ?)", rows)
        return new

    return caches.db.write(write)
