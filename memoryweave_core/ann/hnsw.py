"""HNSWIndex: an hnswlib graph (cosine space) keyed by integer keys, saved and loaded safely.

It grows by doubling its capacity, and removals use ``mark_deleted`` so a
removed key can never be returned again.  A save is staged (temporary files
written while searches go on) and then published (renamed into place), so an
owner can publish inside a short transaction.  ``load`` returns None for
anything missing, damaged, of another dimension or (with ``digests``) not
hashing to what the caller recorded, so the caller rebuilds instead of trusting it.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import MissingDependencyError, require
from ..vectors import as_batch
from .files import FORMAT, Staged, discard, files_ok, fingerprint, read_json, temp_beside
from .graphfile import check_bytes, check_graph
from .sharedlock import SharedLock


def saved_meta(path: str, dim: int) -> dict | None:
    """The sidecar of a graph saved at ``path`` with ``dim`` floats per vector (None: missing or another kind)."""
    meta = read_json(path + ".json")
    if not meta or meta.get("format") != FORMAT or meta.get("kind") != "hnsw" or meta.get("dim") != dim:
        return None
    # Files are named by base name (sidecars of older releases: by the path they were saved at) and
    # always read beside the sidecar, so a store that is moved, or opened through another path,
    # keeps its graphs; a name the sidecar gives is never itself opened.
    here = {os.path.basename(path): path, os.path.basename(path) + ".keys.npy": path + ".keys.npy"}
    files = meta.get("files")
    if not isinstance(files, dict) or {os.path.basename(str(p)) for p in files} != set(here) or len(files) != 2:
        return None
    return {**meta, "files": {here[os.path.basename(str(p))]: v for p, v in files.items()}}


def trusted_keys(path: str, dim: int, digests: dict | list) -> np.ndarray | None:
    """The keys file of the graph saved at ``path``, when its sidecar holds and it hashes to the
    keys digest of one of ``digests`` (see :meth:`HNSWIndex.load`); None otherwise.  The graph
    file itself is not hashed here: that is what a load does."""
    meta = saved_meta(path, dim)
    trusted = [digests] if isinstance(digests, dict) else digests
    if meta is None:
        return None
    try:
        with open(path + ".keys.npy", "rb") as f:
            raw = f.read()
        if hashlib.sha256(raw).hexdigest() not in {d.get("keys") for d in trusted if isinstance(d, dict)}:
            return None
        keys = np.load(io.BytesIO(raw), allow_pickle=False)
    except (OSError, ValueError):
        return None
    if keys.dtype != np.int64 or keys.ndim != 1 or len(keys) != meta.get("count"):
        return None
    return keys


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.float32)


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
        _index: Any = None,
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
        self._lock = threading.RLock()  # inserts and saves, one at a time (a save never sees the graph grow)
        self._rw = SharedLock()  # searches share the graph; inserts and removals take it alone

    def __len__(self) -> int:
        return len(self._live)

    def keys(self) -> np.ndarray:
        live = self._live.copy()  # one C call under the GIL: never a set changing mid-iteration
        return np.fromiter(live, np.int64, len(live))

    def __contains__(self, key: int) -> bool:
        return int(key) in self._live

    def add(self, keys: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Insert rows (under the lock: hnswlib's insert is not safe beside a search)."""
        keys, vectors = as_batch(keys, vectors, self.dim)
        if not len(keys):
            return
        with self._lock, self._rw.exclusive():
            needed = self._index.element_count + len(keys)
            cap = self._index.get_max_elements()
            if needed > cap:
                while cap < needed:
                    cap *= 2
                self._index.resize_index(cap)
            self._index.add_items(vectors, keys, num_threads=self.threads if len(keys) > 64 else 1)
            self._live.update(keys.tolist())

    def remove(self, keys: Sequence[int] | np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1).tolist()
        if not any(key in self._live for key in keys):
            return  # nothing to do: do not wait for the lock an insert may hold for a while
        with self._rw.exclusive():  # not the save lock: a removal never waits for a background save
            for key in keys:
                if key in self._live:
                    try:
                        self._index.mark_deleted(key)
                    except RuntimeError:  # saved while being removed: the file had it deleted already
                        pass
                    self._live.discard(key)

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        with self._rw.shared():
            n = min(n, len(self._live))
            if n <= 0:
                return _empty()
            q = np.asarray(query, dtype=np.float32).reshape(1, self.dim)
            ef = max(self.ef_search, n)
            for _attempt in range(3):
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
        staged = self.stage(path)
        staged.publish()
        return staged.digests

    def stage(self, path: str) -> Staged:
        """Write the graph and its keys to fresh temporary files beside ``path``
        (fsynced, hashed); :meth:`Staged.publish` renames them into place.
        Searches and removals go on meanwhile; inserts wait."""
        graph_tmp, keys_tmp = temp_beside(path), None
        try:
            with self._lock:  # searches and removals go on (a removal only flips a flag)
                keys = self.keys()
                self._index.save_index(graph_tmp)  # over our own fresh file, never a planted one
            keys_tmp = temp_beside(path + ".keys.npy")
            with open(keys_tmp, "wb") as f:
                np.save(f, keys, allow_pickle=False)
            digests, files = {}, {}
            for name, written, final in (("graph", graph_tmp, path), ("keys", keys_tmp, path + ".keys.npy")):
                with open(written, "rb+") as f:
                    os.fsync(f.fileno())
                digests[name], files[os.path.basename(final)] = fingerprint(written)
        except BaseException:
            for tmp in (graph_tmp, keys_tmp):
                if tmp is not None:
                    discard(tmp)
            raise
        meta = {"format": FORMAT, "kind": "hnsw", "dim": self.dim, "count": int(len(keys)), "M": self.M,
                "ef_construction": self.ef_construction, "files": files}
        return Staged({path: graph_tmp, path + ".keys.npy": keys_tmp}, path + ".json", meta, digests)

    @classmethod
    def load(cls, path: str, dim: int, *, digests: dict | list | None = None,
             stop: Callable[[], bool] | None = None, **kwargs: Any) -> "HNSWIndex | None":
        """The index saved at ``path``, or None when it is missing, damaged or of another dim.

        With ``digests`` (what :meth:`save` returned, or a list of such, kept
        somewhere trusted) the files must hash to exactly one of those SHA-256
        pairs before hnswlib reads a byte of them; without, only the sidecar's
        sizes and CRC32s are checked (accidental damage, not tampering).  When
        ``stop()`` turns true, the load gives up (None) at its next step: after
        the read, the hash or the check (a background load that is no longer wanted)."""

        def stopped() -> bool:
            return stop is not None and stop()

        meta = saved_meta(path, dim)
        if meta is None:
            return None
        raw_keys: bytes | None = None
        raw_graph: bytes | None = None
        if digests is not None:
            trusted = [digests] if isinstance(digests, dict) else digests
            trusted = [(d.get("graph"), d.get("keys")) for d in trusted if isinstance(d, dict)]
            try:
                with open(path + ".keys.npy", "rb") as f:
                    raw_keys = f.read()
                with open(path, "rb") as f:
                    raw_graph = f.read()  # hashed and bounds-checked from one read
                if stopped():
                    return None
                if (hashlib.sha256(raw_graph).hexdigest(), hashlib.sha256(raw_keys).hexdigest()) not in trusted:
                    return None
            except OSError:
                return None
        elif not files_ok(meta):
            return None
        try:
            hnswlib = require("hnswlib", "ann")
            if raw_keys is None:
                keys = np.load(path + ".keys.npy", allow_pickle=False)
            else:  # the very bytes that were hashed
                keys = np.load(io.BytesIO(raw_keys), allow_pickle=False)
            if keys.dtype != np.int64 or keys.ndim != 1 or len(keys) != meta["count"] or stopped():
                return None
            # hnswlib trusts its file: out-of-range ids crash it
            if not (check_graph(path, dim, keys) if raw_graph is None else check_bytes(raw_graph, dim, keys)):
                return None
            if stopped():
                return None
            del raw_graph
            index = hnswlib.Index(space="cosine", dim=dim)
            index.load_index(path, max_elements=max(int(len(keys) * 1.25) + 1024, 16))
        except (MissingDependencyError, OSError, ValueError, RuntimeError, KeyError, TypeError):
            return None
        kwargs.setdefault("M", meta.get("M", 16))
        kwargs.setdefault("ef_construction", meta.get("ef_construction", 128))
        return cls(dim, _index=index, _keys=keys, **kwargs)
