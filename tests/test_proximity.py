"""Term proximity (BM25TP) in the lexical pathway: query words said together count."""

import numpy as np

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.lexical import proximity, tokenize


def test_query_words_said_together_beat_the_same_words_apart():
    terms = tokenize("When did I go to the pottery workshop?")
    docs = [tokenize(t) for t in (
        "I went to a pottery workshop on Saturday.",
        "My pottery is drying. Separately, the workshop at work ran late.",
        "Nothing to do with it.",
    )]
    score = proximity(terms, docs)
    assert score[0] > score[1] > 0 == score[2]


def test_one_query_word_or_none_gives_nothing():
    assert not proximity(["pottery"], [["pottery", "pottery"]]).any()
    assert proximity([], []).shape == (0,)
    assert np.array_equal(proximity(["a", "b"], [[]]), [0.0])


def test_closer_pairs_weigh_more_and_saturate():
    near, far, beyond = (proximity(["red", "kite"], [doc])[0] for doc in (
        ["red", "kite"], ["red", "x", "x", "kite"], ["red"] + ["x"] * 6 + ["kite"]))
    assert near > far > 0 == beyond
    many = proximity(["red", "kite"], [["red", "kite"] * 20])[0]
    assert many < 20 * near  # saturates like a BM25 term frequency


def test_recall_prefers_the_phrase_over_scattered_words():
    """Both traces hold 'cultural' and 'festival' once; only the longer one says them
    together, so plain BM25 (length-normalised) would score the other higher."""
    mem = MemoryWeave(embedder=HashingEmbedder(dim=64))
    mem.add("Cultural differences surfaced during dinner with colleagues, later everyone discussed the festival.", episode="a")
    mem.add("Last weekend I finally went to a cultural festival downtown with my cousins, their kids and neighbours.", episode="b")
    top = mem.recall("When did I attend the cultural festival?", k=2, explain=True)
    assert top[0].trace.episode == "b"
    assert top[0].raw["lexical"] > top[1].raw["lexical"]


def test_cost_is_linear_in_the_text_however_often_the_words_repeat():
    """A 100,000-word text of nothing but the two query words: each occurrence
    meets at most ``PROXIMITY_WINDOW`` others (all pairs would be 2.5e9 steps)."""
    doc = ["red", "kite"] * 50_000
    score = proximity(["red", "kite"], [doc])[0]
    assert 0 < score < 1e3
