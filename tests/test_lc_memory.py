"""MemoryWeaveMemory, the legacy BaseMemory (ConversationChain runs are in test_lc_e2e.py)."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("langchain_classic")

from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402

from memoryweave_lc import MemoryWeaveMemory  # noqa: E402


@pytest.fixture
def lm(memory) -> MemoryWeaveMemory:
    return MemoryWeaveMemory(memory=memory, namespace="alice", k=2)


def test_save_then_load(lm, memory):
    assert lm.memory_variables == ["history"]
    assert lm.load_memory_variables({"input": "anything"}) == {"history": ""}
    lm.save_context({"input": "My sister Beatrix lives in Lisbon"}, {"response": "Noted."})
    lm.save_context({"input": "I play the cello"}, {"response": "Lovely."})
    assert memory.count("alice") == 4
    history = lm.load_memory_variables({"input": "where does my sister live?"})["history"]
    assert history.splitlines()[0] == "Human: My sister Beatrix lives in Lisbon"
    assert len(history.splitlines()) == 2


def test_return_messages(memory):
    lm = MemoryWeaveMemory(memory=memory, return_messages=True, k=4, memory_key="chat_history")
    lm.save_context({"question": "I play the cello"}, {"answer": "Lovely."})
    messages = lm.load_memory_variables({"question": "cello"})["chat_history"]
    assert {type(m) for m in messages} == {HumanMessage, AIMessage}
    assert {m.text for m in messages} == {"I play the cello", "Lovely."}


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


def test_clear_forgets_only_its_namespace(lm, memory):
    lm.save_context({"input": "one"}, {"response": "two"})
    memory.add("someone else's memory", namespace="bob")
    lm.clear()
    assert memory.count("alice") == 0 and memory.count("bob") == 1


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
