"""The HNSW index lifecycle (issue 23 defect 8, issue 22 item 3): recall during
background indexing, graphs loaded lazily per namespace, graphs saved as they change.

Mechanisms are checked by counting (inserts made while a reader was active,
graph loads, files written), never by timing; the figures are in
``benchmarks/bench_costs.py --indexing`` and ``benchmarks/bench_scale.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.ann.auto import AutoIndex
from memoryweave_core.ann.readers import Readers
from memoryweave_core.storage.memory import MemoryStore
from memoryweave_core.storage.sqlite import SQLiteStore

DIM = 32


def _until(predicate, limit: float = 60.0) -> bool:
    """Poll ``predicate`` (a liveness wait, not a timing assertion)."""
    end = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


class _Counting:
    """An hnswlib index that records, for each insert, how many reads were in progress."""

    def __init__(self, real, readers: Readers) -> None:
        self.real, self.readers, self.active_at_insert = real, readers, []

    def add_items(self, vectors, keys, **kw):
        self.active_at_insert.append(self.readers.active)
        return self.real.add_items(vectors, keys, **kw)

    def __getattr__(self, name):
        return getattr(self.real, name)


# -- defect 8: recall during background indexing ---------------------------------------
def test_the_background_indexer_never_inserts_while_a_recall_reads():
    """A recall marks itself as reading; the indexer starts no insert meanwhile (up to
    ``max_pause``, here longer than the test), and the rows stay searchable exactly."""
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(0)
    readers = Readers(max_pause=600)
    index = AutoIndex(DIM, threshold=50, background=True, readers=readers)
    index.add(np.arange(60), rng.normal(size=(60, DIM)).astype(np.float32))
    assert index.wait(60)
    assert index._graph is not None
    counting = _Counting(index._graph._index, readers)
    index._graph._index = counting
    vectors = rng.normal(size=(500, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with readers.reading():
        index.add(np.arange(60, 560), vectors)
        assert _until(lambda: readers.pauses >= 1)  # the indexer is waiting for us
        assert counting.active_at_insert == []
        keys, sims = index.search(vectors[123], 1)  # found exactly, in the pending rows
        assert keys.tolist() == [60 + 123] and sims[0] == pytest.approx(1.0, abs=1e-5)
    assert index.wait(120)
    assert len(counting.active_at_insert) >= 500 // 16 and not any(counting.active_at_insert)
    index.close()


def test_a_waiting_indexer_still_inserts_after_max_pause():
    """A reader that never stops slows indexing down, never stops it."""
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(1)
    readers = Readers(max_pause=0.001)
    index = AutoIndex(DIM, threshold=50, background=True, readers=readers)
    with readers.reading():
        index.add(np.arange(200), rng.normal(size=(200, DIM)).astype(np.float32))
        assert index.wait(120) and index.kind == "hnsw" and index.pending == 0
    index.close()


@pytest.mark.parametrize("make", ["memory", "sqlite"])
def test_a_recall_marks_the_store_as_reading(tmp_path, make):
    store = MemoryStore() if make == "memory" else SQLiteStore(str(tmp_path / "r.db"))
    with MemoryWeave(store=store, embedder=HashingEmbedder(DIM)) as memory:
        memory.add("the garden needs water")
        readers = store._readers if make == "memory" else store._indexes.readers
        seen: list[int] = []
        real = store.candidates

        def candidates(*args, **kwargs):
            seen.append(readers.active)
            return real(*args, **kwargs)

        store.candidates = candidates  # type: ignore[method-assign]
        assert memory.recall("garden", k=1)
        assert seen and all(n >= 1 for n in seen) and readers.active == 0
