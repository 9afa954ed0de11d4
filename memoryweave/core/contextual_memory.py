"""``ContextualMemory``: the seed's memory store, kept in a MemoryWeave engine.

It holds the seed's constructor vocabulary (dimension, ART switch,
vigilance) as a RecallConfig, binds the first embedding model it is given
(see :mod:`memoryweave.core` on binding), and numbers traces by insertion
order as the seed's integer indices.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from memoryweave_core import MemoryWeave, RecallConfig
from memoryweave_core.embedders import DEFAULT_DIM, Embedder, default_embedder
from memoryweave_core.encoder import MemoryEncoder as _CoreEncoder
from memoryweave_core.errors import DimensionMismatchError, InvalidInputError
from memoryweave_core.trace import Trace, check_scope, check_vectors

from .translation import _cosine, _describe, _embedder_of, _jsonable, _recall, _same_model

#: Weight of the ART category pathway when the seed's ``use_art_clustering``
#: is on.  The tuned default is 0 (on LoCoMo categories add nothing the other
#: pathways lack), so this is a small hand-set prior that keeps the seed's
#: switch meaningful; README's ablation table shows its effect.
ART_WEIGHT = 0.25


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
        return np.stack([np.asarray(t.content) for t in traces])

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
