"""MemoryWeaveRetriever: LangChain's retriever conformance suite plus our contract."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")

from langchain_core.documents import Document  # noqa: E402
from langchain_tests.integration_tests import RetrieversIntegrationTests  # noqa: E402

from memoryweave_core import FEATURES, HashingEmbedder, InvalidInputError, MemoryWeave  # noqa: E402
from memoryweave_lc import MemoryWeaveRetriever  # noqa: E402

FACTS = [
    ("Ana", "I adopted a cat called Luna last spring"),
    ("Ana", "My sister Beatrix lives in Lisbon"),
    ("Ana", "I work as a nurse on night shifts"),
    ("Ana", "Luna the cat loves sleeping on the radiator"),
    ("Ana", "We are planning a trip to Japan in October"),
]


def filled_memory() -> MemoryWeave:
    memory = MemoryWeave(embedder=HashingEmbedder())
    memory.add_conversation([{"speaker": s, "text": t} for s, t in FACTS], episode="intro")
    return memory


class TestMemoryWeaveRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's own conformance suite, unmodified."""

    @property
    def retriever_constructor(self) -> type[MemoryWeaveRetriever]:
        return MemoryWeaveRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"memory": filled_memory(), "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "what is the name of Ana's cat?"


@pytest.fixture
def memory() -> MemoryWeave:
    return filled_memory()


def test_documents_carry_trace_and_explanation(memory):
    docs = MemoryWeaveRetriever(memory=memory, k=2).invoke("what is the cat called?")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    trace = memory.get(top.id)
    assert top.page_content == trace.text and "Luna" in top.page_content
    meta = top.metadata
    assert meta["speaker"] == "Ana" and meta["episode"] == "intro" and meta["namespace"] == "default"
    assert meta["time"] == trace.time and meta["position"] == trace.position
    assert isinstance(meta["features"], dict) and set(meta["features"]) <= set(FEATURES)
    assert meta["score"] == pytest.approx(sum(meta["features"].values()), abs=1e-6)
    assert docs[0].metadata["score"] >= docs[1].metadata["score"]


def test_documents_match_core_recall(memory):
    query = "where does the sister live?"
    expected = memory.recall(query, 3, record_access=False)
    docs = MemoryWeaveRetriever(memory=memory, k=3, record_access=False).invoke(query)
    assert [d.id for d in docs] == [r.trace.id for r in expected]
    assert [d.metadata["score"] for d in docs] == pytest.approx([r.score for r in expected])


def test_trace_metadata_is_kept_and_core_fields_win():
    memory = MemoryWeave(embedder=HashingEmbedder())
    memory.add("the wifi password is hunter2", metadata={"source": "chat", "score": "user-set"})
    (doc,) = MemoryWeaveRetriever(memory=memory, k=1).invoke("wifi password")
    assert doc.metadata["source"] == "chat"
    assert isinstance(doc.metadata["score"], float)


def test_relevance_in_metadata_and_a_threshold_on_it(memory):
    query = "where does the sister live?"
    expected = memory.recall(query, 4, record_access=False)
    docs = MemoryWeaveRetriever(memory=memory, k=4, record_access=False).invoke(query)
    assert [d.metadata["relevance"] for d in docs] == pytest.approx([r.relevance for r in expected])
    cut = sorted(r.relevance for r in expected)[1]  # keeps the three at or above the second lowest
    kept = [r.trace.id for r in memory.recall(query, 4, record_access=False, min_relevance=cut)]
    retriever = MemoryWeaveRetriever(memory=memory, k=4, record_access=False, min_relevance=cut)
    assert [d.id for d in retriever.invoke(query)] == kept and 0 < len(kept) < 4
    assert MemoryWeaveRetriever(memory=memory, k=4, search_kwargs={"min_relevance": 1.0}).invoke(query) == []
    assert len(retriever.invoke(query, min_relevance=0.0)) == 4  # a per-call threshold wins
    with pytest.raises(InvalidInputError):
        retriever.invoke(query, min_relevance=1.5)


def test_k_and_namespace_per_call(memory):
    memory.add("Bob keeps bees on his roof", namespace="bob")
    retriever = MemoryWeaveRetriever(memory=memory, k=4)
    assert len(retriever.invoke("cat")) == 4
    assert len(retriever.invoke("cat", k=1)) == 1
    docs = retriever.invoke("bees", namespace="bob")
    assert [d.page_content for d in docs] == ["Bob keeps bees on his roof"]
    assert MemoryWeaveRetriever(memory=memory, namespace="bob").invoke("cat")[0].metadata["namespace"] == "bob"
    assert MemoryWeaveRetriever(memory=memory, namespace="nobody").invoke("cat") == []


async def test_async_matches_sync(memory):
    retriever = MemoryWeaveRetriever(memory=memory, k=3, record_access=False)
    sync = retriever.invoke("trip to Japan", k=2)
    async_ = await retriever.ainvoke("trip to Japan", k=2)
    assert [d.id for d in async_] == [d.id for d in sync]
    assert len(await retriever.abatch(["cat", "sister", "nurse"])) == 3


def test_record_access_flag(memory):
    top = memory.recall("nurse night shifts", 1, record_access=False)[0].trace.id
    before = memory.activation(top)
    MemoryWeaveRetriever(memory=memory, k=1, record_access=False).invoke("nurse night shifts")
    assert memory.activation(top) == before
    MemoryWeaveRetriever(memory=memory, k=1).invoke("nurse night shifts")
    assert memory.activation(top) > before


def test_bad_input_is_rejected(memory):
    with pytest.raises(ValueError):
        MemoryWeaveRetriever(memory=memory, k=0)
    with pytest.raises(InvalidInputError):
        MemoryWeaveRetriever(memory=memory).invoke("   ")
