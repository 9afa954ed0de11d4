"""``MemoryEncoder``: the seed's encoder of interactions and concepts.

It returns the vector the engine would use as the content vector of the
same turn, with the seed's metadata dict, and binds its model to a
``ContextualMemory`` when given one.
"""

from __future__ import annotations

import time as _time
from typing import Any, Mapping, Sequence

import numpy as np

from memoryweave_core.encoder import turn_text
from memoryweave_core.trace import check_text

from .contextual_memory import ContextualMemory
from .translation import _embedder_of, _jsonable


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
