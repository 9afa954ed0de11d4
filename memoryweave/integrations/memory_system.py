"""The adapter's ``memory_system`` argument as a ``ContextualMemory`` and its retriever.

The seed passed a dict of its three objects; the adapter also takes a
MemoryWeave, a ContextualMemory or a ContextualRetriever.  All of them end
up as one memory and a retriever over it.
"""

from __future__ import annotations

from typing import Any, Mapping

from memoryweave_core import MemoryWeave
from memoryweave_core.errors import InvalidInputError

from ..core import ContextualMemory, ContextualRetriever, MemoryEncoder


def _resolve(memory_system: Any) -> tuple[ContextualMemory, ContextualRetriever]:
    if isinstance(memory_system, Mapping):
        memory = memory_system.get("memory")
        encoder = memory_system.get("encoder")
        retriever = memory_system.get("retriever")
        if memory is None and retriever is not None:
            memory = retriever.memory
        if isinstance(memory, MemoryWeave):
            memory = ContextualMemory.from_weave(memory)
        if not isinstance(memory, ContextualMemory):
            raise InvalidInputError('memory_system needs a "memory" (ContextualMemory or MemoryWeave)')
        if isinstance(encoder, MemoryEncoder):
            encoder.attach(memory)
        if retriever is None:
            retriever = ContextualRetriever(memory=memory)
        elif not isinstance(retriever, ContextualRetriever) or retriever.memory is not memory:
            raise InvalidInputError('memory_system["retriever"] must be a ContextualRetriever over memory_system["memory"]')
        return memory, retriever
    if isinstance(memory_system, MemoryWeave):
        memory = ContextualMemory.from_weave(memory_system)
        return memory, ContextualRetriever(memory=memory)
    if isinstance(memory_system, ContextualMemory):
        return memory_system, ContextualRetriever(memory=memory_system)
    if isinstance(memory_system, ContextualRetriever):
        return memory_system.memory, memory_system
    raise InvalidInputError(
        "memory_system must be the seed's dict {'memory', 'encoder', 'retriever'}, a MemoryWeave, "
        f"a ContextualMemory or a ContextualRetriever, got {type(memory_system).__name__}"
    )
