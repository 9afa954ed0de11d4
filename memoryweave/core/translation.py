"""The facade's translations between the seed's values and the engine's.

Metadata made JSON-safe, a model turned into an engine ``Embedder``, a
recall with the facade's per-call config, and a recalled ``Trace`` as the
seed's result dict.  ``ContextualMemory``, ``MemoryEncoder`` and
``ContextualRetriever`` share them, so each class module holds only its class.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from memoryweave_core import MemoryWeave, RecallConfig, as_embedder
from memoryweave_core.embedders import Embedder, FunctionEmbedder
from memoryweave_core.prompt import relevance_kwargs
from memoryweave_core.recollection import Recollection
from memoryweave_core.scopes import Namespace
from memoryweave_core.trace import Trace


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
    namespace: Namespace,
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
