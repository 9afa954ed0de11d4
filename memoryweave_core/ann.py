"""Approximate nearest neighbours for large stores: hnswlib behind ExactIndex's methods.

Two classes, both :class:`~memoryweave_core.vectors.VectorIndex` (as
ExactIndex is) plus ``save``/``load``:

* :class:`HNSWIndex` wraps an hnswlib graph (cosine space, ``M=16``,
  ``ef_construction=128``; the search ``ef`` is ``max(ef_search, n)``).  It
  grows by doubling its capacity, and removals use ``mark_deleted`` so a
  removed key can never be returned again.

* :class:`AutoIndex` is what stores use.  Below ``threshold`` rows it is an
  exact numpy index and nothing else.  Above it, rows live in an HNSW graph
  plus a small exact *delta* of rows added since: new rows are searchable the
  moment ``add`` returns (exactly, in the delta), and a background thread
  moves them into the graph in chunks (hnswlib releases the GIL while it
  inserts).  Bulk adds therefore cost a memcpy, not a graph insertion, and a
  search merges the graph's answer with the delta's.  ``wait()`` blocks until
  the graph holds everything (tests and benchmarks use it; nothing else has
  to).  Without hnswlib installed the index stays exact (with one warning).

Persistence writes the graph, its live keys (``.npy``, loaded with
``allow_pickle=False``) and a JSON sidecar with sizes and CRC32 checksums,
sidecar last, each through a temporary file and an atomic rename.  ``load``
returns None for anything missing, truncated, damaged or of another
dimension, so the caller rebuilds from its database instead of trusting it.

The sidecar's CRC32 only catches accidents: whoever can write the graph file
can rewrite the sidecar too, and hnswlib's loader trusts the bytes it reads
(a crafted graph file can crash the process).  ``save`` therefore returns the
SHA-256 of both files, and a caller that keeps those digests somewhere the
files' writer cannot reach (SQLiteStore keeps them in its database) passes
them back as ``load(..., digests=...)``: the files are then loaded only when
they hash to exactly those values.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import warnings
import zlib

import numpy as np

from .errors import MissingDependencyError, require
from .vectors import ExactIndex, as_batch

#: Rows above which AutoIndex builds an HNSW graph (exact search below).
DEFAULT_THRESHOLD = 20_000
#: Rows the background indexer inserts per step (bounds how long a search waits for it).
CHUNK = 256
_FORMAT = 1


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.float32)


def _crc(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return crc


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _write_json(path: str, doc: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


def _files_ok(meta: dict) -> bool:
    """Every data file named in the sidecar exists with the recorded size and CRC."""
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for path, want in files.items():
        try:
            if os.path.getsize(path) != want["size"] or _crc(path) != want["crc32"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
    return True


def remove_files(path: str) -> None:
    """Delete an index saved at ``path`` (sidecar first, so a half-removed one reads as missing)."""
    for p in (path + ".json", path, path + ".keys.npy"):
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


class HNSWIndex:
    """Cosine HNSW graph over integer keys (hnswlib)."""

    def __init__(
        self,
        dim: int,
        *,
        M: int = 16,
        ef_construction: int = 128,
        ef_search: int = 64,
        capacity: int = 1024,
        threads: int | None = None,
        seed: int = 100,
        _index=None,
        _keys: np.ndarray | None = None,
    ) -> None:
        hnswlib = require("hnswlib", "ann")
        self.dim = dim
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.threads = threads or min(os.cpu_count() or 1, 4)
        if _index is None:
            _index = hnswlib.Index(space="cosine", dim=dim)
            _index.init_index(max_elements=max(capacity, 16), M=M, ef_construction=ef_construction, random_seed=seed)
        self._index = _index
        self._live: set[int] = set() if _keys is None else set(_keys.tolist())
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._live)

    def keys(self) -> np.ndarray:
        with self._lock:
            return np.fromiter(self._live, np.int64, len(self._live))

    def __contains__(self, key: int) -> bool:
        return int(key) in self._live

    def add(self, keys, vectors: np.ndarray) -> None:
        keys, vectors = as_batch(keys, vectors, self.dim)
        if not len(keys):
            return
        with self._lock:
            needed = self._index.element_count + len(keys)
            cap = self._index.get_max_elements()
            if needed > cap:
                while cap < needed:
                    cap *= 2
                self._index.resize_index(cap)
            self._index.add_items(vectors, keys, num_threads=self.threads if len(keys) > 64 else 1)
            self._live.update(keys.tolist())

    def remove(self, keys) -> None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1).tolist()
        if not any(key in self._live for key in keys):
            return  # nothing to do: do not wait for the lock an insert may hold for a while
        with self._lock:
            for key in keys:
                if key in self._live:
                    self._index.mark_deleted(key)
                    self._live.discard(key)

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            n = min(n, len(self._live))
            if n <= 0:
                return _empty()
            q = np.asarray(query, dtype=np.float32).reshape(1, self.dim)
            ef = max(self.ef_search, n)
            for attempt in range(3):
                self._index.set_ef(ef)
                try:
                    labels, dists = self._index.knn_query(q, k=n, num_threads=1)
                    break
                except RuntimeError:  # too few reachable live nodes for k (many deletions)
                    ef *= 4
            else:
                return self._brute(q[0], n)
        return labels[0].astype(np.int64), (1.0 - dists[0]).astype(np.float32)

    def _brute(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        keys = self.keys()
        sims = np.asarray(self._index.get_items(keys), dtype=np.float32) @ q
        top = np.argsort(-sims, kind="stable")[:n]
        return keys[top], sims[top]

    # -- persistence -----------------------------------------------------------
    def save(self, path: str) -> dict:
        """Write the graph, its keys and the sidecar; returns ``{"graph": sha256, "keys": sha256}``
        (hex) for :meth:`load`'s ``digests``."""
        with self._lock:
            keys = self.keys()
            self._index.save_index(path + ".tmp")
            with open(path + ".keys.npy.tmp", "wb") as f:
                np.save(f, keys, allow_pickle=False)
        digests = {}
        for name, p in (("graph", path), ("keys", path + ".keys.npy")):
            with open(p + ".tmp", "rb+") as f:
                os.fsync(f.fileno())
            digests[name] = _sha256(p + ".tmp")
            os.replace(p + ".tmp", p)
        meta = {
            "format": _FORMAT,
            "kind": "hnsw",
            "dim": self.dim,
            "count": int(len(keys)),
            "M": self.M,
            "ef_construction": self.ef_construction,
            "files": {p: {"size": os.path.getsize(p), "crc32": _crc(p)} for p in (path, path + ".keys.npy")},
        }
        _write_json(path + ".json", meta)
        return digests

    @classmethod
    def load(cls, path: str, dim: int, *, digests: dict | list | None = None, **kwargs) -> "HNSWIndex | None":
        """The index saved at ``path``, or None when it is missing, damaged or of another dim.

        With ``digests`` (what :meth:`save` returned, or a list of such, kept
        somewhere trusted) the files must hash to exactly one of those SHA-256
        pairs before hnswlib reads a byte of them; without, only the sidecar's
        sizes and CRC32s are checked (accidental damage, not tampering)."""
        meta = _read_json(path + ".json")
        if not meta or meta.get("format") != _FORMAT or meta.get("kind") != "hnsw" or meta.get("dim") != dim:
            return None
        if not isinstance(meta.get("files"), dict) or set(meta["files"]) != {path, path + ".keys.npy"}:
            return None
        if digests is not None:
            trusted = [digests] if isinstance(digests, dict) else digests
            trusted = [(d.get("graph"), d.get("keys")) for d in trusted if isinstance(d, dict)]
            try:
                with open(path + ".keys.npy", "rb") as f:
                    raw_keys = f.read()
                if (_sha256(path), hashlib.sha256(raw_keys).hexdigest()) not in trusted:
                    return None
            except OSError:
                return None
        elif not _files_ok(meta):
            return None
        else:
            raw_keys = None
        try:
            hnswlib = require("hnswlib", "ann")
            if raw_keys is None:
                keys = np.load(path + ".keys.npy", allow_pickle=False)
            else:  # the very bytes that were hashed
                keys = np.load(io.BytesIO(raw_keys), allow_pickle=False)
            if keys.dtype != np.int64 or keys.ndim != 1 or len(keys) != meta["count"]:
                return None
            index = hnswlib.Index(space="cosine", dim=dim)
            index.load_index(path, max_elements=max(int(len(keys) * 1.25) + 1024, 16))
        except (MissingDependencyError, OSError, ValueError, RuntimeError, KeyError, TypeError):
            return None
        kwargs.setdefault("M", meta.get("M", 16))
        kwargs.setdefault("ef_construction", meta.get("ef_construction", 128))
        return cls(dim, _index=index, _keys=keys, **kwargs)


class AutoIndex:
    """Exact below ``threshold`` rows; HNSW graph plus exact delta above it.

    Parameters
    ----------
    dim : int
    threshold : int
        Row count at which the HNSW graph is built.
    background : bool
        Move delta rows into the graph on a background thread (default).
        When False, ``add`` inserts into the graph before returning.
    hnsw : dict
        Keyword arguments for :class:`HNSWIndex` (``M``, ``ef_construction``, ``ef_search``...).
    """

    def __init__(self, dim: int, *, threshold: int = DEFAULT_THRESHOLD, background: bool = True, **hnsw) -> None:
        self.dim = dim
        self.threshold = threshold
        self.background = background
        self.hnsw_kwargs = hnsw
        self._graph: HNSWIndex | None = None
        self._delta = ExactIndex(dim)  # everything while exact; rows not yet in the graph after
        self._inflight = ExactIndex(dim, capacity=16)  # rows the indexer is inserting right now
        self._cancelled: set[int] = set()  # in-flight rows removed meanwhile
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._closed = False
        self.dirty = False  # changed since the last save/load

    @property
    def kind(self) -> str:
        return "hnsw" if self._graph is not None else "exact"

    def __len__(self) -> int:
        with self._lock:
            fly = set(self._inflight.items()[0].tolist())
            if self._graph is None:
                return len(self._delta) + len(fly - self._cancelled)
            # The indexer adds in-flight rows to the graph outside our lock: until it lands
            # them, a row can be both in flight and in the graph (count it once), and a
            # cancelled one can be in the graph for a moment (not counted).
            with self._graph._lock:
                live = self._graph._live
                in_graph = len(live) - sum(1 for k in self._cancelled if k in live)
                return len(self._delta) + in_graph + sum(1 for k in fly - self._cancelled if k not in live)

    @property
    def pending(self) -> int:
        """Rows searchable but not yet in the HNSW graph."""
        with self._lock:
            return len(self._delta) + len(self._inflight) if self._graph is not None else 0

    def keys(self) -> np.ndarray:
        with self._lock:
            parts = [self._delta.items()[0]]
            fly = self._inflight.items()[0]
            parts.append(fly[~np.isin(fly, np.fromiter(self._cancelled, np.int64, len(self._cancelled)))])
            if self._graph is None:
                return np.concatenate(parts)
            cancelled = np.fromiter(self._cancelled, np.int64, len(self._cancelled))
            graph = self._graph.keys()
            parts.append(graph[~np.isin(graph, cancelled)])
            return np.unique(np.concatenate(parts))  # in flight and already in the graph: once

    # -- writing ---------------------------------------------------------------
    def add(self, keys, vectors: np.ndarray) -> None:
        keys, vectors = as_batch(keys, vectors, self.dim)
        if not len(keys):
            return
        with self._lock:
            self.remove(keys)  # re-adding a key replaces its vector
            self._delta.add(keys, vectors)
            self.dirty = True
            if self._graph is None and len(self) > self.threshold:
                try:
                    self._graph = HNSWIndex(self.dim, capacity=2 * len(self), **self.hnsw_kwargs)
                except MissingDependencyError as exc:
                    warnings.warn(f"{exc}; staying with exact search", RuntimeWarning, stacklevel=2)
                    self.threshold = float("inf")  # type: ignore[assignment]
            if self._graph is not None:
                if self.background:
                    self._start_worker()
                else:
                    self._drain()

    def remove(self, keys) -> None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if not len(keys):
            return
        with self._lock:
            self._delta.remove(keys)
            for k in keys.tolist():
                if k in self._inflight._pos:
                    self._cancelled.add(k)
            if self._graph is not None:
                self._graph.remove(keys)
            self.dirty = True

    # -- background indexing ------------------------------------------------------
    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="memoryweave-hnsw", daemon=True)
            self._worker.start()

    def _take(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Move the oldest CHUNK delta rows to in-flight (under the lock)."""
        if not len(self._delta) or self._closed:
            return None
        keys, vecs = self._delta.items(CHUNK)
        self._inflight = ExactIndex(self.dim, capacity=max(len(keys), 16))
        self._inflight.add(keys, vecs)
        self._delta.remove(keys)
        return keys, vecs

    def _land(self) -> None:
        """In-flight rows are in the graph now; drop the ones removed meanwhile (under the lock)."""
        if self._cancelled:
            self._graph.remove(list(self._cancelled))
            self._cancelled.clear()
        self._inflight = ExactIndex(self.dim, capacity=16)
        self._idle.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                got = self._take()
                if got is None:
                    self._idle.notify_all()
                    return
                graph = self._graph
            graph.add(*got)  # outside our lock: searches go on meanwhile (graph has its own)
            with self._lock:
                self._land()

    def _drain(self) -> None:
        while (got := self._take()) is not None:
            self._graph.add(*got)
            self._land()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every row is in the graph (or exact); True when done."""
        with self._lock:
            if self._graph is not None and len(self._delta) and not (self._worker and self._worker.is_alive()):
                self._start_worker()
            return self._idle.wait_for(
                lambda: self._graph is None or (not len(self._delta) and not len(self._inflight)), timeout
            )

    def close(self) -> None:
        """Stop the indexer after its current chunk (rows stay searchable in the delta)."""
        with self._lock:
            self._closed = True
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join()

    # -- reading -------------------------------------------------------------------
    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            parts = [self._delta.search(query, n)]
            if len(self._inflight):
                k, s = self._inflight.search(query, n)
                keep = ~np.isin(k, np.fromiter(self._cancelled, np.int64, len(self._cancelled)))
                parts.append((k[keep], s[keep]))
            graph = self._graph
        if graph is not None:
            parts.append(graph.search(query, n))
        if len(parts) == 1:
            return parts[0]
        keys = np.concatenate([p[0] for p in parts])
        sims = np.concatenate([p[1] for p in parts])
        keys, first = np.unique(keys, return_index=True)  # a row can be in two parts for a moment
        sims = sims[first]
        top = np.argsort(-sims, kind="stable")[:n]
        return keys[top], sims[top]

    # -- persistence ---------------------------------------------------------------
    def save(self, path: str) -> dict | None:
        """Save the HNSW graph (the delta is not saved: the owner's database has
        those rows and :meth:`sync` puts them back).  Returns the files' SHA-256
        digests (see :meth:`HNSWIndex.save`; truthy), or None when exact (nothing saved)."""
        with self._lock:
            graph = self._graph
            if graph is None:
                remove_files(path)
                return None
            self.dirty = False
        return graph.save(path)

    @classmethod
    def load(
        cls,
        path: str,
        dim: int,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        background: bool = True,
        digests: dict | list | None = None,
        **hnsw,
    ) -> "AutoIndex | None":
        graph = HNSWIndex.load(path, dim, digests=digests, **hnsw)
        if graph is None:
            return None
        index = cls(dim, threshold=threshold, background=background, **hnsw)
        index._graph = graph
        return index

    def sync(self, keys: np.ndarray, fetch) -> tuple[int, int]:
        """Make the index hold exactly ``keys``: remove the others, and add the
        missing ones with vectors from ``fetch(missing_keys) -> [n, dim]``.
        Returns (added, removed)."""
        keys = np.asarray(keys, dtype=np.int64)
        with self._lock:
            have = self.keys()
            extra = np.setdiff1d(have, keys, assume_unique=True)
            missing = np.setdiff1d(keys, have, assume_unique=True)
            self.remove(extra)
            if len(missing):
                self.add(missing, fetch(missing))
            return len(missing), len(extra)
