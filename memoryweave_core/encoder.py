"""MemoryEncoder: text plus its surroundings in, two vectors out.

The *content* vector embeds what was said, prefixed by who said it (the
speaker is part of the memory: "Caroline: I went to the support group").
The *context* vector embeds the same turn after the turns that led to it in
its episode, so a short answer ("Yes, every Sunday!") is still found by the
question it answered.  Only *preceding* turns are used: a trace is final the
moment it is written, and streaming adds and whole-conversation imports
produce identical vectors.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .embedders import Embedder, as_embedder, default_embedder
from .errors import DimensionMismatchError, InvalidInputError, NoEmbedderError
from .trace import check_text, check_vectors


def turn_text(text: str, speaker: str | None) -> str:
    """How one turn reads when embedded or shown: ``"Speaker: text"``."""
    return f"{speaker}: {text}" if speaker else text


class MemoryEncoder:
    """Builds content and context vectors for traces, always in batches.

    ``embedder`` may be anything :func:`as_embedder` accepts; ``None`` loads
    all-MiniLM-L6-v2 on first use, unless ``dim`` is given: then there is no
    model at all (bring your own vectors), a turn's context vector is its
    content vector, and embedding text raises NoEmbedderError.
    """

    def __init__(self, embedder=None, *, context_window: int = 1, dim: int | None = None) -> None:
        self._embedder: Embedder | None = None if embedder is None else as_embedder(embedder)
        self.context_window = context_window
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise InvalidInputError(f"embedding_dim must be a positive integer, got {dim!r}")
        if dim is not None and self._embedder is not None and int(self._embedder.dim) != dim:
            raise DimensionMismatchError(f"the embedder gives {self._embedder.dim}-d vectors, not embedding_dim={dim}")
        self._dim = dim

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            if self._dim is not None:
                raise NoEmbedderError(
                    f"this memory has no embedding model (embedding_dim={self._dim} only): pass the "
                    f"{self._dim}-d vector yourself (embedding=/embeddings= to add, query_vector= to recall) "
                    "or create it with embedder=..."
                )
            self._embedder = default_embedder()
        return self._embedder

    @property
    def can_embed(self) -> bool:
        """Whether text can be embedded (False only for a vectors-only encoder)."""
        return self._embedder is not None or self._dim is None

    @property
    def has_embedder(self) -> bool:
        """Whether a model is set (False until the default is loaded on first use)."""
        return self._embedder is not None

    @property
    def dim(self) -> int:
        return self._dim if self._embedder is None and self._dim is not None else self.embedder.dim

    def context_text(self, text: str, speaker: str | None, previous: Sequence[str]) -> str:
        """The turn after its ``context_window`` preceding turns (already rendered)."""
        window = list(previous)[-self.context_window :] if self.context_window else []
        return "\n".join(window + [turn_text(text, speaker)])

    def encode(
        self,
        turns: Sequence[tuple[str, str | None]],
        previous: Sequence[Sequence[str]],
        content: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Content and context vectors for ``(text, speaker)`` turns.

        ``previous[i]`` holds the rendered turns before turn ``i`` in its
        episode; ``content`` may give precomputed content vectors.
        """
        if content is None:
            content = self.embed([turn_text(t, s) for t, s in turns])
        contexts = [self.context_text(t, s, prev) for (t, s), prev in zip(turns, previous)]
        # A turn with no preceding context (or no model) has context == content.
        need = [i for i, prev in enumerate(previous) if prev and self.context_window and self.can_embed]
        context = content.copy()
        if need:
            context[need] = self.embed([contexts[i] for i in need])
        return content, context

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return check_vectors(self.embedder.embed(list(texts)), None, n=len(texts), what="embedding")

    def embed_query(self, query: str) -> np.ndarray:
        return self.embed([check_text(query, "query")])[0]
