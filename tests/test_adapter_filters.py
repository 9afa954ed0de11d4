"""Every adapter honours recall filters, or refuses them: never ignores them."""

from __future__ import annotations

import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import InvalidInputError, UnsupportedFilterError


def _memory() -> MemoryWeave:
    m = MemoryWeave(embedder=HashingEmbedder())
    m.add_many([
        {"text": f"knee pain note {i}", "metadata": {"tag": "health" if i % 2 else "sport", "level": i}}
        for i in range(30)
    ])
    return m


def test_langchain_retriever_filter_and_search_kwargs():
    pytest.importorskip("langchain_core")
    from memoryweave_lc import MemoryWeaveRetriever

    r = MemoryWeaveRetriever(memory=_memory(), k=5)
    assert r.invoke("knee", filter={"tag": "nonexistent"}) == []
    docs = r.invoke("knee", filter={"tag": "health"})
    assert len(docs) == 5 and {d.metadata["tag"] for d in docs} == {"health"}
    sk = MemoryWeaveRetriever(memory=r.memory, search_kwargs={"k": 3, "filter": {"level": {"$lt": 10}}})
    docs = sk.invoke("knee")
    assert len(docs) == 3 and all(d.metadata["level"] < 10 for d in docs)
    # a per-call filter narrows the retriever's own scope, never widens it
    docs = sk.invoke("knee", filter={"tag": "health"}, k=10)
    assert docs and all(d.metadata["level"] < 10 and d.metadata["tag"] == "health" for d in docs)
    with pytest.raises(UnsupportedFilterError):
        r.invoke("knee", filter={"tag": {"$regex": "h.*"}})
    with pytest.raises(InvalidInputError):
        MemoryWeaveRetriever(memory=r.memory, search_kwargs={"score_threshold": 0.5}).invoke("knee")


async def test_langchain_retriever_async_filter():
    pytest.importorskip("langchain_core")
    from memoryweave_lc import MemoryWeaveRetriever

    docs = await MemoryWeaveRetriever(memory=_memory(), k=4).ainvoke("knee", filter={"tag": "sport"})
    assert len(docs) == 4 and {d.metadata["tag"] for d in docs} == {"sport"}


def test_llamaindex_retriever_metadata_filters():
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import QueryBundle
    from llama_index.core.vector_stores.types import (
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
    )

    from memoryweave_li import MemoryWeaveRetriever
    from memoryweave_li.filters import to_filter

    memory = _memory()
    filters = MetadataFilters(filters=[
        MetadataFilter(key="tag", value="health"),
        MetadataFilters(filters=[MetadataFilter(key="level", value=5, operator=FilterOperator.LTE),
                                 MetadataFilter(key="level", value=[21, 23], operator=FilterOperator.IN)],
                        condition=FilterCondition.OR),
    ])
    nodes = MemoryWeaveRetriever(memory, similarity_top_k=10, filters=filters).retrieve(QueryBundle("knee"))
    assert sorted(n.node.metadata["level"] for n in nodes) == [1, 3, 5, 21, 23]
    nin = MetadataFilters(filters=[MetadataFilter(key="tag", value=["health"], operator=FilterOperator.NIN),
                                   MetadataFilter(key="level", value=20, operator=FilterOperator.GT),
                                   MetadataFilter(key="level", value=24, operator=FilterOperator.NE)])
    nodes = MemoryWeaveRetriever(memory, similarity_top_k=10, filters=nin).retrieve("knee")
    assert sorted(n.node.metadata["level"] for n in nodes) == [22, 26, 28]
    assert to_filter(MetadataFilters(filters=[MetadataFilter(key="tag", value="x")], condition=FilterCondition.NOT)) \
        == {"$not": {"$and": [{"tag": {"$eq": "x"}}]}}
    with pytest.raises(UnsupportedFilterError, match="TEXT_MATCH"):
        MemoryWeaveRetriever(memory, filters=MetadataFilters(filters=[
            MetadataFilter(key="tag", value="he", operator=FilterOperator.TEXT_MATCH)]))


def test_langgraph_store_filter_is_pushed_down(monkeypatch):
    pytest.importorskip("langgraph")
    from memoryweave_lc.store import MemoryWeaveStore, pushdown

    store = MemoryWeaveStore(MemoryWeave(embedder=HashingEmbedder()), index={"fields": ["text"]})
    for i in range(200):
        store.put(("facts", "alice"), f"k{i}", {"text": f"alice likes tea number {i}", "kind": "rare" if i == 7 else "x"})
    calls = []
    recall = store.memory.recall
    monkeypatch.setattr(store.memory, "recall", lambda *a, **kw: calls.append(kw) or recall(*a, **kw))
    found = store.search(("facts", "alice"), query="tea", filter={"kind": "rare"}, limit=5)
    assert [item.key for item in found] == ["k7"]
    assert calls and all(kw.get("filter") for kw in calls)  # inside recall, one call, no whole-namespace ranking
    assert len(calls) == 1 and calls[0]["filter"] == {  # the store's own items (not the middleware's turns) that match
        "$and": [{"metadata.langgraph.key": {"$exists": True}}, {"metadata.langgraph.value.kind": "rare"}]}
    # parts the core language reads otherwise fall back to ranking the whole namespace, still exact
    assert pushdown({"tags": ["a", "b"]}) is None
    assert pushdown({"a.b": 1}) is None
    assert pushdown({"n": {"$gt": 3}, "o": {"p": "q"}}) == {
        "metadata.langgraph.value.n": {"$gt": 3}, "metadata.langgraph.value.o.p": "q"}
