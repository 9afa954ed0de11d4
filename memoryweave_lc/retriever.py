"""MemoryWeaveRetriever: MemoryWeave recall as a LangChain ``BaseRetriever``."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, field_validator

from memoryweave_core import MemoryWeave, Recollection
from memoryweave_core.errors import InvalidInputError
from memoryweave_core.prompt import MinRelevance, check_min_relevance
from memoryweave_core.scopes import Namespace

#: The keys of search_kwargs (LangChain's vector-store retriever convention).
SEARCH_KWARGS = frozenset({"k", "filter", "min_relevance"})


def all_of(*filters: dict | None) -> dict | None:
    """Filters that must all hold, as one (None when none is given): a
    per-call filter narrows the retriever's own, never replaces it."""
    given = [f for f in filters if f is not None]
    return None if not given else given[0] if len(given) == 1 else {"$and": given}


def to_document(r: Recollection) -> Document:
    """One Recollection as a Document: the trace text, its id, and why it was recalled."""
    t = r.trace
    metadata = {
        **t.metadata,
        "speaker": t.speaker,
        "episode": t.episode,
        "position": t.position,
        "time": t.time,
        "namespace": t.scope,  # as named: a string, or a tuple of labels
        "score": r.score,
        "relevance": r.relevance,
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
    ``score``, ``relevance`` (the calibrated probability that the memory is
    evidence for the query, comparable across queries) and ``features``
    (each pathway's contribution to the score).
    ``namespace`` and ``k`` can also be given to ``invoke``.  ``namespace``
    may be a tuple of labels; with ``include_descendants=True`` the retriever
    recalls from it and every namespace below it, ranked once.

    ``filter`` (or ``search_kwargs={"filter": ..., "k": ...}``) limits recall
    to matching memories (the language of :mod:`memoryweave_core.filters`);
    a ``filter`` given to ``invoke`` narrows it further.  A filter that
    cannot be honoured, or an unknown argument, raises.

    ``min_relevance`` (on the retriever, in ``search_kwargs`` or per call)
    leaves out memories below that relevance, so fewer than ``k`` documents,
    or none, may come back; ``"auto"`` is the threshold the prompt-facing
    adapters use.  By default there is none: a retriever returns ``k``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: MemoryWeave
    k: int = Field(default=5, ge=1)
    namespace: Namespace = "default"
    include_descendants: bool = False
    """Also recall from every namespace below ``namespace`` (all of a user's agents and runs)."""
    record_access: bool = True
    """Whether recalled memories count as used (their activation rises)."""
    filter: dict | None = None
    """Only memories matching this filter are recalled."""
    min_relevance: MinRelevance = None
    """Leave out memories whose calibrated relevance is below this (``"auto"``: the prompt adapters' threshold)."""
    search_kwargs: dict = Field(default_factory=dict)
    """``k``, ``filter`` and ``min_relevance``, as LangChain's vector-store retrievers take their options."""

    @field_validator("min_relevance", mode="before")
    @classmethod
    def _check_min_relevance(cls, value: MinRelevance) -> MinRelevance:
        return check_min_relevance(value)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        namespace: Namespace | None = None,
        filter: dict | None = None,
        min_relevance: MinRelevance = None,
        **kwargs: Any,
    ) -> list[Document]:
        found = self.memory.recall(query, **self._recall_kwargs(k, namespace, filter, min_relevance, kwargs))
        return [to_document(r) for r in found]

    def _recall_kwargs(self, k: int | None, namespace: Namespace | None, filter: dict | None,
                       min_relevance: MinRelevance, extra: dict[str, Any]) -> dict[str, Any]:
        """The recall arguments of one call (``invoke`` and ``ainvoke`` alike); unknown ones refused."""
        if extra:
            raise InvalidInputError(f"MemoryWeaveRetriever got unknown arguments {sorted(extra)}")
        unknown = set(self.search_kwargs) - SEARCH_KWARGS
        if unknown:
            raise InvalidInputError(f"search_kwargs takes only {sorted(SEARCH_KWARGS)}, got {sorted(unknown)}")
        given = (min_relevance, self.search_kwargs.get("min_relevance"), self.min_relevance)  # per call first
        threshold = next((m for m in given if m is not None), None)
        return {
            "k": k if k is not None else self.search_kwargs.get("k", self.k),
            "namespace": self.namespace if namespace is None else namespace,
            "record_access": self.record_access,
            "include_descendants": self.include_descendants,
            "filter": all_of(self.search_kwargs.get("filter"), self.filter, filter),
            "min_relevance": threshold,  # recall resolves "auto"
        }

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        namespace: Namespace | None = None,
        filter: dict | None = None,
        min_relevance: MinRelevance = None,
        **kwargs: Any,
    ) -> list[Document]:
        found = await self.memory.arecall(query, **self._recall_kwargs(k, namespace, filter, min_relevance, kwargs))
        return [to_document(r) for r in found]
