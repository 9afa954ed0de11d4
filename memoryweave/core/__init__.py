"""The seed-compatible facade: ``ContextualMemory``, ``MemoryEncoder``, ``ContextualRetriever``.

The original MemoryWeave seed was used like this, and that code keeps working::

    from memoryweave.core import ContextualMemory, MemoryEncoder, ContextualRetriever

    memory = ContextualMemory(embedding_dim=384, use_art_clustering=True, vigilance_threshold=0.85)
    encoder = MemoryEncoder(embedding_model)          # anything with .encode(text)
    retriever = ContextualRetriever(memory=memory, embedding_model=embedding_model)

    embedding, metadata = encoder.encode_interaction("I adopted a cat called Luna", "user")
    memory.add_memory(embedding, metadata["text"], metadata)
    retriever.retrieve_for_context("what is my cat called?", conversation_history, top_k=5)

All three classes are thin wrappers over :class:`memoryweave_core.MemoryWeave`
(``memory.weave``): storage, encoding of context vectors, ART categories,
activation and ranking all happen in the engine, exactly as for
``MemoryWeave.recall``.  The facade only translates the seed's vocabulary.

**Binding the embedder.**  The seed creates ``ContextualMemory`` before it
knows the embedding model, but the engine needs one (to embed context
vectors and queries).  The first :class:`MemoryEncoder` or
:class:`ContextualRetriever` that is given both a model and the memory
binds that model to it (:meth:`ContextualMemory.bind_embedder`); the engine
itself is built lazily, on first use.  A memory that is used before any
model is bound falls back to the engine's default embedder
(all-MiniLM-L6-v2) when ``embedding_dim`` is 384; with any other dimension it
loads no model and takes the caller's own vectors (``add_memory(embedding)``,
``retrieve_memories(query_embedding)``), and embedding text raises
NoEmbedderError until a model is bound.

**Layout.**  One module per class (:mod:`.contextual_memory`,
:mod:`.memory_encoder`, :mod:`.contextual_retriever`), the conversation
history reader they share with :mod:`memoryweave.integrations`
(:mod:`.history`), and the translations between the seed's values and the
engine's (:mod:`.translation`).  Import from ``memoryweave.core``: the
names below are the public ones, wherever they live.
"""

from .contextual_memory import ART_WEIGHT as ART_WEIGHT
from .contextual_memory import ContextualMemory
from .contextual_retriever import ContextualRetriever
from .contextual_retriever import _relevance as _relevance  # read here by tests/test_pathways.py
from .history import history_messages
from .memory_encoder import MemoryEncoder

__all__ = [
    "ContextualMemory",
    "ContextualRetriever",
    "MemoryEncoder",
    "history_messages",
]
