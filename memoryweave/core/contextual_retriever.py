"""``ContextualRetriever``: the seed's retriever, as engine recalls with re-weighted pathways.

The seed's strategy and weights become a RecallConfig per call
(:meth:`ContextualRetriever.recall_config`); the recent conversation is a
second recall whose results are merged with the first.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, Iterable

import numpy as np

from memoryweave_core import RecallConfig
from memoryweave_core.errors import InvalidInputError
from memoryweave_core.pathways import pathways
from memoryweave_core.recall_call import check_k
from memoryweave_core.recollection import Recollection
from memoryweave_core.trace import check_text

from .contextual_memory import ContextualMemory
from .history import history_messages
from .translation import _cosine, _describe, _recall


def _relevance() -> tuple[str, ...]:
    """Pathways that measure how well a memory *matches* the query, as the
    registry marks them (scaled by ``relevance_weight``); ``activation`` is
    the recency/frequency pathway (scaled by ``recency_weight``)."""
    return tuple(p.name for p in pathways() if p.matching)


_IGNORED_RETRIEVER_OPTIONS = frozenset(
    {
        "semantic_coherence_check",
        "adaptive_retrieval",
        "use_two_stage_retrieval",
        "query_type_adaptation",
        "dynamic_threshold_adjustment",
        "memory_decay_enabled",
        "adaptive_k_factor",
        "first_stage_k",
        "first_stage_threshold_factor",
        "personal_query_threshold",
        "factual_query_threshold",
        "coherence_threshold",
        "activation_boost",
    }
)


class ContextualRetriever:
    """The seed's retriever: memories for the current input and conversation.

    Meaningful seed options map onto the engine's fusion weights (taken from
    the memory's RecallConfig at each call):

    * ``retrieval_strategy``: ``"hybrid"`` (default) uses every pathway;
      ``"similarity"`` switches the activation (recency/frequency) pathway
      off; ``"temporal"`` is recency-led: activation x10, matching
      pathways x0.5 (recency decides among comparably relevant memories).
    * ``relevance_weight`` scales the matching pathways (those the registry
      marks ``matching``: semantic, context, lexical, spread, episode,
      speaker, feedback, category) relative to the seed default 0.7;
      ``recency_weight`` scales activation relative to the seed default 0.3.
    * ``confidence_threshold`` drops memories whose cosine with the query is
      below it.

    Accepted and ignored (the engine's pipeline already does what they
    approximated): ``semantic_coherence_check``, ``adaptive_retrieval``,
    ``use_two_stage_retrieval`` (the engine always gathers candidates first
    and then ranks them), ``query_type_adaptation``,
    ``dynamic_threshold_adjustment``, ``memory_decay_enabled`` (activation
    always decays), ``adaptive_k_factor``, ``first_stage_k``,
    ``first_stage_threshold_factor``, ``personal_query_threshold``,
    ``factual_query_threshold``, ``coherence_threshold``.  Unknown keyword
    arguments are accepted with a warning.
    """

    STRATEGIES = ("hybrid", "similarity", "temporal")

    def __init__(
        self,
        memory: ContextualMemory,
        embedding_model: Any = None,
        retrieval_strategy: str = "hybrid",
        recency_weight: float = 0.3,
        relevance_weight: float = 0.7,
        confidence_threshold: float = 0.0,
        semantic_coherence_check: bool = False,
        adaptive_retrieval: bool = False,
        use_two_stage_retrieval: bool = False,
        query_type_adaptation: bool = False,
        *,
        history_turns: int = 2,
        **options: Any,
    ) -> None:
        if not isinstance(memory, ContextualMemory):
            raise InvalidInputError(f"memory must be a ContextualMemory, got {type(memory).__name__}")
        if retrieval_strategy not in self.STRATEGIES:
            raise InvalidInputError(f"retrieval_strategy must be one of {self.STRATEGIES}, got {retrieval_strategy!r}")
        for name, w in (("recency_weight", recency_weight), ("relevance_weight", relevance_weight)):
            if not isinstance(w, (int, float)) or not np.isfinite(w) or w < 0:
                raise InvalidInputError(f"{name} must be a finite number >= 0, got {w!r}")
        self.memory = memory
        self.embedding_model = embedding_model
        if embedding_model is not None:
            memory.bind_embedder(embedding_model)
        self.retrieval_strategy = retrieval_strategy
        self.recency_weight = float(recency_weight)
        self.relevance_weight = float(relevance_weight)
        self.confidence_threshold = float(confidence_threshold)
        self.history_turns = int(history_turns)
        self.semantic_coherence_check = semantic_coherence_check
        self.adaptive_retrieval = adaptive_retrieval
        self.use_two_stage_retrieval = use_two_stage_retrieval
        self.query_type_adaptation = query_type_adaptation
        unknown = set(options) - _IGNORED_RETRIEVER_OPTIONS
        if unknown:
            warnings.warn(f"ContextualRetriever ignores unknown options {sorted(unknown)}", stacklevel=2)
        self.ignored_options = dict(options)

    def recall_config(self) -> RecallConfig:
        """The engine config this retriever ranks with (the memory's, re-weighted)."""
        base = self.memory.weave.config
        w = dict(base.weights)
        rel = self.relevance_weight / 0.7
        rec = self.recency_weight / 0.3
        for f in _relevance():
            w[f] = w.get(f, 0.0) * rel
        if self.retrieval_strategy == "similarity":
            w["activation"] = 0.0
        elif self.retrieval_strategy == "temporal":
            for f in _relevance():
                w[f] *= 0.5
            w["activation"] *= 10.0 * rec
        else:
            w["activation"] *= rec
        return replace(base, weights=w)

    def retrieve(self, query: str, top_k: int = 5, *, record_access: bool = True) -> list[Recollection]:
        """Engine Recollections for a text query, ranked with :meth:`recall_config`."""
        return _recall(
            self.memory.weave, check_text(query, "query"), None, top_k,
            config=self.recall_config(), namespace=self.memory.namespace, record_access=record_access,
        )

    def retrieve_for_context(
        self,
        current_input: str,
        conversation_history: Iterable[Any] | None = None,
        top_k: int = 5,
        confidence_threshold: float | None = None,
        min_relevance: float | None = None,
    ) -> list[dict[str, Any]]:
        """Memories relevant to ``current_input`` and the recent conversation.

        Two recalls through the engine, merged: one for the input alone,
        one for the input after the last ``history_turns`` messages (so a
        follow-up like "and when was that?" still finds its topic).  Each
        result is a dict with ``memory_id`` (the index), ``relevance_score``
        (the engine's fused score), ``relevance`` (its calibrated probability
        of holding evidence), ``similarity`` (cosine with the input),
        ``text``, ``speaker``, ``id``, ``episode``, ``time``, ``metadata``
        (the stored metadata, also merged at top level as the seed did) and
        ``features`` (the per-pathway contributions).  ``min_relevance``
        applies the engine's threshold to both recalls (fewer than ``top_k``,
        or none, when nothing is relevant: ``MemoryWeave.recall``).
        """
        check_text(current_input, "current_input")
        k = check_k(top_k)
        threshold = self.confidence_threshold if confidence_threshold is None else float(confidence_threshold)
        weave = self.memory.weave
        if weave.count(self.memory.namespace) == 0:
            return []
        cfg = self.recall_config()
        ns = self.memory.namespace
        best: dict[str, Recollection] = {}
        for r in _recall(weave, current_input, None, k, config=cfg, namespace=ns, record_access=False,
                         min_relevance=min_relevance):
            best[r.trace.id] = r
        recent = [m["content"] for m in history_messages(conversation_history)][-self.history_turns :] if self.history_turns else []
        if recent:
            query = "\n".join(recent + [current_input])
            for r in _recall(weave, query, None, k, config=cfg, namespace=ns, record_access=False,
                             min_relevance=min_relevance):
                if r.trace.id not in best or r.score > best[r.trace.id].score:
                    best[r.trace.id] = r
        ranked = sorted(best.values(), key=lambda r: -r.score)
        qv = weave.encoder.embed_query(current_input)
        out = []
        for r in ranked:
            sim = _cosine(r, qv)
            if sim < threshold:
                continue
            d = _describe(r.trace, similarity=sim)
            d.update(memory_id=self.memory._position(r.trace.id), relevance_score=float(r.score),
                     relevance=float(r.relevance), features=dict(r.features))
            out.append(d)
            if len(out) == k:
                break
        if out:
            weave.touch([d["id"] for d in out], namespace=ns)
        return out
