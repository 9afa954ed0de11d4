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


def test_key_sets_agree_with_numpy():
    """The sort-based set operations give numpy's answers (numpy 2.4 hashes, slowly, at scale)."""
    from memoryweave_core.keysets import difference, unique

    rng = np.random.default_rng(3)
    for _ in range(300):
        a = rng.integers(-5, 60, rng.integers(0, 50))
        b = rng.integers(-5, 60, rng.integers(0, 50))
        assert np.array_equal(unique(a), np.unique(a))
        assert np.array_equal(difference(a, b), np.setdiff1d(a, b))


def _upper_levels_reference(data: bytes, pos: int, cur: int, max_m: int, max_level: int) -> bool:
    """The plain walk: one element at a time."""
    per_level = max_m * 4 + 4
    for _ in range(cur):
        if pos + 4 > len(data):
            return False
        size = int.from_bytes(data[pos : pos + 4], "little")
        pos += 4
        if not size:
            continue
        if size % per_level or size // per_level > max_level or pos + size > len(data):
            return False
        lists = np.frombuffer(data, np.uint32, size // 4, pos).reshape(-1, max_m + 1)
        n = lists[:, 0] & 0xFFFF
        if (n > max_m).any() or (lists[:, 1:][np.arange(max_m)[None, :] < n[:, None]] >= cur).any():
            return False
        pos += size
    return pos == len(data)


@pytest.mark.parametrize("m", [4, 16])
def test_the_upper_level_check_agrees_with_a_plain_walk_on_damaged_graphs(tmp_path, m):
    hnswlib = pytest.importorskip("hnswlib")
    from memoryweave_core.ann import graphfile

    rng = np.random.default_rng(m)
    index = hnswlib.Index(space="cosine", dim=8)
    index.init_index(max_elements=2000, M=m)
    index.add_items(rng.standard_normal((2000, 8)).astype(np.float32), np.arange(2000))
    index.save_index(str(tmp_path / "g"))
    data = (tmp_path / "g").read_bytes()
    head = graphfile.HEADER.unpack_from(data)
    cur, size_el, max_level, max_m = head[2], head[3], head[6], head[8]
    end0 = graphfile.HEADER.size + cur * size_el
    args = (end0, cur, max_m, max_level)
    assert graphfile._upper_levels_ok(data, *args) and _upper_levels_reference(data, *args)
    rejected = 0
    for trial in range(300):
        bad = bytearray(data)
        kind = trial % 4
        if kind < 2:  # a word of the upper levels: random, or a plausible size or link
            word = int(rng.integers(end0 // 4, len(bad) // 4))
            value = int(rng.integers(0, 2**32)) if kind == 0 else int(rng.choice([0, 1, 4 * max_m + 4, cur, 2**16 + 1]))
            bad[word * 4 : word * 4 + 4] = value.to_bytes(4, "little")
        elif kind == 2:
            bad = bad[: int(rng.integers(end0, len(bad)))]
        else:
            bad += bytes(int(rng.choice([1, 4, 4 * max_m + 4])))
        ours, plain = graphfile._upper_levels_ok(bytes(bad), *args), _upper_levels_reference(bytes(bad), *args)
        assert ours == plain
        rejected += not ours
    assert rejected > 50


def _level0_reference(data: bytes, dim: int, keys: np.ndarray) -> bool:
    """check_bytes as it was, copying each column of the level-0 records out first."""
    from memoryweave_core.ann import graphfile
    from memoryweave_core.keysets import unique

    head = graphfile.layout(data[: graphfile.HEADER.size], dim, len(data))
    if head is None or head.elements < len(keys):
        return False
    cur, size_el, label_off, links0 = head.elements, head.size_element, head.offset_label, head.offset_data
    max_m0 = (links0 - 4) // 4
    level0 = np.frombuffer(data, np.uint8, cur * size_el, graphfile.HEADER.size).reshape(cur, size_el)
    n0 = level0[:, :4].copy().view(np.uint32)[:, 0] & 0xFFFF
    if (n0 > max_m0).any():
        return False
    ids = level0[:, 4:links0].copy().view(np.uint32)
    if ((ids >= cur) & (np.arange(max_m0)[None, :] < n0[:, None])).any():
        return False
    labels = level0[:, label_off:].copy().view(np.int64)[:, 0]
    if len(unique(labels)) != cur or not np.isin(keys, labels).all():
        return False
    return graphfile._upper_levels_ok(data, head.level0_end, cur, head.max_m, head.max_level)


@pytest.mark.parametrize("m", [4, 16])
def test_the_level0_check_reads_in_place_what_the_copying_check_read(tmp_path, m):
    """check_bytes reads the link words and labels as strided views of the file's bytes;
    on damaged level-0 records it decides exactly as the version that copied them out."""
    hnswlib = pytest.importorskip("hnswlib")
    from memoryweave_core.ann import graphfile

    rng = np.random.default_rng(100 + m)
    index = hnswlib.Index(space="cosine", dim=8)
    index.init_index(max_elements=500, M=m)
    index.add_items(rng.standard_normal((500, 8)).astype(np.float32), np.arange(500))
    index.save_index(str(tmp_path / "g"))
    data = (tmp_path / "g").read_bytes()
    keys = np.arange(500)
    head = graphfile.layout(data[: graphfile.HEADER.size], 8, len(data))
    assert head is not None and graphfile.check_bytes(data, 8, keys) and _level0_reference(data, 8, keys)
    rejected = 0
    for trial in range(300):
        bad = bytearray(data)
        row = int(rng.integers(0, head.elements))
        at = graphfile.HEADER.size + row * head.size_element
        kind = trial % 3
        if kind == 0:  # a link count or a neighbour id
            word = int(rng.integers(0, head.offset_data // 4))
            value = int(rng.choice([0, m, 2 * m + 1, 499, 500, 2**16 + 3, int(rng.integers(0, 2**32))]))
            bad[at + 4 * word : at + 4 * word + 4] = value.to_bytes(4, "little")
        elif kind == 1:  # a label: another row's, or one nobody has
            label = int(rng.choice([int(rng.integers(0, 500)), 10**9]))
            bad[at + head.offset_label : at + head.offset_label + 8] = label.to_bytes(8, "little", signed=True)
        else:  # a vector byte (never rejected by the structure check)
            bad[at + head.offset_data + int(rng.integers(0, 32))] ^= 0xFF
        ours, plain = graphfile.check_bytes(bytes(bad), 8, keys), _level0_reference(bytes(bad), 8, keys)
        assert ours == plain
        rejected += not ours
    assert rejected > 50


def _plain_merge(parts, n):
    """``merge`` as it was before its one-search shortcut."""
    if len(parts) == 1:
        return parts[0]
    keys = np.concatenate([p[0] for p in parts])
    sims = np.concatenate([p[1] for p in parts])
    keys, first = np.unique(keys, return_index=True)
    sims = sims[first]
    top = np.argsort(-sims, kind="stable")[:n]
    return keys[top], sims[top]


def test_merge_equals_the_plain_merge_with_empty_parts_and_ties():
    from memoryweave_core.ann.auto import merge

    rng = np.random.default_rng(7)
    for _ in range(3000):
        n = int(rng.integers(1, 12))
        parts = []
        for _ in range(int(rng.integers(1, 4))):
            m = int(rng.integers(0, n + 1)) if rng.random() < 0.7 else 0
            keys = rng.permutation(40)[:m].astype(np.int64)
            sims = np.sort(rng.integers(0, 6 if rng.random() < 0.5 else 10**6, m).astype(np.float32) / 7)[::-1]
            parts.append((keys, sims.copy()))
        got, want = merge(parts, n), _plain_merge(parts, n)
        assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
