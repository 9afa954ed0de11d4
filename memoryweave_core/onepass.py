"""One model pass for both of a turn's vectors (``context_mode="onepass"``).

The model mode embeds each turn, then its window (three turns' worth of
text): about four passes per turn.  Here the model reads each run of
consecutive turns once, in spans of whole turns that do not overlap, so every
token is encoded exactly once.  A turn's *content* vector mean-pools its own
token states; its *context* vector mean-pools the token states of its window
(the turn and its preceding turns), combining the sums of two spans where the
window crosses a span boundary, and counting them only as far as the model
would read the window embedded whole (:func:`pieces_read`).  Mean pooling
normalised to unit length is the sum normalised, so per-turn sums are all the
spans have to hand over.

The price is that a content vector reads its turn among its neighbours (the
span is read both ways), while queries are still embedded alone.  A turn that
is the only one in its span (a streaming ``add`` with no predecessor, or a
turn longer than a span) gets exactly the vector the model's ``encode`` gives.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class TurnSummer(Protocol):
    """What one-pass encoding needs from an embedder."""

    #: Word pieces one pass can hold, the special tokens excluded.
    max_tokens: int

    def token_counts(self, texts: Sequence[str]) -> list[int]:  # pragma: no cover - protocol
        ...

    def turn_sums(self, spans: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """For each span (consecutive turn texts), each turn's token states summed
        (``[turns, dim]``), [CLS] with the first turn and [SEP] with the last."""
        ...  # pragma: no cover - protocol


def cut_spans(counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` turn ranges covering ``counts``, none
    overlapping, each as many whole turns as fit in ``budget`` word pieces;
    a turn over the budget alone is a span of its own (truncated when read)."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(counts):
        end, total = start, 0
        while end < len(counts) and (end == start or total + counts[end] <= budget):
            total += counts[end]
            end += 1
        spans.append((start, end))
        start = end
    return spans


def unit_length(sums: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row, a turn with no tokens, stays zero)."""
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.where(norms > 1e-12, norms, 1.0)).astype(np.float32)


def onepass_vectors(
    summer: TurnSummer, sequences: Sequence[Sequence[str]], targets: Sequence[tuple[int, int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Content and context vectors for ``targets`` (``(sequence, turn,
    window_start)``): the turn's own tokens, and those of turns
    ``window_start..turn`` of its sequence of turn texts, mean-pooled.

    Every sequence is cut into spans with :func:`cut_spans`; all spans of all
    sequences go to the embedder in one call.  Sequences no target reads are
    not run.
    """
    wanted = sorted({t[0] for t in targets})
    counts = summer.token_counts([t for s in wanted for t in sequences[s]])
    spans: list[list[str]] = []
    bounds = []  # each wanted sequence's first span
    seq_counts: dict[int, list[int]] = {}  # each wanted sequence's word pieces per turn
    at = 0
    for s in wanted:
        n = len(sequences[s])
        bounds.append(len(spans))
        seq_counts[s] = counts[at : at + n]
        spans.extend(list(sequences[s][a:b]) for a, b in cut_spans(seq_counts[s], summer.max_tokens))
        at += n
    summed = summer.turn_sums(spans)
    bounds.append(len(spans))
    per_seq = {s: np.concatenate([np.asarray(summed[k], np.float64) for k in range(a, b)])
               for s, a, b in zip(wanted, bounds[:-1], bounds[1:])}
    own = np.stack([per_seq[s][turn] for s, turn, _ in targets]) if targets else np.zeros((0, 0))
    window = (np.stack([window_shares(seq_counts[s][first : turn + 1], summer.max_tokens) @ per_seq[s][first : turn + 1]
                        for s, turn, first in targets])
              if targets else np.zeros((0, 0)))
    return unit_length(own), unit_length(window)


def window_shares(counts: Sequence[int], budget: int) -> np.ndarray:
    """The share of each turn's sum (its first ``budget`` pieces) that falls
    before the window's cut: 1 for every turn of a window that fits."""
    pieces = np.asarray(counts, np.int64)
    return np.where(pieces > 0, pieces_read(pieces, budget) / np.maximum(np.minimum(pieces, budget), 1), 1.0)


def pieces_read(counts: Sequence[int] | np.ndarray, budget: int) -> np.ndarray:
    """How many of each turn's word pieces the model reads of a window of
    turns it embeds whole: it cuts the window after ``budget`` pieces, so a
    long first turn can fill it alone (the model context does exactly this)."""
    pieces = np.asarray(counts, np.int64)
    before = np.concatenate([[0], np.cumsum(pieces)[:-1]])
    return np.clip(budget - before, 0, pieces)
