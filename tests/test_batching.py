"""Length-grouped batches: every row once, similar lengths together, typed refusals."""

from __future__ import annotations

import numpy as np
import pytest

from memoryweave_core.batching import length_batches
from memoryweave_core.embedders import SentenceTransformerEmbedder
from memoryweave_core.errors import InvalidInputError


def test_batches_cover_every_row_longest_first() -> None:
    lengths = [5, 40, 38, 7, 6, 39, 20, 5]
    batches = length_batches(lengths, max_batch=2)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 2 for b in batches)
    for b in batches:  # the first row is the longest, and the others are within MIN_FILL of it
        assert lengths[b[0]] == max(lengths[i] for i in b)
        assert all(lengths[i] >= 0.8 * lengths[b[0]] for i in b)
    assert length_batches(lengths, max_batch=8) == [[1, 5, 2], [6], [3, 4], [0, 7]]
    assert length_batches([], max_batch=8) == []


@pytest.mark.parametrize("kwargs", [{"max_batch": 0}, {"max_batch": True}, {"max_batch": 2.0}, {"max_batch": 4, "min_fill": 1.5}])
def test_bad_knobs_are_refused(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        length_batches([3, 4], **kwargs)


class _Tokenizer:
    def __call__(self, texts: list[str], **_: object) -> dict[str, list[list[int]]]:
        return {"input_ids": [[0] * len(t.split()) for t in texts]}


class _Model:
    """Embeds a text as (word count, 1), normalised; records each encode call's texts."""

    tokenizer = _Tokenizer()
    max_seq_length = 256

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def get_sentence_embedding_dimension(self) -> int:
        return 2

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        self.calls.append(list(texts))
        v = np.array([[len(t.split()), 1.0] for t in texts])
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_sentence_transformer_embedder_batches_by_length_in_order() -> None:
    model = _Model()
    emb = SentenceTransformerEmbedder(model, batch_size=4)
    texts = ["a " * 30, "b", "c " * 29, "d d", "e " * 31]
    model.calls.clear()
    out = emb.embed(texts)
    expected = model.encode(texts)
    assert np.allclose(out, expected, atol=1e-6)
    assert model.calls[:-1] == [[texts[4], texts[0], texts[2]], [texts[3]], [texts[1]]]
