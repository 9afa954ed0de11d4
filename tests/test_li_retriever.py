"""MemoryWeaveRetriever: nodes, metadata, and use inside LlamaIndex engines."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Settings  # noqa: E402
from llama_index.core.base.llms.types import ChatMessage  # noqa: E402
from llama_index.core.chat_engine import CondensePlusContextChatEngine  # noqa: E402
from llama_index.core.embeddings import MockEmbedding  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.llms.mock import MockLLMWithChatMemoryOfLastCall  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode  # noqa: E402

from memoryweave_core import EmptyTextError, InvalidInputError  # noqa: E402
from memoryweave_li import MemoryWeaveRetriever  # noqa: E402

PETS = [("Ana", "I adopted a cat called Luna last week"), ("Ben", "What breed is she?"), ("Ana", "A grey tabby, very playful")]
POTTERY = [("Ana", "I started pottery classes on Tuesday"), ("Ben", "How did the first class go?"), ("Ana", "I made a lopsided bowl")]


@pytest.fixture(autouse=True)
def _no_hosted_models(monkeypatch):
    """Nothing may reach for a hosted model: embeddings resolve to a mock."""
    monkeypatch.setattr(Settings, "_embed_model", MockEmbedding(embed_dim=8))


@pytest.fixture
def filled(memory):
    memory.add_conversation(PETS, episode="pets", time="2023-05-08")
    memory.add_conversation(POTTERY, episode="pottery", time="2023-06-08")
    return memory


def test_nodes_carry_trace_and_breakdown(filled):
    retriever = MemoryWeaveRetriever(filled, similarity_top_k=2, explain=True)
    nodes = retriever.retrieve("what is the cat called")
    assert len(nodes) == 2 and all(isinstance(n, NodeWithScore) and isinstance(n.node, TextNode) for n in nodes)
    top = nodes[0]
    trace = filled.get(top.node.id_)
    assert top.node.get_content() == trace.text == "I adopted a cat called Luna last week"
    md = top.node.metadata
    assert md["trace_id"] == trace.id and md["speaker"] == "Ana" and md["episode"] == "pets"
    assert md["time"] == trace.time and md["date"].startswith("2023-05-08") and md["namespace"] == "default"
    assert top.score == pytest.approx(md["score"])
    assert md["features"] and sum(md["features"].values()) == pytest.approx(top.score, abs=1e-5)
    assert set(md["raw_features"]) <= set(md["features"]) | set(md["raw_features"])
    # what the LLM reads: text with speaker and date, no bookkeeping
    llm_text = top.node.get_content(metadata_mode=MetadataMode.LLM)
    assert "speaker: Ana" in llm_text and "2023-05-08" in llm_text
    assert "features" not in llm_text and trace.id not in llm_text and "episode" not in llm_text
    assert top.node.get_content(metadata_mode=MetadataMode.EMBED) == trace.text
    assert nodes[0].score >= nodes[1].score


def test_user_metadata_is_kept_but_reserved_keys_win(memory):
    memory.add("Luna likes tuna", metadata={"source": "chat", "speaker": "spoofed"}, speaker="Ana")
    node = MemoryWeaveRetriever(memory).retrieve("tuna")[0].node
    assert node.metadata["source"] == "chat" and node.metadata["speaker"] == "Ana"
    assert "source: chat" in node.get_content(metadata_mode=MetadataMode.LLM)


def test_top_k_and_namespaces(filled):
    filled.add("Bob's dog is called Rex", namespace="bob")
    assert len(MemoryWeaveRetriever(filled, similarity_top_k=4).retrieve("cat")) == 4
    bob = MemoryWeaveRetriever(filled, namespace="bob").retrieve("what is the cat called")
    assert [n.node.text for n in bob] == ["Bob's dog is called Rex"]
    assert all("Rex" not in n.node.text for n in MemoryWeaveRetriever(filled, similarity_top_k=6).retrieve("dog Rex"))
    assert MemoryWeaveRetriever(filled, namespace="nobody").retrieve("cat") == []


async def test_include_descendants_spans_one_users_levels_and_never_another_user(memory):
    memory.add("Ana's cat is called Luna", namespace="ana")
    memory.add("Ana's cat eats tuna", namespace=("ana", "agent1", "run7"))
    memory.add("Anabel's cat is called Nova", namespace=("anabel", "run1"))
    memory.add("Bob's cat is called Tom", namespace=("bob",))
    span = MemoryWeaveRetriever(memory, namespace=("ana",), include_descendants=True, similarity_top_k=10)
    for nodes in (span.retrieve("cat"), await span.aretrieve(QueryBundle("cat"))):
        assert {n.node.text: n.node.metadata["namespace"] for n in nodes} == {
            "Ana's cat is called Luna": "ana", "Ana's cat eats tuna": ["ana", "agent1", "run7"]}
    alone = MemoryWeaveRetriever(memory, namespace="ana", similarity_top_k=10).retrieve("cat")
    assert [n.node.text for n in alone] == ["Ana's cat is called Luna"]
    with pytest.raises(InvalidInputError):
        MemoryWeaveRetriever(memory, namespace="ana", include_descendants="yes")


def test_record_access_and_at(filled, clock):
    cat = filled.recall("cat called Luna", k=1)[0].trace.id
    before = filled.activation(cat)
    MemoryWeaveRetriever(filled, similarity_top_k=1, record_access=False).retrieve("cat called Luna")
    assert filled.activation(cat) == pytest.approx(before)
    MemoryWeaveRetriever(filled, similarity_top_k=1).retrieve("cat called Luna")
    assert filled.activation(cat) > before
    # recall as of a moment before pottery existed still works (time travel is the core's job)
    old = MemoryWeaveRetriever(filled, similarity_top_k=1, at="2023-05-09").retrieve("pottery")
    assert len(old) == 1


def test_invalid_arguments(filled):
    with pytest.raises(InvalidInputError):
        MemoryWeaveRetriever(filled, similarity_top_k=0)
    with pytest.raises(InvalidInputError):
        MemoryWeaveRetriever(filled, namespace="")
    with pytest.raises(TypeError):
        MemoryWeaveRetriever("not a memory")
    with pytest.raises(EmptyTextError):
        MemoryWeaveRetriever(filled).retrieve("   ")


def test_relevance_in_metadata_and_a_threshold_on_it(filled):
    query = "what is the cat called"
    expected = filled.recall(query, 4, record_access=False)
    nodes = MemoryWeaveRetriever(filled, similarity_top_k=4, record_access=False).retrieve(query)
    assert [n.node.metadata["relevance"] for n in nodes] == pytest.approx([r.relevance for r in expected])
    assert "relevance" not in nodes[0].node.get_content(metadata_mode=MetadataMode.LLM)  # bookkeeping
    cut = sorted(r.relevance for r in expected)[1]
    kept = [r.trace.id for r in filled.recall(query, 4, record_access=False, min_relevance=cut)]
    nodes = MemoryWeaveRetriever(filled, similarity_top_k=4, record_access=False, min_relevance=cut).retrieve(query)
    assert [n.node.id_ for n in nodes] == kept and 0 < len(kept) < 4
    assert MemoryWeaveRetriever(filled, similarity_top_k=4, min_relevance=1.0).retrieve(query) == []
    with pytest.raises(InvalidInputError):  # refused when built, not at the first query
        MemoryWeaveRetriever(filled, min_relevance=1.5)
    with pytest.raises(InvalidInputError):
        MemoryWeaveRetriever(filled, min_relevance="high")


async def test_aretrieve_matches_retrieve(filled):
    r = MemoryWeaveRetriever(filled, similarity_top_k=3, record_access=False)
    sync = r.retrieve("pottery bowl")
    async_ = await r.aretrieve(QueryBundle("pottery bowl"))
    assert [n.node.id_ for n in sync] == [n.node.id_ for n in async_]
    assert [n.score for n in sync] == pytest.approx([n.score for n in async_])


def test_retriever_query_engine(filled):
    engine = RetrieverQueryEngine.from_args(MemoryWeaveRetriever(filled, similarity_top_k=2), llm=MockLLM())
    response = engine.query("What is the cat called?")
    # MockLLM echoes its prompt: the answer is exactly what the model saw
    assert "I adopted a cat called Luna last week" in str(response)
    assert "speaker: Ana" in str(response)
    assert filled.get(response.source_nodes[0].node.id_).text == "I adopted a cat called Luna last week"


async def test_retriever_query_engine_async(filled):
    engine = RetrieverQueryEngine.from_args(MemoryWeaveRetriever(filled, similarity_top_k=2), llm=MockLLM())
    response = await engine.aquery("Ana made a lopsided bowl?")
    assert "lopsided bowl" in str(response)


@pytest.mark.parametrize("skip_condense", [False, True])
def test_condense_plus_context_chat_engine(filled, skip_condense):
    # MockLLM echoes its prompt, so each reply is what the model saw
    engine = CondensePlusContextChatEngine.from_defaults(
        retriever=MemoryWeaveRetriever(filled, similarity_top_k=2), llm=MockLLM(), skip_condense=skip_condense
    )
    first = engine.chat("What is the cat called?")
    assert "cat called Luna" in str(first)
    assert filled.get(first.source_nodes[0].node.id_).text == "I adopted a cat called Luna last week"
    second = engine.chat("And what did Ana make in pottery class, the lopsided bowl?")
    assert "user: What is the cat called?" in str(second)  # the history went along
    sources = [filled.get(n.node.id_).text for n in second.source_nodes]
    if skip_condense:  # the question itself is the query
        assert "I made a lopsided bowl" in sources and "I made a lopsided bowl" in str(second)
    # (condensing with MockLLM echoes the whole prompt, so the query is mostly turn one)


async def test_condense_plus_context_chat_engine_async(filled):
    llm = MockLLMWithChatMemoryOfLastCall(is_chat_model=True)
    engine = CondensePlusContextChatEngine.from_defaults(
        retriever=MemoryWeaveRetriever(filled, similarity_top_k=2),
        llm=llm,
        chat_history=[ChatMessage(role="user", content="hi"), ChatMessage(role="assistant", content="hello")],
    )
    await engine.achat("Tell me about the grey tabby cat")
    seen = "\n".join(m.content or "" for m in llm.last_chat_messages)
    assert "grey tabby" in seen and "hello" in seen


def test_missing_llama_index_names_the_extra(monkeypatch):
    import importlib
    import sys

    from memoryweave_core import MissingDependencyError

    monkeypatch.setitem(sys.modules, "llama_index.core", None)  # import fails
    for name in [m for m in sys.modules if m == "memoryweave_li" or m.startswith("memoryweave_li.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingDependencyError, match=r"memoryweave\[li\]"):
        importlib.import_module("memoryweave_li")


async def test_a_query_bundle_with_its_own_embedding_is_recalled_by_that_vector():
    from memoryweave_core import DimensionMismatchError, MemoryWeave

    own = MemoryWeave(embedding_dim=3)
    own.add("north", namespace="v", embedding=[1.0, 0.0, 0.0])
    own.add("east", namespace="v", embedding=[0.0, 1.0, 0.0])
    retriever = MemoryWeaveRetriever(own, namespace="v", similarity_top_k=2, record_access=False)
    east = QueryBundle("", embedding=[0.1, 1.0, 0.0])
    assert [n.node.text for n in retriever.retrieve(east)] == ["east", "north"]
    assert [n.node.text for n in await retriever.aretrieve(east)] == ["east", "north"]
    with pytest.raises(DimensionMismatchError):
        retriever.retrieve(QueryBundle("", embedding=[1.0, 0.0]))
