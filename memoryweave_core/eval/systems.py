"""The systems a benchmark compares, on the same cached embeddings.

A *system* is a callable ``system(index, query) -> ranked ids`` (best first),
where ``index`` is a :class:`DocIndex` (one per conversation: document ids,
texts, cached vectors, a lazily built BM25) and ``query`` a :class:`Query`.
The baselines are plain functions; MemoryWeave is wrapped by
:func:`memoryweave_system`, which builds one memory per conversation and
ranks with ``recall``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..config import RecallConfig
from ..errors import InvalidInputError
from .baselines import ReferenceBM25, dense_scores, rank, reference_tokenize, rrf
from .cache import EmbeddingCache, cache_key
from .datasets import Conversation, Question

MODEL_NAME = "all-MiniLM-L6-v2"
#: Cache-key prefix of late-chunked context vectors (bump if their recipe changes).
LATE_TAG = "late-chunk-v1"
#: Cache-key prefix of one-pass per-turn token-state sums (bump if their recipe changes).
ONEPASS_TAG = "onepass-sum-v1"


# ----------------------------------------------------------------------------- index / query


@dataclass
class DocIndex:
    conversation: Conversation
    ids: list[str]
    texts: list[str]
    vectors: np.ndarray
    level: str = "turn"  # "turn" or "session"
    turns: list[Any] = field(default_factory=list)  # Turn objects when level == "turn"
    _bm25: ReferenceBM25 | None = None
    _cache: dict[str, Any] = field(default_factory=dict)  # per-system scratch (e.g. a built memory)

    @property
    def bm25(self) -> ReferenceBM25:
        if self._bm25 is None:
            self._bm25 = ReferenceBM25([reference_tokenize(t) for t in self.texts])
        return self._bm25


@dataclass
class Query:
    question: Question
    text: str
    vector: np.ndarray
    time: float | None


System = Callable[[DocIndex, Query], Sequence[str]]


# ----------------------------------------------------------------------------- baselines as systems


def dense_system(index: DocIndex, query: Query) -> list[str]:
    return [index.ids[i] for i in rank(dense_scores(index.vectors, query.vector))]


def bm25_system(index: DocIndex, query: Query) -> list[str]:
    return [index.ids[i] for i in rank(index.bm25.scores(reference_tokenize(query.text)))]


def rrf_system(index: DocIndex, query: Query) -> list[str]:
    n = len(index.ids)
    fused = rrf([rank(dense_scores(index.vectors, query.vector)), rank(index.bm25.scores(reference_tokenize(query.text)))], n)
    return [index.ids[i] for i in rank(fused)]


BASELINES: dict[str, System] = {"dense": dense_system, "bm25": bm25_system, "rrf": rrf_system}


# ----------------------------------------------------------------------------- MemoryWeave


class CachedEmbedder:
    """all-MiniLM-L6-v2 behind the disk cache: texts seen before cost nothing."""

    dim = 384

    def __init__(self, cache: EmbeddingCache | None = None) -> None:
        self.cache = cache or EmbeddingCache(MODEL_NAME)
        self._model: Any = None  # the real model, loaded only for texts the cache lacks
        self.model_name = MODEL_NAME

    #: MiniLM's 256 word pieces less [CLS] and [SEP]: late chunking's span budget.
    max_tokens = 254

    def _real(self) -> Any:
        if self._model is None:
            from memoryweave_core.embedders import default_embedder

            self._model = default_embedder()
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        found = self.cache.get_many(texts)
        if len(found) < len(set(texts)):
            self._real()
        return self.cache.embed(texts, self._model)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return self._real().token_counts(texts)

    def pool_spans(self, spans: Sequence[Sequence[str]], windows: Sequence[Sequence[tuple[int, int]]]) -> list[np.ndarray]:
        """Late-chunked windows, cached under a tag, the window and the span's
        texts (a window's vector depends on the whole span it was read in)."""
        keys = [[f"{LATE_TAG}|{a}:{b}|" + "\x1f".join(span) for a, b in ws] for span, ws in zip(spans, windows)]
        return self._through_cache(keys, lambda rows: self._real().pool_spans([spans[i] for i in rows],
                                                                              [windows[i] for i in rows]))

    def turn_sums(self, spans: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """One-pass per-turn token-state sums, cached under a tag, the turn's
        place and the span's texts (a turn's states depend on its whole span)."""
        keys = [[f"{ONEPASS_TAG}|{j}|" + "\x1f".join(span) for j in range(len(span))] for span in spans]
        return self._through_cache(keys, lambda rows: self._real().turn_sums([spans[i] for i in rows]))

    def _through_cache(self, keys: list[list[str]],
                       compute: Callable[[list[int]], list[np.ndarray]]) -> list[np.ndarray]:
        """Each span's vectors, one per key of ``keys[span]``, read from the cache;
        ``compute(spans)`` makes those of the spans it lacks any of, which are stored."""
        found = self.cache.get_many([k for ks in keys for k in ks])
        missing = [i for i, ks in enumerate(keys) if any(cache_key(k) not in found for k in ks)]
        if missing:
            fresh = compute(missing)
            self.cache.put_many([k for i in missing for k in keys[i]], np.concatenate(fresh))
            for i, vecs in zip(missing, fresh):
                found.update({cache_key(k): np.asarray(v, np.float32) for k, v in zip(keys[i], vecs)})
        return [np.stack([found[cache_key(k)] for k in ks]) for ks in keys]


def given_vectors(config: RecallConfig, vecs: np.ndarray) -> np.ndarray | None:
    """The cached content vectors to hand ``add_many``, or None where the
    memory must make its own: one-pass encoding reads the content off the
    same pass as the context, and given vectors would overrule it (every
    builder of an eval memory, tune.py's and the calibration's too, asks here)."""
    return None if config.context_mode == "onepass" else vecs


def memoryweave_system(config: RecallConfig | None = None, *, name: str = "memoryweave", depth: int = 50) -> System:
    """Wrap MemoryWeave: one memory per conversation, items added with cached vectors.

    Turn-level indexes add every turn as an item (episode = session); session
    level indexes add one item per session, its key (the user turns joined,
    as the official LongMemEval protocol indexes sessions).  ``depth`` is how
    many recollections are asked for.  Without a ``config`` the shipped
    defaults are used.
    """
    from memoryweave_core.memory import MemoryWeave

    config = config or RecallConfig()

    def build(index: DocIndex) -> MemoryWeave:
        items, vecs = index._cache.get("mw_items") or _items_for(index)
        emb = CachedEmbedder()
        mw = MemoryWeave(embedder=emb, config=config)
        mw.add_many(items, embeddings=given_vectors(config, vecs), namespace="eval")
        return mw

    latest: list[Any] = [None, None, []]  # index, query and recollections of the latest recall

    def recollections(index: DocIndex, query: Query) -> list[Any]:
        """The top ``depth`` recollections, as recall returns them (the memory is
        built once per index; the harness ranks and then packs one question, so
        the latest question's are kept rather than recalled twice)."""
        if latest[0] is index and latest[1] is query:
            return latest[2]
        key = f"mw:{name}"
        if key not in index._cache:
            index._cache[key] = build(index)
        kwargs: dict[str, Any] = {"namespace": "eval", "record_access": False}
        if query.time is not None:
            kwargs["at"] = query.time
        latest[:] = [index, query, list(index._cache[key].recall(query.text, k=depth, **kwargs))]
        return latest[2]

    def scored(index: DocIndex, query: Query) -> list[tuple[str, float]]:
        """Ranked doc ids, each with its recollection's relevance."""
        out: dict[str, float] = {}
        for r in recollections(index, query):
            doc = r.trace.metadata.get("doc_id")
            if doc is not None and doc not in out:
                out[doc] = r.relevance
        return list(out.items())

    def packed(index: DocIndex, query: Query, budgets: Sequence[int], lengths: Mapping[str, int]) -> dict[int, list[str]]:
        recs = recollections(index, query)
        return {b: pack_docs(recs, query.text, b, lengths) for b in budgets}

    def system(index: DocIndex, query: Query) -> list[str]:
        return [doc for doc, _ in scored(index, query)]

    system.scored = scored  # type: ignore[attr-defined]
    system.packed = packed  # type: ignore[attr-defined]
    system.recollections = recollections  # type: ignore[attr-defined]
    return system


def pack_docs(recs: Sequence[Any], query: str, budget: int, lengths: Mapping[str, int],
              min_cost: int | None = None) -> list[str]:
    """The doc ids that the prompt selection (``prompt.select_for_prompt``,
    as the prompt adapters call it) puts into a prompt of ``budget`` tokens,
    counted in the harness's unit (``lengths``, by doc id)."""
    from memoryweave_core.prompt import PACK_MIN_COST, select_for_prompt

    cost = {r.trace.text: lengths.get(r.trace.metadata.get("doc_id"), 0) for r in recs}
    chosen = select_for_prompt(recs, len(recs), query=query, budget_tokens=budget,
                               count_tokens=lambda text: cost.get(text, len(text.split()) + 1),
                               min_cost=PACK_MIN_COST if min_cost is None else min_cost)
    return list(dict.fromkeys(str(r.trace.metadata["doc_id"]) for r in chosen if r.trace.metadata.get("doc_id") is not None))


def _items_for(index: DocIndex) -> tuple[list[dict[str, Any]], np.ndarray]:
    items: list[dict[str, Any]] = []
    if index.level == "turn":
        for i, t in enumerate(index.turns):
            items.append({"text": t.body, "speaker": t.speaker, "episode": t.session_id, "time": t.time,
                          "metadata": {"doc_id": index.ids[i], "position": t.position}})
        vecs = index.vectors
    else:
        # Official protocol: one key per session, its user turns joined.
        sessions = index.conversation.sessions
        for i, sess in enumerate(sessions):
            items.append({"text": index.texts[i], "speaker": None, "episode": sess.id, "time": sess.time,
                          "metadata": {"doc_id": sess.id}})
        vecs = index.vectors
    keep = [i for i, item in enumerate(items) if item["text"].strip()]  # a memory needs words
    items, vecs = [items[i] for i in keep], np.asarray(vecs)[keep]
    index._cache["mw_items"] = (items, vecs)
    return items, vecs


def default_systems(*, with_memoryweave: bool = True, ablations: bool = True,
                    context_mode: str | None = None, context_window: int | None = None,
                    weights: Mapping[str, float] | None = None,
                    candidates: int | None = None, neighbour_radius: int | None = None,
                    depth: int = 50) -> dict[str, System]:
    """MemoryWeave with its default config (``context_mode``,
    ``context_window``, ``weights``, ``candidates`` and ``neighbour_radius``
    overriding the default's where given: the last two size the candidate
    pool), one ablation per enabled pathway, and the baselines.  ``depth`` is
    how many recollections MemoryWeave is asked for: recall widens the pool to
    at least that many per pathway, so a ``candidates`` below it is measured
    only with a ``depth`` no larger."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise InvalidInputError(f"depth must be an integer >= 1, got {depth!r}")
    systems: dict[str, System] = {}
    if with_memoryweave:
        given: dict[str, Any] = {"context_mode": context_mode, "context_window": context_window,
                                 "candidates": candidates, "neighbour_radius": neighbour_radius}
        base = replace(RecallConfig(), **{k: v for k, v in given.items() if v is not None})
        if weights is not None:
            base = base.with_weights(**weights)
        systems["memoryweave"] = memoryweave_system(base, depth=depth)
        if ablations:
            for feat in (f for f, w in base.weights.items() if w):
                systems[f"memoryweave-no-{feat}"] = memoryweave_system(base.without(feat), name=f"no-{feat}",
                                                                       depth=depth)
    systems.update(BASELINES)
    return systems


