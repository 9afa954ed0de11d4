"""Bring your own vectors: a memory with ``embedding_dim=N`` and no model.

Nothing here may load a model: the default embedder is made to fail loudly.
"""

from __future__ import annotations

import numpy as np
import pytest

from memoryweave_core import MemoryWeave, embedders
from memoryweave_core.errors import (
    DimensionMismatchError,
    InvalidInputError,
    NoEmbedderError,
)

DIM = 1536


@pytest.fixture(autouse=True)
def no_model(monkeypatch):
    def refuse():
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(embedders, "default_embedder", refuse)
    from memoryweave_core import encoder

    monkeypatch.setattr(encoder, "default_embedder", refuse)


def unit(rng, n=1):
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_own_vectors_work_without_any_model(kind, tmp_path, clock):
    rng = np.random.default_rng(0)
    vecs = unit(rng, 5)
    memory = MemoryWeave(tmp_path / "own.db" if kind == "sqlite" else None, embedding_dim=DIM, clock=clock)
    ids = [memory.add(f"fact {i}", speaker="Ana", embedding=vecs[i]).id for i in range(5)]
    memory.add_many([{"text": "more", "speaker": "Ana"}], embeddings=unit(rng))
    assert memory.store.dim == DIM
    for i in range(5):
        query = vecs[i] + 0.05 * unit(rng)[0]
        assert memory.recall("", k=1, query_vector=query)[0].trace.id == ids[i]
    # a text query that names a known speaker still works: the topic vector is skipped
    assert len(memory.recall("what did Ana say", k=2, query_vector=vecs[0])) == 2
    memory.close()


def test_what_needs_a_model_says_so(clock):
    memory = MemoryWeave(embedding_dim=DIM, clock=clock)
    with pytest.raises(NoEmbedderError, match="embedding_dim=1536"):
        memory.add("no vector given")
    assert memory.count() == 0  # refused before anything was written
    memory.add("with a vector", embedding=unit(np.random.default_rng(1))[0])
    with pytest.raises(NoEmbedderError, match="query_vector="):
        memory.recall("a text query needs a model")
    with pytest.raises(InvalidInputError):  # NoEmbedderError is an InvalidInputError (a ValueError)
        memory.add_conversation(["hi", "there"])
    with pytest.raises(DimensionMismatchError):
        memory.add("wrong size", embedding=np.ones(10))
    with pytest.raises(DimensionMismatchError):
        memory.recall("", query_vector=np.ones(10))


def test_embedding_dim_is_checked(tmp_path, clock, embedder):
    with pytest.raises(InvalidInputError):
        MemoryWeave(embedding_dim=0)
    with pytest.raises(DimensionMismatchError):
        MemoryWeave(embedder=embedder, embedding_dim=DIM)  # the hashing embedder gives 256-d
    with MemoryWeave(tmp_path / "x.db", embedding_dim=DIM, clock=clock) as memory:
        memory.add("one", embedding=unit(np.random.default_rng(2))[0])
    with pytest.raises(DimensionMismatchError):
        MemoryWeave(tmp_path / "x.db", embedding_dim=384)
    assert MemoryWeave(embedder=embedder, embedding_dim=256).encoder.dim == 256


def test_seed_contextual_memory_takes_1536d_vectors_without_a_model():
    from memoryweave.core import ContextualMemory

    rng = np.random.default_rng(3)
    vecs = unit(rng, 4)
    memory = ContextualMemory(embedding_dim=DIM)
    for i, v in enumerate(vecs):
        assert memory.add_memory(v, f"memory {i}", {"speaker": "user"}) == i
    found = memory.retrieve_memories(vecs[2], top_k=2)
    assert found[0][0] == 2 and found[0][2]["text"] == "memory 2"
    assert memory.memory_embeddings.shape == (4, DIM)
    with pytest.raises(DimensionMismatchError):
        memory.add_memory(np.ones(384), "the default model's size is not this memory's")
