"""How context vectors are made, and how many model calls ingest and recall cost.

A counting wrapper around the hashing embedder records every batch the
engine sends to the model, so the tests pin the number of calls, not times.
"""

from __future__ import annotations

import numpy as np
import pytest
from word_model import TURNS as CHAT

from memoryweave_core import HashingEmbedder, InvalidInputError, MemoryWeave, RecallConfig
from memoryweave_core.encoder import MemoryEncoder, Preceding, turn_text, window_weights

TURNS = CHAT[:5]


class Counting:
    """An embedder that remembers each batch it was asked for."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder(256)
        self.dim = self.inner.dim
        self.calls: list[list[str]] = []

    def embed(self, texts):
        self.calls.append(list(texts))
        return self.inner.embed(texts)


def _memory(mode: str, clock) -> tuple[MemoryWeave, Counting]:
    emb = Counting()
    return MemoryWeave(embedder=emb, config=RecallConfig(context_mode=mode), clock=clock), emb


def _expected_mean(rendered: list[str], inner: HashingEmbedder) -> np.ndarray:
    vecs = inner.embed(rendered).astype(np.float64)
    mean = window_weights(rendered) @ vecs
    return mean / np.linalg.norm(mean)


def test_mean_context_is_the_weighted_mean_of_the_window(clock):
    memory, emb = _memory("mean", clock)
    traces = memory.add_conversation(TURNS, episode="e")
    assert len(emb.calls) == 1 and len(emb.calls[0]) == len(TURNS)  # the turns once, no windows
    rendered = [turn_text(text, speaker) for speaker, text in TURNS]
    np.testing.assert_allclose(traces[0].context, traces[0].content)  # nothing before the first turn
    for i in range(1, len(TURNS)):
        want = _expected_mean(rendered[max(i - 2, 0) : i + 1], emb.inner)
        np.testing.assert_allclose(traces[i].context, want, atol=1e-6)


def test_mean_context_streaming_reads_stored_vectors(clock):
    batch, _ = _memory("mean", clock)
    stream, emb = _memory("mean", clock)
    together = batch.add_conversation(TURNS, episode="e")
    one_by_one = [stream.add(text, speaker=speaker, episode="e") for speaker, text in TURNS]
    assert [len(c) for c in emb.calls] == [1] * len(TURNS)  # earlier turns come from the store, not the model
    for a, b in zip(together, one_by_one):
        np.testing.assert_allclose(a.context, b.context, atol=1e-6)


def test_model_context_embeds_the_window_text(clock):
    memory, emb = _memory("model", clock)
    traces = memory.add_conversation(TURNS, episode="e")
    rendered = [turn_text(text, speaker) for speaker, text in TURNS]
    windows = ["\n".join(rendered[max(i - 2, 0) : i + 1]) for i in range(1, len(TURNS))]
    assert emb.calls == [rendered, windows]
    np.testing.assert_allclose(np.stack([t.context for t in traces[1:]]), emb.inner.embed(windows), atol=1e-6)


def test_mean_context_embeds_bare_preceding_texts_once():
    inner = HashingEmbedder(64)
    encoder = MemoryEncoder(inner, context_window=2, context_mode="mean")
    before = ["Ben: do you like hiking?", "Ana: in the mountains"]
    content, context = encoder.encode([("every Sunday", "Ana"), ("me too", "Ben")], [before, [before[1], Preceding("x", row=0)]])
    rendered = before + ["Ana: every Sunday"]
    np.testing.assert_allclose(context[0], _expected_mean(rendered, inner), atol=1e-6)
    assert content.shape == context.shape == (2, 64)


def test_context_mode_is_checked():
    with pytest.raises(InvalidInputError):
        RecallConfig(context_mode="fast")
    with pytest.raises(InvalidInputError):
        MemoryEncoder(HashingEmbedder(64), context_mode="fast")
    assert RecallConfig().context_mode == "model"  # the mean missed the LoCoMo guard (README)


@pytest.mark.parametrize(
    ("query", "texts"),
    [
        ("what did Ana adopt", ["what did Ana adopt", "what did adopt"]),  # query and topic, one batch
        ("what breed is the cat", ["what breed is the cat"]),  # no speaker named: the query alone
        ("Ana", ["Ana"]),  # only a name: no empty topic
    ],
)
def test_recall_makes_one_embedding_call(clock, query, texts):
    memory, emb = _memory("model", clock)
    memory.add_conversation(TURNS, episode="e")
    emb.calls.clear()
    assert memory.recall(query, k=3)
    assert emb.calls == [texts]


def test_recall_with_a_query_vector_embeds_only_the_topic(clock):
    memory, emb = _memory("model", clock)
    memory.add_conversation(TURNS, episode="e")
    emb.calls.clear()
    memory.recall("what did Ana adopt", k=3, query_vector=emb.inner.embed(["cat adopted"])[0])
    assert emb.calls == [["what did adopt"]]


def test_window_weights_count_only_the_words_the_model_reads():
    texts = ["one two three four"] * 3
    np.testing.assert_allclose(window_weights(texts), [2.0, 2.0, 2.0])
    # The embedded window is cut after 254 word pieces: a 300-piece first turn fills it alone.
    np.testing.assert_allclose(window_weights(texts, [300, 10, 10], 254), [np.sqrt(4 * 254 / 300), 0.0, 0.0])
    np.testing.assert_allclose(window_weights(texts, [100, 100, 100], 254), [2.0, 2.0, np.sqrt(4 * 54 / 100)])
    np.testing.assert_allclose(window_weights(texts, [0, 10, 10], 254), [2.0, 2.0, 2.0])  # nothing to cut


class PieceCounting(Counting):
    """A counting embedder that also counts word pieces (a word is ten), as a SentenceTransformer can."""

    max_tokens = 254

    def token_counts(self, texts):
        return [10 * len(t.split()) for t in texts]

    def pool_spans(self, spans, windows):  # the SpanPooler protocol; the mean mode never pools
        raise AssertionError("the mean context makes no model pass")


def test_mean_context_reads_the_window_as_far_as_the_model_would():
    emb = PieceCounting()
    encoder = MemoryEncoder(emb, context_window=2, context_mode="mean")
    long_turn = "Ana: " + " ".join(["hiking"] * 30)  # 31 words: 310 pieces, past the 254 the model reads
    before = [long_turn, "Ben: nice"]
    _, context = encoder.encode([("every Sunday", "Ana")], [before])
    np.testing.assert_allclose(context[0], emb.inner.embed([long_turn])[0], atol=1e-6)  # the window is the long turn
    _, short = encoder.encode([("every Sunday", "Ana")], [["Ben: hiking?", "Ben: nice"]])
    rendered = ["Ben: hiking?", "Ben: nice", "Ana: every Sunday"]
    np.testing.assert_allclose(short[0], _expected_mean(rendered, emb.inner), atol=1e-6)  # short windows: as before
