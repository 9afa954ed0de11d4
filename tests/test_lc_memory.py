"""MemoryWeaveMemory, the legacy BaseMemory (ConversationChain runs are in test_lc_e2e.py)."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("langchain_classic")

from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402

from memoryweave_lc import MemoryWeaveMemory  # noqa: E402

#: The date an older memory shows: every memory here is added at the fake clock's start.
WHEN = "[2023-11-14 22:13] "


@pytest.fixture
def lm(memory) -> MemoryWeaveMemory:
    return MemoryWeaveMemory(memory=memory, namespace="alice", k=2, recent_turns=0)


def test_save_then_load(lm, memory):
    assert lm.memory_variables == ["history"]
    assert lm.load_memory_variables({"input": "anything"}) == {"history": ""}
    lm.save_context({"input": "My sister Beatrix lives in Lisbon"}, {"response": "Noted."})
    lm.save_context({"input": "I play the cello"}, {"response": "Lovely."})
    assert memory.count("alice") == 4
    history = lm.load_memory_variables({"input": "where does my sister live?"})["history"]
    assert history.splitlines()[0] == WHEN + "Human: My sister Beatrix lives in Lisbon"
    assert len(history.splitlines()) == 2


def test_return_messages(memory):
    lm = MemoryWeaveMemory(memory=memory, return_messages=True, k=4, memory_key="chat_history")
    lm.save_context({"question": "I play the cello"}, {"answer": "Lovely."})
    messages = lm.load_memory_variables({"question": "cello"})["chat_history"]
    assert {type(m) for m in messages} == {HumanMessage, AIMessage}
    assert {m.text for m in messages} == {"I play the cello", "Lovely."}  # the conversation, verbatim
    lm.clear()
    older = lm.load_memory_variables({"question": "cello"})["chat_history"]
    assert {type(m) for m in older} == {HumanMessage, AIMessage}  # the message type says who
    assert {m.text for m in older} == {WHEN + "I play the cello", WHEN + "Lovely."}


def test_keys(memory):
    lm = MemoryWeaveMemory(memory=memory, input_key="q", output_key="a")
    lm.save_context({"q": "hello there", "extra": "x"}, {"a": "hi", "sources": []})
    assert memory.count() == 2
    with pytest.raises(ValueError):
        MemoryWeaveMemory(memory=memory).save_context({"input": "x"}, {"a": "1", "b": "2"})
    with pytest.raises(ValueError):
        MemoryWeaveMemory(memory=memory).load_memory_variables({"a": "1", "b": "2"})


def test_empty_output_is_not_remembered(lm, memory):
    lm.save_context({"input": "just saying"}, {"response": "  "})
    assert memory.count("alice") == 1


def test_clear_ends_the_conversation_and_keeps_the_long_term_memory(memory):
    lm = MemoryWeaveMemory(memory=memory, namespace="alice", k=2, recent_turns=2)
    lm.save_context({"input": "My sister Beatrix lives in Lisbon"}, {"response": "Noted."})
    memory.add("someone else's memory", namespace="bob")
    lm.clear()
    assert memory.count("alice") == 2 and memory.count("bob") == 1
    history = lm.load_memory_variables({"input": "Where does my sister Beatrix live?"})["history"]
    assert history.splitlines()[0] == WHEN + "Human: My sister Beatrix lives in Lisbon"  # recalled, dated


def test_last_turns_verbatim_in_order_then_older_relevant_ones(memory):
    lm = MemoryWeaveMemory(memory=memory, k=2, recent_turns=2)
    lm.save_context({"input": "My sister Beatrix lives in Lisbon"}, {"response": "Noted, Lisbon it is."})
    lm.save_context({"input": "I play the cello every evening"}, {"response": "Lovely instrument, the cello."})
    lines = lm.load_memory_variables({"input": "Which city does my sister live in?"})["history"].splitlines()
    assert lines[:2] == ["Human: I play the cello every evening", "AI: Lovely instrument, the cello."]
    assert WHEN + "Human: My sister Beatrix lives in Lisbon" in lines[2:]  # older, so dated
    assert len(lines) == len(set(lines)) <= 4  # nothing shown twice


def test_question_asked_four_times_keeps_the_answer_at_k3(memory):
    lm = MemoryWeaveMemory(memory=memory, k=3, recent_turns=2)
    lm.save_context({"input": "My locker combination is 12-34-56."}, {"response": "Got it, I'll remember."})
    for _ in range(4):
        history = lm.load_memory_variables({"input": "What is my locker combination?"})["history"]
        lines = [line.removeprefix(WHEN) for line in history.splitlines()]  # recent, or older and dated
        assert "Human: My locker combination is 12-34-56." in lines
        lm.save_context({"input": "What is my locker combination?"}, {"response": "Ok."})
    assert lines.count("Human: What is my locker combination?") <= 1


def test_older_memories_are_dated_by_the_template(memory, clock):
    lm = MemoryWeaveMemory(memory=memory, k=2, recent_turns=2, template="({date}) {text}")
    lm.save_context({"input": "My favourite colour is red."}, {"response": "Red, noted."})
    clock.advance(30 * 86400)
    lm.save_context({"input": "I play the cello every evening"}, {"response": "Lovely instrument, the cello."})
    lines = lm.load_memory_variables({"input": "What is my favourite colour?"})["history"].splitlines()
    assert lines[:2] == ["Human: I play the cello every evening", "AI: Lovely instrument, the cello."]
    assert "(2023-11-14 22:13) My favourite colour is red." in lines[2:]
    with pytest.raises(ValueError):
        MemoryWeaveMemory(memory=memory, template="{when}: {text}")


async def test_async(lm, memory):
    await lm.asave_context({"input": "I keep bees"}, {"response": "Buzzing!"})
    assert "bees" in (await lm.aload_memory_variables({"input": "bees"}))["history"]


def test_llm_chain_with_memory(memory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_classic.chains import LLMChain
        from langchain_core.language_models.fake import FakeListLLM
        from langchain_core.prompts import PromptTemplate

        prompt = PromptTemplate.from_template("Memories:\n{history}\nQuestion: {question}\nAnswer:")
        llm = FakeListLLM(responses=["Noted.", "In Lisbon."])
        chain = LLMChain(llm=llm, prompt=prompt, memory=MemoryWeaveMemory(memory=memory))
        chain.invoke({"question": "My sister lives in Lisbon"})
        out = chain.invoke({"question": "Where does my sister live?"})
    assert "Lisbon" in out["history"]


def test_what_reaches_the_prompt_is_counted_as_used_in_its_own_namespace():
    from memoryweave_core import HashingEmbedder, MemoryWeave
    from memoryweave_lc import MemoryWeaveMemory

    weave = MemoryWeave(embedder=HashingEmbedder(64))
    fact = weave.add("My locker combination is 4-8-15", speaker="user", namespace="alice")
    before = weave.store.access_logs([fact.id], "alice")[fact.id].count
    chat = MemoryWeaveMemory(memory=weave, namespace="alice", recent_turns=0, min_relevance=None)
    chat.load_memory_variables({"input": "What is my locker combination?"})
    assert weave.store.access_logs([fact.id], "alice")[fact.id].count == before + 1  # touched in "alice", not "default"


def test_a_namespace_with_levels(memory):
    lm = MemoryWeaveMemory(memory=memory, namespace=("alice", "chat"), k=2, recent_turns=0, min_relevance=None)
    lm.save_context({"input": "My sister Beatrix lives in Lisbon"}, {"response": "Noted."})
    assert memory.count(("alice", "chat")) == 2 and memory.count("alice") == 0
    assert "Lisbon" in lm.load_memory_variables({"input": "Where does my sister live?"})["history"]
