"""MemoryWeaveRetriever: MemoryWeave recall as a LlamaIndex retriever.

A thin translation: ``_retrieve`` calls :meth:`MemoryWeave.recall` and turns
each :class:`~memoryweave_core.Recollection` into a ``NodeWithScore`` whose
``TextNode`` carries the trace id, speaker, episode, time and the score
breakdown.  All ranking happens in the core.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from memoryweave_core import InvalidInputError, MemoryWeave, Recollection
from memoryweave_core.filters import parse_filter
from memoryweave_core.prompt import MinRelevance, check_min_relevance
from memoryweave_core.recall_call import check_k
from memoryweave_core.scopes import Namespace
from memoryweave_core.timeutil import format_time
from memoryweave_core.trace import check_scope

from .filters import to_filter

#: Metadata keys the retriever sets on every node (they win over a trace's own
#: metadata keys of the same name).
RESERVED_KEYS = (
    "trace_id",
    "namespace",
    "speaker",
    "episode",
    "position",
    "time",
    "date",
    "category",
    "score",
    "relevance",
    "features",
    "raw_features",
)

#: What the LLM sees besides the text: who said it and when.  Everything else
#: (ids, scores, breakdowns) is bookkeeping for the application.
LLM_VISIBLE_KEYS = frozenset({"speaker", "date"})

#: The embedding text of a node is its text alone.
EMBED_VISIBLE_KEYS: frozenset[str] = frozenset()


def recollection_to_node(rec: Recollection) -> NodeWithScore:
    """One recalled trace as a ``NodeWithScore`` (``node.id_`` is the trace id)."""
    t = rec.trace
    metadata: dict[str, Any] = {k: v for k, v in t.metadata.items() if k not in RESERVED_KEYS}
    metadata.update(
        trace_id=t.id,
        namespace=t.to_dict()["namespace"],  # as named: a string, or a list of labels (JSON-safe)
        speaker=t.speaker,
        episode=t.episode,
        position=t.position,
        time=t.time,
        date=format_time(t.time),
        category=t.category,
        score=rec.score,
        relevance=rec.relevance,
        features=dict(rec.features),
    )
    if rec.raw:
        metadata["raw_features"] = dict(rec.raw)
    if t.speaker is None:  # nothing useful to show the LLM
        del metadata["speaker"]
    node = TextNode(
        id_=t.id,
        text=t.text,
        metadata=metadata,
        excluded_llm_metadata_keys=[k for k in metadata if k in RESERVED_KEYS and k not in LLM_VISIBLE_KEYS],
        excluded_embed_metadata_keys=[k for k in metadata if k not in EMBED_VISIBLE_KEYS],
    )
    return NodeWithScore(node=node, score=rec.score)


class MemoryWeaveRetriever(BaseRetriever):
    """Recall memories of one namespace as LlamaIndex nodes.

    Parameters
    ----------
    memory : MemoryWeave
        The memory to recall from.
    similarity_top_k : int
        How many memories each query returns (``k`` of ``recall``).
    namespace : str or tuple of str
        Whose memories: one namespace per user keeps users apart; a tuple
        names a level below a user, ``("ana", "agent1", "run7")``.
    include_descendants : bool
        Also recall from every namespace below ``namespace`` (all of a
        user's agents and runs), ranked once; never from another user's.
    at : optional
        Recall as of this time instead of the memory's clock (anything
        ``recall(at=...)`` accepts).
    explain : bool
        Also keep the raw feature values (``metadata["raw_features"]``).
    record_access : bool
        Whether recalled memories count as used (their activation rises).
    filters : MetadataFilters, optional
        Recall only memories matching these (see :mod:`memoryweave_li.filters`;
        an operator without a MemoryWeave equivalent raises UnsupportedFilterError).
    min_relevance : float or "auto", optional
        Leave out memories whose calibrated relevance (``metadata["relevance"]``,
        comparable across queries) is below this, so fewer than
        ``similarity_top_k`` nodes, or none, may come back; ``"auto"`` is the
        threshold the prompt-facing adapters use.  Default: none.
    """

    def __init__(
        self,
        memory: MemoryWeave,
        *,
        similarity_top_k: int = 5,
        namespace: Namespace = "default",
        include_descendants: bool = False,
        at: Any = None,
        explain: bool = False,
        record_access: bool = True,
        filters: Any = None,
        min_relevance: MinRelevance = None,
        callback_manager: Optional[CallbackManager] = None,
        verbose: bool = False,
    ) -> None:
        if not isinstance(memory, MemoryWeave):
            raise TypeError(f"memory must be a MemoryWeave, got {type(memory).__name__}")
        self.memory = memory
        self.similarity_top_k = check_k(similarity_top_k)
        self.namespace = check_scope(namespace)
        if not isinstance(include_descendants, bool):
            raise InvalidInputError(f"include_descendants must be True or False, got {include_descendants!r}")
        self.include_descendants = include_descendants
        self.at = at
        self.explain = explain
        self.record_access = record_access
        self.filters = filters
        self.filter = parse_filter(to_filter(filters))  # refused here, not at the first query
        self.min_relevance = check_min_relevance(min_relevance)  # likewise
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _recall_kwargs(self) -> Dict[str, Any]:
        return {"namespace": self.namespace, "include_descendants": self.include_descendants, "at": self.at,
                "explain": self.explain, "record_access": self.record_access, "filter": self.filter,
                "min_relevance": self.min_relevance}  # recall resolves "auto"

    def _query(self, query_bundle: QueryBundle) -> Dict[str, Any]:
        """The query text, and the bundle's own embedding where it carries one (LlamaIndex's
        way to pass a ready vector): recall then embeds nothing, as a vector index would."""
        vector = query_bundle.embedding
        return {"query": query_bundle.query_str, **({} if vector is None else {"query_vector": vector})}

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        found = self.memory.recall(k=self.similarity_top_k, **self._query(query_bundle), **self._recall_kwargs())
        return [recollection_to_node(r) for r in found]

    async def _aretrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        # arecall keeps the loop free (the query's embedding runs in a worker thread)
        found = await self.memory.arecall(k=self.similarity_top_k, **self._query(query_bundle),
                                          **self._recall_kwargs())
        return [recollection_to_node(r) for r in found]

    def __repr__(self) -> str:
        return f"MemoryWeaveRetriever(namespace={self.namespace!r}, similarity_top_k={self.similarity_top_k})"
