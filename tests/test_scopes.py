"""Multi-level namespaces: the encoding, and recall over a prefix on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from backends import BACKENDS, dispose, make_store

from memoryweave_core import MemoryWeave
from memoryweave_core.embedders import HashingEmbedder
from memoryweave_core.errors import InvalidInputError, TraceNotFoundError
from memoryweave_core.pool import Labels, Pool
from memoryweave_core.scopes import decode, encode, format_path, is_under, parse_path, public
from memoryweave_core.span import merge, recall_across
from memoryweave_core.trace import check_namespace, check_scope

ADVERSARIAL = ["alice", "alice/x", "alice\x1f", "alice\x1fx", "alice\x1e", "\x1e\x1fa", "alice\\", "ålice", "アリス",
               "alice\x1e\x1f", "a\\/b", " alice"]


# -- the encoding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("labels", [(a,) for a in ADVERSARIAL] + [(a, b) for a in ADVERSARIAL for b in ADVERSARIAL])
def test_encoding_round_trips(labels):
    assert decode(encode(labels)) == labels
    assert decode(check_namespace(labels)) == labels
    assert check_scope(labels) == (labels[0] if len(labels) == 1 else labels)


def test_encoding_is_injective_and_a_prefix_code():
    tuples = {(a,) for a in ADVERSARIAL} | {(a, b) for a in ADVERSARIAL for b in ADVERSARIAL}
    tuples |= {(a, b, "run7") for a in ADVERSARIAL for b in ADVERSARIAL}
    stored = {t: encode(t) for t in tuples}
    assert len(set(stored.values())) == len(tuples)
    for p in tuples:
        for t in tuples:
            below = t[: len(p)] == p
            assert is_under(stored[t], p) == below
            # the stored prefix plus a bare separator starts exactly the namespaces strictly below
            assert stored[t].startswith(stored[p] + "\x1f") == (below and len(t) > len(p))


def test_a_plain_string_is_the_one_tuple_of_itself():
    assert check_namespace("alice") == check_namespace(("alice",)) == "alice"  # stored as before tuples existed
    assert check_namespace("alice\x1fx") != check_namespace(("alice", "x"))  # a string is never split
    assert public(check_namespace(("alice",))) == "alice"
    assert public(check_namespace(["alice", "run1"])) == ("alice", "run1")


@pytest.mark.parametrize("bad", ["", "  ", (), ("alice", ""), ("alice", None), ("alice", 7), None,
                                 tuple("x" for _ in range(17)), ("a" * 300, "b" * 300)])
def test_bad_namespaces_are_refused(bad):
    with pytest.raises(InvalidInputError):
        check_namespace(bad)


@pytest.mark.parametrize("labels", [("alice",), ("alice", "agent1", "run7"), ("a/b", "c\\d", "e\\/f"), ("x\\",)])
def test_cli_path_form_round_trips(labels):
    text = format_path(labels if len(labels) > 1 else labels[0])
    assert parse_path(text) == (labels if len(labels) > 1 else labels[0])


def test_cli_path_form_reads_plain_names_as_before():
    assert parse_path("alice") == "alice"
    assert parse_path("facts.alice") == "facts.alice"
    assert parse_path("alice/agent1/run7") == ("alice", "agent1", "run7")
    assert parse_path(r"C:\notes") == r"C:\notes"


def test_merged_pools_keep_episodes_and_categories_apart():
    def pool(cats):
        n = len(cats)
        return Pool(ids=[f"t{i}" for i in range(n)], speaker=Labels.of([None] * n), episode=Labels.of(["episode-1"] * n),
                    positions=np.arange(n), times=np.zeros(n), categories=np.array(cats), tokens=[[]] * n,
                    content=np.ones((n, 4), np.float32), context=np.ones((n, 4), np.float32),
                    first_access=np.zeros(n), access_count=np.ones(n), recent_access=np.full((n, 1), np.nan))

    merged = merge([pool([0, 1]), pool([0, -1]), pool([0])], [0, 2, None])
    assert len(set(merged.episodes)) == 3  # the same episode name in three namespaces: three episodes
    assert merged.categories.tolist() == [0, 1, 2, -1, -1]
    assert merged.ids.tolist() == ["t0", "t1", "t0", "t1", "t0"]  # ids are not assumed unique across namespaces


# -- through MemoryWeave, on every backend -------------------------------------------------------
@pytest.fixture(params=[pytest.param(b, marks=pytest.mark.pg) if b == "postgres" else b for b in BACKENDS])
def mem(request, tmp_path, clock):
    store = make_store(request.param, tmp_path / "m.db")
    m = MemoryWeave(store=store, embedder=HashingEmbedder(dim=64), clock=clock)
    yield m
    dispose(request.param, store)


ALICE = {
    "alice": "Alice is allergic to peanuts",
    ("alice", "agent1", "run1"): "Alice drinks green tea every morning",
    ("alice", "agent1", "run2"): "Alice plays tennis on Sundays",
    ("alice", "agent2"): "Alice drinks coffee at work",
}
OTHERS = {
    ("alicex", "agent1"): "Alicex drinks green tea every morning",
    "alice/x": "Alice slash x drinks green tea every morning",
    "alice\x1f": "Alice unit separator drinks green tea every morning",
    ("alice\x1f", "run1"): "Alice separator run drinks green tea every morning",
    ("alice\x1e", "run1"): "Alice escape run drinks green tea every morning",
    ("bob",): "Bob drinks green tea every morning",
    ("ålice", "run1"): "Ålice drinks green tea every morning",
}


def fill(mem):
    for ns, text in {**ALICE, **OTHERS}.items():
        mem.add_many([text, f"filler about the weather in {text.split()[0]}'s town"], namespace=ns)


def test_prefix_recall_spans_every_namespace_below_and_never_another(mem):
    fill(mem)
    for prefix in ("alice", ("alice",)):
        got = mem.recall("what does Alice drink in the morning", k=50, namespace=prefix, include_descendants=True)
        assert {r.namespace for r in got} == set(ALICE)  # one level reported as its string, more as a tuple
        assert {r.text for r in got} >= set(ALICE.values())
        assert len(got) == 2 * len(ALICE)
    got = mem.recall("tea", k=50, namespace=("alice", "agent1"), include_descendants=True)
    assert {r.namespace for r in got} == {("alice", "agent1", "run1"), ("alice", "agent1", "run2")}
    only = mem.recall("tea", k=50, namespace="alice")  # without the flag: that namespace alone, as before
    assert {r.namespace for r in only} == {"alice"}


@pytest.mark.parametrize("prefix", list(OTHERS))
def test_adversarial_prefixes_stay_in_their_own_subtree(mem, prefix):
    fill(mem)
    got = mem.recall("drinks green tea", k=50, namespace=prefix, include_descendants=True)
    labels = decode(check_namespace(prefix))
    assert got and all(decode(check_namespace(r.namespace))[: len(labels)] == labels for r in got)
    assert not {r.namespace for r in got} & set(ALICE)


def test_prefix_recall_ranks_once_over_the_union(mem):
    fill(mem)
    got = mem.recall("tennis on Sundays", k=8, namespace="alice", include_descendants=True)
    assert got[0].text == "Alice plays tennis on Sundays" and got[0].namespace == ("alice", "agent1", "run2")
    scores = [r.score for r in got]
    assert scores == sorted(scores, reverse=True)
    assert len({r.key for r in got}) == len(got)
    assert got[0].key == (("alice", "agent1", "run2"), got[0].trace.id)


def test_prefix_recall_honours_filters_versions_and_exclusions(mem, clock):
    fill(mem)
    t = mem.add("Alice switched to oolong tea", namespace=("alice", "agent1", "run3"), metadata={"topic": "tea"})
    clock.advance(60)
    mem.update(t.id, text="Alice switched to jasmine tea", namespace=("alice", "agent1", "run3"))
    got = mem.recall("which tea does Alice drink", k=50, namespace="alice", include_descendants=True)
    assert "Alice switched to jasmine tea" in {r.text for r in got}
    assert "Alice switched to oolong tea" not in {r.text for r in got}
    assert not any("@v" in r.trace.id for r in got)
    only = mem.recall("tea", k=50, namespace="alice", include_descendants=True, filter={"topic": "tea"})
    assert [r.text for r in only] == ["Alice switched to jasmine tea"]
    rest = mem.recall("tea", k=50, namespace="alice", include_descendants=True, exclude=[t.id])
    assert t.id not in {r.trace.id for r in rest}
    empty = mem.recall("tea", k=5, namespace=("carol",), include_descendants=True)
    assert list(empty) == []


def test_tuple_namespaces_work_everywhere_a_namespace_is_accepted(mem, clock):
    ns = ("alice", "agent1", "run7")
    t = mem.add("Alice likes hiking", namespace=ns)
    mem.add("Alice likes hiking too", namespace=("alice", "agent1"))
    assert mem.get(t.id, namespace=ns).scope == ns
    assert mem.get(t.id, namespace=list(ns)).id == t.id
    with pytest.raises(TraceNotFoundError):
        mem.get(t.id, namespace=("alice", "agent1"))
    with pytest.raises(TraceNotFoundError):
        mem.get(t.id, namespace="alice\x1fagent1\x1frun7")  # a string is one label, never split
    assert mem.count(ns) == 1 and [x.id for x in mem.traces(ns)] == [t.id]
    assert set(mem.namespaces()) == {ns, ("alice", "agent1")}
    assert mem.recall("hiking", namespace=ns)[0].namespace == ns
    clock.advance(10)
    assert mem.update(t.id, text="Alice likes climbing", namespace=ns).scope == ns
    assert [v.text for v in mem.history(t.id, namespace=ns)] == ["Alice likes hiking", "Alice likes climbing"]
    assert ns in mem.summary()["namespaces"] and mem.categories(ns)
    assert mem.forget(t.id, namespace=ns) == 2
    assert mem.forget(namespace=("alice", "agent1")) == 1
    assert mem.namespaces() == []


def test_a_string_and_its_one_tuple_are_one_namespace(mem):
    t = mem.add("Bob owns a boat", namespace="bob")
    assert mem.get(t.id, namespace=("bob",)).id == t.id
    assert mem.traces(("bob",)).__next__().namespace == "bob"  # stored exactly as before tuples existed
    assert mem.namespaces() == ["bob"]


def test_forget_a_whole_subtree_and_nothing_beside_it(mem):
    fill(mem)
    with pytest.raises(InvalidInputError):
        mem.forget(["x"], namespace="alice", include_descendants=True)
    with pytest.raises(InvalidInputError):
        mem.forget(include_descendants=True)
    assert mem.forget(namespace="alice", include_descendants=True) == 2 * len(ALICE)
    assert set(mem.namespaces()) == {ns if isinstance(ns, str) or len(ns) > 1 else ns[0] for ns in OTHERS}
    assert mem.recall("green tea", k=5, namespace="alice", include_descendants=True) == []


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_prefix_recall_ranks_as_one_namespace_holding_everything_would(kind, tmp_path, clock):
    """The union pool, trimmed to each search's global best candidates and their neighbours, is
    the pool one namespace holding every trace hands over, but for ties at a search's cut (each
    store breaks them its own way), which move the z-scores a little: the same best trace, at
    least 9 of the same top 10, scores within 5%."""
    rng = np.random.default_rng(3)
    topics = ["tea", "tennis", "flight", "dentist", "sister", "rent", "garden", "guitar"]
    runs = [[f"Ana {rng.choice(['likes', 'booked', 'moved'])} the {rng.choice(topics)} on day {i}" for i in range(60)]
            for _ in range(5)]
    split = MemoryWeave(store=make_store(kind, tmp_path / "split.db"), embedder=HashingEmbedder(dim=64), clock=clock)
    whole = MemoryWeave(store=make_store(kind, tmp_path / "whole.db"), embedder=HashingEmbedder(dim=64), clock=clock)
    for i, texts in enumerate(runs):
        split.add_many([{"text": t, "episode": f"run-{i}", "time": 1_700_000_000 + 60 * j} for j, t in enumerate(texts)],
                       namespace=("ana", f"run-{i}"))
        whole.add_many([{"text": t, "episode": f"run-{i}", "time": 1_700_000_000 + 60 * j} for j, t in enumerate(texts)],
                       namespace="ana")
    for q in ["when did Ana book the flight?", "tennis", "what about her sister and the garden"]:
        a = split.recall(q, k=10, namespace="ana", include_descendants=True, record_access=False)
        b = whole.recall(q, k=10, namespace="ana", record_access=False)
        assert a[0].text == b[0].text and len({r.text for r in a} & {r.text for r in b}) >= 9
        assert np.allclose(sorted(r.score for r in a), sorted(r.score for r in b), rtol=0.05)
    split.close()
    whole.close()


def test_recall_across_listed_namespaces_ranks_them_once_and_reaches_nothing_else(mem):
    fill(mem)
    spaces = [s for s in mem.namespaces() if (s if isinstance(s, str) else s[0]) == "alice"]
    q = "what does Alice drink in the morning"
    listed = recall_across(mem, q, k=50, namespaces=spaces, record_access=False)
    spanned = mem.recall(q, k=50, namespace="alice", include_descendants=True, record_access=False)
    assert [(r.key, round(r.score, 9)) for r in listed] == [(r.key, round(r.score, 9)) for r in spanned]
    # exactly the namespaces listed: not those below them, and another user only when listed
    got = recall_across(mem, "green tea", k=50, namespaces=["alice", ("bob",)], record_access=False)
    assert {r.namespace for r in got} == {"alice", "bob"}
    scores = [r.score for r in got]
    assert scores == sorted(scores, reverse=True)
    assert got[0].text == "Bob drinks green tea every morning"
    only = recall_across(mem, "green tea", k=50, namespaces=[("alice", "agent1", "run1"), "bob"],
                         filter={"speaker": {"$ne": "nobody"}}, exclude=[got[0].trace.id], record_access=False)
    assert {r.namespace for r in only} == {("alice", "agent1", "run1"), "bob"}
    assert got[0].trace.id not in {r.trace.id for r in only}
    assert list(recall_across(mem, "tea", namespaces=[])) == []
    assert list(recall_across(mem, "tea", namespaces=[("carol",)])) == []


@pytest.mark.parametrize("bad", [{"namespaces": "alice"}, {"namespaces": ("alice", "bob")},
                                 {"namespaces": ["alice"], "namespace": "bob"},
                                 {"namespaces": ["alice"], "include_descendants": True},
                                 {"namespaces": [("alice", "")]}, {"namespaces": ["alice"], "k": 0},
                                 {"namespaces": ["alice"], "filter": {"$bogus": 1}}])
def test_recall_across_refuses_what_it_cannot_honour_before_reading(mem, bad):
    fill(mem)
    before = mem.store.access_logs([t.id for t in mem.traces("alice")], "alice")
    with pytest.raises(InvalidInputError):
        recall_across(mem, "tea", **{"k": 5, **bad})
    assert mem.store.access_logs([t.id for t in mem.traces("alice")], "alice") == before
