"""End to end with LangChain's fake chat models.

A fact told in turn 1 must be in what the model sees in turn 5, after three
unrelated turns, for each way of wiring MemoryWeave into LangChain: an LCEL
chain with the retriever, an agent with the middleware, an agent with the
store, and a classic ConversationChain.  Two users talk in alternation and
one user's memories must never reach the other's prompt.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("langchain")
pytest.importorskip("langgraph")
pytest.importorskip("langchain_classic")

from langchain.agents import create_agent  # noqa: E402
from langchain.tools import ToolRuntime, tool  # noqa: E402
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.runnables import RunnablePassthrough  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from pydantic import Field  # noqa: E402

from memoryweave_core import HashingEmbedder, MemoryWeave  # noqa: E402
from memoryweave_lc import MemoryWeaveMemory, MemoryWeaveMiddleware, MemoryWeaveRetriever, MemoryWeaveStore  # noqa: E402

# Each user tells a fact, talks about three unrelated things, then asks about it.
SCRIPTS = {
    "alice": [
        "My sister Beatrix lives in Lisbon.",
        "What is a good recipe for pancakes?",
        "Tell me a joke about computers.",
        "How far away is the moon?",
        "Where does my sister live?",
    ],
    "bob": [
        "My sister Carla lives in Porto.",
        "Which houseplants survive low light?",
        "Explain how a bicycle gear works.",
        "What rhymes with orange?",
        "Where does my sister live?",
    ],
}
SECRET = {"alice": "Lisbon", "bob": "Porto"}
OTHER = {"alice": "bob", "bob": "alice"}
REPLIES = ["Noted.", "Flour, eggs and milk.", "It had too many bytes.", "About 384,400 km.", "I can answer that."]
BOTH = [reply for reply in REPLIES for _ in SCRIPTS]  # what the model says as the two users alternate


class RecordingModel(GenericFakeChatModel):
    """GenericFakeChatModel that keeps every prompt it was given (and ignores tools)."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        self.seen.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def bind_tools(self, tools: Any, **kwargs: Any) -> "RecordingModel":
        return self


class RecordingListModel(FakeListChatModel):
    """FakeListChatModel that keeps every prompt it was given."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _call(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        self.seen.append(list(messages))
        return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)


def text(messages: list[BaseMessage]) -> str:
    return "\n".join(m.text for m in messages)


def conversation(run_turn) -> dict[str, list[str]]:
    """Alternate the two users turn by turn; returns what each model call saw, per user and turn."""
    prompts: dict[str, list[str]] = {"alice": [], "bob": []}
    for turn in range(5):
        for user in ("alice", "bob"):
            prompts[user].append(run_turn(user, turn))
    return prompts


def check(prompts: dict[str, list[str]]) -> None:
    for user, seen in prompts.items():
        assert SECRET[user] not in SCRIPTS[user][4]  # turn 5 only asks
        assert SECRET[user] in seen[4], f"{user}'s fact from turn 1 is missing from turn 5:\n{seen[4]}"
        other = SECRET[OTHER[user]]
        assert not any(other in p for p in seen), f"{OTHER[user]}'s memory reached {user}'s prompt"


@pytest.fixture
def memory() -> MemoryWeave:
    return MemoryWeave(embedder=HashingEmbedder())


# -- LCEL chain with the retriever ----------------------------------------------
def test_lcel_chain_with_retriever(memory):
    model = RecordingModel(messages=iter(BOTH))
    prompt = ChatPromptTemplate.from_messages([("system", "You remember:\n{memories}"), ("human", "{question}")])

    def run_turn(user: str, turn: int) -> str:
        retriever = MemoryWeaveRetriever(memory=memory, k=3, namespace=user)
        chain = (
            {"memories": retriever | (lambda docs: "\n".join(d.page_content for d in docs)), "question": RunnablePassthrough()}
            | prompt
            | model
            | StrOutputParser()
        )
        question = SCRIPTS[user][turn]
        answer = chain.invoke(question)
        memory.add_many([{"speaker": "user", "text": question}, {"speaker": "assistant", "text": answer}], namespace=user)
        return text(model.seen[-1])

    check(conversation(run_turn))


async def test_lcel_chain_with_retriever_async(memory):
    model = RecordingModel(messages=iter(REPLIES))
    retriever = MemoryWeaveRetriever(memory=memory, k=3, namespace="alice")
    prompt = ChatPromptTemplate.from_messages([("system", "You remember:\n{memories}"), ("human", "{question}")])
    chain = {"memories": retriever, "question": RunnablePassthrough()} | prompt | model
    for question in SCRIPTS["alice"]:
        answer = await chain.ainvoke(question)
        memory.add_many([{"speaker": "user", "text": question}, {"speaker": "assistant", "text": answer.text}], namespace="alice")
    assert "Lisbon" in text(model.seen[-1])


# -- agent with the middleware -------------------------------------------------------
@dataclass
class Context:
    user_id: str


@pytest.mark.parametrize("via", ["config", "context"])
def test_agent_with_middleware(memory, via):
    model = RecordingModel(messages=iter(BOTH))
    middleware = MemoryWeaveMiddleware(memory, k=3)
    kwargs: dict[str, Any] = {"context_schema": Context} if via == "context" else {}
    agent = create_agent(model, tools=[], system_prompt="You are a helpful assistant.", middleware=[middleware], **kwargs)

    def run_turn(user: str, turn: int) -> str:
        call: dict[str, Any] = {"context": Context(user)} if via == "context" else {"config": {"configurable": {"user_id": user}}}
        result = agent.invoke({"messages": [HumanMessage(SCRIPTS[user][turn])]}, **call)
        assert result["messages"][-1].text == REPLIES[turn]
        seen = model.seen[-1]
        assert isinstance(seen[0], SystemMessage) and seen[0].text.startswith("You are a helpful assistant.")
        return text(seen)

    check(conversation(run_turn))
    assert set(memory.namespaces()) == {"alice", "bob"}
    assert memory.count("alice") == 10  # five turns, user + assistant each


async def test_agent_with_middleware_async_and_threads(memory):
    model = RecordingModel(messages=iter(REPLIES))
    agent = create_agent(model, tools=[], middleware=[MemoryWeaveMiddleware(memory, k=3)], checkpointer=InMemorySaver())
    for turn, question in enumerate(SCRIPTS["alice"]):
        config = {"configurable": {"user_id": "alice", "thread_id": f"thread-{turn}"}}
        await agent.ainvoke({"messages": [HumanMessage(question)]}, config)
    assert "Lisbon" in text(model.seen[-1])
    assert {t.episode for t in memory} == {f"thread-{i}" for i in range(5)}  # a thread is an episode


# -- agent with the store ---------------------------------------------------------
@tool
def save_memory(fact: str, runtime: ToolRuntime[Context]) -> str:
    """Remember a fact about the user for later conversations."""
    runtime.store.put(("memories", runtime.context.user_id), uuid.uuid4().hex, {"text": fact})
    return "saved"


@tool
def search_memory(query: str, runtime: ToolRuntime[Context]) -> str:
    """Look up facts remembered about the user."""
    items = runtime.store.search(("memories", runtime.context.user_id), query=query, limit=3)
    return "\n".join(i.value["text"] for i in items) or "nothing remembered"


def tool_call(name: str, **args: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{uuid.uuid4().hex[:8]}"}])


def test_agent_with_store(memory):
    store = MemoryWeaveStore(memory, index={"fields": ["text"]})
    script: list[AIMessage | str] = []
    for turn in range(5):
        for user in ("alice", "bob"):
            if turn == 0:
                script += [tool_call("save_memory", fact=SCRIPTS[user][0]), "Noted."]
            elif turn == 4:
                script += [tool_call("search_memory", query=SCRIPTS[user][4]), "I can answer that."]
            else:
                script.append(REPLIES[turn])
    model = RecordingModel(messages=iter(script))
    agent = create_agent(model, tools=[save_memory, search_memory], context_schema=Context, store=store)

    def run_turn(user: str, turn: int) -> str:
        result = agent.invoke({"messages": [HumanMessage(SCRIPTS[user][turn])]}, context=Context(user))
        if turn == 4:
            tool_messages = [m for m in result["messages"] if isinstance(m, ToolMessage)]
            assert SECRET[user] in tool_messages[-1].text
        return text(model.seen[-1])

    check(conversation(run_turn))
    assert store.list_namespaces() == [("memories", "alice"), ("memories", "bob")]
    assert memory.namespaces() == [("memories", "alice"), ("memories", "bob")]


# -- classic ConversationChain ------------------------------------------------------
def test_classic_conversation_chain(memory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_classic.chains import ConversationChain

        model = RecordingListModel(responses=BOTH)
        chains = {user: ConversationChain(llm=model, memory=MemoryWeaveMemory(memory=memory, namespace=user, k=3)) for user in SCRIPTS}

        def run_turn(user: str, turn: int) -> str:
            answer = chains[user].predict(input=SCRIPTS[user][turn])
            assert answer == REPLIES[turn]
            return text(model.seen[-1])

        check(conversation(run_turn))
    assert memory.count("alice") == memory.count("bob") == 10
