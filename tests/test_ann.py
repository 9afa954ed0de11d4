"""HNSW wrapper and the exact/HNSW auto index."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("hnswlib", reason="hnswlib (the 'ann' extra) is not installed")

from memoryweave_core.ann import AutoIndex, HNSWIndex  # noqa: E402
from memoryweave_core.vectors import ExactIndex  # noqa: E402

DIM = 48


def lowrank(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors with structure (as real embeddings have), not uniform noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)) @ rng.standard_normal((8, DIM)) + 0.1 * rng.standard_normal((n, DIM))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(x: np.ndarray, keys: np.ndarray, q: np.ndarray, n: int) -> set[int]:
    return set(keys[np.argsort(-(x @ q))[:n]].tolist())


def test_hnsw_recall_and_scores():
    x = lowrank(3000)
    keys = np.arange(1000, 4000)
    index = HNSWIndex(DIM, capacity=100)  # grows by doubling
    for i in range(0, len(x), 700):
        index.add(keys[i : i + 700], x[i : i + 700])
    assert len(index) == 3000
    queries = lowrank(30, seed=1)
    recall = np.mean([len(set(index.search(q, 10)[0].tolist()) & exact_top(x, keys, q, 10)) / 10 for q in queries])
    assert recall >= 0.9
    k, s = index.search(x[5], 3)
    assert k[0] == keys[5] and s[0] == pytest.approx(1.0, abs=1e-4)
    assert np.all(np.diff(s) <= 1e-6)
    assert len(index.search(x[0], 10_000)[0]) == 3000  # n above the size: everything


def test_removed_keys_never_come_back():
    x = lowrank(500)
    index = HNSWIndex(DIM)
    index.add(np.arange(500), x)
    gone = np.arange(0, 500, 2)
    index.remove(gone)
    index.remove(gone)  # twice is harmless
    assert len(index) == 250
    for q in x[:20]:
        got = index.search(q, 50)[0]
        assert not set(got.tolist()) & set(gone.tolist())
    assert len(index.search(x[0], 1000)[0]) == 250
    index.remove(np.arange(1, 500, 2))
    assert len(index) == 0 and len(index.search(x[0], 5)[0]) == 0


def test_save_load_and_damage(tmp_path):
    x = lowrank(800)
    index = HNSWIndex(DIM)
    index.add(np.arange(800), x)
    index.remove([3, 4])
    path = str(tmp_path / "g.hnsw")
    index.save(path)
    loaded = HNSWIndex.load(path, DIM)
    assert loaded is not None and len(loaded) == 798
    for q in x[:10]:
        assert loaded.search(q, 10)[0].tolist() == index.search(q, 10)[0].tolist()
    assert 3 not in set(loaded.search(x[3], 50)[0].tolist())
    loaded.add([5000], x[:1])  # still growable after load
    assert HNSWIndex.load(path, DIM + 1) is None  # other dimension
    data = bytearray(open(path, "rb").read())
    data[100] ^= 1
    open(path, "wb").write(bytes(data))
    assert HNSWIndex.load(path, DIM) is None  # checksum
    os.remove(path)
    assert HNSWIndex.load(path, DIM) is None
    assert HNSWIndex.load(str(tmp_path / "never"), DIM) is None


@pytest.mark.parametrize("background", [False, True])
def test_auto_index_switches_and_matches_exact(background):
    x = lowrank(1200)
    auto = AutoIndex(DIM, threshold=500, background=background)
    exact = ExactIndex(DIM)
    auto.add(np.arange(400), x[:400])
    exact.add(np.arange(400), x[:400])
    assert auto.kind == "exact" and auto.pending == 0
    q = lowrank(1, seed=3)[0]
    assert auto.search(q, 10)[0].tolist() == exact.search(q, 10)[0].tolist()
    for i in range(400, 1200, 100):
        auto.add(np.arange(i, i + 100), x[i : i + 100])
        exact.add(np.arange(i, i + 100), x[i : i + 100])
    assert auto.kind == "hnsw" and len(auto) == 1200
    assert auto.wait(timeout=60) and auto.pending == 0
    auto.remove(np.arange(0, 1200, 3))
    exact.remove(np.arange(0, 1200, 3))
    assert len(auto) == 800
    hits = [len(set(auto.search(q, 10)[0].tolist()) & set(exact.search(q, 10)[0].tolist())) for q in lowrank(20, seed=4)]
    assert np.mean(hits) >= 9
    for q in x[:30:3]:
        assert not {int(k) for k in auto.search(q, 100)[0]} & set(range(0, 1200, 3))
    auto.close()


def test_auto_index_new_rows_searchable_before_indexed():
    x = lowrank(2000)
    auto = AutoIndex(DIM, threshold=100, background=True)
    auto.add(np.arange(2000), x)
    assert len(auto) == 2000
    for i in (0, 999, 1999):  # exact in the delta, in flight, or in the graph: found either way
        assert auto.search(x[i], 1)[0][0] == i
    auto.remove([1999])
    assert auto.wait(timeout=60)
    assert 1999 not in set(auto.search(x[1999], 20)[0].tolist())
    assert len(auto) == 1999
    auto.close()


def test_auto_index_save_load_sync(tmp_path):
    x = lowrank(900)
    auto = AutoIndex(DIM, threshold=100, background=False)
    auto.add(np.arange(600), x[:600])
    path = str(tmp_path / "a.hnsw")
    assert auto.save(path)
    small = AutoIndex(DIM)
    small.add([1], x[:1])
    assert not small.save(str(tmp_path / "small.hnsw"))  # exact indexes are rebuilt, not saved
    loaded = AutoIndex.load(path, DIM, threshold=100, background=False)
    assert loaded is not None and len(loaded) == 600 and not loaded.dirty
    truth = np.concatenate([np.arange(100, 600), np.arange(600, 900)])  # 0-99 deleted, 600-899 added since
    added, removed = loaded.sync(truth, lambda keys: x[keys])
    assert (added, removed) == (300, 100)
    assert sorted(loaded.keys().tolist()) == truth.tolist()
    assert loaded.search(x[850], 1)[0][0] == 850
    assert not set(loaded.search(x[5], 50)[0].tolist()) & set(range(100))
    assert AutoIndex.load(str(tmp_path / "nothing"), DIM) is None
