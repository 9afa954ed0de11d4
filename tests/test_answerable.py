"""The answerable gate: "is anything in this memory relevant to the query?"

Its signals (coverage of the query's IDF mass, BM25 against its ceiling, raw
cosines), its plain-number logistic, and what recall does with it.
"""
import numpy as np
import pytest
from chat_lines import CHAT

from memoryweave_core import recall_call
from memoryweave_core.answerable import (
    BASE_SIGNALS,
    CONFIDENT,
    DEFAULT_GATE,
    GATE_SIGNALS,
    TOP,
    Gate,
    Terms,
    answerable,
    gate_signals,
)
from memoryweave_core.lexical import K1
from memoryweave_core.relevance import PROMPT_MIN_RELEVANCE, fit_logistic

fitted = pytest.mark.skipif(not any(DEFAULT_GATE.coef), reason="gate not fitted yet (tune.py --relevance)")



@pytest.fixture
def chat(memory):
    memory.add_many([{"text": t, "speaker": s, "episode": "e1"} for s, t in CHAT])
    return memory


def test_coverage_is_the_share_of_idf_mass():
    # two words, weights 1 and 3; the memory knows the first only, the best candidate holds it
    terms = Terms(np.array([1.0, 3.0]), np.array([True, False]), np.array([[True, False], [False, False]]))
    raw = {"semantic": np.array([0.6, 0.2]), "context": np.array([0.1, 0.5]), "lexical": np.array([2.0, 0.0])}
    col = dict(zip(GATE_SIGNALS, gate_signals(terms, raw, np.array([1.0, -1.0]), np.zeros(2))))
    assert col["store_coverage"] == col["top_coverage"] == col["top1_coverage"] == col["best_coverage"] == 0.25
    assert col["bm25_ceiling"] == pytest.approx(2.0 / (4.0 * (K1 + 1)))
    assert (col["best_semantic"], col["top1_semantic"], col["best_context"]) == (0.6, 0.6, 0.5)


def test_top_candidates_follow_the_fused_score():
    terms = Terms(np.array([1.0, 1.0]), np.array([True, True]), np.array([[True, False], [False, True]]))
    raw = {"semantic": np.array([0.2, 0.7])}
    col = dict(zip(GATE_SIGNALS, gate_signals(terms, raw, np.array([-1.0, 1.0]), np.zeros(2))))
    assert col["top_coverage"] == 1.0 and col["top1_coverage"] == 0.5
    assert col["top1_semantic"] == 0.7


def test_a_query_without_content_words_is_not_held_against():
    col = dict(zip(GATE_SIGNALS, gate_signals(Terms.empty(2), {}, np.array([0.0, 0.0]), np.zeros(2))))
    assert col["store_coverage"] == col["best_coverage"] == 1.0


def test_confident_top_counts_the_top_candidates_at_or_above_confident():
    n = TOP + 3
    score = -np.arange(n, dtype=float)  # candidate i ranks i-th
    relevance = np.full(n, CONFIDENT / 2)
    relevance[[0, 4]] = CONFIDENT  # at the bar counts
    relevance[TOP - 1] = 0.9
    relevance[TOP:] = 0.9  # below the top: not what a prompt sees
    col = dict(zip(GATE_SIGNALS, gate_signals(Terms.empty(n), {}, score, relevance)))
    assert col["confident_top"] == 3.0
    # the top follows the fused score: reversed, rows 3-12 are the top (4, 9 and 10-12 count)
    assert dict(zip(GATE_SIGNALS, gate_signals(Terms.empty(n), {}, -score, relevance)))["confident_top"] == 5.0
    assert GATE_SIGNALS[:len(BASE_SIGNALS)] == BASE_SIGNALS


def test_query_words_are_measured_against_the_memory(chat):
    table = chat.features("Which city did Alice move to for the bakery job kangaroo?")
    assert table.terms is not None
    words = table.terms.weight.size
    assert words and table.terms.hits.shape == (len(table.ids), words)
    # the speaker name is the speaker pathway's business, not a word to cover
    assert not table.terms.known.all() and table.terms.known.sum() == words - 1
    # the word never seen weighs most
    assert table.terms.weight[~table.terms.known].min() > table.terms.weight[table.terms.known].max()


def test_gate_is_plain_numbers_of_its_own_width():
    with pytest.raises(ValueError):
        Gate(mean=(0.0,), scale=(1.0,), coef=(0.0,), intercept=0.0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, len(GATE_SIGNALS)))
    g = fit_logistic(x, (x[:, 0] > 0).astype(float), kind=Gate)
    assert isinstance(g, Gate) and g.coef[0] > 0
    assert 0.0 < answerable(Terms.empty(1), {}, np.zeros(1), np.zeros(1), g) < 1.0
    assert answerable(Terms.empty(0), {}, np.zeros(0), np.zeros(0)) == 0.0


def test_every_recollection_of_a_recall_carries_the_same_answerable(chat):
    found = chat.recall("Where does Alice's sister live?", k=4)
    assert {r.answerable for r in found} == {found[0].answerable}
    assert 0.0 <= found[0].answerable <= 1.0
    assert "answerable" in found[0].explain()


def test_a_threshold_returns_nothing_when_the_gate_says_no(chat, monkeypatch):
    monkeypatch.setattr(recall_call, "ANSWERABLE_FLOOR", 1.0)  # no query clears it
    assert chat.recall("Where does Alice's sister live?", k=4, min_relevance=1e-9) == []
    # without a threshold core recall still returns k, gate or not
    assert len(chat.recall("Where does Alice's sister live?", k=4)) == 4
    assert len(chat.recall("Where does Alice's sister live?", k=4, min_relevance=0.0)) == 4


@fitted
def test_a_question_about_something_never_said_is_refused_by_the_gate(chat):
    asked = chat.recall("What is the capital of Australia?", k=5)
    about = chat.recall("Which city did Alice move to for her job?", k=5)
    assert asked[0].answerable < about[0].answerable
    assert chat.recall("What is the capital of Australia?", k=5, min_relevance=PROMPT_MIN_RELEVANCE) == []
    # a question this memory can answer keeps its answer at the same defaults
    kept = chat.recall("Where does Alice's sister Clara live?", k=5, min_relevance=PROMPT_MIN_RELEVANCE)
    assert any("Lisbon" in r.trace.text for r in kept)


def test_explain_says_why_the_gate_answered(chat):
    found = chat.recall("Where does Alice's sister live?", k=2, explain=True)
    why = found[0].answerable_reasons
    assert set(why) == set(GATE_SIGNALS) and {r.answerable for r in found} == {found[0].answerable}
    # the terms add up to the gate's log-odds
    logit = np.log(found[0].answerable / (1 - found[0].answerable))
    assert sum(why.values()) + DEFAULT_GATE.intercept == pytest.approx(logit, abs=1e-6)
    assert "answerable because" in found[0].explain()
    # without explain nothing extra is computed or shown
    plain = chat.recall("Where does Alice's sister live?", k=2)
    assert plain[0].answerable_reasons == {} and "answerable because" not in plain[0].explain()
