"""Late chunking: context vectors read off one model pass over many turns.

Embedding each turn's three-turn window as its own text costs three turns'
worth of model work per turn.  Here the encoder runs once over a *span* of
consecutive turns (as many as fit in the model's sequence length), and each
turn's context vector is the normalised mean of the token states that fall
inside its window.  The tokens still see their neighbours, as in the embedded
window, but every token is encoded about once.  A span that overlaps the next
by the window's width lets every window sit whole inside one span.

An embedder opts in by implementing :class:`SpanPooler`; the shared work
(planning spans, fitting a long window into the budget, pooling) is here.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

#: A turn range ``(start, end)`` within a span: the window pooled into one vector.
Window = tuple[int, int]


@runtime_checkable
class SpanPooler(Protocol):
    """What late chunking needs from an embedder."""

    #: Word pieces one pass can hold, the special tokens excluded.
    max_tokens: int

    def token_counts(self, texts: Sequence[str]) -> list[int]:  # pragma: no cover - protocol
        ...

    def pool_spans(self, spans: Sequence[Sequence[str]], windows: Sequence[Sequence[Window]]) -> list[np.ndarray]:
        """For each span (consecutive turn texts), one unit vector per window."""
        ...  # pragma: no cover - protocol


def plan_spans(counts: Sequence[int], targets: Sequence[tuple[int, int]], budget: int) -> list[tuple[int, int, list[int]]]:
    """Group ``targets`` (``(turn, window_start)``, in turn order) into spans.

    Returns ``(start, end, owned)`` per span: turns ``start..end-1`` are encoded
    together, and ``owned`` indexes the targets whose window lies inside.  A
    span is filled greedily from the window start of its first target; a
    window too long for the budget gets a span of its own (trimmed when pooled).
    """
    spans: list[tuple[int, int, list[int]]] = []
    t = 0
    while t < len(targets):
        start = targets[t][1]
        end, total = start, 0
        while end < len(counts) and total + counts[end] <= budget:
            total += counts[end]
            end += 1
        owned = []
        while t < len(targets) and targets[t][0] < end and targets[t][1] >= start:
            owned.append(t)
            t += 1
        if not owned:  # the first target's window alone exceeds the budget
            owned, end = [t], targets[t][0] + 1
            t += 1
        spans.append((start, end, owned))
    return spans


def fit_span(ids: Sequence[Sequence[int]], budget: int) -> list[list[int]]:
    """Trim a span's turns to ``budget`` word pieces: the last turn is kept
    from its start (as the model truncates a text), earlier turns from their
    end, nearest first, since they matter to the last turn's reading."""
    last = list(ids[-1])[:budget]
    left = budget - len(last)
    out = [last]
    for turn in reversed(ids[:-1]):
        keep = list(turn)[max(len(turn) - left, 0) :] if left > 0 else []
        left -= len(keep)
        out.append(keep)
    return out[::-1]


def run_spans(
    spans: Sequence[Sequence[str]],
    pieces: Callable[[list[str]], list[list[int]]],
    hidden: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    cls_id: int,
    sep_id: int,
    budget: int,
    batch_size: int = 16,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Word-piece the turns with ``pieces`` (no special tokens), run
    ``hidden(input_ids, attention_mask) -> [batch, tokens, dim]`` over
    ``[CLS] turns... [SEP]`` per span (batched, similar lengths together) and
    yield ``(span, states, bounds)``: the span's unpadded token states and the
    token offset of each turn's first piece (after [CLS]), then the [SEP]'s."""
    flat = iter(pieces([t for span in spans for t in span]) if any(spans) else [])
    ids = [fit_span([next(flat) for _ in span], budget) for span in spans]
    order = sorted(range(len(ids)), key=lambda i: -sum(len(t) for t in ids[i]))
    for at in range(0, len(order), batch_size):
        rows = order[at : at + batch_size]
        seqs = [[cls_id, *[tok for turn in ids[i] for tok in turn], sep_id] for i in rows]
        width = max(len(s) for s in seqs)
        input_ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for r, seq in enumerate(seqs):
            input_ids[r, : len(seq)] = seq
            mask[r, : len(seq)] = 1
        states = np.asarray(hidden(input_ids, mask), dtype=np.float32)
        for r, i in enumerate(rows):
            yield i, states[r, : len(seqs[r])], np.cumsum([1] + [len(t) for t in ids[i]])


Run = Iterable[tuple[int, np.ndarray, np.ndarray]]


def pool_windows(runs: Run, windows: Sequence[Sequence[Window]]) -> list[np.ndarray]:
    """Each window's turn tokens mean-pooled into a unit vector, from the
    ``(span, states, bounds)`` that :func:`run_spans` yields."""
    out: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(windows)
    for i, states, bounds in runs:
        # A window whose turns word-piece to nothing (trimmed away, or no
        # word at all) reads the whole span instead of an empty mean.
        vecs = np.stack([states[bounds[a] : bounds[b]].mean(axis=0) if bounds[b] > bounds[a]
                         else states.mean(axis=0) for a, b in windows[i]])
        out[i] = vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(1e-12)
    return out


def sum_turns(runs: Run, n_spans: int) -> list[np.ndarray]:
    """Each turn's token states summed, ``[turns, dim]`` per span, from
    :func:`run_spans`' output.  [CLS] counts to the span's first turn and
    [SEP] to its last, so every token belongs to one turn, and a span of one
    turn sums exactly the tokens that the model's own mean pooling averages
    (its ``encode``)."""
    out: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * n_spans
    for i, states, bounds in runs:
        edges = bounds.copy()
        edges[0], edges[-1] = 0, len(states)
        out[i] = np.stack([states[a:b].sum(axis=0, dtype=np.float64) for a, b in zip(edges[:-1], edges[1:])])
    return out


def late_context(
    pooler: SpanPooler, sequences: Sequence[Sequence[str]], targets: Sequence[tuple[int, int, int]]
) -> np.ndarray:
    """Context vectors for ``targets`` (``(sequence, turn, window_start)``),
    each the pooled window ``window_start..turn`` of its sequence of turn texts.

    Targets of one sequence must come in turn order.  All spans of all
    sequences go to the pooler in one call.
    """
    counts = pooler.token_counts([t for seq in sequences for t in seq])
    offsets = np.cumsum([0] + [len(seq) for seq in sequences])
    spans: list[list[str]] = []
    windows: list[list[Window]] = []
    by_seq: dict[int, list[int]] = {}
    for k, (s, _, _) in enumerate(targets):
        by_seq.setdefault(s, []).append(k)
    where: list[tuple[int, int]] = [(0, 0)] * len(targets)  # (span, window) of each target
    for s, ks in by_seq.items():
        seq_counts = counts[offsets[s] : offsets[s + 1]]
        for start, end, owned in plan_spans(seq_counts, [targets[k][1:] for k in ks], pooler.max_tokens):
            spans.append(list(sequences[s][start:end]))
            windows.append([])
            for j in owned:
                _, turn, first = targets[ks[j]]
                where[ks[j]] = (len(spans) - 1, len(windows[-1]))
                windows[-1].append((first - start, turn - start + 1))
    pooled = pooler.pool_spans(spans, windows)
    return np.stack([pooled[a][b] for a, b in where]).astype(np.float32) if targets else np.zeros((0, 0), np.float32)


class TokenStateReader:
    """What an embedder that can hand over its model's token states shares:
    late chunking's ``pool_spans`` and one-pass encoding's ``turn_sums`` over
    one run of the model.  A subclass gives ``max_tokens``, ``_turn_ids``
    (word pieces, no special tokens), ``_special_ids`` ([CLS], [SEP]) and
    ``_hidden`` (the token states of a padded batch)."""

    max_tokens: int

    def _turn_ids(self, texts: Sequence[str]) -> list[list[int]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _special_ids(self) -> tuple[int, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _hidden(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self._turn_ids(texts)] if texts else []

    def pool_spans(self, spans: Sequence[Sequence[str]], windows: Sequence[Sequence[Window]]) -> list[np.ndarray]:
        """Late chunking: the model's token states, pooled per window."""
        return pool_windows(self._run_spans(spans), windows)

    def turn_sums(self, spans: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """One-pass encoding (onepass.py): the model's token states, summed per turn."""
        return sum_turns(self._run_spans(spans), len(spans))

    def _run_spans(self, spans: Sequence[Sequence[str]]) -> Run:
        cls_id, sep_id = self._special_ids()
        return run_spans(spans, self._turn_ids, self._hidden, cls_id=cls_id, sep_id=sep_id, budget=self.max_tokens)
