"""LangChain and LangGraph integration for MemoryWeave.

Every class here is a thin translation between a LangChain/LangGraph
interface and :class:`memoryweave_core.MemoryWeave`; the remembering and the
recalling happen in the core.

- :class:`MemoryWeaveRetriever`: a ``BaseRetriever`` (LCEL chains, RAG).
- :class:`MemoryWeaveStore`: a LangGraph ``BaseStore`` (``create_agent(store=...)``).
- :class:`MemoryWeaveMiddleware`: an ``AgentMiddleware`` that recalls into the
  system prompt and remembers each finished turn, per user.
- :class:`MemoryWeaveMemory`: the legacy ``BaseMemory`` of ``langchain-classic``
  (``ConversationChain(memory=...)``).

Needs the ``lc`` extra: ``pip install 'memoryweave[lc]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memoryweave_core.errors import require

require("langchain_core", "lc")

from .retriever import MemoryWeaveRetriever  # noqa: E402

__all__ = ["MemoryWeaveMemory", "MemoryWeaveMiddleware", "MemoryWeaveRetriever", "MemoryWeaveStore"]

# The store, the middleware and the legacy memory need langgraph, langchain and
# langchain-classic; load them on first use so the retriever works with
# langchain-core alone.
_LAZY = {
    "MemoryWeaveStore": ".store",
    "MemoryWeaveMiddleware": ".middleware",
    "MemoryWeaveMemory": ".memory",
}

if TYPE_CHECKING:  # pragma: no cover
    from .memory import MemoryWeaveMemory
    from .middleware import MemoryWeaveMiddleware
    from .store import MemoryWeaveStore


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
