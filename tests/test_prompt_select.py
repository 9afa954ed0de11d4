"""select_for_prompt: no repeats, no filler, nothing already shown, within a budget."""

from __future__ import annotations

import pytest

from memoryweave_core import InvalidInputError
from memoryweave_core.prompt import fetch_size, is_filler, relevance_kwargs, select_for_prompt


def test_repeated_question_collapses_and_the_answer_keeps_its_slot(memory):
    memory.add("My locker combination is 12-34-56.", speaker="user")
    for _ in range(4):
        memory.add("What is my locker combination?", speaker="user")
    memory.add("Nice to meet you Alice.", speaker="assistant")
    memory.add("ok", speaker="user")
    found = memory.recall("What is my locker combination?", fetch_size(3))
    chosen = select_for_prompt(found, 3, query="What is my locker combination?")
    texts = [r.text for r in chosen]
    assert "My locker combination is 12-34-56." in texts
    assert texts.count("What is my locker combination?") <= 1
    assert len(texts) == len(set(texts))


def test_filler_never_takes_a_slot_from_a_fact(memory):
    memory.add("ok", speaker="user")
    memory.add("Nice to meet you Alice.", speaker="assistant")
    memory.add("Alice adopted a grey cat called Miso last spring.", speaker="Alice")
    found = memory.recall("Tell me about Alice", 3)
    assert len(found) == 3
    chosen = select_for_prompt(found, 1, query="Tell me about Alice", names=["Alice"])
    assert [r.text for r in chosen] == ["Alice adopted a grey cat called Miso last spring."]
    # filler is stored and still fills a slot no fact wants
    assert {r.text for r in select_for_prompt(found, 3, query="Tell me about Alice", names=["Alice"])} == {r.text for r in found}
    assert is_filler(found[-1], "Tell me about Alice", ["Alice"]) or is_filler(found[-2], "Tell me about Alice", ["Alice"])


def test_short_fact_that_answers_the_query_is_not_filler(memory):
    memory.add("I play the cello", speaker="user")
    (rec,) = memory.recall("What instrument do I play?", 1)
    assert not is_filler(rec, "What instrument do I play?")


def test_texts_already_shown_are_left_out_and_the_budget_holds(memory):
    memory.add("My sister Beatrix lives in Lisbon", speaker="user")
    memory.add("My brother Tomas lives in Porto", speaker="user")
    memory.add("My cousin Ines lives in Faro near the sea", speaker="user")
    found = memory.recall("where does my family live", 3)
    chosen = select_for_prompt(found, 3, exclude_texts=["my sister beatrix lives in lisbon!"])
    assert all("Beatrix" not in r.text for r in chosen) and len(chosen) == 2
    assert len(select_for_prompt(found, 3, budget_tokens=7)) == 1
    assert select_for_prompt(found, 3, budget_tokens=0) == []


def test_bad_arguments_are_refused(memory):
    with pytest.raises(InvalidInputError):
        select_for_prompt([], -1)
    with pytest.raises(InvalidInputError):
        select_for_prompt([], 1, duplicate_similarity=0.0)
    with pytest.raises(InvalidInputError):
        select_for_prompt([], 1, budget_tokens=-5)
    assert relevance_kwargs(None) == {} and relevance_kwargs(0.3) == {"min_relevance": 0.3}


def test_the_calibrated_threshold_applies_only_to_the_model_it_was_fitted_with():
    from memoryweave_core import HashingEmbedder, MemoryWeave
    from memoryweave_core.prompt import default_min_relevance, relevance_kwargs
    from memoryweave_core.relevance import PROMPT_MIN_RELEVANCE

    default_model = MemoryWeave()  # all-MiniLM-L6-v2, not loaded by asking
    assert default_min_relevance(default_model) == PROMPT_MIN_RELEVANCE
    assert default_model.encoder._embedder is None  # the check loaded nothing
    hashing = MemoryWeave(embedder=HashingEmbedder(64))
    assert default_min_relevance(hashing) is None  # another model's relevance is not calibrated
    assert relevance_kwargs("auto", hashing) == {} and relevance_kwargs(0.3, hashing) == {"min_relevance": 0.3}
    assert relevance_kwargs("auto", default_model) == {"min_relevance": PROMPT_MIN_RELEVANCE}
    assert relevance_kwargs(None, default_model) == {}


def test_core_recall_takes_auto_as_the_adapters_do(monkeypatch):
    from memoryweave_core import HashingEmbedder, MemoryWeave, recall_call

    memory = MemoryWeave(embedder=HashingEmbedder(64))
    memory.add_many(["I live in Lisbon", "My sister lives in Porto", "The cat is called Rex"])
    texts = [r.text for r in memory.recall("where do I live", 3, record_access=False)]
    assert [r.text for r in memory.recall("where do I live", 3, min_relevance="auto", record_access=False)] == texts
    monkeypatch.setattr(recall_call, "default_min_relevance", lambda mem: 1.0)  # as if calibrated, and strict
    assert memory.recall("where do I live", 3, min_relevance="auto") == []
    with pytest.raises(InvalidInputError, match="min_relevance must be a number"):
        memory.recall("where do I live", 3, min_relevance="sometimes")


def test_pack_takes_the_most_relevance_per_token_that_fits():
    from memoryweave_core.prompt import pack

    # one long, fairly relevant item against two short ones that together carry more
    relevance, costs = [0.3, 0.2, 0.2], [300, 60, 60]
    assert pack(relevance, costs, 256) == [1, 2]
    # in rank order the long item would have ended a 256-token prompt at once
    assert pack(relevance, costs, 500) == [0, 1, 2]
    assert pack(relevance, costs, 500, k=1) == [1]
    assert pack([0.0, 0.0, 0.0], [10, 300, 10], 100) == [0, 2]  # no relevance: first fit in rank order
    # below the cost floor length does not count: the more relevant short item goes first
    assert pack([0.2, 0.1], [20, 2], 21, min_cost=16) == [0]
    assert pack([0.2, 0.1], [20, 2], 21, min_cost=1) == [1]
    with pytest.raises(InvalidInputError):
        pack([0.1], [1, 2], 10)
    with pytest.raises(InvalidInputError):
        pack([0.1], [1], 10, min_cost=0)


def test_a_budget_packs_by_relevance_per_token_and_keeps_rank_order(memory):
    memory.add("My sister Beatrix lives in Lisbon with her two daughters and a very old parrot called Rui, "
               "in a flat above a bakery that sells the best custard tarts in the whole neighbourhood", speaker="user")
    memory.add("My brother Tomas lives in Porto", speaker="user")
    found = memory.recall("where does my brother live", 2)
    costs = [len(r.text.split()) for r in found]
    chosen = select_for_prompt(found, 2, query="where does my brother live", budget_tokens=min(costs) + 1)
    assert [r.text for r in chosen] == [found[costs.index(min(costs))].text]
    both = select_for_prompt(found, 2, query="where does my brother live", budget_tokens=sum(costs))
    assert [r.text for r in both] == [r.text for r in found]
