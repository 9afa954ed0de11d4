"""The in-memory store's columnar pools against pools built the plain way, a trace at a time.

``storage/keycolumns.py`` keeps every field a pool reads as arrays by row
key, and ``MemoryStore.candidates`` works on keys; these tests rebuild the
same pools from whole traces and access logs (``Pool.from_columns``, which
the PostgreSQL store uses) and from the generic ``gather_candidates`` path,
on random stores with deletions, versions, expiry and recorded accesses, and
require every column and every pathway's values to be equal.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from memoryweave_core import RecallConfig
from memoryweave_core.filters import parse_filter
from memoryweave_core.lexical import tokenize
from memoryweave_core.pathways import Query
from memoryweave_core.pool import Labels, Pool, pool_order
from memoryweave_core.retrieval import Retriever
from memoryweave_core.storage.base import Live, Store, gather_candidates
from memoryweave_core.storage.memory import MemoryStore
from memoryweave_core.trace import Trace

DIM = 8
WORDS = ["red", "blue", "cat", "dog", "sea", "tree", "run", "sing", "cold", "warm"]


def _delete_some(store: Store, ids: dict[str, list[str]], ns: str, rng: np.random.Generator, share: float,
                 most: int) -> None:
    """With probability ``share``, delete 1 to ``most - 1`` of the namespace's ids (drawn with repeats)."""
    if ids[ns] and rng.random() < share:
        gone = list(rng.choice(ids[ns], int(rng.integers(1, most))))
        store.delete(gone, ns)
        ids[ns] = [i for i in ids[ns] if i not in gone]


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as every store holds them (a pool refuses others as damage)."""
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _new_version(store: Store, ns: str, old_id: str, archived: str, text: str, later: float,
                 rng: np.random.Generator) -> None:
    """A second version of a trace, ``later`` seconds after it, with random vectors; the old one kept as ``archived``."""
    old = store.get([old_id], ns)[0]
    v = _unit(rng.normal(size=(2, DIM)))
    new = Trace(id=old.id, text=text, namespace=ns, speaker=old.speaker, episode=old.episode, position=old.position,
                time=old.time + later, content=v[0], context=v[1], version=2, supersedes=f"{old.id}@1")
    store.supersede(old.id, archived, old.time + later, new)


def _store(rng: np.random.Generator, store: Store | None = None) -> tuple[Store, dict[str, list[str]]]:
    """A random store (``store`` filled, or a new MemoryStore): the same seed gives the same traces on any backend."""
    store = MemoryStore() if store is None else store
    ids: dict[str, list[str]] = {"a": [], "b": []}
    n = 0
    for _ in range(int(rng.integers(2, 6))):
        batch = []
        for _ in range(int(rng.integers(1, 40))):
            ns = str(rng.choice(["a", "b"]))
            ep = rng.choice(["e1", "e2", "e3", "None", ""]) if rng.random() < 0.8 else None
            v = _unit(rng.normal(size=(2, DIM)))
            t = Trace(id=f"t{n}", text=" ".join(rng.choice(WORDS, int(rng.integers(0, 7)))), namespace=ns,
                      speaker=rng.choice(["ann", "bob", "", None]), episode=None if ep is None else str(ep),
                      position=int(rng.integers(0, 12)), time=float(rng.integers(0, 6)), content=v[0], context=v[1],
                      category=int(rng.integers(0, 3)) if rng.random() < 0.5 else None,
                      expires_at=float(rng.integers(1, 8)) if rng.random() < 0.1 else None)
            batch.append(t)
            ids[ns].append(t.id)
            n += 1
        store.add(batch)
        for ns in ("a", "b"):
            _delete_some(store, ids, ns, rng, 0.5, 3)
            if ids[ns]:
                store.record_access(list(rng.choice(ids[ns], 5)), float(rng.integers(0, 10)), ns)
    for ns in ("a", "b"):
        if ids[ns] and rng.random() < 0.7:  # a new version of one trace: the old one archived under its own id
            old_id = ids[ns][0]
            _new_version(store, ns, old_id, f"{old_id}@1", "warm sea", 1, rng)
            ids[ns].append(f"{old_id}@1")
    return store, ids


def _plain(store: Store, ns: str, ids: list[str]) -> Pool:
    """The pool of these ids, in this order, built from whole traces and access logs."""
    found = {t.id: t for t in store.get(ids, ns)}
    traces = [found[i] for i in ids]
    logs = store.access_logs(ids, ns)
    return Pool.from_columns(
        [t.id for t in traces], [t.speaker for t in traces], [t.episode for t in traces], [t.position for t in traces],
        [t.time for t in traces], [t.category for t in traces], [tokenize(t.text) for t in traces],
        [t.content for t in traces], [t.context for t in traces], [logs[t.id] for t in traces], DIM,
    )


def _assert_same(got: Pool, want: Pool) -> None:
    assert got.ids.tolist() == want.ids.tolist()
    assert got.speakers == want.speakers and got.episodes == want.episodes
    assert list(got.tokens) == list(want.tokens)
    for name in ("positions", "times", "categories", "content", "context", "first_access", "access_count", "recent_access"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name


@pytest.mark.parametrize("seed", range(25))
def test_columnar_pools_equal_plain_pools_and_score_alike(seed):
    rng = np.random.default_rng(seed)
    store, ids = _store(rng)
    retriever = Retriever(store, RecallConfig())
    for ns in ("a", "b"):
        if not ids[ns]:
            continue
        for _ in range(4):
            asked = list(dict.fromkeys(rng.choice(ids[ns], int(rng.integers(1, 8)))))
            where = parse_filter({"speaker": "ann"}) if rng.random() < 0.3 else None
            pool = store.pool(ns, ids=asked, radius=int(rng.integers(0, 3)), where=where)
            _assert_same(pool, _plain(store, ns, pool.ids.tolist()))
            if not len(pool):
                continue
            v = rng.normal(size=DIM).astype(np.float32)
            query = Query(text="ann red sea cat", vector=v, namespace=ns, now=5.0, names=frozenset({"ann", "bob"}))
            terms = retriever.terms(query)
            stats = functools.partial(store.lexical_stats, ns)
            got = retriever.table(query, terms, pool, stats).raw
            want = retriever.table(query, terms, _plain(store, ns, pool.ids.tolist()), stats).raw
            assert got.keys() == want.keys()
            for name in got:
                assert np.array_equal(got[name], want[name]), name


@pytest.mark.parametrize("seed", range(25))
def test_candidates_on_keys_equal_the_generic_path(seed):
    rng = np.random.default_rng(100 + seed)
    store, ids = _store(rng)
    for ns in ("a", "b"):
        for _ in range(4):
            v = rng.normal(size=(2, DIM)).astype(np.float32)
            searches = [("content", v[0]), ("context", v[1])]
            terms = list(rng.choice(WORDS, 2))
            where = parse_filter({"speaker": "bob"}) if rng.random() < 0.3 else None
            live = Live(at=None if rng.random() < 0.5 else 10.0, now=float(rng.integers(0, 8))) if rng.random() < 0.6 else None
            n, radius = int(rng.integers(1, 6)), int(rng.integers(0, 3))
            got = store.candidates(ns, searches, terms, n, radius, where=where, live=live)
            want = gather_candidates(store, ns, searches, terms, n, radius, where=where, live=live)
            _assert_same(got, want)


def test_labels_code_rows_and_merge_equal_names_once():
    a, b = Labels.of(["x", None, "y", "x", ""]), Labels.of([None, "y", "z"])
    assert a.codes.tolist() == [0, -1, 1, 0, 2] and a.labels == ("x", "y", "")
    assert a.values() == ["x", None, "y", "x", ""]
    both = Labels.concat([a, b])
    assert both.values() == a.values() + b.values()
    assert both.codes[2] == both.codes[6]  # "y" of either part: one code
    apart = Labels.concat([a, b], ["0:", "1:"])
    assert apart.values() == ["0:x", None, "0:y", "0:x", "0:", None, "1:y", "1:z"]


def _plain_order(asked, keys, episodes, positions):
    """pool_order as it was written a row at a time (before the episode codes)."""
    row = {key: i for i, key in enumerate(keys)}
    first = [row[k] for k in dict.fromkeys(asked) if k in row]
    rank: dict = {}
    for i in first:
        if episodes[i] is not None:
            rank.setdefault(episodes[i], len(rank))
    taken = set(first)
    near = [i for i in range(len(keys)) if i not in taken]
    for e in sorted({episodes[i] for i in near} - rank.keys(), key=str):
        rank[e] = len(rank)
    by = np.lexsort(([positions[i] for i in near], [rank[episodes[i]] for i in near]))
    return first + [near[i] for i in by.tolist()]


def test_pool_order_equals_the_row_at_a_time_order():
    rng = np.random.default_rng(3)
    for _ in range(2000):
        n = int(rng.integers(0, 30))
        keys = rng.permutation(100)[:n].tolist()
        # (no episode named "None": the old order of it against no episode was the set's iteration order)
        episodes = [None if rng.random() < 0.2 else str(rng.choice(["e1", "e2", "b", "a", "", "Z"])) for _ in range(n)]
        positions = rng.integers(0, 5, n).tolist()
        asked = rng.choice(keys + [999], int(rng.integers(0, 10))).tolist() if n else []
        want = _plain_order(asked, keys, episodes, positions)
        assert pool_order(asked, keys, episodes, positions) == want
        assert pool_order(asked, keys, Labels.of(episodes), np.array(positions, np.int64)) == want
        assert pool_order(asked, np.array(keys, np.int64), Labels.of(episodes), np.array(positions, np.int64)) == want
        prefix = keys[: int(rng.integers(0, n + 1))]  # asked handed over first, as stores do
        assert pool_order(prefix, keys, Labels.of(episodes), positions) == _plain_order(prefix, keys, episodes, positions)
        assert pool_order(prefix, np.array(keys, np.int64), Labels.of(episodes), positions) == _plain_order(
            prefix, keys, episodes, positions)


def _plain_neighbourhood(store: MemoryStore, ns: str, asked: list[str], radius: int) -> list[str]:
    """The ids of a pool as ``MemoryStore.pool`` gathered them a trace at a time: the asked
    traces, then their episode's members within ``radius`` positions, in :func:`pool_order`."""
    ids = list(asked)
    for t in store.get(asked, ns):
        if t.episode is not None and radius:
            ids += [m.id for m in store.episode_traces(ns, t.episode, t.position - radius, t.position + radius + 1)]
    ids = list(dict.fromkeys(ids))
    traces = {t.id: t for t in store.get(ids, ns)}
    order = pool_order(asked, ids, [traces[i].episode for i in ids], [traces[i].position for i in ids])
    return [ids[i] for i in order]


@pytest.mark.parametrize("seed", range(15))
def test_neighbours_found_by_key_order_equal_the_episode_map(seed):
    """Conversations added in order (where the columns guess each neighbour's
    key), interleaved across namespaces, with repeated positions, deletions and
    new versions (where the guesses fail and the episode map answers)."""
    rng = np.random.default_rng(500 + seed)
    store, n = MemoryStore(), 0
    ids: dict[str, list[str]] = {"a": [], "b": []}
    for _ in range(int(rng.integers(2, 6))):
        batch = []
        for _ in range(int(rng.integers(1, 4))):
            ns, name = str(rng.choice(["a", "b"])), str(rng.choice(["e1", "e2", "e3"]))
            start = int(rng.integers(0, 6))
            for pos in range(start, start + int(rng.integers(1, 12))):
                v = _unit(rng.normal(size=(2, DIM)))
                batch.append(Trace(id=f"t{n}", text="red sea", namespace=ns, speaker="ann", episode=name,
                                   position=pos if rng.random() < 0.9 else int(rng.integers(0, 15)), time=float(n),
                                   content=v[0], context=v[1]))
                ids[ns].append(f"t{n}")
                n += 1
        store.add(batch)
        for ns in ("a", "b"):
            _delete_some(store, ids, ns, rng, 0.4, 4)
            current = [i for i in ids[ns] if "@" not in i]
            if current and rng.random() < 0.4:
                old_id = str(rng.choice(current))
                _new_version(store, ns, old_id, f"{old_id}@{n}", "cold sea", 0.5, rng)
                ids[ns].append(f"{old_id}@{n}")
                n += 1
    for ns in ("a", "b"):
        for _ in range(6 if ids[ns] else 0):
            asked = list(dict.fromkeys(rng.choice(ids[ns], int(rng.integers(1, 10))).tolist()))
            radius = int(rng.integers(0, 4))
            assert store.pool(ns, ids=asked, radius=radius).ids.tolist() == _plain_neighbourhood(store, ns, asked, radius)


def test_unique_by_sorting_equals_numpy_unique():
    from memoryweave_core.keysets import unique, unique_first

    rng = np.random.default_rng(9)
    for _ in range(2000):
        keys = rng.integers(-3, int(rng.integers(1, 40)), int(rng.integers(0, 60)))
        want = np.unique(keys, return_index=True, return_inverse=True)
        got = unique_first(keys)
        for a, b in zip(got, want, strict=True):
            assert a.tolist() == b.reshape(-1).tolist()
        assert unique(keys).tolist() == want[0].tolist()


def test_labels_of_equals_the_row_at_a_time_coding():
    def plain(values):
        seen: dict = {None: -1}
        codes = np.fromiter((seen.setdefault(v, len(seen) - 1) for v in values), np.int64)
        return codes.tolist(), tuple(v for v in seen if v is not None)

    rng = np.random.default_rng(4)
    for _ in range(2000):
        values = [None if rng.random() < 0.2 else str(rng.choice(["a", "b", "", "None", "x"])) for _ in range(int(rng.integers(0, 40)))]
        for given in (values, tuple(values), iter(values)):
            got = Labels.of(given)
            assert (got.codes.tolist(), got.labels) == plain(values) and got.codes.dtype == np.int64
