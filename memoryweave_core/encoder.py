"""MemoryEncoder: text plus its surroundings in, two vectors out.

The *content* vector embeds what was said, prefixed by who said it (the
speaker is part of the memory: "Caroline: I went to the support group").
The *context* vector reads the same turn after the turns that led to it in
its episode, so a short answer ("Yes, every Sunday!") is still found by the
question it answered.  Only *preceding* turns are used: a trace is final the
moment it is written, and (in the model and mean modes) streaming adds and
whole-conversation imports produce identical vectors.

By default (``context_mode="model"``) the window's text is embedded: turns
i-2..i, three times as long as a turn, so ingest costs about four model
passes per turn.  ``context_mode="mean"`` derives the context vector from the
content vectors already computed, with no second model pass: a normalised mean
of the window's turns weighted by the square root of the words the model would
read of each (it mean-pools over tokens, and cuts a window after its
word-piece budget, so such a mean is close to the window's own vector).  It
ingests about as fast as embedding the turns alone, at a small cost in recall
(see the README's benchmark section).
``context_mode="late"`` runs the model once over a run of consecutive turns
and pools each window's token states (late chunking, late_chunking.py): the
tokens read their neighbours as in the embedded window, at about one pass
per turn.  ``context_mode="onepass"`` reads the content vector off that pass
too (onepass.py): every token is encoded once, and a turn's content is its own
tokens read among its neighbours.  Embedders that cannot hand over token
states embed the window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np

from . import progress
from .config import CONTEXT_MODES
from .embedders import DEFAULT_MODEL, Embedder, as_embedder, default_embedder
from .errors import DimensionMismatchError, InvalidInputError, NoEmbedderError
from .late_chunking import SpanPooler, late_context
from .onepass import TurnSummer, onepass_vectors, pieces_read
from .trace import check_text, check_vectors


def turn_text(text: str, speaker: str | None) -> str:
    """How one turn reads when embedded or shown: ``"Speaker: text"``."""
    return f"{speaker}: {text}" if speaker else text


@dataclass(frozen=True)
class Preceding:
    """A turn before the one being encoded: its rendered text and, when known,
    its content vector (stored turns) or its row in the batch being encoded."""

    text: str
    vector: np.ndarray | None = None
    row: int | None = None


PrecedingTurn = Union[str, Preceding]


def window_weights(texts: Sequence[str], pieces: Sequence[int] | None = None, budget: int | None = None) -> np.ndarray:
    """Weight of each turn in a window: the square root of the number of its
    words the model reads.

    Longer turns hold more of the window's tokens, as in the model's own mean
    pooling; the square root keeps one long turn from drowning the others.
    Given each turn's word-piece count and the model's ``budget``, a turn
    counts only with the share of its words before the cut: the embedded
    window is cut after ``budget`` pieces, so a long first turn can fill it
    alone.  Without them, every word counts.
    """
    weights = np.array([max(len(re.findall(r"\w+", t)), 1) for t in texts], dtype=np.float64)
    if pieces is not None and budget is not None:
        counts = np.asarray(pieces, np.int64)
        weights *= np.where(counts > 0, pieces_read(counts, budget) / np.maximum(counts, 1), 1.0)
    return np.sqrt(weights)


class MemoryEncoder:
    """Builds content and context vectors for traces, always in batches.

    ``embedder`` may be anything :func:`as_embedder` accepts; ``None`` loads
    all-MiniLM-L6-v2 on first use, unless ``dim`` is given: then there is no
    model at all (bring your own vectors), a turn's context vector is its
    content vector, and embedding text raises NoEmbedderError.
    """

    def __init__(
        self, embedder: Any = None, *, context_window: int = 1, context_mode: str = "model", dim: int | None = None
    ) -> None:
        if context_mode not in CONTEXT_MODES:
            raise InvalidInputError(f"context_mode must be one of {CONTEXT_MODES}, got {context_mode!r}")
        self._embedder: Embedder | None = None if embedder is None else as_embedder(embedder)
        self.context_window = context_window
        self.context_mode = context_mode
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
    def _one_pass(self) -> bool:
        """Both vectors come off one pass over runs of turns (onepass.py)."""
        return self.context_mode == "onepass" and self.can_embed and isinstance(self.embedder, TurnSummer)

    @property
    def has_embedder(self) -> bool:
        """Whether a model is set (False until the default is loaded on first use)."""
        return self._embedder is not None

    @property
    def model_name(self) -> str | None:
        """The embedding model's name where it is known, without loading it
        (None for your own vectors or an embedder that does not say)."""
        if self._embedder is None:
            return None if self._dim is not None else DEFAULT_MODEL.rsplit("/", 1)[-1]
        return getattr(self._embedder, "model_name", None)

    @property
    def effective_mode(self) -> str:
        """The context mode the vectors are really made in, what a store records:
        ``"late"`` and ``"onepass"`` need an embedder that hands over token states,
        and with any other one :meth:`encode` makes them as ``"model"`` does.  The
        default model can, so it is not loaded to find out."""
        needs = {"late": SpanPooler, "onepass": TurnSummer}.get(self.context_mode)
        if needs is None or self._embedder is None or isinstance(self._embedder, needs):
            return self.context_mode
        return "model"

    @property
    def dim(self) -> int:
        return self._dim if self._embedder is None and self._dim is not None else self.embedder.dim

    def window(self, previous: Sequence[PrecedingTurn]) -> list[Preceding]:
        """The last ``context_window`` preceding turns, as :class:`Preceding`."""
        kept = list(previous)[-self.context_window :] if self.context_window else []
        return [p if isinstance(p, Preceding) else Preceding(p) for p in kept]

    def context_text(self, text: str, speaker: str | None, previous: Sequence[PrecedingTurn]) -> str:
        """The turn after its ``context_window`` preceding turns (already rendered)."""
        return "\n".join([p.text for p in self.window(previous)] + [turn_text(text, speaker)])

    def encode(
        self,
        turns: Sequence[tuple[str, str | None]],
        previous: Sequence[Sequence[PrecedingTurn]],
        content: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Content and context vectors for ``(text, speaker)`` turns.

        ``previous[i]`` holds the turns before turn ``i`` in its episode,
        oldest first: rendered texts, or :class:`Preceding` that may carry
        their content vectors; ``content`` may give precomputed content vectors.
        """
        windows = [self.window(prev) for prev in previous]
        # A turn with no preceding context (or no model) has context == content: skip the work.
        need = [i for i, w in enumerate(windows) if w and self.can_embed]
        progress.expect(self.texts_to_embed(len(turns), len(need), content is not None))
        if self._one_pass:
            with progress.embedding(len(turns)):  # a pass over runs of turns: counted as the turns
                return self._onepass(turns, windows, content)
        if content is None:
            content = self.embed([turn_text(t, s) for t, s in turns])
        context = content.copy()
        if not need:
            return content, context
        if self.context_mode == "late" and isinstance(self.embedder, SpanPooler):
            with progress.embedding(len(need)):
                context[need] = self._late_context(turns, windows, need)
        elif self.context_mode == "mean":
            context[need] = self._mean_context(turns, windows, need, content)
        else:  # "model", and "late"/"onepass" with an embedder that cannot hand over token states
            context[need] = self.embed([self.context_text(*turns[i], windows[i]) for i in need])
        return content, context

    def texts_to_embed(self, turns: int, windows: int, content_given: bool) -> int:
        """How many texts :meth:`encode` embeds for ``turns`` turns, ``windows``
        of which have preceding turns (what a progress bar counts): the
        turns' own texts unless given, and a window each unless the context
        mode derives it from vectors already made.  Onepass counts its pass
        over runs of turns as the turns."""
        if self._one_pass:
            return turns
        return (0 if content_given else turns) + (0 if self.context_mode == "mean" else windows)

    def _sequences(
        self, turns: Sequence[tuple[str, str | None]], windows: Sequence[list[Preceding]]
    ) -> tuple[list[list[str]], list[tuple[int, int, int]]]:
        """Runs of consecutive turns, and ``(sequence, index, window start)`` per row.

        Rows whose window ends with the batch row just before them extend that
        row's run, so an imported conversation is one sequence of turns (its
        stored predecessors first); anything else starts a sequence of its own.
        """
        texts = [turn_text(t, s) for t, s in turns]
        sequences: list[list[str]] = []
        where: list[tuple[int, int, int]] = []  # batch row -> (sequence, index in it, window start)
        for i, window in enumerate(windows):
            before = [p.text for p in window]
            at = where[window[-1].row] if window and window[-1].row is not None and window[-1].row < i else None
            if at is not None and at[1] == len(sequences[at[0]]) - 1:
                seq = sequences[at[0]]
                if seq[at[1] + 1 - len(before) : at[1] + 1] == before:
                    seq.append(texts[i])
                    where.append((at[0], at[1] + 1, at[1] + 1 - len(before)))
                    continue
            sequences.append(before + [texts[i]])
            where.append((len(sequences) - 1, len(before), 0))
        return sequences, where

    def _onepass(
        self, turns: Sequence[tuple[str, str | None]], windows: Sequence[list[Preceding]], given: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Both vectors from one pass over each run of turns (onepass.py);
        given content vectors are kept, and only the context is read off the pass."""
        sequences, where = self._sequences(turns, windows)
        content, context = onepass_vectors(self.embedder, sequences, where)  # type: ignore[arg-type]
        empty = [int(i) for i in np.flatnonzero(np.linalg.norm(content, axis=1) < 0.5)]  # turns that word-piece to nothing
        if len(empty):
            content[empty] = self.embed([turn_text(*turns[i]) for i in empty])
            context[empty] = np.where(np.linalg.norm(context[empty], axis=1, keepdims=True) < 0.5,
                                      content[empty], context[empty])
        if given is not None:
            content = given
        first = [i for i, w in enumerate(windows) if not w]
        context[first] = content[first]  # nothing before: context == content, as in every mode
        return check_vectors(content, None, n=len(turns), what="embedding"), context

    def _late_context(
        self, turns: Sequence[tuple[str, str | None]], windows: Sequence[list[Preceding]], need: Sequence[int]
    ) -> np.ndarray:
        """Windows pooled from one pass over each run of consecutive turns (:meth:`_sequences`)."""
        sequences, where = self._sequences(turns, windows)
        return late_context(self.embedder, sequences, [where[i] for i in need])  # type: ignore[arg-type]

    def _mean_context(
        self,
        turns: Sequence[tuple[str, str | None]],
        windows: Sequence[list[Preceding]],
        need: Sequence[int],
        content: np.ndarray,
    ) -> np.ndarray:
        """Weighted, normalised means of each window's content vectors.

        Preceding turns that come with neither a vector nor a batch row (plain
        texts) are embedded, in one call; the memory always supplies one.
        """
        bare = list(dict.fromkeys(p.text for i in need for p in windows[i] if p.vector is None and p.row is None))
        embedded = dict(zip(bare, self.embed(bare))) if bare else {}
        pieces, budget = self._piece_counts([p.text for i in need for p in windows[i]] + [turn_text(*turns[i]) for i in need])
        out = np.empty((len(need), content.shape[1]), dtype=np.float32)
        for j, i in enumerate(need):
            window = windows[i]
            vectors = [
                p.vector if p.vector is not None else content[p.row] if p.row is not None else embedded[p.text]
                for p in window
            ]
            texts = [p.text for p in window] + [turn_text(*turns[i])]
            weights = window_weights(texts, [pieces[t] for t in texts] if pieces else None, budget)
            mean = weights @ np.stack(vectors + [content[i]]).astype(np.float64)
            norm = float(np.linalg.norm(mean))
            out[j] = mean / norm if norm > 1e-6 else content[i]  # opposite turns cancelled out
        return out

    def _piece_counts(self, texts: Sequence[str]) -> tuple[dict[str, int] | None, int | None]:
        """Word pieces per distinct text and the model's window budget, from an
        embedder that can count them (a SentenceTransformer, the ONNX model);
        ``(None, None)`` from any other, whose truncation is unknown."""
        embedder = self.embedder
        if not isinstance(embedder, SpanPooler):
            return None, None
        distinct = list(dict.fromkeys(texts))
        return dict(zip(distinct, embedder.token_counts(distinct))), int(embedder.max_tokens)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with progress.embedding(len(texts)):
            vectors = self.embedder.embed(list(texts))
        return check_vectors(vectors, None, n=len(texts), what="embedding")

    def embed_query(self, query: str) -> np.ndarray:
        return self.embed([check_text(query, "query")])[0]
