"""MemoryWeaveRetriever: MemoryWeave recall as a LangChain ``BaseRetriever``."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field

from memoryweave_core import MemoryWeave, Recollection


def to_document(r: Recollection) -> Document:
    """One Recollection as a Document: the trace text, its id, and why it was recalled."""
    t = r.trace
    metadata = {
        **t.metadata,
        "speaker": t.speaker,
        "episode": t.episode,
        "position": t.position,
        "time": t.time,
        "namespace": t.namespace,
        "score": r.score,
        "features": dict(r.features),
    }
    return Document(page_content=t.text, id=t.id, metadata=metadata)


class MemoryWeaveRetriever(BaseRetriever):
    """Recall from a :class:`~memoryweave_core.MemoryWeave` in any LangChain chain.

    >>> retriever = MemoryWeaveRetriever(memory=memory, k=4, namespace="alice")
    >>> retriever.invoke("where does Ana live?", k=2)  # k overrides per call

    Each Document carries the trace text as ``page_content``, the trace id as
    ``id``, and in ``metadata`` the trace's own metadata plus ``speaker``,
    ``episode``, ``position``, ``time`` (epoch seconds), ``namespace``,
    ``score`` and ``features`` (each pathway's contribution to the score).
    ``namespace`` and ``k`` can also be given to ``invoke``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: MemoryWeave
    k: int = Field(default=5, ge=1)
    namespace: str = "default"
    record_access: bool = True
    """Whether recalled memories count as used (their activation rises)."""

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        found = self.memory.recall(
            query,
            self.k if k is None else k,
            namespace=self.namespace if namespace is None else namespace,
            record_access=self.record_access,
        )
        return [to_document(r) for r in found]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        return await run_in_executor(
            None,
            self._get_relevant_documents,
            query,
            run_manager=run_manager.get_sync(),
            k=k,
            namespace=namespace,
        )
