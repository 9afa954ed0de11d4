"""Late chunking: spans, trimming, pooling and the encoder's ``context_mode="late"``.

A fake pooler whose "model" gives each word a fixed hashed vector (no
attention) makes a late-chunked window exactly the mean of its words'
vectors, so the tests can check which tokens were pooled, and how many
passes were run, without a real model.
"""

from __future__ import annotations

import numpy as np
import pytest
from word_model import TURNS, WordModel

from memoryweave_core import HashingEmbedder, MemoryWeave, RecallConfig
from memoryweave_core.encoder import MemoryEncoder, Preceding, turn_text
from memoryweave_core.late_chunking import SpanPooler, fit_span, late_context, plan_spans, pool_windows


class WordPooler(WordModel):
    """A :class:`WordModel` that pools windows; it embeds a text by hashing it whole."""

    def embed(self, texts):
        return self.inner.embed(texts)

    def pool_spans(self, spans, windows):
        return pool_windows(self.runs(spans), windows)


def _mean_of_words(pooler: WordPooler, texts: list[str]) -> np.ndarray:
    vec = np.mean([pooler.vector(w) for t in texts for w in t.lower().split()], axis=0)
    return vec / np.linalg.norm(vec)


def test_word_pooler_is_a_span_pooler():
    assert isinstance(WordPooler(), SpanPooler)
    assert not isinstance(HashingEmbedder(64), SpanPooler)


def test_plan_spans_keeps_every_window_whole_and_overlaps_by_the_window():
    counts = [5] * 10
    targets = [(i, max(i - 2, 0)) for i in range(1, 10)]
    spans = plan_spans(counts, targets, budget=20)  # four turns per span
    assert spans[0] == (0, 4, [0, 1, 2])
    owned = [t for _, _, o in spans for t in o]
    assert owned == list(range(len(targets)))  # each target once, in order
    for start, end, own in spans:
        assert sum(counts[start:end]) <= 20
        for t in own:
            turn, first = targets[t]
            assert start <= first and turn < end


def test_plan_spans_gives_a_window_over_budget_its_own_span():
    spans = plan_spans([3, 50, 3], [(1, 0), (2, 0)], budget=20)
    assert spans[0] == (0, 2, [0]) and spans[1] == (0, 3, [1])


def test_fit_span_keeps_the_turn_from_its_start_and_earlier_turns_from_their_end():
    assert fit_span([[1, 2, 3], [4, 5], [6, 7, 8]], 6) == [[3], [4, 5], [6, 7, 8]]
    assert fit_span([[1, 2], [3, 4, 5, 6]], 3) == [[], [3, 4, 5]]


def test_pooled_window_is_the_mean_of_its_tokens_only():
    pooler = WordPooler()
    span = ["a b", "c d e", "f"]
    got = pooler.pool_spans([span], [[(0, 2), (1, 3)]])[0]
    np.testing.assert_allclose(got[0], _mean_of_words(pooler, span[:2]), atol=1e-6)
    np.testing.assert_allclose(got[1], _mean_of_words(pooler, span[1:]), atol=1e-6)


def test_late_context_reads_windows_from_shared_spans():
    pooler = WordPooler(max_tokens=12)
    seq = [f"w{i}a w{i}b" for i in range(8)]  # two word pieces per turn: six turns per span
    targets = [(0, i, max(i - 2, 0)) for i in range(1, 8)]
    vecs = late_context(pooler, [seq], targets)
    assert len(pooler.spans) == 2 and pooler.spans[1][0] == seq[4]  # overlap: turn 6's window starts at 4
    for (_, turn, first), v in zip(targets, vecs):
        np.testing.assert_allclose(v, _mean_of_words(pooler, seq[first : turn + 1]), atol=1e-6)


def test_late_mode_in_memory_pools_each_turns_window(clock):
    pooler = WordPooler()
    memory = MemoryWeave(embedder=pooler, config=RecallConfig(context_mode="late"), clock=clock)
    traces = memory.add_conversation(TURNS, episode="e")
    rendered = [turn_text(text, speaker) for speaker, text in TURNS]
    assert len(pooler.spans) == 1 and pooler.spans[0] == rendered  # one pass over the conversation
    np.testing.assert_allclose(traces[0].context, traces[0].content)  # nothing before the first turn
    for i in range(1, len(TURNS)):
        np.testing.assert_allclose(traces[i].context, _mean_of_words(pooler, rendered[max(i - 2, 0) : i + 1]), atol=1e-6)
    # A later add reads its stored predecessors into the same kind of window.
    more = memory.add("We should meet them", speaker="Ana", episode="e")
    np.testing.assert_allclose(more.context, _mean_of_words(pooler, rendered[-2:] + ["Ana: We should meet them"]), atol=1e-6)


def test_late_mode_chains_only_consecutive_batch_rows():
    pooler = WordPooler()
    encoder = MemoryEncoder(pooler, context_window=2, context_mode="late")
    turns = [("one two", "A"), ("three four", "B"), ("five six", "A")]
    rendered = [turn_text(t, s) for t, s in turns]
    previous = [[Preceding("X: zero")], [Preceding(rendered[0], row=0)], [Preceding("Y: other")]]
    _, context = encoder.encode(turns, previous)
    assert pooler.spans == [["X: zero", rendered[0], rendered[1]], ["Y: other", rendered[2]]]
    np.testing.assert_allclose(context[1], _mean_of_words(pooler, rendered[:2]), atol=1e-6)  # its own window
    np.testing.assert_allclose(context[2], _mean_of_words(pooler, ["Y: other", rendered[2]]), atol=1e-6)


def test_late_mode_without_token_states_embeds_the_window(clock):
    emb = HashingEmbedder(64)
    late = MemoryWeave(embedder=emb, config=RecallConfig(context_mode="late"), clock=clock)
    model = MemoryWeave(embedder=emb, config=RecallConfig(context_mode="model"), clock=clock)
    a = late.add_conversation(TURNS, episode="e")
    b = model.add_conversation(TURNS, episode="e")
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.context, y.context)


@pytest.mark.parametrize("mode", ["late"])
def test_late_mode_is_a_known_mode(mode):
    assert RecallConfig(context_mode=mode).context_mode == mode


def test_a_window_with_no_word_pieces_reads_the_whole_span():
    pooler = WordPooler()
    got = pooler.pool_spans([["a b", ""]], [[(1, 2)]])[0][0]
    assert np.isfinite(got).all() and abs(np.linalg.norm(got) - 1) < 1e-6


def test_eval_cache_keeps_late_windows_under_their_own_key(tmp_path):
    from memoryweave_core.eval.cache import EmbeddingCache
    from memoryweave_core.eval.systems import CachedEmbedder

    pooler = WordPooler()
    cached = CachedEmbedder(EmbeddingCache("words", tmp_path))
    cached._model = pooler
    assert isinstance(cached, SpanPooler)
    spans, windows = [["a b", "c d"], ["e", "f g"]], [[(0, 2)], [(0, 1), (1, 2)]]
    first = cached.pool_spans(spans, windows)
    again = cached.pool_spans(spans, windows)
    assert len(pooler.spans) == 2  # the second call read the cache
    for x, y in zip(first, again):
        np.testing.assert_allclose(x, y)
    assert cached.cache.get_many(["a b c d"]) == {}  # a window is not stored under its plain text
