"""The behaviour every storage backend owes the engine, as a suite to subclass.

A backend's tests subclass :class:`StoreContract` and say how to make an
empty store (``new_store``) and how to dispose of one (``dispose``); every
test below then runs on it, with ``MemoryStore`` as the reference.  This is
how ``langchain-tests`` lets a new integration prove itself.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memoryweave_core.activation import log_columns
from memoryweave_core.errors import DimensionMismatchError, InvalidInputError, NonFiniteVectorError
from memoryweave_core.filters import parse_filter
from memoryweave_core.lexical import BM25Index, tokenize
from memoryweave_core.storage import MemoryStore, Store
from memoryweave_core.storage.base import gather_candidates
from memoryweave_core.trace import Trace

DIM = 16


def unit(rng, n=1):
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


TEXTS = [
    "Caroline went to the LGBTQ support group on Sunday",
    "Melanie painted a sunrise over the lake",
    "They talked about adoption agencies and counseling",
    "Luna the cat knocked the painting off the wall",
    "Caroline is painting a picture of Luna",
    "The support group meets every Sunday at seven pm",
]


def traces(rng, texts=TEXTS, namespace="default", episode="ep1", start=0, t0=1000.0):
    vecs = unit(rng, len(texts))
    ctx = unit(rng, len(texts))
    return [
        Trace(
            id=uuid.uuid4().hex,
            text=text,
            namespace=namespace,
            speaker="Caroline" if i % 2 == 0 else "Melanie",
            episode=episode,
            position=start + i,
            time=t0 + i,
            metadata={"i": i, "tags": ["a", "b"], "nested": {"x": 1.5}},
            content=vecs[i],
            context=ctx[i],
            category=i % 3,
        )
        for i, text in enumerate(texts)
    ]


def assert_same_stats(got, want):
    """Same document count and frequencies, same average length to rounding."""
    assert (got[0], got[2]) == (want[0], want[2])
    assert got[1] == pytest.approx(want[1], rel=1e-12)


class StoreContract:
    """Subclass as ``TestMyStore(StoreContract)`` and implement ``new_store``."""

    def new_store(self, tmp_path: Path, n: int) -> Any:
        """A fresh, empty store; ``n`` counts the stores made in this test
        (SQLite keeps exact search up to 40 rows, so HNSW runs too)."""
        raise NotImplementedError

    def dispose(self, store: Any) -> None:
        """Release what the store holds (the default closes it)."""
        store.close()

    @pytest.fixture
    def make_store(self, tmp_path):
        """A factory of fresh, empty stores of this backend (disposed of afterwards)."""
        made: list = []

        def make():
            store = self.new_store(tmp_path, len(made))
            made.append(store)
            return store

        yield make
        for store in made:
            self.dispose(store)

    @pytest.fixture
    def store(self, make_store):
        return make_store()

    def test_protocol(self, store):
        assert isinstance(store, Store)
        assert store.dim is None and store.count() == 0 and store.namespaces() == []


    def test_add_get_roundtrip(self, store):
        rng = np.random.default_rng(0)
        ts = traces(rng)
        store.add(ts)
        assert store.dim == DIM
        got = store.get([ts[3].id, "nope", ts[0].id], "default")
        assert [t.id for t in got] == [ts[3].id, ts[0].id]
        for a, b in zip(got, [ts[3], ts[0]]):
            assert a.to_dict() == b.to_dict()
            np.testing.assert_allclose(a.content, b.content, rtol=1e-6)
            np.testing.assert_allclose(a.context, b.context, rtol=1e-6)
        assert store.count() == 6 and store.count("default") == 6 and store.count("other") == 0
        assert [t.id for t in store.iter_traces()] == [t.id for t in ts]
        assert store.last_trace("default").id == ts[-1].id
        assert store.last_trace("other") is None


    def test_namespaces_are_isolated(self, store):
        rng = np.random.default_rng(1)
        a = traces(rng, namespace="alice")
        b = traces(rng, namespace="bob", episode="ep1")
        store.add(a)
        store.add(b)
        assert store.namespaces() == ["alice", "bob"]
        assert store.get([b[0].id], "alice") == []
        assert [t.id for t in store.get([b[0].id], "bob")] == [b[0].id]
        assert [t.id for t in store.iter_traces("bob")] == [t.id for t in b]
        assert {t.namespace for t in store.iter_traces()} == {"alice", "bob"}
        for field in ("content", "context"):
            hits = store.nearest("alice", field, getattr(b[2], field), 20)
            assert {i for i, _ in hits} <= {t.id for t in a}
        assert {i for i, _ in store.lexical("alice", tokenize("Luna painting"), 20)} <= {t.id for t in a}
        assert [t.id for t in store.episode_traces("bob", "ep1", 0, 10)] == [t.id for t in b]
        assert store.pool("alice", ids=[b[3].id, a[0].id]).ids.tolist() == [a[0].id]
        assert set(store.pool("alice", ids=[a[0].id], radius=10).ids) == {t.id for t in a}  # both have an "ep1"
        assert store.lexical_stats("alice", tokenize("Luna"))[0] == len(a)
        assert store.nearest("nobody", "content", a[0].content, 5) == []


    def test_nearest_matches_exact_search(self, store):
        rng = np.random.default_rng(2)
        ts = traces(rng, [f"note number {i}" for i in range(60)])  # 60 > the sqlite threshold of 40: HNSW
        store.add(ts[:30])
        store.add(ts[30:])
        for field in ("content", "context"):
            mat = np.stack([getattr(t, field) for t in ts])
            q = unit(rng)[0]
            want = np.argsort(-(mat @ q))[:5]
            hits = store.nearest("default", field, q, 5)
            assert [i for i, _ in hits] == [ts[j].id for j in want]
            np.testing.assert_allclose([s for _, s in hits], (mat @ q)[want], atol=1e-4)
            assert store.nearest("default", field, q, 1000)[0][0] == ts[want[0]].id
            assert len(store.nearest("default", field, q, 1000)) == 60


    def test_lexical_is_bm25_of_the_namespace(self, store):
        rng = np.random.default_rng(3)
        ts = traces(rng)
        store.add(ts)
        store.add(traces(rng, ["Luna Luna Luna everywhere"], namespace="other"))
        ref = BM25Index()
        for i, t in enumerate(ts):
            ref.add(i, tokenize(t.text))
        for query in ["Caroline painting Luna", "support group Sunday", "sunrise sunrise lake", "zebra", "the"]:
            terms = tokenize(query)
            want = dict(ref.search(terms, 10))
            got = store.lexical("default", terms, 10)
            assert {i for i, _ in got} == {ts[k].id for k in want}
            for tid, score in got:
                k = next(j for j, t in enumerate(ts) if t.id == tid)
                assert score == pytest.approx(want[k], rel=1e-9)
            assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
            assert_same_stats(store.lexical_stats("default", terms), ref.stats(terms))
        assert store.lexical("default", [], 5) == []
        assert store.lexical_stats("nobody", ["luna"]) == (0, 0.0, {})


    def test_lexical_over_the_budget_is_exact_bm25_of_the_candidates(self, store, monkeypatch):
        """A word too common to bring candidates still scores them: the texts
        holding the other words rank by the BM25 of every word, on every backend
        (each at its own budget, set low here).  PostgreSQL scores every
        candidate; the numpy-backed stores rescore their best 2n, which here is
        all twelve."""
        from memoryweave_core import lexical

        rng = np.random.default_rng(5)
        filler = ["walk", "rain", "book", "song", "train", "lamp", "door", "bread"]

        def text(*words):
            return " ".join([*words, *rng.choice(filler, int(rng.integers(0, 7)))])

        texts = [text(*["tea"] * int(rng.integers(1, 4))) for _ in range(16)]
        texts += [text("lemon", *["tea"] * int(rng.integers(0, 3))) for _ in range(12)]
        texts += [text() for _ in range(24)]
        monkeypatch.setattr(lexical, "POSTING_BUDGET", 15)  # "tea" (about 22 texts) is left out, "lemon" (12) is not
        if hasattr(store, "posting_budget"):
            store.posting_budget = 15
        ts = traces(rng, texts)
        store.add(ts)
        docs = [tokenize(t) for t in texts]
        n_docs, avg, df = store.lexical_stats("default", ["lemon", "tea"])
        assert lexical.candidate_terms(lexical.query_weights(["lemon", "tea"], n_docs, df), df) == ["lemon"]
        exact = lexical.bm25_scores(docs, lexical.query_weights(["lemon", "tea"], n_docs, df), avg)
        holders = [i for i, d in enumerate(docs) if "lemon" in d]
        for n in (6, 12, 20):
            want = sorted(holders, key=lambda i: (-exact[i], i))[:n]
            got = store.lexical("default", ["lemon", "tea"], n)
            assert [i for i, _ in got] == [ts[i].id for i in want]
            assert [s for _, s in got] == pytest.approx([exact[i] for i in want], rel=1e-9)


    def test_pool_holds_the_columns_of_ids_and_their_neighbours(self, store):
        rng = np.random.default_rng(8)
        ts = traces(rng, episode="e")
        loner = traces(rng, TEXTS[:1], episode=None)[0]
        store.add(ts + [loner])
        store.add(traces(rng, namespace="other", episode="e"))
        store.record_access([ts[1].id], 5000.0, "default")
        asked = [ts[5].id, "unknown", ts[1].id, ts[5].id, loner.id]
        pool = store.pool("default", ids=asked, radius=1)
        want = [ts[5], ts[1], loner, ts[0], ts[2], ts[4]]  # as asked, each once, then the neighbours by episode and position
        assert pool.ids.tolist() == [t.id for t in want] and len(pool) == 6
        assert pool.speakers == [t.speaker for t in want] and pool.episodes == ["e", "e", None, "e", "e", "e"]
        assert pool.positions.tolist() == [t.position for t in want]
        assert pool.times.tolist() == [t.time for t in want]
        assert pool.categories.tolist() == [-1 if t.category is None else t.category for t in want]
        assert [list(tok) for tok in pool.tokens] == [tokenize(t.text) for t in want]
        np.testing.assert_allclose(pool.content, np.stack([t.content for t in want]), rtol=1e-6)
        np.testing.assert_allclose(pool.context, np.stack([t.context for t in want]), rtol=1e-6)
        logs = store.access_logs([t.id for t in want], "default")
        columns = log_columns([logs[t.id] for t in want])
        for got, expected in zip((pool.first_access, pool.access_count, pool.recent_access), columns):
            np.testing.assert_array_equal(got, expected)
        assert pool.access_count.tolist() == [1, 2, 1, 1, 1, 1]
        assert store.pool("default", ids=[ts[5].id, ts[5].id]).ids.tolist() == [ts[5].id]  # radius 0: the ids alone
        assert len(store.pool("default")) == 0 and len(store.pool("nobody", ids=[ts[0].id])) == 0


    def test_candidates_are_the_searches_pool_in_one_call(self, store):
        """``candidates`` equals composing nearest, lexical and pool, on every backend."""
        rng = np.random.default_rng(9)
        ts = traces(rng, [f"{TEXTS[i % 6]} again {i}" for i in range(60)], episode="e")  # HNSW on SQLite
        store.add(ts[:45] + [traces(rng, TEXTS[:1], episode=None)[0]])
        store.add(ts[45:])
        store.add(traces(rng, namespace="other", episode="e"))
        q = unit(rng, 2)
        searches = [("content", q[0]), ("context", q[0]), ("content", q[1])]
        for terms, n, radius in [(tokenize("Luna painting Sunday"), 5, 2), ([], 7, 1), (tokenize("zebra"), 3, 0)]:
            got = store.candidates("default", searches, terms, n, radius)
            want = gather_candidates(store, "default", searches, terms, n, radius)
            assert got.ids.tolist() == want.ids.tolist() and len(got) > n
            assert set(got.ids) <= {t.id for t in store.iter_traces("default")}
            np.testing.assert_array_equal(got.content, want.content)
            np.testing.assert_array_equal(got.positions, want.positions)
        assert len(store.candidates("nobody", searches, ["luna"], 5, 2)) == 0
        with pytest.raises(InvalidInputError):
            store.candidates("default", [("text", q[0])], [], 5, 2)


    def test_filters_apply_inside_every_search(self, store):
        """With ``where``, nearest, lexical, pool and candidates return only
        matching traces (neighbours too), and as many as the unfiltered
        search would among the matches: the exact top ``n`` of the matching rows."""
        rng = np.random.default_rng(11)
        ts = traces(rng, [f"{TEXTS[i % 6]} again {i}" for i in range(60)], episode="e")  # HNSW on SQLite
        for i, t in enumerate(ts):
            t.metadata["i"] = i
        store.add(ts)
        where = parse_filter({"$or": [{"i": {"$in": [3, 4, 5, 40]}}, {"speaker": "Nobody"}]})
        keep = {ts[i].id for i in (3, 4, 5, 40)}
        q = unit(rng)[0]
        near = store.nearest("default", "content", q, 3, where)
        want = sorted(keep, key=lambda i: -float(next(t.content for t in ts if t.id == i) @ q))[:3]
        assert [i for i, _ in near] == want
        assert {i for i, _ in store.lexical("default", tokenize("Luna painting Sunday again"), 10, where)} <= keep
        assert store.pool("default", ids=[ts[4].id, ts[20].id], radius=2, where=where).ids.tolist() == [ts[4].id, ts[3].id, ts[5].id]
        pool = store.candidates("default", [("content", q), ("context", q)], tokenize("support group"), 10, 2, where=where)
        assert set(pool.ids) == keep
        assert store.candidates("default", [("content", q)], [], 10, 2, where=parse_filter({"i": -1})).ids.tolist() == []
        for words in ("Luna", "Luna painting"):  # the filter cuts every posting list empty
            assert store.lexical("default", tokenize(words), 5, parse_filter({"i": 0})) == []
        flags = traces(rng, ["flag one", "flag two"], namespace="flags", episode="f")
        flags[0].metadata["on"], flags[1].metadata["on"] = 1, True
        store.add(flags)
        for value, want_id in ((1, flags[0].id), (True, flags[1].id)):  # equal in Python, not as filters
            hits = store.nearest("flags", "content", flags[0].content, 5, parse_filter({"on": value}))
            assert [i for i, _ in hits] == [want_id]
        # an asked trace that does not match is left out; its matching neighbour stays
        assert store.pool("flags", ids=[flags[0].id], radius=1, where=parse_filter({"on": True})).ids.tolist() == [flags[1].id]

    def test_episodes(self, store):
        rng = np.random.default_rng(4)
        ts = traces(rng, episode="e")
        store.add(ts[:4])
        store.add(ts[4:])
        assert [t.position for t in store.episode_traces("default", "e", 2, 5)] == [2, 3, 4]
        assert [t.position for t in store.episode_traces("default", "e", -3, 1)] == [0]
        assert store.episode_traces("default", "nope", 0, 5) == []
        assert store.episode_length("default", "e") == 6
        assert store.episode_length("default", "nope") == 0
        assert store.episode_length("other", "e") == 0


    def test_access_logs(self, store):
        rng = np.random.default_rng(5)
        ts = traces(rng)
        store.add(ts)
        log = store.access_logs([ts[0].id], "default")[ts[0].id]
        assert (log.first, log.count, log.recent) == (ts[0].time, 1, [])
        store.record_access([ts[0].id, ts[1].id, ts[0].id], 5000.0, "default")
        store.record_access([ts[0].id, "unknown"], 6000.0, "default")
        store.record_access([ts[0].id], 6500.0, "other")  # another namespace: nothing there
        logs = store.access_logs([ts[0].id, ts[1].id], "default")
        a, b = logs[ts[0].id], logs[ts[1].id]
        assert (a.count, a.recent) == (4, [5000.0, 5000.0, 6000.0])
        assert (b.count, b.recent) == (2, [5000.0])
        for i in range(20):
            store.record_access([ts[2].id], 7000.0 + i, "default")
        c = store.access_logs([ts[2].id], "default")[ts[2].id]
        assert c.count == 21 and c.recent == [7000.0 + i for i in range(12, 20)]

    def test_access_logs_skip_ids_the_namespace_does_not_hold(self, store):
        """An id never stored, forgotten meanwhile (another thread or process) or
        of another namespace is skipped, as ``get`` skips it: never a KeyError."""
        rng = np.random.default_rng(5)
        ts = traces(rng)
        store.add(ts)
        store.add(traces(rng, namespace="other"))
        store.delete([ts[1].id], "default")
        logs = store.access_logs([ts[0].id, ts[1].id, "never", ts[2].id, ts[0].id], "default")
        assert set(logs) == {ts[0].id, ts[2].id} and logs[ts[2].id].count == 1
        assert store.access_logs([ts[0].id], "other") == {} and store.access_logs([ts[0].id], "nobody") == {}
        assert store.access_logs([], "default") == {}


    def test_state_roundtrip(self, store):
        rng = np.random.default_rng(6)
        store.add(traces(rng))
        assert store.load_state("default", "art") is None
        protos = unit(rng, 3)
        store.save_state("default", "art", {"vigilance": 0.5, "learning_rate": 0.1, "prototypes": protos, "counts": np.array([3, 1, 2])})
        state = store.load_state("default", "art")
        assert state["vigilance"] == 0.5 and state["learning_rate"] == 0.1
        np.testing.assert_array_equal(state["prototypes"], protos)
        np.testing.assert_array_equal(state["counts"], [3, 1, 2])
        store.save_state("default", "art", {"vigilance": 0.7, "learning_rate": 0.2, "prototypes": None, "counts": None})
        assert store.load_state("default", "art") == {"vigilance": 0.7, "learning_rate": 0.2, "prototypes": None, "counts": None}
        store.save_state("ghost", "art", {"vigilance": 0.5})  # no traces, no state (as MemoryStore)
        assert store.load_state("ghost", "art") is None


    def test_delete(self, store):
        rng = np.random.default_rng(7)
        ts = traces(rng, [f"item {w}" for w in "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()] * 5)
        store.add(ts)
        other = traces(rng, namespace="other")
        store.add(other)
        victim = ts[7]
        assert store.delete([victim.id], namespace="other") == 0
        assert store.delete([victim.id, "unknown"], "default") == 1
        assert store.delete([victim.id], "default") == 0
        assert store.get([victim.id], "default") == []
        assert store.count("default") == len(ts) - 1
        for field in ("content", "context"):
            assert victim.id not in {i for i, _ in store.nearest("default", field, getattr(victim, field), 100)}
        assert victim.id not in {i for i, _ in store.lexical("default", tokenize(victim.text), 100)}
        assert victim.id not in store.pool("default", ids=[victim.id, ts[6].id], radius=100).ids
        # lexical statistics shrink with the namespace
        ref = BM25Index()
        for i, t in enumerate(ts):
            if t.id != victim.id:
                ref.add(i, tokenize(t.text))
        assert_same_stats(store.lexical_stats("default", tokenize("item theta")), ref.stats(tokenize("item theta")))
        assert store.delete_episode("default", "ep1") == len(ts) - 1
        assert store.count("default") == 0 and store.namespaces() == ["other"]
        assert store.nearest("default", "content", ts[0].content, 5) == []
        store.save_state("other", "art", {"x": 1})
        assert store.delete_namespace("other") == len(other)
        assert store.count() == 0 and store.namespaces() == []
        assert store.load_state("other", "art") is None
        assert store.delete_namespace("other") == 0
        # a namespace comes back fresh
        again = traces(rng, namespace="other")
        store.add(again)
        assert [t.id for t in store.iter_traces("other")] == [t.id for t in again]
        assert store.nearest("other", "content", again[1].content, 1)[0][0] == again[1].id


    def test_dimension_is_fixed_by_first_add(self, store):
        rng = np.random.default_rng(8)
        store.add(traces(rng))
        bad = Trace(id="x", text="wrong size", content=np.ones(DIM + 1, np.float32) / 5, context=np.ones(DIM + 1, np.float32) / 5)
        good = traces(rng, ["fine"], start=10)[0]
        with pytest.raises(DimensionMismatchError):
            store.add([good, bad])
        assert store.get([good.id, "x"], "default") == []  # nothing of the rejected batch was written
        assert store.count() == len(TEXTS)

    @pytest.mark.parametrize("damage", ["scaled", "nan", "zero"])
    def test_vectors_that_are_not_unit_length_are_refused_before_anything_is_written(self, store, damage):
        """The indexes and pools hold unit vectors (MemoryWeave normalises
        them); a store used directly refuses others by name, not later as damage."""
        rng = np.random.default_rng(9)
        store.add(traces(rng))
        good, bad = traces(rng, ["fine", "damaged"], start=10)
        bad = dataclasses.replace(bad, context=bad.context * {"scaled": 3.0, "nan": np.nan, "zero": 0.0}[damage])
        with pytest.raises(NonFiniteVectorError, match=f"context vector of {bad.id}"):
            store.add([good, bad])
        assert store.get([good.id, bad.id], "default") == []
        assert store.count() == len(TEXTS)


    def test_works_under_memoryweave(self, make_store, embedder, clock):
        """The engine gives the same recall on every backend."""
        from memoryweave_core import MemoryWeave

        results = []
        for store in (MemoryStore(), make_store()):
            mem = MemoryWeave(embedder=embedder, clock=clock, store=store)
            mem.add_conversation(
                [("Caroline", t) for t in TEXTS] + [("Melanie", "I adopted a dog named Rex")], episode="s1", time=1_690_000_000
            )
            mem.add("Rex loves the beach", speaker="Melanie", namespace="pets")
            got = mem.recall("who is painting Luna?", k=4, at=1_700_000_000)
            again = mem.recall("who is painting Luna?", k=4, at=1_700_000_100)
            results.append(([r.trace.text for r in got], [round(r.score, 6) for r in got], [r.trace.text for r in again]))
            assert [r.trace.text for r in mem.recall("dog", namespace="pets")] == ["Rex loves the beach"]
        assert results[0] == results[1]

    # -- versions and expiry -------------------------------------------------------
    def test_supersede_archives_the_old_version(self, store):
        """The new version keeps the id; the old one stays under its archived id, superseded."""
        from dataclasses import replace

        rng = np.random.default_rng(21)
        ts = traces(rng, episode="e")
        store.add(ts)
        store.record_access([ts[1].id], 1500.0, "default")
        log = store.access_logs([ts[1].id], "default")[ts[1].id]
        new = replace(ts[1], text="Melanie painted a sunset", time=2000.0, version=2, supersedes=ts[1].id + "@v1",
                      content=unit(rng)[0], context=unit(rng)[0])
        store.supersede(ts[1].id, ts[1].id + "@v1", 2000.0, new)
        cur, old = store.get([ts[1].id, ts[1].id + "@v1"], "default")
        assert (cur.text, cur.version, cur.supersedes, cur.superseded_at) == ("Melanie painted a sunset", 2, ts[1].id + "@v1", None)
        assert (old.text, old.version, old.superseded_at) == (ts[1].text, 1, 2000.0)
        assert store.access_logs([old.id], "default") == {old.id: log}  # the log follows the archived version
        assert store.count("default") == len(ts) + 1
        with pytest.raises(InvalidInputError):  # an archived id is taken
            store.supersede(ts[2].id, ts[1].id + "@v1", 2000.0, replace(ts[2], version=2))

    def test_candidates_skip_hidden_traces_and_still_bring_n(self, store):
        """Superseded and expired traces are left out inside the search: n live ones come back."""
        from dataclasses import replace

        from memoryweave_core.storage.base import Live

        rng = np.random.default_rng(22)
        ts = traces(rng, [f"{TEXTS[i % 6]} copy {i}" for i in range(50)], episode="e")  # HNSW on SQLite
        q = unit(rng)[0]
        # the 20 traces nearest the query expire: without the condition they would fill the pool
        near = np.argsort([-float(t.content @ q) for t in ts])[:20].tolist()
        ts = [replace(t, expires_at=1500.0) if i in near else t for i, t in enumerate(ts)]
        store.add(ts)
        old = ts[next(i for i in range(50) if i not in near)]
        store.supersede(old.id, old.id + "@v1", 2000.0, replace(old, text="Luna moved away", time=2000.0, version=2,
                                                                 supersedes=old.id + "@v1"))
        live = Live(at=2500.0, now=1600.0)
        assert store.hidden("default", live) == {ts[i].id for i in near} | {old.id + "@v1"}
        pool = store.candidates("default", [("content", q)], [], 5, 0, live=live)
        hidden = store.hidden("default", live)
        visible = [t for t in store.iter_traces("default") if t.id not in hidden]
        assert set(pool.ids) == {t.id for t in sorted(visible, key=lambda t: -float(t.content @ q))[:5]}
        words = store.candidates("default", [], tokenize("Luna moved away"), 5, 3, live=live)
        assert len(words) >= 5 and not set(words.ids) & hidden and old.id in words.ids
        past = Live(at=1800.0, now=1600.0)  # before the update: the old version, not the new
        assert old.id in store.hidden("default", past) and old.id + "@v1" not in store.hidden("default", past)
        assert store.hidden("default", Live(at=None, now=1000.0)) == set()
        assert sorted(store.expired(1600.0, 100)) == sorted(("default", ts[i].id) for i in near)
        assert len(store.expired(1600.0, 3)) == 3 and store.expired(1400.0, 100) == []
        assert store.expired(1600.0, 100, "other") == []

    def test_set_expiry_changes_the_field_in_place(self, store):
        rng = np.random.default_rng(23)
        ts = traces(rng)
        store.add(ts)
        assert store.set_expiry([ts[0].id, ts[1].id, "nope"], 1500.0, "default") == 2
        assert store.set_expiry([ts[2].id], 1500.0, "other") == 0  # not there: nothing changes
        assert [t.expires_at for t in store.get([ts[0].id, ts[2].id], "default")] == [1500.0, None]
        assert sorted(store.expired(2000.0, 10)) == sorted([("default", ts[0].id), ("default", ts[1].id)])
        assert store.set_expiry([ts[0].id], None, "default") == 1 and store.expired(2000.0, 10) == [("default", ts[1].id)]
        assert store.get([ts[0].id], "default")[0].text == ts[0].text  # nothing else changed

    # -- ids are unique per namespace ---------------------------------------------------
    def test_the_same_id_lives_in_two_namespaces_independently(self, store):
        """Two namespaces hold the same id: every call that takes ids reads,
        changes and deletes the trace of its own namespace only."""
        from dataclasses import replace

        rng = np.random.default_rng(31)
        a = [replace(t, id=f"t{i}") for i, t in enumerate(traces(rng, namespace="alice"))]
        b = [replace(t, id=f"t{i}") for i, t in enumerate(traces(rng, TEXTS[::-1], namespace="bob"))]
        store.add(a)
        store.add(b)  # the same ids, another namespace: no conflict
        assert store.count("alice") == store.count("bob") == len(TEXTS) and store.count() == 2 * len(TEXTS)
        for ns, mine in (("alice", a), ("bob", b)):
            assert [t.text for t in store.get(["t0", "t3"], ns)] == [mine[0].text, mine[3].text]
            assert {t.namespace for t in store.get([t.id for t in mine], ns)} == {ns}
        store.record_access(["t1", "t1"], 5000.0, "alice")
        assert store.access_logs(["t1"], "alice")["t1"].count == 3 and store.access_logs(["t1"], "bob")["t1"].count == 1
        assert store.set_expiry(["t2"], 1500.0, "bob") == 1
        assert store.get(["t2"], "alice")[0].expires_at is None and store.get(["t2"], "bob")[0].expires_at == 1500.0
        assert store.expired(2000.0, 10) == [("bob", "t2")]
        new = replace(a[4], text="Caroline finished the picture of Luna", time=2000.0, version=2, supersedes="t4@v1")
        store.supersede("t4", "t4@v1", 2000.0, new)  # versions are per namespace too
        assert [t.text for t in store.get(["t4", "t4@v1"], "alice")] == [new.text, a[4].text]
        assert store.get(["t4@v1"], "bob") == [] and store.get(["t4"], "bob")[0].text == b[4].text
        assert store.delete(["t0", "t4@v1"], "bob") == 1
        assert [t.id for t in store.get(["t0", "t4@v1"], "alice")] == ["t0", "t4@v1"]
        assert [i for i, _ in store.nearest("alice", "content", a[0].content, 1)] == ["t0"]
        assert "t0" not in {i for i, _ in store.nearest("bob", "content", a[0].content, 10)}
        pool = store.pool("bob", ids=["t1", "t3"])
        np.testing.assert_allclose(pool.content, np.stack([b[1].content, b[3].content]), rtol=1e-6)
        assert pool.access_count.tolist() == [1, 1]  # alice's accesses of t1 are hers
        assert store.delete_namespace("alice") == len(TEXTS) + 1
        assert [t.text for t in store.get(["t1", "t2"], "bob")] == [b[1].text, b[2].text]

    def test_a_write_is_refused_when_the_store_took_another_context_mode_first(self, store):
        """Two memories of different context modes may open one empty store at
        the same moment, each recording its mode; the first to write takes the
        store, and the other's writes are refused whole, the record untouched."""
        from dataclasses import replace

        from memoryweave_core.errors import ContextModeMismatchError
        from memoryweave_core.storage.context import ContextRecord

        model, mean = ContextRecord("model", 2), ContextRecord("mean", 2)
        rng = np.random.default_rng(33)
        ts = [replace(t, id=f"t{i}") for i, t in enumerate(traces(rng))]
        store.record_context(model)  # memory A opens the empty store...
        store.record_context(mean)  # ...and so does memory B, before either writes
        store.add(ts[:2], context=model)  # A writes first: an empty store takes its mode
        assert store.context_record() == model
        for write in (lambda: store.add(ts[2:4], context=mean),
                      lambda: store.add_with_state(ts[2:4], {"art": {"n": 1}}, context=mean),
                      lambda: store.supersede("t0", "t0@v1", 2000.0, replace(ts[0], version=2), context=mean)):
            with pytest.raises(ContextModeMismatchError, match="context_mode='model'"):
                write()
            assert store.context_record() == model and store.count() == 2
            assert [t.version for t in store.get(["t0"], "default")] == [1] and store.load_state("default", "art") is None
        store.add(ts[2:4], context=model)  # A goes on writing
        store.add(ts[4:], context=None)  # a write that names no mode is not checked
        assert store.count() == len(ts) and store.context_record() == model

    def test_an_id_twice_in_one_namespace_is_refused_before_anything_is_written(self, store):
        from dataclasses import replace

        rng = np.random.default_rng(32)
        ts = [replace(t, id=f"t{i}") for i, t in enumerate(traces(rng))]
        store.add(ts[:3])
        for batch in ([*ts[3:], replace(ts[0], position=9)], [ts[3], replace(ts[3], position=9)]):
            with pytest.raises(InvalidInputError):
                store.add(batch)
            assert store.count("default") == 3 and store.get(["t3", "t4"], "default") == []
        with pytest.raises(InvalidInputError):
            store.supersede("t1", "t2", 2000.0, replace(ts[1], version=2))  # an id the namespace holds
        assert [t.version for t in store.get(["t1", "t2"], "default")] == [1, 1]
