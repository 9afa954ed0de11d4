"""MemoryWeaveStore against LangGraph's InMemoryStore: one suite, both stores.

Every test in the parametrised part runs the same operations on both stores
and checks what LangGraph's store contract fixes (values, keys, namespaces,
filters, pagination, namespace listing, validation).  Ranking with a query is
compared only where it must agree: an item that shares the query's words
comes first, and un-indexed items come back unscored.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("langgraph")

from langchain_core.embeddings import Embeddings  # noqa: E402
from langgraph.store.base import GetOp, InvalidNamespaceError, ListNamespacesOp, PutOp, SearchOp  # noqa: E402
from langgraph.store.memory import InMemoryStore  # noqa: E402

from memoryweave_core import HashingEmbedder, InvalidInputError, MemoryWeave  # noqa: E402
from memoryweave_lc import MemoryWeaveStore  # noqa: E402
from memoryweave_lc.store import from_memory_namespace, to_memory_namespace  # noqa: E402
from memoryweave_lc.store_filters import pushdown  # noqa: E402


class HashingEmbeddings(Embeddings):
    """HashingEmbedder as LangChain Embeddings, so both stores embed alike."""

    def __init__(self) -> None:
        self.embedder = HashingEmbedder(dim=256)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def make_store(kind: str, fields: list[str] | None = None):
    embeddings = HashingEmbeddings()
    if kind == "inmemory":
        return InMemoryStore(index={"dims": 256, "embed": embeddings, "fields": fields or ["$"]})
    return MemoryWeaveStore(MemoryWeave(embedder=embeddings), index={"fields": fields or ["$"]})


@pytest.fixture(params=["inmemory", "memoryweave"])
def store(request):
    return make_store(request.param)


@pytest.fixture(params=["inmemory", "memoryweave"])
def text_store(request):
    """Both stores indexing only the ``text`` field."""
    return make_store(request.param, ["text"])


PETS = [
    (("users", "alice", "pets"), "luna", {"kind": "cat", "name": "Luna", "age": 3, "tags": ["indoor"]}),
    (("users", "alice", "pets"), "rex", {"kind": "dog", "name": "Rex", "age": 7, "owner": {"city": "Lisbon"}}),
    (("users", "alice", "notes"), "n1", {"kind": "note", "text": "buy cat food", "age": 1}),
    (("users", "bob", "pets"), "bubbles", {"kind": "fish", "name": "Bubbles", "age": 1}),
    (("users", "bob", "pets"), "tom", {"kind": "cat", "name": "Tom", "age": 12}),
    (("docs",), "d1", {"kind": "doc", "title": "store semantics"}),
]


def fill(store) -> None:
    for ns, key, value in PETS:
        store.put(ns, key, value)


def keys(items) -> set[str]:
    return {i.key for i in items}


# -- the shared contract ---------------------------------------------------------
def test_put_get_roundtrip(store):
    fill(store)
    for ns, key, value in PETS:
        item = store.get(ns, key)
        assert item is not None
        assert (item.namespace, item.key, item.value) == (ns, key, value)
        assert item.created_at.tzinfo is not None and item.updated_at >= item.created_at
    assert store.get(("users", "alice", "pets"), "nope") is None
    assert store.get(("users", "carol"), "luna") is None
    assert store.get(("users", "alice"), "luna") is None  # a prefix is not the namespace


def test_update_replaces_value(store):
    fill(store)
    ns = ("users", "alice", "pets")
    store.put(ns, "luna", {"kind": "cat", "name": "Luna", "age": 4})
    assert store.get(ns, "luna").value == {"kind": "cat", "name": "Luna", "age": 4}
    assert len(store.search(ns, limit=100)) == 2


def test_delete(store):
    fill(store)
    ns = ("users", "alice", "pets")
    store.delete(ns, "luna")
    assert store.get(ns, "luna") is None
    assert keys(store.search(ns)) == {"rex"}
    store.delete(ns, "never-existed")  # deleting nothing is fine
    store.put(ns, "luna", {"kind": "cat"})
    assert store.get(ns, "luna").value == {"kind": "cat"}


def test_same_key_in_different_namespaces(store):
    store.put(("a",), "k", {"v": 1})
    store.put(("b",), "k", {"v": 2})
    assert store.get(("a",), "k").value == {"v": 1}
    assert store.get(("b",), "k").value == {"v": 2}


@pytest.mark.parametrize(
    ("prefix", "flt", "expected"),
    [
        ((), None, {"luna", "rex", "n1", "bubbles", "tom", "d1"}),
        (("users",), None, {"luna", "rex", "n1", "bubbles", "tom"}),
        (("users", "alice"), None, {"luna", "rex", "n1"}),
        (("users", "alice", "pets"), None, {"luna", "rex"}),
        (("users", "ali"), None, set()),
        (("users",), {"kind": "cat"}, {"luna", "tom"}),
        (("users",), {"kind": "cat", "age": 3}, {"luna"}),
        (("users",), {"age": {"$gt": 3}}, {"rex", "tom"}),
        (("users",), {"age": {"$gte": 3, "$lt": 12}}, {"luna", "rex"}),
        (("users",), {"age": {"$lte": 1}}, {"n1", "bubbles"}),
        (("users",), {"kind": {"$ne": "cat"}}, {"rex", "n1", "bubbles"}),
        (("users",), {"kind": {"$eq": "dog"}}, {"rex"}),
        (("users",), {"owner": {"city": "Lisbon"}}, {"rex"}),
        (("users",), {"tags": ["indoor"]}, {"luna"}),
        (("users",), {"kind": "unicorn"}, set()),
        ((), {"missing": None}, {"luna", "rex", "n1", "bubbles", "tom", "d1"}),
    ],
)
def test_search_filters(store, prefix, flt, expected):
    fill(store)
    found = store.search(prefix, filter=flt, limit=100)
    assert keys(found) == expected
    assert all(i.score is None for i in found)
    assert all(i.namespace[: len(prefix)] == prefix for i in found)


def test_search_pagination(store):
    fill(store)
    everything = store.search((), limit=100)
    assert len(everything) == len(PETS)
    assert len(store.search(())) == len(PETS)  # default limit 10
    pages = [store.search((), limit=2, offset=o) for o in (0, 2, 4, 6)]
    assert [len(p) for p in pages] == [2, 2, 2, 0]
    assert [i.key for p in pages for i in p] == [i.key for i in everything]
    assert len(store.search(("users",), filter={"kind": "cat"}, limit=1)) == 1
    assert store.search(("users",), filter={"kind": "cat"}, limit=1, offset=1)[0].key in {"luna", "tom"}


def test_search_with_query_ranks_the_matching_item_first(text_store):
    ns = ("memories", "alice")
    facts = {
        "sister": "my sister Beatrix lives in Lisbon",
        "job": "I work as a nurse on night shifts",
        "pet": "I adopted a cat called Luna",
        "trip": "we are planning a trip to Japan",
    }
    for key, text in facts.items():
        text_store.put(ns, key, {"text": text})
    found = text_store.search(("memories",), query="where does my sister Beatrix live", limit=2)
    assert len(found) == 2 and found[0].key == "sister"
    assert all(isinstance(i.score, float) for i in found)
    assert found[0].score >= found[1].score
    cats = text_store.search(ns, query="cat called Luna", limit=10)
    assert cats[0].key == "pet" and len(cats) == 4
    assert [i.key for i in text_store.search(ns, query="cat called Luna", filter={"text": facts["job"]})] == ["job"]
    assert text_store.search(("memories", "bob"), query="cat") == []


def test_query_pagination(text_store):
    for i in range(6):
        text_store.put(("m",), f"k{i}", {"text": f"fact number {i} about gardening"})
    everything = text_store.search(("m",), query="gardening", limit=6)
    pages = text_store.search(("m",), query="gardening", limit=3) + text_store.search(("m",), query="gardening", limit=3, offset=3)
    assert keys(pages) == keys(everything) and len(everything) == 6


def test_index_fields_per_put(text_store):
    ns = ("notes",)
    text_store.put(ns, "a", {"title": "tomato soup recipe", "text": "boring"}, index=["title"])
    text_store.put(ns, "b", {"text": "notes about the tomato harvest"})
    text_store.put(ns, "c", {"text": "quantum physics lecture"})
    found = text_store.search(ns, query="tomato soup recipe", limit=1)
    assert found[0].key == "a"


def test_unindexed_items_are_found_but_unscored(text_store):
    ns = ("notes",)
    text_store.put(ns, "indexed", {"text": "the garden needs watering"})
    text_store.put(ns, "hidden", {"text": "the garden needs watering too"}, index=False)
    found = text_store.search(ns, query="garden watering", limit=10)
    assert [i.key for i in found] == ["indexed", "hidden"]
    assert isinstance(found[0].score, float) and found[1].score is None
    assert text_store.get(ns, "hidden").value == {"text": "the garden needs watering too"}
    assert keys(text_store.search(ns)) == {"indexed", "hidden"}


def test_list_namespaces(store):
    fill(store)
    alice, bob = ("users", "alice"), ("users", "bob")
    everything = [("docs",), (*alice, "notes"), (*alice, "pets"), (*bob, "pets")]
    assert store.list_namespaces() == everything
    assert store.list_namespaces(prefix=("users",)) == everything[1:]
    assert store.list_namespaces(prefix=("users", "*", "pets")) == [(*alice, "pets"), (*bob, "pets")]
    assert store.list_namespaces(suffix=("pets",)) == [(*alice, "pets"), (*bob, "pets")]
    assert store.list_namespaces(suffix=("alice", "*")) == [(*alice, "notes"), (*alice, "pets")]
    assert store.list_namespaces(prefix=("users",), suffix=("notes",)) == [(*alice, "notes")]
    assert store.list_namespaces(max_depth=1) == [("docs",), ("users",)]
    assert store.list_namespaces(prefix=("users",), max_depth=2) == [alice, bob]
    assert store.list_namespaces(limit=2) == everything[:2]
    assert store.list_namespaces(limit=2, offset=3) == everything[3:]
    assert store.list_namespaces(prefix=("nobody",)) == []


@pytest.mark.parametrize("label", ["a.b", "", "nul\x00"])
def test_invalid_namespace_labels_are_rejected(store, label):
    with pytest.raises(InvalidNamespaceError):
        store.put(("users", label), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.get(("users", label), "k")
    with pytest.raises(InvalidNamespaceError):
        store.search(("users", label))


def test_reserved_and_empty_namespaces_are_rejected(store):
    with pytest.raises(InvalidNamespaceError):
        store.put((), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.put(("langgraph", "x"), "k", {"v": 1})


def test_batch_returns_one_result_per_op(store):
    fill(store)
    ns = ("users", "alice", "pets")
    results = store.batch(
        [
            GetOp(ns, "luna"),
            SearchOp(("users",), {"kind": "cat"}, 10, 0),
            ListNamespacesOp(max_depth=1),
            PutOp(("new",), "k", {"v": 1}),
        ]
    )
    assert len(results) == 4
    assert results[0].value["name"] == "Luna"
    assert keys(results[1]) == {"luna", "tom"}
    assert results[2] == [("docs",), ("users",)]
    assert results[3] is None
    assert store.get(("new",), "k").value == {"v": 1}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def timed(request, tmp_path, clock):
    """A MemoryWeaveStore over each backend, on a clock the test moves."""
    from backends import dispose
    from backends import make_store as backend

    db = backend(request.param, tmp_path / "s.db")
    mem = MemoryWeave(store=db, embedder=HashingEmbedder(dim=64), clock=clock)
    yield MemoryWeaveStore(mem, index={"fields": ["text"]}, ttl={"refresh_on_read": True}), mem
    dispose(request.param, db)


def test_put_on_an_existing_key_keeps_history(timed, clock):
    store, mem = timed
    store.put(("facts", "alice"), "home", {"text": "Alice lives in Paris"})
    created = store.get(("facts", "alice"), "home").created_at
    clock.advance(60)
    store.put(("facts", "alice"), "home", {"text": "Alice lives in Lyon"})
    item = store.get(("facts", "alice"), "home")
    assert item.value == {"text": "Alice lives in Lyon"} and item.created_at == created and item.updated_at > created
    hits = store.search(("facts",), query="where does Alice live")
    assert [h.value["text"] for h in hits] == ["Alice lives in Lyon"]  # one item, the current version
    assert [h.value["text"] for h in store.search(("facts",))] == ["Alice lives in Lyon"]
    from memoryweave_lc.store import to_memory_namespace, trace_id

    history = mem.history(trace_id(("facts", "alice"), "home"), namespace=to_memory_namespace(("facts", "alice")))
    assert [h.metadata["langgraph"]["value"]["text"] for h in history] == ["Alice lives in Paris", "Alice lives in Lyon"]
    assert mem.count() == 1
    store.delete(("facts", "alice"), "home")
    assert store.get(("facts", "alice"), "home") is None and list(mem.traces()) == []


def test_ttl_in_minutes_with_refresh_on_read(timed, clock):
    store, mem = timed
    store.put(("m",), "short", {"text": "the gate code is 1234"}, ttl=1)
    store.put(("m",), "kept", {"text": "the gate code was changed"})
    clock.advance(50)
    assert store.get(("m",), "short") is not None  # read: the minute starts again
    clock.advance(50)
    assert store.get(("m",), "short", refresh_ttl=False) is not None
    clock.advance(15)
    assert store.get(("m",), "short") is None
    assert [h.key for h in store.search(("m",), query="gate code")] == ["kept"]
    assert mem.prune() == 1
    store.put(("m",), "k2", {"text": "x"}, ttl=1)
    store.put(("m",), "k2", {"text": "y"})  # a put without a TTL: no longer expires
    clock.advance(3600)
    assert store.get(("m",), "k2").value == {"text": "y"}
    with pytest.raises(InvalidInputError):
        store.put(("m",), "k3", {"text": "x"}, ttl=-1)


def test_ttl_config_default_applies_to_puts(clock):
    mem = MemoryWeave(embedder=HashingEmbedder(dim=64), clock=clock)
    store = MemoryWeaveStore(mem, ttl={"default_ttl": 2, "refresh_on_read": False})
    store.put(("m",), "k", {"text": "soon gone"})
    clock.advance(100)
    assert store.get(("m",), "k") is not None
    clock.advance(30)
    assert store.get(("m",), "k") is None and store.search(("m",)) == []


async def test_async_api(store):
    ns = ("users", "alice", "pets")
    await asyncio.gather(*(store.aput(n, k, v) for n, k, v in PETS))
    assert (await store.aget(ns, "luna")).value == PETS[0][2]
    assert keys(await store.asearch(("users",), filter={"kind": "cat"})) == {"luna", "tom"}
    assert await store.alist_namespaces(prefix=("users", "bob")) == [("users", "bob", "pets")]
    await store.adelete(ns, "luna")
    assert await store.aget(ns, "luna") is None


# -- MemoryWeave specifics ---------------------------------------------------------
@pytest.fixture
def mw_store() -> MemoryWeaveStore:
    return MemoryWeaveStore(MemoryWeave(embedder=HashingEmbedder()), index={"fields": ["text"]})


def test_namespace_mapping_is_reversible():
    for ns in [("a",), ("users", "alice"), ("x y", "ü", "*", "a/b", "-_:"), ("a\x1fb", "\x1e")]:
        assert from_memory_namespace(to_memory_namespace(ns)) == ns
    assert to_memory_namespace(("users", "alice")) == ("users", "alice")  # the core's own tuple namespaces
    assert to_memory_namespace(("alice",)) == "alice"  # the middleware's user namespace


def test_items_are_memoryweave_traces(mw_store, clock):
    mw_store.memory.clock = clock
    mw_store.put(("memories", "alice"), "sister", {"text": "my sister lives in Lisbon", "source": "chat"})
    memory = mw_store.memory
    assert memory.namespaces() == [("memories", "alice")]
    (trace,) = list(memory)
    assert trace.text == "my sister lives in Lisbon"
    top = memory.recall("where does the sister live", 1, namespace=("memories", "alice"), record_access=False)[0]
    found = mw_store.search(("memories",), query="where does the sister live", limit=1)[0]
    assert found.score == top.score  # the score is MemoryWeave's recall score
    assert found.value == {"text": "my sister lives in Lisbon", "source": "chat"}


def test_update_keeps_created_at(mw_store, clock):
    mw_store.memory.clock = clock
    ns = ("m",)
    mw_store.put(ns, "k", {"text": "first version"})
    clock.advance(3600)
    mw_store.put(ns, "k", {"text": "second version"})
    item = mw_store.get(ns, "k")
    assert (item.updated_at - item.created_at).total_seconds() == pytest.approx(3600)
    assert mw_store.memory.count() == 1


def test_default_text_is_the_whole_value():
    store = MemoryWeaveStore(MemoryWeave(embedder=HashingEmbedder()))
    store.put(("m",), "k", {"b": "banana", "a": 1})
    assert next(iter(store.memory)).text == '{"a": 1, "b": "banana"}'


def test_search_records_access_of_returned_items(mw_store):
    ns = ("m",)
    mw_store.put(ns, "hit", {"text": "apple pie recipe"})
    mw_store.put(ns, "miss", {"text": "car repair manual"})
    memory = mw_store.memory
    hit, miss = (mw_store._trace(ns, k) for k in ("hit", "miss"))
    before = memory.activation(hit.id, namespace=hit.namespace), memory.activation(miss.id, namespace=miss.namespace)
    mw_store.search(ns, query="apple pie", limit=1)
    assert memory.activation(hit.id, namespace=hit.namespace) > before[0]
    assert memory.activation(miss.id, namespace=miss.namespace) == before[1]


def test_non_json_values_are_rejected_and_keep_the_old_item(mw_store):
    ns = ("m",)
    mw_store.put(ns, "k", {"text": "kept"})
    with pytest.raises(ValueError):
        mw_store.put(ns, "k", {"text": "new", "bad": object()})
    assert mw_store.get(ns, "k").value == {"text": "kept"}



def test_memories_added_outside_the_store_are_not_items(mw_store):
    mw_store.put(("m",), "k", {"text": "a store item about tea"})
    mw_store.memory.add("a plain memory about tea", namespace="m")
    assert [i.key for i in mw_store.search(("m",))] == ["k"]
    assert [i.key for i in mw_store.search(("m",), query="tea")] == ["k"]


def test_query_with_filter_reaches_past_the_first_recall(mw_store):
    ns = ("m",)
    for i in range(8):
        mw_store.put(ns, f"tea{i}", {"text": f"green tea note {i}", "kind": "tea"})
    mw_store.put(ns, "coffee", {"text": "a note on coffee, not tea", "kind": "coffee"})
    mw_store.memory.add("green tea note plain memory", namespace="m")
    assert [i.key for i in mw_store.search(ns, query="green tea note", filter={"kind": "coffee"}, limit=1)] == ["coffee"]
    assert len(mw_store.search(ns, query="green tea note plain memory", limit=1)) == 1


def test_the_store_shares_the_core_namespace_tree(mw_store):
    """Facts under ("alice", "facts") lie below the middleware's "alice": one prefix recall finds
    both; a query search over ("alice",) ranks the store's items once and never returns a bare turn
    (one the middleware wrote) or anything of ("alicex", ...); un-indexed items stay out of recall."""
    memory = mw_store.memory
    memory.add("I just adopted a cat called Luna", namespace="alice", speaker="user")
    mw_store.put(("alice", "facts"), "sister", {"text": "my sister Beatrix lives in Lisbon"})
    mw_store.put(("alice", "agent1", "run7"), "pet", {"text": "the cat Luna eats tuna"})
    mw_store.put(("alicex", "facts"), "sister", {"text": "my sister lives in Lisbon too"})
    mw_store.put(("alice", "facts"), "secret", {"text": "the cat door code is 1234"}, index=False)
    both = memory.recall("my sister and the cat Luna", k=10, namespace="alice", include_descendants=True)
    assert {r.namespace for r in both} == {"alice", ("alice", "facts"), ("alice", "agent1", "run7")}
    found = mw_store.search(("alice",), query="the cat Luna", limit=10)
    assert [i.namespace for i in found[:2]] == [("alice", "agent1", "run7"), ("alice", "facts")]
    assert found[0].score >= found[1].score and {i.key for i in found} == {"pet", "sister", "secret"}
    assert found[-1].key == "secret" and found[-1].score is None  # un-indexed: listed, never ranked
    assert all(i.namespace[0] == "alice" for i in found)
    assert [i.key for i in mw_store.search(("alice",), query="the cat", limit=1)] == ["pet"]
    assert mw_store.get(("alice", "facts"), "secret").value == {"text": "the cat door code is 1234"}
    assert sorted(mw_store.list_namespaces()) == [("alice",), ("alice", "agent1", "run7"), ("alice", "facts"),
                                                  ("alicex", "facts")]


def test_any_label_langgraph_allows_round_trips_through_the_store(mw_store):
    for ns in [("a/b",), ("a\x1fb", "c"), ("ü", "\x1ex"), ("a b", "*")]:
        mw_store.put(ns, "k", {"text": f"item of {ns!r}"})
        assert mw_store.get(ns, "k").value == {"text": f"item of {ns!r}"}
        (hit,) = mw_store.search(ns, query="item", limit=5)
        assert hit.namespace == ns
        mw_store.put(ns, "k", {"text": "changed"})
        assert mw_store.get(ns, "k").value == {"text": "changed"}
        mw_store.delete(ns, "k")
        assert mw_store.get(ns, "k") is None


# -- search under the empty prefix: every user's items, ranked once ------------------
USERS = {
    "alice": {"sister": "my sister Beatrix lives in Lisbon", "pet": "I adopted a cat called Luna",
              "job": "I work as a nurse on night shifts"},
    "bob": {"boat": "my boat is moored in Porto", "sister": "my sister moved to Lisbon last spring",
            "diet": "I stopped eating meat in March"},
    "carol": {"garden": "the tomatoes in the garden need water", "trip": "we are planning a trip to Japan"},
}


def _put_users(store: MemoryWeaveStore, root: tuple[str, ...]) -> None:
    for user, facts in USERS.items():
        for key, text in facts.items():
            store.put((*root, user, "facts"), key, {"text": text, "user": user, "users": [user]})


QUERIES = ["where does the sister live, Lisbon?", "a cat called Luna", "garden tomatoes", "night shifts"]


def test_the_empty_prefix_ranks_every_user_once_as_a_shared_root_would():
    """Items of three users under their own roots, searched under (), rank exactly as the same
    items under one shared root ("u", user, ...) searched under ("u",): one ranking, not one per
    user merged (whose scores would not be comparable)."""
    split = MemoryWeaveStore(MemoryWeave(embedder=HashingEmbedder()), index={"fields": ["text"]})
    shared = MemoryWeaveStore(MemoryWeave(embedder=HashingEmbedder()), index={"fields": ["text"]})
    _put_users(split, ())
    _put_users(shared, ("u",))
    for q in QUERIES:
        a = split.search((), query=q, limit=8)
        b = shared.search(("u",), query=q, limit=8)
        assert [(i.namespace, i.key) for i in a] == [(i.namespace[1:], i.key) for i in b], q
        assert [i.score for i in a] == pytest.approx([i.score for i in b], rel=1e-6), q
        assert [i.score for i in a] == sorted((i.score for i in a), reverse=True)
    assert {i.namespace[0] for i in split.search((), query="sister Lisbon", limit=20)} == set(USERS)


def test_the_empty_prefix_honours_filter_limit_offset_and_keeps_unindexed_items_unranked(mw_store):
    _put_users(mw_store, ())
    mw_store.put(("bob", "facts"), "code", {"text": "the garage code is 4321", "user": "bob"}, index=False)
    mw_store.memory.add("my sister Beatrix lives in Lisbon (a turn, not an item)", namespace="alice")
    everything = mw_store.search((), query="sister Lisbon", limit=20)
    assert len(everything) == 9  # eight indexed items, then the un-indexed one; never the bare turn
    assert everything[-1].key == "code" and everything[-1].score is None
    assert all(isinstance(i.score, float) for i in everything[:-1])
    assert {everything[0].key, everything[1].key} == {"sister"}
    assert {everything[0].namespace, everything[1].namespace} == {("alice", "facts"), ("bob", "facts")}
    pages = [mw_store.search((), query="sister Lisbon", limit=3, offset=o) for o in (0, 3, 6, 9)]
    assert [len(p) for p in pages] == [3, 3, 3, 0]
    assert [(i.namespace, i.key) for p in pages for i in p] == [(i.namespace, i.key) for i in everything]
    bobs = mw_store.search((), query="sister Lisbon", filter={"user": "bob"}, limit=20)
    assert [i.key for i in bobs][:1] == ["sister"] and {i.namespace for i in bobs} == {("bob", "facts")}
    assert {i.key for i in bobs} == {"boat", "sister", "diet", "code"}
    # a filter the core cannot push down (list equality) is still honoured, ranked over every user
    assert pushdown({"users": ["bob"]}) is None
    odd = mw_store.search((), query="sister Lisbon", filter={"users": ["bob"]}, limit=2)
    assert [(i.namespace, i.key) for i in odd] == [(("bob", "facts"), "sister"), (("bob", "facts"), "boat")]


async def test_the_empty_prefix_ranks_alike_in_async_code(mw_store):
    _put_users(mw_store, ())
    for q in QUERIES:
        sync = mw_store.search((), query=q, limit=5)
        assert [(i.key, i.namespace) for i in await mw_store.asearch((), query=q, limit=5)] == [
            (i.key, i.namespace) for i in sync]


def test_min_relevance_lets_a_search_find_nothing_relevant(clock):
    """An agent's memory-search tool reads what ``search`` returns: with a
    threshold, a query no item is about gets no item; by default ``limit``."""
    from memoryweave_core.prompt import CALIBRATED_FOR

    weave = MemoryWeave(embedder=HashingEmbeddings(), clock=clock)
    plain = MemoryWeaveStore(weave, index={"fields": ["text"]})
    for key, text in {"sister": "my sister Beatrix lives in Lisbon and teaches violin",
                      "pet": "I adopted a cat called Luna from the shelter",
                      "job": "I work as a nurse on night shifts at the hospital"}.items():
        plain.put(("memories", "alice"), key, {"text": text})
    asked = {"query": "What is the capital of Australia?", "limit": 3}
    assert len(plain.search(("memories",), **asked)) == 3
    assert MemoryWeaveStore(weave, index={"fields": ["text"]}, min_relevance=1.0).search(("memories",), **asked) == []
    auto = MemoryWeaveStore(weave, index={"fields": ["text"]}, min_relevance="auto")
    assert len(auto.search(("memories",), **asked)) == 3  # "auto" applies no threshold to an uncalibrated model
    weave.encoder.embedder.model_name = CALIBRATED_FOR  # as the model the threshold was fitted for
    assert auto.search(("memories",), **asked) == [] and auto.search((), **asked) == []
    found = auto.search(("memories",), query="Where does my sister Beatrix live?", limit=3)
    assert found and found[0].key == "sister"
