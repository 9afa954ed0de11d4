"""A stand-in for a transformer's token states, for the late-chunking and
one-pass tests: each word is a word piece whose state is its hashed vector,
read without context, so a pooled window is exactly the mean of its words'
vectors and every expected vector can be computed by hand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from memoryweave_core import HashingEmbedder
from memoryweave_core.late_chunking import run_spans

#: A short two-speaker chat the context tests embed.
TURNS = [
    ("Ana", "I adopted a cat called Luna last week"),
    ("Ben", "What breed is she?"),
    ("Ana", "A grey tabby, very playful"),
    ("Ben", "Does she get along with your dog?"),
    ("Ana", "Yes, they nap together every afternoon"),
    ("Ben", "That sounds lovely"),
]


class WordModel:
    """Words as word pieces ([PAD], [CLS] and [SEP] are ids 0-2), each one's state its hashed vector."""

    def __init__(self, max_tokens: int = 64) -> None:
        self.inner = HashingEmbedder(128, bigrams=False)
        self.dim = self.inner.dim
        self.max_tokens = max_tokens
        self.vocab: dict[str, int] = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2}
        self.spans: list[list[str]] = []  # the spans run, one list of turn texts each
        self.tokens_read = 0  # real (unpadded) tokens the "model" encoded

    def words(self, text: str) -> list[str]:
        return text.lower().split()

    def vector(self, word: str) -> np.ndarray:
        return self.inner.embed([word])[0].astype(np.float64)

    def _ids(self, texts: list[str]) -> list[list[int]]:
        return [[self.vocab.setdefault(w, len(self.vocab)) for w in self.words(t)] for t in texts]

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self._ids(list(texts))]

    def runs(self, spans: Sequence[Sequence[str]]) -> Iterable[tuple[int, np.ndarray, np.ndarray]]:
        """:func:`run_spans` over ``spans`` with this model's states, recording what it read."""
        self.spans.extend(list(s) for s in spans)

        def hidden(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            self.tokens_read += int(mask.sum())
            words = {i: w for w, i in self.vocab.items()}
            return np.stack([[self.vector(words.get(int(i), "[PAD]")) for i in row] for row in input_ids])

        return run_spans(spans, self._ids, hidden, cls_id=1, sep_id=2, budget=self.max_tokens)
