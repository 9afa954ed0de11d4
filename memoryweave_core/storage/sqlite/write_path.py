"""The write path of an SQLite store: adds, supersedes, expiry, deletes and engine state.

Each runs one transaction (through the store's ``_write``, which first
catches up with other processes' commits) and only then brings the store's
in-memory parts along: caches, BM25 postings and vector indexes learn the
new or deleted keys once the rows are committed, and what the transaction
created in memory (namespace ids, token ids) is rolled back with it.  The
rows themselves are written by :mod:`.writes`; :class:`~.store.SQLiteStore`
keeps thin methods over these functions.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ...errors import InvalidInputError, StoreError
from ...lexical import tokenize
from ...trace import Trace
from ..base import vector_dim
from ..codec import encode_state
from ..context import ContextRecord, admit
from . import lifecycle, queries, writes
from . import state as state_rows

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .store import SQLiteStore


def _vectors(traces: Sequence[Trace], rows: list[int], field: str) -> np.ndarray:
    return np.stack([getattr(traces[i], field) for i in rows])


def add(store: SQLiteStore, traces: Sequence[Trace], states: list[tuple[str, str, str, list]],
        before: Callable[[sqlite3.Connection], None] | None = None, context: ContextRecord | None = None) -> None:
    """Insert ``traces`` and save ``(namespace, key, doc, arrays)`` states, in one
    transaction, after ``before(conn)`` in it when given; with ``context``, only
    where the store's record admits it (:func:`..context.admit`)."""
    if not traces:
        return

    def write(conn: sqlite3.Connection) -> dict[int, list[int]]:
        if context is not None:
            _admit(store, conn, context)
        if before is not None:
            before(conn)
        groups = writes.insert(conn, traces, tokens, dim, store.dim, functools.partial(store._caches.new_nsid, conn=conn),
                               store._vocab.encode)
        for namespace, key, text, arrays in states:
            state_rows.save(conn, store._caches.new_nsid(namespace, conn), key, text, arrays)
        return groups

    with store._lock:
        dim = vector_dim(traces, store.dim)
        tokens = [" ".join(tokenize(t.text)) for t in traces]
        store._check_external()
        store._postings.forget_frequencies()
        store._matching.clear()
        mark = store._vocab.mark()
        try:
            groups = store._write(write)
        except StoreError as exc:
            store._caches.ns_ids.clear()  # namespace rows created in the rolled-back transaction
            store._vocab.rollback(mark)
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise InvalidInputError(f"a trace id already exists in its namespace in {store.path}") from exc
            raise
        except BaseException:
            store._caches.ns_ids.clear()
            store._vocab.rollback(mark)
            raise
        store.dim = dim
        first_key = min(k for ks in groups.values() for k in ks)
        store._postings.added(groups, [tokens[k - first_key] for ks in groups.values() for k in ks])
        for nsid, keys in groups.items():
            store._indexes.added(nsid, keys, functools.partial(_vectors, traces, [k - first_key for k in keys]))


def _admit(store: SQLiteStore, conn: sqlite3.Connection, context: ContextRecord) -> None:
    """Refuse, or record, ``context`` in the write transaction of ``conn`` (SQLite runs one writer at a time)."""
    record = queries.context_record(store._db, store.path)  # the store's one connection: this transaction
    if admit(record, context, lambda: conn.execute("SELECT EXISTS (SELECT 1 FROM traces)").fetchone()[0] == 1):
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", context.meta())


def supersede(store: SQLiteStore, old_id: str, archived_id: str, when: float, new: Trace,
              context: ContextRecord | None = None) -> None:
    """Archive the current version ``old_id`` as ``archived_id`` and add ``new`` in its place, in one transaction."""
    if new.id != old_id:
        raise InvalidInputError(f"the new version of {old_id!r} must keep its id, not {new.id!r}")
    archived: list[int] = []
    nsids: list[int] = []

    def before(conn: sqlite3.Connection) -> None:
        nsid = store._caches.nsid(new.namespace, conn=conn)
        if nsid is None:
            raise InvalidInputError(f"no current trace {old_id!r} in namespace {new.namespace!r}")
        nsids.append(nsid)
        archived.append(lifecycle.archive(conn, old_id, archived_id, when, nsid))

    with store._lock:
        try:
            add(store, [new], [], before, context)
        except StoreError as exc:
            if isinstance(exc.__cause__, InvalidInputError):
                raise exc.__cause__ from None
            raise
        finally:
            store._caches.forget(nsids[-1] if nsids else None, [old_id, archived_id], archived)


def set_expiry(store: SQLiteStore, ids: Sequence[str], expires_at: float | None, namespace: str) -> int:
    """Set the expiry of the namespace's rows with these ids; returns how many matched."""
    ids = list(dict.fromkeys(ids))
    with store._lock:
        nsid = store._namespace_id(namespace)
        if nsid is None or not ids:
            return 0
        try:
            return store._write(lambda conn: lifecycle.set_expiry(conn, nsid, ids, expires_at))
        finally:
            store._caches.forget(nsid, ids, [])


def delete(store: SQLiteStore, select: Callable[[sqlite3.Connection, int], list[str]], namespace: str) -> int:
    """Delete the namespace's ids ``select(conn, nsid)`` names, chosen inside the write transaction."""
    ids: list[str] = []
    with store._lock:

        nsid: int | None = None

        def write(conn: sqlite3.Connection) -> tuple[list[int], bool]:
            nonlocal nsid
            nsid = store._caches.nsid(namespace, conn=conn)
            if nsid is None:
                return [], False
            ids[:] = select(conn, nsid)
            if not ids:
                return [], False
            return writes.remove(conn, store._db, ids, nsid, removed_tokens)

        removed_tokens: list[tuple[int, int, str]] = []  # (ns, key, tokens) of the deleted rows
        try:
            keys, emptied = store._write(write)
        except BaseException:
            removed_tokens.clear()
            raise
        finally:
            store._postings.forget_frequencies()
            store._matching.clear()
        if not keys:
            return 0
        assert nsid is not None  # rows were deleted from it
        store._caches.forget(nsid, ids, keys)
        store._postings.removed(removed_tokens)
        store._indexes.removed(nsid, keys)
        if emptied:
            store._caches.forget_namespace(nsid)
            store._indexes.drop(nsid)
        return len(keys)


def save_state(store: SQLiteStore, namespace: str, key: str, state: dict) -> None:
    """Save an engine state with the namespace's traces (nothing when the store has no such namespace)."""
    text, arrays = encode_state(key, state)

    def write(conn: sqlite3.Connection) -> None:
        nsid = store._caches.nsid(namespace, conn=conn)
        if nsid is not None:  # as MemoryStore: state lives with a namespace's traces
            state_rows.save(conn, nsid, key, text, arrays)

    with store._lock:
        store._write(write)
