"""The array lexical scorer equals the plain per-text reference on random pools.

Recall scores a pool's tokens as ids in CSR arrays (:mod:`memoryweave_core.lexscore`);
``tests/lexical_reference.py`` is the per-candidate Python code it replaced.
Sums are taken in the same order, so the scores are equal, not only close.
"""

from __future__ import annotations

import lexical_reference as ref
import numpy as np
import pytest

from memoryweave_core import lexical
from memoryweave_core.bm25 import query_weights
from memoryweave_core.pool import Labels, Pool
from memoryweave_core.vocab import TokenRows, Vocabulary

WORDS = [f"w{i}" for i in range(40)]


def random_pool(rng: np.random.Generator, n: int) -> list[list[str]]:
    """Texts of 0 to 30 words from a small Zipf-like vocabulary, so query words repeat and sit near each other."""
    p = 1.0 / np.arange(1, len(WORDS) + 1)
    p /= p.sum()
    return [list(rng.choice(WORDS, size=int(rng.integers(0, 31)), p=p)) for _ in range(n)]


def random_query(rng: np.random.Generator) -> list[str]:
    return list(rng.choice(WORDS + ["unseen", "absent"], size=int(rng.integers(0, 7))))


@pytest.mark.parametrize("seed", range(40))
def test_evidence_equals_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    docs = random_pool(rng, int(rng.integers(0, 120)))
    terms = random_query(rng)
    df = {w: int(rng.integers(1, 50)) for w in WORDS if rng.random() < 0.8}  # namespace statistics, some words absent
    weights = query_weights(terms, 500, df)
    avg = float(rng.uniform(3, 20))
    vocab = Vocabulary()
    vocab.intern(["before", "any", "text"])  # ids need not start with the pool's words
    rows = TokenRows.from_words(docs, vocab)
    assert np.array_equal(lexical.lexical_evidence(rows, terms, weights, avg), ref.lexical_evidence(docs, terms, weights, avg))
    assert np.array_equal(lexical.bm25_scores(rows, weights, avg), ref.bm25_scores(docs, weights, avg))
    pool = int(rng.integers(0, 200))
    assert np.array_equal(lexical.proximity(terms, rows, pool), ref.proximity(terms, docs, pool))


def test_rows_round_trip_take_and_concat() -> None:
    rng = np.random.default_rng(7)
    docs = random_pool(rng, 30)
    rows = TokenRows.from_words(docs)
    assert [list(r) for r in rows] == docs
    pick = [5, 0, 29, 5, 12]
    assert [list(r) for r in rows.take(pick)] == [docs[i] for i in pick]
    assert TokenRows.concat([rows, rows.take([1])]).vocab is rows.vocab
    other = TokenRows.from_words([["zeta", "w1"], []])  # another vocabulary: both interned in a new one
    size = len(rows.vocab)
    both = TokenRows.concat([rows, other])
    assert both.vocab is not rows.vocab and len(rows.vocab) == size
    assert [list(r) for r in both] == docs + [["zeta", "w1"], []]
    assert len(TokenRows.concat([])) == 0


def test_vocabulary_interns_once() -> None:
    vocab = Vocabulary()
    first = vocab.intern(["a", "b", "a"])
    assert first.tolist() == [0, 1, 0] and vocab.intern(["b", "c"]).tolist() == [1, 2]
    assert vocab.lookup(["c", "nope"]).tolist() == [2, -1] and len(vocab) == 3


def test_pool_of_token_strings_interns_them() -> None:
    n = 3
    pool = Pool(ids=["a", "b", "c"], speaker=Labels.of([None] * n), episode=Labels.of([None] * n), positions=np.arange(n),
                times=np.zeros(n), categories=np.full(n, -1), tokens=[["x", "y"], [], ["y"]],
                content=np.zeros((n, 2), np.float32), context=np.zeros((n, 2), np.float32),
                first_access=np.zeros(n), access_count=np.ones(n), recent_access=np.full((n, 1), np.nan))
    assert isinstance(pool.tokens, TokenRows)
    assert [list(t) for t in pool.take([2, 0]).tokens] == [["y"], ["x", "y"]]


@pytest.mark.parametrize("seed", range(20))
def test_selected_hits_equal_a_search_for_those_words(seed: int) -> None:
    """Recall finds every query term in the pool once; the answerable gate's
    coverage selects its words' columns from those hits (``lexscore.select``)
    instead of searching again: the same hits, in the same order."""
    from memoryweave_core import lexscore

    rng = np.random.default_rng(100 + seed)
    rows = TokenRows.from_words(random_pool(rng, int(rng.integers(0, 120))))
    words = list(dict.fromkeys(random_query(rng)))
    keep = [j for j in range(len(words)) if rng.random() < 0.6]
    got = lexscore.select(lexscore.find(rows, words), keep)
    want = lexscore.find(rows, [words[j] for j in keep])
    assert got.columns == want.columns
    for a, b in ((got.row, want.row), (got.pos, want.pos), (got.col, want.col)):
        assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("seed", range(20))
def test_find_by_comparison_equals_the_binary_search(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query's few words are found by one comparison per word; past
    ``FEW_WORDS`` by a binary search over the sorted words: the same hits."""
    from memoryweave_core import lexscore

    rng = np.random.default_rng(200 + seed)
    vocab = Vocabulary()
    vocab.intern(["before", "any", "text"])
    rows = TokenRows.from_words(random_pool(rng, int(rng.integers(0, 120))), vocab)
    words = list(dict.fromkeys(random_query(rng) + list(rng.choice(WORDS, size=int(rng.integers(0, 40))))))
    words = words[:lexscore.FEW_WORDS]  # unknown words ("unseen", "absent") and none at all included
    compared = lexscore.find(rows, words)
    monkeypatch.setattr(lexscore, "FEW_WORDS", -1)
    searched = lexscore.find(rows, words)
    assert compared.columns == searched.columns
    for a, b in ((compared.row, searched.row), (compared.pos, searched.pos), (compared.col, searched.col)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
