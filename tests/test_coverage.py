"""Coverage: the share of the query's content-word IDF mass a candidate, or
its episode window, holds (a relevance signal, ``coverage.py``)."""
import numpy as np
import pytest
from chat_lines import CHAT

from memoryweave_core.coverage import Terms, window_hits
from memoryweave_core.pool import Labels
from memoryweave_core.relevance import SIGNALS, signals


def test_coverage_weighs_rare_words_more():
    # words of IDF 1 and 3: holding the rare one is three quarters of the query
    terms = Terms(np.array([1.0, 3.0]), np.array([True, True]), np.array([[True, False], [False, True]]))
    own, window = terms.coverage()
    assert own.tolist() == [0.25, 0.75] and window.tolist() == [0.25, 0.75]
    col = dict(zip(SIGNALS, signals({}, np.array([1.0, 0.0]), 0.0, terms).T))
    assert col["coverage"].tolist() == [0.25, 0.75]
    assert col["coverage_margin"].tolist() == [-0.5, 0.0]


def test_a_query_without_content_words_is_not_held_against():
    col = dict(zip(SIGNALS, signals({}, np.zeros(2), 0.0).T))
    assert col["coverage"].tolist() == col["window_coverage"].tolist() == [1.0, 1.0]
    assert col["coverage_margin"].tolist() == [0.0, 0.0]


def test_the_window_is_the_same_episode_within_the_radius():
    hits = np.array([[1, 0], [0, 1], [0, 0], [0, 0], [1, 0]], bool)
    near = window_hits(hits, Labels.of(["a", "a", "b", None, "a"]).codes, np.array([0, 2, 1, 1, 9]), radius=2)
    # rows 0 and 1 are two positions apart in "a"; row 4 is too far; "b" and no episode are alone
    assert near.astype(int).tolist() == [[1, 1], [1, 1], [0, 0], [0, 0], [1, 0]]
    # a row without an episode shares no window, even with another such row
    assert not window_hits(hits[[0, 1]], np.array([-1, -1]), np.array([0, 1]), radius=2)[0, 1]
    assert (window_hits(hits, np.zeros(5, np.int64), np.arange(5), radius=0) == hits).all()


def test_the_window_matches_a_direct_count_on_random_pools():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(1, 60))
        eps = [None if e < 0 else f"e{e}" for e in rng.integers(-1, 4, n)]
        pos = rng.permutation(200)[:n]  # distinct positions, in no order
        hits = rng.random((n, 3)) < 0.2
        want = np.array([[any(hits[j, c] for j in range(n) if j == i or (
            eps[i] is not None and eps[j] == eps[i] and abs(pos[j] - pos[i]) <= 2)) for c in range(3)] for i in range(n)])
        assert (window_hits(hits, Labels.of(eps).codes, pos, radius=2) == want).all()


@pytest.fixture
def chat(memory):
    memory.add_many([{"text": t, "speaker": s, "episode": "e1"} for s, t in CHAT])
    return memory


def test_recall_measures_the_window_over_the_pool(chat):
    table = chat.features("Which city did Alice move to for the bakery job?")
    assert table.terms is not None and table.terms.near is not None
    assert table.terms.near.shape == table.terms.hits.shape
    assert (table.terms.near >= table.terms.hits).all()  # a window holds what its trace holds
    own, window = table.terms.coverage()
    assert (window >= own).all() and own.max() > 0
