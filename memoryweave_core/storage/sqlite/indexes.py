"""The vector indexes of an SQLite store and the graph files beside it.

One :class:`~memoryweave_core.ann.AutoIndex` per (namespace id, field),
loaded on the namespace's first vector query: exact below ``ann_threshold``
rows, an HNSW graph above it, saved as ``<name>.<field>.<namespace id>.hnsw``
beside the database (``<name>`` is recorded in it: :mod:`.graphnames`)
by a background :class:`~.saver.Saver` as it changes (``close()`` writes only
a graph whose live rows are further from its file than :func:`~.saver.allowance`:
a small share of a big graph is left to the next open, which puts those rows back
from the database, exactly searchable at once, as after a crash).
hnswlib trusts the bytes it reads, so a saved graph is loaded only if its
files hash to a SHA-256 recorded in the database's ``meta`` table when they
were saved; it is then synced with the database's keys (rows added since are
put back, rows deleted since removed).  Anything else is rebuilt from the blobs.
A saved graph loads in the background (:class:`~memoryweave_core.ann.loading.LoadingIndex`):
the first search does not wait for it, it is answered exactly from the file's
vectors, and the loaded graph is swapped in at the next call after it is in.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
from typing import Any, Callable, Union

import numpy as np

from ...ann import AutoIndex, remove_files
from ...ann.files import Staged
from ...ann.loading import LoadingIndex
from ...ann.readers import Readers
from ...keysets import difference
from . import saver
from .connection import Database, chunks, marks
from .saver import Saver
from .tasks import discard_staged, run_all

#: Saved graph files stay trusted (loaded, then synced) for this many saves.
KEEP_DIGESTS = 4

FIELDS = ("content", "context")

#: A namespace's index for one field: loaded (or exact), or answering while its graph loads.
Index = Union[AutoIndex, LoadingIndex]


def mostly_stale(missing: int, keys: int) -> bool:
    """A saved graph lacking this many of the namespace's rows is rebuilt, not loaded and synced."""
    return missing > max(keys // 2, 1000)


def digest_key(nsid: int, field: str) -> str:
    """The ``meta`` key of a graph's recorded digests."""
    return f"hnsw_sha256.{field}.{nsid}"


class VectorIndexes:
    """The loaded indexes; ``stale`` ones are re-synced before their next use."""

    def __init__(self, db: Database, dim: Callable[[], int | None], name: str, *, threshold: int, background: bool,
                 hnsw: dict[str, Any], lock: threading.RLock) -> None:
        self.db = db
        self.prefix = os.path.join(os.path.dirname(db.path), name)  # see .graphnames
        self.lock = lock  # the store's: the saver thread takes it to touch the connection
        self._dim = dim
        self.readers = Readers()  # every recall of the store: the background indexers step aside
        self.options = dict(threshold=threshold, background=background, readers=self.readers, **hnsw)
        self._indexes: dict[tuple[int, str], Index] = {}
        self._stale: set[tuple[int, str]] = set()
        self.saver = Saver(self, enabled=background)
        self.loads = 0  # graph files read (tests count these)

    def path(self, nsid: int, field: str) -> str:
        return f"{self.prefix}.{field}.{nsid}.hnsw"

    def invalidate(self) -> None:
        """Another connection wrote: re-sync every loaded index before its next search."""
        self._stale.update(self._indexes)

    def get(self, nsid: int, field: str) -> Index:
        """The namespace's vector index, loaded or rebuilt on first use, re-synced when stale."""
        self.settle()
        slot = (nsid, field)
        index = self._indexes.get(slot)
        if index is not None and slot not in self._stale:
            return index
        keys = self.keys(nsid)
        if index is None:
            self._load(nsid, keys)  # both fields, synced
            return self._indexes[slot]
        index.sync(keys, lambda missing: self._vectors(field, missing))
        self._stale.discard(slot)
        return index

    def keys(self, nsid: int) -> np.ndarray:
        """The namespace's row keys, from the database."""
        return np.array([r[0] for r in self.db.sql("SELECT key FROM traces WHERE ns = ?", (nsid,))], dtype=np.int64)

    def _load(self, nsid: int, keys: np.ndarray) -> None:
        """Start loading (or rebuild) both fields' indexes of a namespace, synced with ``keys``.

        A search needs one field and the next needs the other, so both are
        started at once and the keys are read once.  A saved graph whose
        header and keys file hold loads in the background, answering
        meanwhile (see :class:`LoadingIndex`); one that does not is read now,
        on threads, and rebuilt when it fails its check, as before."""
        dim = self._dim() or 0  # set: searches and adds come after the first add
        fields = [f for f in FIELDS if (nsid, f) not in self._indexes]
        loads: dict[str, Callable[[], AutoIndex | None]] = {}
        for field in fields:
            digests = self._digests(nsid, field)
            if not dim or digests is None:  # only graph files this store recorded writing are read
                continue
            path = self.path(nsid, field)
            load = functools.partial(AutoIndex.load, path, dim, digests=digests, **self.options)
            pending = LoadingIndex.open(path, dim, digests)
            if pending is None:
                loads[field] = load
            elif mostly_stale(pending.missing(keys), len(keys)):
                pending.close()  # rebuilt below
            else:
                self._indexes[(nsid, field)] = pending
                self._stale.discard((nsid, field))
                pending.sync(keys, functools.partial(self._vectors, field))
                pending.begin(load)
                self.loads += 1
        self.loads += len(loads)
        loaded = dict(zip(loads, run_all(list(loads.values()), lambda index: None)))
        for field in fields:
            if (nsid, field) in self._indexes:
                continue  # loading
            index = loaded.get(field)
            if index is None or mostly_stale(len(difference(keys, index.keys())), len(keys)):
                index = AutoIndex(dim, **self.options)  # missing, damaged, or mostly out of date: rebuild
            self._indexes[(nsid, field)] = index
            self._stale.discard((nsid, field))
            index.sync(keys, lambda missing, field=field: self._vectors(field, missing))
        self.saver.start()

    def settle(self) -> None:
        """Swap in the graphs that have finished loading; one that failed its check is rebuilt
        from the database (its searches were answered from the file's floats meanwhile, for
        the namespace's own live rows only)."""
        for slot, index in list(self._indexes.items()):
            if isinstance(index, LoadingIndex) and index.done:
                loaded = index.settle()
                if loaded is None:
                    loaded = AutoIndex(self._dim() or 0, **self.options)
                    loaded.sync(self.keys(slot[0]), functools.partial(self._vectors, slot[1]))
                    self._stale.discard(slot)
                self._indexes[slot] = loaded

    def _finish_loads(self, needed: Callable[[Index], bool]) -> None:
        """Wait for the loads holding changes a save should write (``needed``), and swap them in."""
        loading = [index for index in self._indexes.values() if isinstance(index, LoadingIndex) and needed(index)]
        for index in loading:
            index.wait()
        self.settle()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every graph has loaded and holds all its rows; True when done."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        while True:
            with self.lock:
                self.settle()
                indexes = self.loaded()
            loading = [index for index in indexes if isinstance(index, LoadingIndex)]
            if not loading:
                return all(index.wait(left()) for index in indexes)
            if not all(index.wait(left()) for index in loading):
                return False

    def _vectors(self, field: str, keys: np.ndarray) -> np.ndarray:
        """The rows' vectors; NaN for a row deleted meanwhile (the index refuses those)."""
        out = np.full((len(keys), self._dim() or 0), np.nan, dtype=np.float32)
        pos = {int(k): i for i, k in enumerate(keys)}
        for part in chunks(keys.tolist(), 20_000):
            for key, blob in self.db.sql(f"SELECT key, {field} FROM traces WHERE key IN ({marks(len(part))})", part):
                out[pos[key]] = np.frombuffer(blob, dtype=np.float32)
        return out

    def added(self, nsid: int, keys: list[int], vectors: Callable[[str], np.ndarray]) -> None:
        """New rows of a namespace: ``vectors(field)`` gives theirs, in the order of ``keys``."""
        self.settle()
        unloaded = [field for field in FIELDS if (nsid, field) not in self._indexes]
        if unloaded:
            self.get(nsid, unloaded[0])  # loads (or builds) every unloaded field, new rows included
        for field in FIELDS:
            if field in unloaded:
                continue
            index = self._indexes[(nsid, field)]
            if (nsid, field) in self._stale:
                self.get(nsid, field)  # re-synced, new rows included
            else:
                index.add(np.asarray(keys, np.int64), vectors(field))

    def removed(self, nsid: int, keys: list[int]) -> None:
        self.settle()
        for field in FIELDS:
            index = self._indexes.get((nsid, field))
            if index is not None:
                index.remove(np.asarray(keys, np.int64))

    def drop(self, nsid: int) -> None:
        """A namespace that is gone: close its indexes and remove their files."""
        for field in FIELDS:
            index = self._indexes.pop((nsid, field), None)
            if index is not None:
                index.close()
            self._stale.discard((nsid, field))
            remove_files(self.path(nsid, field))

    def prune(self, live: set[int]) -> None:
        """Drop the indexes (and files) of namespaces not in ``live``: another process forgot them."""
        for nsid in {nsid for nsid, _ in self._indexes} - live:
            self.drop(nsid)

    def loaded(self) -> list[Index]:
        return list(self._indexes.values())

    def _digests(self, nsid: int, field: str) -> list | None:
        """The SHA-256 digests of the graph files this store saved last (newest first; None: none saved).

        A few older saves stay trusted too: a stale graph this store wrote
        (restored from a backup, say) is loaded and synced, not rebuilt."""
        raw = self.db.meta(digest_key(nsid, field))
        try:
            doc = json.loads(raw) if raw is not None else None
        except (TypeError, ValueError):
            return None
        return doc if isinstance(doc, list) and doc else None

    def save(self, needed: Callable[[Index], bool] = lambda index: index.dirty) -> None:
        """Write changed graphs beside the database, then record their digests
        (one short transaction, after the files are written).  Files written but
        not recorded (a crash in between) are rebuilt, never trusted.

        Each graph is written to temporary files first, while searches go on;
        the files are renamed into place inside the write transaction, and
        only for namespaces that still exist in it: a namespace another
        process forgot (ids are never reused) is dropped, never written back
        to disk.  A graph saved before is written when ``needed(index)`` (by default:
        when it changed); the others are left as they are (the next open puts their
        changes back).  A graph still loading that is needed is waited for first."""
        self._finish_loads(needed)
        dirty = [(slot, index) for slot, index in self._indexes.items() if isinstance(index, AutoIndex)
                 and (needed(index) or (index.dirty and self._digests(*slot) is None))]
        staged = run_all([functools.partial(index.stage, self.path(*slot)) for slot, index in dirty], discard_staged)
        self._publish([(slot, index, files, counted) for (slot, index), (files, counted) in zip(dirty, staged)])

    def _publish(self, staged: list[tuple[tuple[int, str], AutoIndex, Staged | None, int]]) -> None:
        """Rename staged saves into place and record their digests, in one write transaction."""
        if not staged:
            return
        gone: set[int] = set()
        done: list[tuple[AutoIndex, int]] = []

        def write(conn: sqlite3.Connection) -> None:
            live = {r[0] for r in conn.execute("SELECT id FROM namespaces")}
            saved: dict[str, str | None] = {}
            for (nsid, field), index, files, counted in staged:
                if nsid not in live or self._indexes.get((nsid, field)) is not index:
                    gone.add(nsid)
                    if files is not None:
                        files.discard()
                    continue
                kept: list | None = None
                if files is None:
                    remove_files(self.path(nsid, field))
                else:
                    files.publish()
                    older = self._digests(nsid, field) or []
                    kept = [files.digests, *[d for d in older if d != files.digests][: KEEP_DIGESTS - 1]]
                saved[digest_key(nsid, field)] = json.dumps(kept) if kept else None
                done.append((index, counted))
            conn.executemany("DELETE FROM meta WHERE key = ?", [(k,) for k, v in saved.items() if v is None])
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, v) for k, v in saved.items() if v])

        try:
            self.db.write(write)
        except BaseException:
            for _, _, files, _ in staged:
                if files is not None:
                    files.discard()  # no-op for those already renamed
            raise
        for index, counted in done:
            index.saved(counted)
        for nsid in gone - {nsid for nsid, _ in self._indexes}:
            self.drop(nsid)

    def close(self) -> None:
        """Stop the background saver and indexers, and save the graphs
        :func:`~.saver.worth_saving`: those further from their saved file than a small
        share of their rows.  A graph still loading is dropped (its file is still the saved
        one), unless it is further than that: then close waits for it, to save it."""
        try:
            self.saver.stop()
            self._finish_loads(saver.worth_saving)
            for slot, index in list(self._indexes.items()):
                index.close()
                if isinstance(index, LoadingIndex):
                    # dropped, not settled: a load that gives up now, cancelled, would be
                    # taken for one that failed its check, rebuilt from the database and saved
                    del self._indexes[slot]
            self.save(saver.worth_saving)
        finally:
            self._indexes.clear()
