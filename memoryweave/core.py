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
"""

from __future__ import annotations

import time as _time
import warnings
from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from memoryweave_core import MemoryWeave, RecallConfig, as_embedder
from memoryweave_core.embedders import DEFAULT_DIM, Embedder, FunctionEmbedder, default_embedder
from memoryweave_core.encoder import MemoryEncoder as _CoreEncoder
from memoryweave_core.encoder import turn_text
from memoryweave_core.errors import DimensionMismatchError, InvalidInputError
from memoryweave_core.pathways import pathways
from memoryweave_core.prompt import relevance_kwargs
from memoryweave_core.recall_call import check_k
from memoryweave_core.recollection import Recollection
from memoryweave_core.trace import Trace, check_scope, check_text, check_vectors

__all__ = [
    "ContextualMemory",
    "ContextualRetriever",
    "MemoryEncoder",
    "history_messages",
]


def _relevance() -> tuple[str, ...]:
    """Pathways that measure how well a memory *matches* the query, as the
    registry marks them (scaled by ``relevance_weight``); ``activation`` is
    the recency/frequency pathway (scaled by ``recency_weight``)."""
    return tuple(p.name for p in pathways() if p.matching)


#: Weight of the ART category pathway when the seed's ``use_art_clustering``
#: is on.  The tuned default is 0 (on LoCoMo categories add nothing the other
#: pathways lack), so this is a small hand-set prior that keeps the seed's
#: switch meaningful; README's ablation table shows its effect.
ART_WEIGHT = 0.25

_USER_ROLES = {"user", "human", "you", "me", "customer"}
_ASSISTANT_ROLES = {"assistant", "ai", "bot", "model", "system_response", "agent", "gpt"}


# -- helpers shared with memoryweave.integrations ------------------------------
def _role(speaker: Any) -> str:
    s = str(speaker or "user").strip().lower()
    if s in _ASSISTANT_ROLES:
        return "assistant"
    if s == "system":
        return "system"
    return "user"


def history_messages(history: Iterable[Any] | None) -> list[dict[str, str]]:
    """Normalise a conversation history to ``[{"role", "content"}]`` messages.

    Accepts the seed's ``{"speaker", "message", "response"}`` items (one item
    becomes the speaker's message plus the assistant's response), the usual
    ``{"role", "content"}`` messages, ``{"speaker", "text"}`` turns,
    ``(speaker, text)`` pairs and plain strings (taken as user messages).
    Roles other than user/assistant/system are mapped to ``user``.
    """
    out: list[dict[str, str]] = []
    for item in history or []:
        if isinstance(item, str):
            pairs = [("user", item)]
        elif isinstance(item, tuple) and len(item) == 2:
            pairs = [(_role(item[0]), item[1])]
        elif isinstance(item, Mapping):
            if "content" in item:
                pairs = [(_role(item.get("role")), item["content"])]
            else:
                text = item.get("message", item.get("text"))
                pairs = [(_role(item.get("speaker", item.get("role"))), text)]
                if item.get("response"):
                    pairs.append(("assistant", item["response"]))
        else:
            raise InvalidInputError(f"cannot read a conversation turn of type {type(item).__name__}")
        for role, text in pairs:
            if isinstance(text, str) and text.strip():
                out.append({"role": role, "content": text})
    return out


def _jsonable(value: Any) -> Any:
    """Metadata the engine accepts (JSON-safe): numpy scalars/arrays become
    Python numbers/lists, anything else unknown becomes its ``str``."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _embedder_of(model: Any) -> Embedder:
    """``as_embedder`` plus a fallback for ``.encode(text)`` objects that only take one string."""
    try:
        return as_embedder(model)
    except Exception:
        if hasattr(model, "encode"):
            return FunctionEmbedder(model.encode, batched=False)
        raise


def _same_model(a: Any, b: Any) -> bool:
    """Two embedder handles for the same underlying model (the seed wraps one model twice)."""

    def roots(x: Any) -> set[int]:
        out = set()
        for _ in range(4):
            if x is None:
                break
            out.add(id(x))
            x = getattr(x, "model", None) or getattr(x, "fn", None)
        return out

    return bool(roots(a) & roots(b))


# -- ContextualMemory ------------------------------------------------------------
class ContextualMemory:
    """The seed's memory store, backed by a :class:`~memoryweave_core.MemoryWeave`.

    Parameters (seed names)
    -----------------------
    embedding_dim : int
        Dimension of the embedding model; checked when a model is bound and
        on every :meth:`add_memory`.  With no model bound and a dimension
        other than the default model's (384), no model is loaded: the
        memory takes your own vectors of this dimension.
    max_memories : int or None
        Keep at most this many memories (lowest-activation ones are evicted,
        never the current episode): ``RecallConfig.max_traces``.
    use_art_clustering : bool
        ART category resonance on or off (the engine always categorises;
        when off the ``category`` pathway has weight 0).
    vigilance_threshold, learning_rate : float
        ART2-A vigilance and learning rate of the engine's categoriser.
    activation_threshold, default_confidence_threshold, adaptive_retrieval,
    semantic_coherence_check, coherence_threshold
        Accepted for compatibility.  ``default_confidence_threshold`` is used
        by :meth:`retrieve_memories`; the others are ignored (activation is
        a scored pathway in the engine, not a cut-off).

    Extra (not in the seed): ``weave=`` wraps an existing MemoryWeave,
    ``path=`` keeps the memories in a SQLite file, ``namespace=`` selects
    the engine namespace, ``config=`` a base RecallConfig, ``clock=`` an
    injectable clock, ``embedding_model=`` binds a model immediately.
    """

    def __init__(
        self,
        embedding_dim: int = 768,
        max_memories: int | None = 1000,
        activation_threshold: float = 0.5,
        use_art_clustering: bool = False,
        vigilance_threshold: float = 0.85,
        learning_rate: float = 0.1,
        default_confidence_threshold: float = 0.0,
        adaptive_retrieval: bool = False,
        semantic_coherence_check: bool = False,
        coherence_threshold: float = 0.2,
        *,
        embedding_model: Any = None,
        weave: MemoryWeave | None = None,
        path: Any = None,
        namespace: str = "default",
        config: RecallConfig | None = None,
        clock: Any = None,
    ) -> None:
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, (int, np.integer)) or embedding_dim < 1:
            raise InvalidInputError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
        self.embedding_dim = int(embedding_dim)
        self.max_memories = max_memories
        self.use_art_clustering = bool(use_art_clustering)
        self.vigilance_threshold = float(vigilance_threshold)
        self.learning_rate = float(learning_rate)
        self.default_confidence_threshold = float(default_confidence_threshold)
        # accepted and ignored (see the class docstring)
        self.activation_threshold = activation_threshold
        self.adaptive_retrieval = adaptive_retrieval
        self.semantic_coherence_check = semantic_coherence_check
        self.coherence_threshold = coherence_threshold

        self.namespace = check_scope(namespace)
        self._path = path
        self._clock = clock
        self._embedder: Embedder | None = None
        self._weave: MemoryWeave | None = None
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        if weave is not None:
            self._weave = weave
            emb = weave.encoder.embedder if isinstance(weave.encoder, _CoreEncoder) and weave.encoder.has_embedder else None
            if emb is not None:
                self._check_model_dim(emb)
                self._embedder = emb
            if weave.store.dim is not None and weave.store.dim != self.embedding_dim:
                # wrapping an existing engine: its vectors decide the dimension
                self.embedding_dim = int(weave.store.dim)
        else:
            base = config or RecallConfig()
            self._config = replace(
                base,
                vigilance=self.vigilance_threshold,
                art_learning_rate=self.learning_rate,
                max_traces=max_memories if max_memories else None,
                weights={
                    **base.weights,
                    "category": (base.weights["category"] or ART_WEIGHT) if self.use_art_clustering else 0.0,
                },
            )
        if embedding_model is not None:
            self.bind_embedder(embedding_model)

    @classmethod
    def from_weave(cls, weave: MemoryWeave, *, namespace: str = "default") -> "ContextualMemory":
        """Wrap an existing engine (its config, store and embedder are kept)."""
        dim = weave.store.dim or (weave.encoder.dim if weave.encoder.has_embedder else 384)
        cat_on = weave.config.enabled("category")
        return cls(embedding_dim=dim, use_art_clustering=cat_on, weave=weave, namespace=namespace)

    # -- the engine and its embedder ------------------------------------------
    @property
    def weave(self) -> MemoryWeave:
        """The MemoryWeave engine behind this memory (built on first use)."""
        if self._weave is None:
            embedder = self._embedder
            if embedder is None and self.embedding_dim == DEFAULT_DIM:  # no model bound: the engine's default
                embedder = default_embedder()
                self._check_model_dim(embedder)
                self._embedder = embedder
            # another dimension and no model: the user brings the vectors, no model is loaded
            dim = None if embedder is not None else self.embedding_dim
            self._weave = MemoryWeave(
                self._path, embedder=embedder, config=self._config, clock=self._clock, embedding_dim=dim
            )
        return self._weave

    @property
    def embedder(self) -> Embedder | None:
        """The bound embedder (None until a model is bound or the engine is used)."""
        return self._embedder

    def bind_embedder(self, model: Any) -> Embedder:
        """Use ``model`` (anything ``as_embedder`` accepts, e.g. an object with
        ``.encode(text)``) as this memory's embedding model.

        The first model bound wins; binding another handle of the same model
        is a no-op, and binding a *different* model later only warns, because
        vectors of two models in one memory are not comparable.
        """
        if self._embedder is not None:
            if not _same_model(self._embedder, model) and not _same_model(model, self._embedder):
                warnings.warn(
                    "ContextualMemory already has an embedding model; keeping the first one "
                    "(the encoder, the retriever and the memory should share one model)",
                    stacklevel=3,
                )
            return self._embedder
        emb = model if isinstance(model, Embedder) else _embedder_of(model)
        self._check_model_dim(emb)
        self._embedder = emb
        if self._weave is not None:
            # the engine exists but has no embedder yet: give it this one
            self._weave.encoder = _CoreEncoder(emb, context_window=self._weave.config.context_window)
        return emb

    def _check_model_dim(self, emb: Embedder) -> None:
        if int(emb.dim) != self.embedding_dim:
            raise DimensionMismatchError(
                f"the embedding model gives {emb.dim}-d vectors but ContextualMemory(embedding_dim={self.embedding_dim})"
            )

    # -- seed API ---------------------------------------------------------------
    def add_memory(
        self,
        embedding: Any,
        text: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        speaker: str | None = None,
        episode: str | None = None,
        time: Any = None,
    ) -> int:
        """Store ``text`` with its precomputed ``embedding``; returns the memory's index.

        ``embedding`` becomes the trace's content vector; the engine adds the
        context vector (the text after the previous turn of its episode).
        The speaker is taken from ``metadata["speaker"]`` unless given.
        """
        vec = check_vectors(embedding, self.embedding_dim, n=1, what="embedding")[0]
        meta = _jsonable(dict(metadata or {}))
        if speaker is None and isinstance(meta.get("speaker"), str) and meta["speaker"].strip():
            speaker = meta["speaker"]
        trace = self.weave.add(
            text, speaker=speaker, episode=episode, time=time, metadata=meta, namespace=self.namespace, embedding=vec
        )
        return self._position(trace.id)

    def retrieve_memories(
        self,
        query_embedding: Any,
        top_k: int = 5,
        activation_boost: bool = True,
        confidence_threshold: float | None = None,
    ) -> list[tuple[int, float, dict[str, Any]]]:
        """The ``top_k`` memories nearest ``query_embedding`` as ``(index, score, metadata)``.

        Ranked by the engine's pipeline for a query given only as a vector
        (semantic, context, activation, episode, spread and category
        pathways; there is no text, so no lexical or time-expression match).
        ``activation_boost=False`` switches the activation pathway off.
        ``confidence_threshold`` (default ``default_confidence_threshold``)
        drops memories whose cosine with the query is below it.
        ``metadata`` is the stored metadata plus ``text``, ``speaker``,
        ``id``, ``episode``, ``time`` and ``similarity`` (that cosine).
        """
        qv = check_vectors(query_embedding, self.embedding_dim, n=1, what="query embedding")[0]
        cfg = self.weave.config if activation_boost else self.weave.config.without("activation")
        found = _recall(self.weave, "", qv, top_k, config=cfg, namespace=self.namespace)
        threshold = self.default_confidence_threshold if confidence_threshold is None else confidence_threshold
        out = []
        for r in found:
            sim = _cosine(r, qv)
            if sim < threshold:
                continue
            out.append((self._position(r.trace.id), float(r.score), _describe(r.trace, similarity=sim)))
        return out

    # -- inspection -------------------------------------------------------------
    def _sync(self) -> None:
        ids = [t.id for t in self.weave.traces(self.namespace)]
        self._ids = ids
        self._index = {tid: i for i, tid in enumerate(ids)}

    def _position(self, trace_id: str) -> int:
        """The seed's integer index of a trace: its position in insertion order."""
        if trace_id not in self._index or len(self._ids) != self.weave.count(self.namespace):
            self._sync()
        return self._index[trace_id]

    def traces(self) -> list[Trace]:
        """Every memory of this namespace, in index order."""
        return list(self.weave.traces(self.namespace))

    def get_memory(self, index: int) -> dict[str, Any]:
        """Text and metadata of the memory at ``index``."""
        if len(self._ids) != self.weave.count(self.namespace):
            self._sync()
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(self._ids):
            raise InvalidInputError(f"no memory at index {index!r}")
        return _describe(self.weave.get(self._ids[int(index)], namespace=self.namespace))

    @property
    def memory_embeddings(self) -> np.ndarray:
        """Content vectors of all memories, ``[n, embedding_dim]``, in index order."""
        traces = self.traces()
        if not traces:
            return np.zeros((0, self.embedding_dim), np.float32)
        return np.stack([t.content for t in traces])

    @property
    def memory_metadata(self) -> list[dict[str, Any]]:
        return [_describe(t) for t in self.traces()]

    def get_category_statistics(self) -> dict[str, Any]:
        """The engine's ART categories: how many, their sizes and labels."""
        cats = self.weave.categories(self.namespace)
        return {
            "num_categories": len(cats),
            "category_sizes": {c.id: c.size for c in cats},
            "category_labels": {c.id: c.label for c in cats},
            "art_in_ranking": self.use_art_clustering,
        }

    def forget(self, indices: Sequence[int] | int) -> int:
        """Delete memories by index; returns how many."""
        if len(self._ids) != self.weave.count(self.namespace):
            self._sync()
        indices = [indices] if isinstance(indices, (int, np.integer)) else list(indices)
        for i in indices:
            if not isinstance(i, (int, np.integer)) or not 0 <= i < len(self._ids):
                raise InvalidInputError(f"no memory at index {i!r}")
        n = self.weave.forget([self._ids[int(i)] for i in indices], namespace=self.namespace)
        self._sync()
        return n

    def __len__(self) -> int:
        return self.weave.count(self.namespace) if (self._weave is not None or self._embedder is not None) else 0

    def __repr__(self) -> str:
        n = len(self)
        return f"ContextualMemory(embedding_dim={self.embedding_dim}, {n} memories, art={self.use_art_clustering})"


# -- MemoryEncoder ------------------------------------------------------------------
class MemoryEncoder:
    """The seed's encoder: turns interactions and concepts into ``(embedding, metadata)``.

    ``embedding_model`` is anything with ``.encode(text)`` (the seed's
    wrapper), a SentenceTransformer, or any other embedder MemoryWeave
    accepts.  The vector it returns is what the engine would use as the
    content vector of the same turn (``"speaker: text"``), so memories added
    through :meth:`ContextualMemory.add_memory` rank exactly like memories
    added with ``MemoryWeave.add``.

    ``memory=`` (or :meth:`attach`) binds the model to a ContextualMemory.
    ``context_window_size`` and ``use_episodic_markers`` are accepted for
    compatibility and ignored: the engine builds context vectors itself.
    """

    def __init__(
        self,
        embedding_model: Any,
        context_window_size: int = 3,
        use_episodic_markers: bool = True,
        *,
        memory: ContextualMemory | None = None,
    ) -> None:
        self.embedding_model = embedding_model
        self.embedder = _embedder_of(embedding_model)
        self.context_window_size = context_window_size
        self.use_episodic_markers = use_episodic_markers
        if memory is not None:
            self.attach(memory)

    def attach(self, memory: ContextualMemory) -> "MemoryEncoder":
        memory.bind_embedder(self.embedder)
        return self

    def encode_text(self, text: str, speaker: str | None = None) -> np.ndarray:
        """Unit-length embedding of ``text`` (as said by ``speaker``)."""
        return self.embedder.embed([turn_text(check_text(text), speaker)])[0]

    encode = encode_text

    def encode_interaction(
        self,
        message: str,
        speaker: str = "user",
        response: str | None = None,
        additional_context: Mapping[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """An interaction (a message and optionally the reply to it).

        ``metadata["text"]`` is the text to store (the message, plus the
        response on the next line when given); ``additional_context`` is
        merged into the metadata.
        """
        check_text(message, "message")
        text = message if not response else f"{message}\nResponse: {response}"
        metadata: dict[str, Any] = {
            "type": "interaction",
            "speaker": speaker,
            "message": message,
            "response": response,
            "text": text,
            "timestamp": _time.time(),
        }
        metadata.update(_jsonable(dict(additional_context or {})))
        return self.encode_text(text, speaker), metadata

    def encode_concept(
        self,
        concept: str,
        description: str,
        related_concepts: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A piece of knowledge: ``"concept: description"``."""
        check_text(concept, "concept")
        check_text(description, "description")
        text = f"{concept}: {description}"
        metadata = {
            "type": "concept",
            "concept": concept,
            "description": description,
            "related_concepts": list(related_concepts or []),
            "text": text,
            "timestamp": _time.time(),
        }
        return self.encode_text(text), metadata


# -- ContextualRetriever ----------------------------------------------------------------
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


# -- internals ---------------------------------------------------------------------------
def _describe(trace: Trace, *, similarity: float | None = None) -> dict[str, Any]:
    meta = dict(trace.metadata)
    out = {**meta}
    out.update(
        id=trace.id,
        text=trace.text,
        speaker=trace.speaker,
        episode=trace.episode,
        time=trace.time,
        category=trace.category,
        metadata=meta,
    )
    if similarity is not None:
        out["similarity"] = float(similarity)
    return out


def _cosine(r: Recollection, qv: np.ndarray) -> float:
    return float(np.dot(r.trace.content, qv)) if r.trace.content is not None else float("nan")


def _recall(
    weave: MemoryWeave,
    query: str,
    query_vector: np.ndarray | None,
    k: int,
    *,
    config: RecallConfig,
    namespace: str,
    record_access: bool = True,
    min_relevance: float | None = None,
) -> list[Recollection]:
    """``MemoryWeave.recall`` with the facade's per-call config (and maybe a ready vector)."""
    return list(
        weave.recall(
            query, k, namespace=namespace, record_access=record_access, config=config, query_vector=query_vector,
            **relevance_kwargs(min_relevance),
        )
    )
