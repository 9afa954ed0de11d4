"""The adapters' async paths go through the async core (arecall, aadd_many, atouch).

Each test wraps the memory so that its sync recall, add and touch fail when
an adapter calls them directly from an async path (outside the core's own
async twins), runs real LangChain, LangGraph and LlamaIndex objects, and
checks the answers equal the sync path's.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("langchain")
pytest.importorskip("llama_index.core")

from langchain.agents.middleware import ModelRequest, ModelResponse  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langgraph.runtime import Runtime  # noqa: E402
from llama_index.core.base.llms.types import ChatMessage  # noqa: E402
from llama_index.core.schema import QueryBundle  # noqa: E402

from memoryweave_core import MemoryWeave  # noqa: E402
from memoryweave_lc import MemoryWeaveMiddleware, MemoryWeaveRetriever, MemoryWeaveStore  # noqa: E402
from memoryweave_li import MemoryWeaveBlock, MemoryWeaveMemory  # noqa: E402
from memoryweave_li import MemoryWeaveRetriever as LIRetriever  # noqa: E402

_IN_CORE: contextvars.ContextVar[bool] = contextvars.ContextVar("in_core", default=False)


class Spy:
    """Counts the async core's calls; the guarded sync calls fail unless made by one of them."""

    def __init__(self, memory: MemoryWeave, guard: tuple[str, ...] = ("recall", "add_many", "touch")) -> None:
        self.calls: list[str] = []
        for name in ("arecall", "aadd_many", "atouch"):
            setattr(memory, name, self._counted(name, getattr(memory, name)))
        for name in guard:
            setattr(memory, name, self._guarded(name, getattr(memory, name)))

    def _counted(self, name: str, fn: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            token = _IN_CORE.set(True)  # copied into the worker thread with the context
            try:
                return await fn(*args, **kwargs)
            finally:
                _IN_CORE.reset(token)
        return call

    @staticmethod
    def _guarded(name: str, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if not _IN_CORE.get():
                raise AssertionError(f"an async path called the sync {name}() itself")
            return fn(*args, **kwargs)
        return call


FACTS = ["My sister Clara lives in Lisbon", "I play the cello on Sundays", "Our dog is called Biscuit",
         "I booked a trip to Japan in April"]


@pytest.fixture
def seeded(memory):
    for ns in ("default", "alice"):
        memory.add_many([{"text": t, "speaker": "user"} for t in FACTS], namespace=ns)
    return memory


async def test_langchain_retriever_ainvoke_and_abatch(seeded):
    retriever = MemoryWeaveRetriever(memory=seeded, k=2, record_access=False)
    sync = retriever.invoke("where does my sister live?")
    spy = Spy(seeded)
    got = await retriever.ainvoke("where does my sister live?")
    batch = await retriever.abatch(["cello", "dog", "Japan"])
    assert [d.id for d in got] == [d.id for d in sync] and "Lisbon" in got[0].page_content
    assert [b[0].page_content for b in batch] == [FACTS[1], FACTS[2], FACTS[3]]
    assert spy.calls == ["arecall"] * 4


@dataclass
class Ctx:
    user_id: str


async def test_langchain_middleware_async_hooks(seeded):
    mw = MemoryWeaveMiddleware(seeded, k=1)
    spy = Spy(seeded)

    async def handler(r):
        handler.seen = r
        return ModelResponse(result=[AIMessage("ok")])

    req = ModelRequest(model=GenericFakeChatModel(messages=iter([])), messages=[HumanMessage("my sister?")],
                       system_message=None, runtime=Runtime(context=Ctx("alice")))
    await mw.awrap_model_call(req, handler)
    await mw.aafter_agent({"messages": [HumanMessage("I love jazz"), AIMessage("Noted!")]}, Runtime(context=Ctx("dave")))
    assert "Lisbon" in handler.seen.system_message.text
    assert spy.calls == ["arecall", "atouch", "aadd_many"]
    assert [t.text for t in seeded.traces("dave")] == ["I love jazz", "Noted!"]


async def test_langgraph_store_aput_and_asearch(memory):
    store = MemoryWeaveStore(memory, index={"fields": ["text"]})
    for i, text in enumerate(FACTS):
        store.put(("users", "ana"), f"k{i}", {"text": text, "n": i})
    sync = store.search(("users",), query="which instrument do I play?", limit=2)
    sync_filtered = store.search(("users",), query="sister", filter={"n": 0})
    spy = Spy(memory, guard=("recall",))  # the store's own bookkeeping (touch, puts) runs in its worker thread
    await store.aput(("users", "ana"), "k9", {"text": "Biscuit is a beagle", "n": 9})
    got = await store.asearch(("users",), query="which instrument do I play?", limit=2)
    filtered = await store.asearch(("users",), query="sister", filter={"n": 0})
    listed = await store.asearch(("users",), filter={"n": 9})
    assert [i.key for i in got] == [i.key for i in sync] and all(i.score is not None for i in got)
    assert [i.key for i in filtered] == [i.key for i in sync_filtered] == ["k0"]
    assert [i.key for i in listed] == ["k9"] and (await store.aget(("users", "ana"), "k9")).value["n"] == 9
    assert spy.calls == ["arecall", "arecall"]  # the two searches by query; the listing needs no recall


async def test_llamaindex_retriever_aretrieve(seeded):
    retriever = LIRetriever(seeded, similarity_top_k=2, record_access=False)
    sync = retriever.retrieve("dog's name")
    spy = Spy(seeded)
    got = await retriever.aretrieve(QueryBundle("dog's name"))
    assert [n.node.node_id for n in got] == [n.node.node_id for n in sync] and "Biscuit" in got[0].node.text
    assert spy.calls == ["arecall"]


async def test_llamaindex_memory_aget_and_aput(seeded):
    mem = MemoryWeaveMemory.from_defaults(memory=seeded, namespace="alice", min_relevance=None)
    spy = Spy(seeded)
    await mem.aput(ChatMessage(role="user", content="I moved to Porto last week"))
    got = await mem.aget(input="where does my sister live?")
    assert "Lisbon" in got[0].content
    assert spy.calls == ["aadd_many", "arecall", "atouch"]
    assert "I moved to Porto last week" in [t.text for t in seeded.traces("alice")]


async def test_llamaindex_block_aget_and_aput(seeded):
    block = MemoryWeaveBlock(memory=seeded, namespace="alice", similarity_top_k=1, min_relevance=None)
    spy = Spy(seeded)
    await block.aput([ChatMessage(role="user", content="My car needs new tyres")])
    got = await block.aget([ChatMessage(role="user", content="what about my car tyres?")])
    assert "tyres" in got[0].text
    assert spy.calls == ["aadd_many", "arecall", "atouch"]
    # the access was recorded in the block's namespace (it once went to "default")
    car = next(t for t in seeded.traces("alice") if "tyres" in t.text)
    assert seeded.store.access_logs([car.id], "alice")[car.id].count == 2
