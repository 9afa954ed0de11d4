"""LlamaIndex integration of MemoryWeave (``pip install 'memoryweave[li]'``).

- :class:`MemoryWeaveRetriever`: recall as a ``BaseRetriever`` (query and chat engines).
- :class:`MemoryWeaveBlock`: a long-term block for ``llama_index.core.memory.Memory``.
- :class:`MemoryWeaveMemory`: a ``BaseMemory`` for agents that remembers every turn.
"""

from memoryweave_core.errors import require

require("llama_index.core", "li")

from .block import MemoryWeaveBlock  # noqa: E402
from .memory import MemoryWeaveMemory  # noqa: E402
from .retriever import MemoryWeaveRetriever, recollection_to_node  # noqa: E402

__all__ = ["MemoryWeaveBlock", "MemoryWeaveMemory", "MemoryWeaveRetriever", "recollection_to_node"]
