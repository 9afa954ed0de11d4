"""MemoryWeaveMemory: a BaseMemory that remembers every turn, with agents and chat engines."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Settings  # noqa: E402
from llama_index.core.agent.workflow import FunctionAgent  # noqa: E402
from llama_index.core.base.llms.types import ChatMessage, TextBlock  # noqa: E402
from llama_index.core.chat_engine import SimpleChatEngine  # noqa: E402
from llama_index.core.embeddings import MockEmbedding  # noqa: E402
from llama_index.core.llms.mock import (  # noqa: E402
    MockFunctionCallingLLMWithChatMemoryOfLastCall,
    MockLLMWithChatMemoryOfLastCall,
)
from llama_index.core.memory import ChatMemoryBuffer, Memory  # noqa: E402
from llama_index.core.tools import FunctionTool  # noqa: E402

from memoryweave_li import MemoryWeaveMemory  # noqa: E402

# the workflows package runs inspect.getmembers over pydantic agents: upstream noise
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")

FACT = "My sister Clara lives in Lisbon and works as a marine biologist"
SMALL_TALK = [
    "The weather was rainy all weekend",
    "I watched a documentary about volcanoes",
    "Lunch today was a vegetable curry",
    "The train to work was late again",
    "I am reading a novel about sailors",
    "My laptop needs a new battery",
]
QUESTION = "Where does my sister Clara live?"


@pytest.fixture(autouse=True)
def _no_hosted_models(monkeypatch):
    monkeypatch.setattr(Settings, "_embed_model", MockEmbedding(embed_dim=8))


def text_of(messages) -> str:
    return "\n".join(b.text for m in messages for b in m.blocks if isinstance(b, TextBlock))


def weave_memory(memory, namespace="default", token_limit=60, **kw) -> MemoryWeaveMemory:
    """A short-term buffer of ~60 tokens: the fact falls out of it after a few turns."""
    return MemoryWeaveMemory(
        memory=memory, namespace=namespace, buffer=ChatMemoryBuffer.from_defaults(token_limit=token_limit), **kw
    )


async def run_turns(agent, mem, texts, timeout=20.0):
    for text in texts:
        await asyncio.wait_for(agent.run(user_msg=text, memory=mem), timeout=timeout)


# -- the BaseMemory contract ---------------------------------------------------------
def test_put_remembers_every_message_and_get_recalls(memory):
    mem = weave_memory(memory, token_limit=40, speakers={"user": "Ana"})
    mem.put(ChatMessage(role="user", content=FACT))
    mem.put(ChatMessage(role="assistant", content="Lisbon is lovely"))
    for text in SMALL_TALK:
        mem.put_messages([ChatMessage(role="user", content=text), ChatMessage(role="assistant", content="ok")])
    assert memory.count() == 2 + 2 * len(SMALL_TALK)  # every message, not only what the buffer drops
    assert [t.speaker for t in memory][:2] == ["Ana", "assistant"]
    history = mem.buffer.get()
    assert FACT not in text_of(history)  # out of the short-term window ...
    got = mem.get(input=QUESTION)
    assert got[0].role == "system" and FACT in got[0].content  # ... but recalled
    assert got[1:] == history
    assert len(mem.get_all()) == 2 + 2 * len(SMALL_TALK)


def test_get_without_input_uses_latest_message(memory):
    mem = weave_memory(memory, token_limit=10_000)
    mem.put(ChatMessage(role="user", content=FACT))
    for text in SMALL_TALK:
        mem.put(ChatMessage(role="user", content=text))
    mem.set([ChatMessage(role="user", content=QUESTION)])  # set replaces history, remembers nothing
    assert memory.count() == 1 + len(SMALL_TALK)
    got = mem.get()
    assert FACT in got[0].content and got[-1].content == QUESTION


def test_memories_already_in_history_are_not_repeated(memory):
    mem = weave_memory(memory, token_limit=10_000, similarity_top_k=2)
    mem.put(ChatMessage(role="user", content=FACT))
    mem.put(ChatMessage(role="user", content="Clara also plays the cello"))
    got = mem.get(input="Clara")
    assert got == mem.buffer.get()  # both memories are in the buffer already: no system note
    mem.reset()
    assert mem.get_all() == [] and memory.count() == 2  # reset clears the buffer only
    got = mem.get(input="Clara")
    assert FACT in got[0].content and "cello" in got[0].content


def test_roles_episode_and_empty_messages(memory):
    mem = weave_memory(memory, episode="support-chat")
    mem.put_messages(
        [
            ChatMessage(role="system", content="You are helpful"),
            ChatMessage(role="tool", content="42"),
            ChatMessage(role="assistant", content=""),
            ChatMessage(role="user", content="hello"),
        ]
    )
    assert [(t.text, t.episode) for t in memory] == [("hello", "support-chat")]
    assert len(mem.get_all()) == 4  # the buffer keeps them all


async def test_async_contract(memory):
    mem = weave_memory(memory)
    await mem.aput(ChatMessage(role="user", content=FACT))
    await mem.aput_messages([ChatMessage(role="user", content=t) for t in SMALL_TALK])
    got = await mem.aget(input=QUESTION)
    assert FACT in got[0].content and memory.count() == 1 + len(SMALL_TALK)
    await mem.aset([])
    assert await mem.aget_all() == []
    await mem.areset()


def test_from_defaults_and_validation(memory, embedder):
    mem = MemoryWeaveMemory.from_defaults(
        memory, namespace="ana", chat_history=[ChatMessage(role="user", content="hi")], token_limit=500
    )
    assert mem.get_all()[0].content == "hi" and mem.buffer.token_limit == 500
    assert memory.count("ana") == 0  # chat_history seeds the buffer, it is not remembered
    fresh = MemoryWeaveMemory.from_defaults(embedder=embedder)
    fresh.put(ChatMessage(role="user", content="hi"))
    assert fresh.memory.count() == 1
    with pytest.raises(ValueError, match="namespace"):
        MemoryWeaveMemory(memory=memory, namespace="")
    with pytest.raises(ValueError, match="k must be"):
        MemoryWeaveMemory(memory=memory, similarity_top_k=0)
    with pytest.raises(ValueError, match="template"):
        MemoryWeaveMemory(memory=memory, template="{missing}")
    with pytest.raises(ValueError, match="episode"):
        MemoryWeaveMemory(memory=memory, episode="")


def test_any_base_memory_as_buffer(memory):
    buffer = Memory.from_defaults(token_limit=50_000)
    mem = MemoryWeaveMemory(memory=memory, buffer=buffer)
    mem.put(ChatMessage(role="user", content=FACT))
    assert buffer.get_all()[0].content == FACT and memory.count() == 1


# -- end to end: what the model saw ----------------------------------------------------
def test_simple_chat_engine_sees_early_fact(memory):
    # max_tokens: the mock answers "text text text" instead of echoing its prompt
    llm = MockLLMWithChatMemoryOfLastCall(is_chat_model=True, max_tokens=3)
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=weave_memory(memory, token_limit=40))
    for text in [FACT, *SMALL_TALK]:
        engine.chat(text)
    engine.chat(QUESTION)
    seen = llm.last_chat_messages
    assert FACT not in text_of(m for m in seen if m.role != "system")  # out of the short-term buffer ...
    assert FACT in text_of(seen)  # ... but recalled
    assert memory.count() == 2 * (len(SMALL_TALK) + 2)


@pytest.mark.timeout(120)
async def test_function_agent_sees_early_fact_after_unrelated_turns(memory):
    llm = MockFunctionCallingLLMWithChatMemoryOfLastCall()
    agent = FunctionAgent(tools=[], llm=llm, system_prompt="You are a helpful assistant.")
    mem = weave_memory(memory)
    await run_turns(agent, mem, [FACT, *SMALL_TALK])
    # every turn (user and assistant) was remembered, not only what the buffer dropped
    assert memory.count() == 2 * (1 + len(SMALL_TALK))
    assert FACT not in text_of(mem.buffer.get())
    llm.reset_memory()
    await run_turns(agent, mem, [QUESTION])
    seen = llm.last_chat_messages
    assert seen[0].content == "You are a helpful assistant."
    assert FACT in text_of(seen) and seen[-1].content == QUESTION
    assert FACT not in text_of(m for m in seen if m.role != "system")  # recalled, not from the buffer


@pytest.mark.timeout(120)
async def test_function_agent_with_tool_calls(memory):
    """Tool-call turns: the scratchpad (tool calls, tool results) reaches the buffer; texts are remembered."""

    def lookup_weather(city: str = "Lisbon") -> str:
        """Look up the weather in a city."""
        return f"Sunny in {city}"

    llm = MockFunctionCallingLLMWithChatMemoryOfLastCall()
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(lookup_weather)], llm=llm)
    mem = weave_memory(memory, token_limit=2000)
    await run_turns(agent, mem, [FACT, "What is the weather like?"])
    roles = [m.role.value for m in mem.get_all()]
    assert "tool" in roles
    assert all(t.speaker in ("user", "assistant") for t in memory)  # tool output not remembered by default
    assert FACT in text_of(await mem.aget(input=QUESTION))


@pytest.mark.timeout(120)
async def test_agent_namespaces_isolate_users(memory):
    llm = MockFunctionCallingLLMWithChatMemoryOfLastCall()
    agent = FunctionAgent(tools=[], llm=llm)
    ana, ben = weave_memory(memory, "ana"), weave_memory(memory, "ben")
    await run_turns(agent, ana, [FACT, *SMALL_TALK])
    await run_turns(agent, ben, SMALL_TALK)
    await run_turns(agent, ben, [QUESTION])
    assert "Clara" not in text_of(llm.last_chat_messages[:-1])
    await run_turns(agent, ana, [QUESTION])
    assert FACT in text_of(llm.last_chat_messages)
    assert {t.namespace for t in memory} == {"ana", "ben"}


async def test_sqlite_backed_memory_works_from_worker_threads(tmp_path, embedder, clock):
    """The async paths run the core in asyncio.to_thread: a SQLite store must cope."""
    from memoryweave_core import MemoryWeave
    from memoryweave_li import MemoryWeaveBlock

    with MemoryWeave(tmp_path / "m.db", embedder=embedder, clock=clock) as disk:
        mem = MemoryWeaveMemory(memory=disk, buffer=ChatMemoryBuffer.from_defaults(token_limit=40))
        await mem.aput_messages([ChatMessage(role="user", content=t) for t in [FACT, *SMALL_TALK]])
        assert FACT in text_of(await mem.aget(input=QUESTION))
        block = MemoryWeaveBlock(memory=disk, namespace="b")
        await block.aput([ChatMessage(role="user", content=FACT)])
        assert FACT in text_of([ChatMessage(role="system", blocks=await block.aget([ChatMessage(role="user", content=QUESTION)]))])


def test_tuple_namespaces_and_set_never_rewrites_long_term_memory(memory):
    """A namespace may be a tuple; set() replaces the short-term history only: LlamaIndex gives
    messages no identity, so a changed message there cannot be told from another conversation."""
    mem = weave_memory(memory, namespace=("ana", "run1"), token_limit=10_000)
    mem.put(ChatMessage(role="user", content=FACT))
    assert memory.namespaces() == [("ana", "run1")]
    mem.set([ChatMessage(role="user", content="my sister moved to Porto")])
    assert [t.text for t in memory.traces(("ana", "run1"))] == [FACT]
    assert FACT in mem.get(input=QUESTION)[0].content


async def test_include_descendants_spans_one_users_levels_and_never_another_user(memory):
    run = memory.add(FACT, namespace=("ana", "agent1", "run7"))
    memory.add("My sister Clara lives in Madrid and works as a pilot", namespace=("anabel", "run1"))
    memory.add("My sister Clara lives in Oslo and works as a nurse", namespace="bob")
    span = weave_memory(memory, namespace="ana", token_limit=10_000, include_descendants=True)
    before = memory.activation(run.id, namespace=("ana", "agent1", "run7"))
    for got in (span.get(input=QUESTION), await span.aget(input=QUESTION)):
        assert got[0].role == "system" and FACT in got[0].content
        assert "Madrid" not in got[0].content and "Oslo" not in got[0].content
    # what reached the prompt counts as used where it lives, not in the memory's own namespace
    assert memory.activation(run.id, namespace=("ana", "agent1", "run7")) > before
    assert weave_memory(memory, namespace="ana", token_limit=10_000).get(input=QUESTION) == []
    span.put(ChatMessage(role="user", content="I like tea"))  # remembered in its own namespace only
    assert memory.count("ana") == 1 and memory.count(("ana", "agent1", "run7")) == 1
    with pytest.raises(ValueError, match="include_descendants"):
        MemoryWeaveMemory(memory=memory, include_descendants=1)
