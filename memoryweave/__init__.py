"""MemoryWeave: long-term memory for LLM applications.

This package is the seed-compatible facade over the engine in
:mod:`memoryweave_core`::

    from memoryweave.core import ContextualMemory, MemoryEncoder, ContextualRetriever
    from memoryweave.integrations import HuggingFaceAdapter   # needs memoryweave[st]

New code can use the engine directly: ``from memoryweave import MemoryWeave``.
Importing this package loads only numpy and the engine; torch and
transformers are imported when a Hugging Face adapter is used.
"""

from memoryweave_core import HashingEmbedder, MemoryWeave, RecallConfig, __version__

from .core import ContextualMemory, ContextualRetriever, MemoryEncoder

__all__ = [
    "ContextualMemory",
    "ContextualRetriever",
    "HashingEmbedder",
    "MemoryEncoder",
    "MemoryWeave",
    "RecallConfig",
    "__version__",
]
