"""One BM25 for the engine: the formula and its constants live in bm25.py, the posting-list search in lexical.py (which re-exports the formula)."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from memoryweave_core import embedders, lexical
from memoryweave_core.eval import baselines


def _corpus(seed: int = 7, n: int = 60) -> list[list[str]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(25)]
    return [[rng.choice(words) for _ in range(rng.randint(1, 12))] for _ in range(n)]


def test_the_sql_formula_is_the_numpy_formula() -> None:
    rng = np.random.default_rng(0)
    tf = rng.integers(1, 6, 50).astype(np.float64)
    length = rng.integers(1, 40, 50).astype(np.float64)
    avg, w = 9.5, 1.7
    expression = lexical.bm25_sql("tf", "length", "avg", "w")
    as_python = eval(expression, {}, {"tf": tf, "length": length, "avg": avg, "w": w})  # same syntax in SQL and Python
    assert np.allclose(as_python, lexical.bm25_term(tf, length, avg, w), rtol=1e-12, atol=0)
    assert f"{lexical.K1}" in expression and f"{lexical.B}" in expression


def test_the_sql_formula_in_postgresql() -> None:
    dsn = os.environ.get("MEMORYWEAVE_PG_DSN")
    if not dsn:
        pytest.skip("MEMORYWEAVE_PG_DSN is not set")
    psycopg = pytest.importorskip("psycopg")
    tf, length, avg, w = [1, 2, 5], [3, 10, 40], 9.5, 1.7
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT {lexical.bm25_sql('x.tf', 'x.len', '%(avg)s', 'x.w')} "
            "FROM unnest(%(tf)s::int[], %(len)s::int[], %(w)s::float8[]) AS x(tf, len, w)",
            {"tf": tf, "len": length, "w": [w] * 3, "avg": avg},
        ).fetchall()
    expected = lexical.bm25_term(np.array(tf, float), np.array(length, float), avg, w)
    assert np.allclose([float(r[0]) for r in rows], expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("budget", [None, 20])
def test_the_posting_search_is_exact_bm25(budget: int | None) -> None:
    docs = _corpus()
    index = lexical.BM25Index()
    for key, doc in enumerate(docs):
        index.add(key, doc)
    terms = ["w1", "w3", "w3", "w17"]
    n_docs, avg, df = index.stats(terms)
    weights = lexical.query_weights(terms, n_docs, df)
    exact = lexical.bm25_scores(docs, weights, avg)
    got = lexical.search_postings(terms, 10, (n_docs, avg, df), index._posting_arrays, lambda ks: {k: docs[k] for k in ks}, budget)
    if budget is None:
        assert got == index.search(terms, 10)
    for key, score in got:
        assert score == pytest.approx(exact[key], rel=1e-12)
    if budget is None:  # every query word brings candidates: the top ten of all documents
        assert [k for k, _ in got] == lexical.top_positions(exact, 10).tolist()


def test_one_stopword_list_for_the_engine() -> None:
    assert embedders.STOPWORDS is lexical.STOPWORDS
    assert "the" not in lexical.tokenize("the cat")
    # the benchmarks' reference BM25 keeps the published baselines' own list, and says so
    assert "reference" in (baselines.__doc__ or "") and baselines.ReferenceBM25.__name__ == "ReferenceBM25"
    assert not hasattr(baselines, "BM25") and not hasattr(baselines, "ENGLISH_STOPWORDS")


def test_posting_arrays_kept_up_by_adds_equal_a_rebuild() -> None:
    """Arrays extended by the documents added since the last read (keys in any
    order, removals and re-adds between) equal arrays built from scratch."""
    rng = np.random.default_rng(11)
    words = [f"w{i}" for i in range(6)]
    index = lexical.BM25Index()
    held: set[int] = set()
    for _ in range(600):
        key = int(rng.integers(0, 60)) if rng.random() < 0.3 else len(held) + 100 + int(rng.integers(0, 1000))
        if key in held and rng.random() < 0.5:
            index.remove(key)
            held.discard(key)
        else:
            index.add(key, list(rng.choice(words, int(rng.integers(1, 5)))))
            held.add(key)
        for term in rng.choice(words, 2):  # read some lists: later adds extend them
            if index.stats([term])[2]:
                fresh = lexical.BM25Index(index.vocab)
                for k in held:
                    fresh.add(k, index.tokens(k))
                got, want = index._posting_arrays(str(term)), fresh._posting_arrays(str(term))
                for a, b in zip(got, want, strict=True):
                    assert a.dtype == b.dtype and a.tolist() == b.tolist()
                assert got[2].tolist() == [len(index.tokens(k)) for k in got[0].tolist()]  # lengths by key


def test_a_negative_key_is_refused_before_anything_is_indexed() -> None:
    """Lengths are kept by key (a posting list's lengths are one gather), so keys are row numbers."""
    from memoryweave_core.errors import InvalidInputError

    index = lexical.BM25Index()
    index.add(0, ["a", "b"])
    with pytest.raises(InvalidInputError):
        index.add(-1, ["a"])
    assert len(index) == 1 and index.stats(["a"])[2] == {"a": 1}


def test_a_store_keeps_one_length_per_key_whatever_its_namespaces() -> None:
    """Keys are the store's row numbers, so its namespaces' indexes share one
    array of lengths: many small namespaces cost one entry per trace, not a
    store-long array each."""
    from memoryweave_core import HashingEmbedder, MemoryWeave

    memory = MemoryWeave(embedder=HashingEmbedder(16))
    for i in range(40):
        memory.add_many([f"note {j} of user {i}" for j in range(5)], namespace=f"user{i}")
    spaces = memory.store._spaces.values()
    shared = {id(space.bm25._lengths) for space in spaces}
    assert len(shared) == 1 and len(next(iter(spaces)).bm25._lengths.values) <= 2 * max(200, 64)
    assert dict(memory.store.lexical("user39", ["user"], 10))  # found, lengths read by key
