"""MemoryWeaveMiddleware hooks, called directly (the agent runs are in test_lc_e2e.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

pytest.importorskip("langchain")

from langchain.agents.middleware import ModelRequest, ModelResponse  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage  # noqa: E402
from langgraph.runtime import Runtime  # noqa: E402

from memoryweave_core.errors import InvalidInputError  # noqa: E402
from memoryweave_lc import MemoryWeaveMiddleware  # noqa: E402


@dataclass
class Ctx:
    user_id: str


@pytest.fixture
def mw(memory):
    memory.add("My sister Beatrix lives in Lisbon", speaker="user", namespace="alice")
    memory.add("I play the cello", speaker="user", namespace="alice")
    return MemoryWeaveMiddleware(memory, k=1)


def request(messages, system=None, context=None) -> ModelRequest:
    return ModelRequest(
        model=GenericFakeChatModel(messages=iter([])),
        messages=messages,
        system_message=system,
        runtime=Runtime(context=context),
    )


def run(mw, req) -> ModelRequest:
    seen = []

    def handler(r):
        seen.append(r)
        return ModelResponse(result=[AIMessage("ok")])

    mw.wrap_model_call(req, handler)
    return seen[0]


def test_namespace_resolution(memory):
    mw = MemoryWeaveMiddleware(memory, default_namespace="anon")
    assert mw.namespace(Runtime(context=Ctx("alice"))) == "alice"
    assert mw.namespace(Runtime(context={"user_id": 42})) == "42"
    assert mw.namespace(Runtime(context=None)) == "anon"  # and no LangGraph config outside a run
    assert mw.namespace(None) == "anon"
    custom = MemoryWeaveMiddleware(memory, namespace=lambda rt: f"team:{rt.context.user_id}")
    assert custom.namespace(Runtime(context=Ctx("alice"))) == "team:alice"
    assert MemoryWeaveMiddleware(memory, namespace=lambda rt: None, default_namespace="shared").namespace(None) == "shared"
    assert MemoryWeaveMiddleware(memory, user_key="uid").namespace(Runtime(context={"uid": "x"})) == "x"


def test_recall_appends_to_the_system_prompt(mw):
    req = run(mw, request([HumanMessage("where does my sister live?")], SystemMessage("Be brief."), Ctx("alice")))
    assert req.system_message.text.startswith("Be brief.\n\n" + mw.header)
    assert "- [2023-11-14 22:13] user: My sister Beatrix lives in Lisbon" in req.system_message.text  # when, who, what
    assert "cello" not in req.system_message.text  # k=1


def test_recall_creates_a_system_prompt_or_extends_content_blocks(mw):
    req = run(mw, request([HumanMessage("sister")], None, Ctx("alice")))
    assert req.system_message.text.startswith(mw.header)
    blocks = SystemMessage(content=[{"type": "text", "text": "Be brief."}])
    req = run(mw, request([HumanMessage("sister")], blocks, Ctx("alice")))
    assert req.system_message.content[0] == {"type": "text", "text": "Be brief."}
    assert "Lisbon" in req.system_message.content[1]["text"]


def test_nothing_to_recall_leaves_the_request_alone(mw):
    system = SystemMessage("Be brief.")
    for req in [
        request([HumanMessage("sister")], system, Ctx("bob")),  # bob has no memories
        request([AIMessage("hello")], system, Ctx("alice")),  # no user message
        request([HumanMessage("   ")], system, Ctx("alice")),
    ]:
        assert run(mw, req) is req


def test_tool_loop_counts_a_memory_as_used_once(mw, memory):
    (top,) = memory.recall("sister", 1, namespace="alice", record_access=False)
    call = AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "c1"}])
    before = memory.activation(top.trace.id, namespace="alice")
    run(mw, request([HumanMessage("sister"), call, ToolMessage("done", tool_call_id="c1")], None, Ctx("alice")))
    assert memory.activation(top.trace.id, namespace="alice") == before
    run(mw, request([HumanMessage("sister")], None, Ctx("alice")))
    assert memory.activation(top.trace.id, namespace="alice") > before


def test_after_agent_remembers_the_turn(mw, memory):
    rt = Runtime(context=Ctx("carol"))
    mw.after_agent({"messages": [HumanMessage("I love jazz"), AIMessage("Great taste!")]}, rt)
    assert [(t.speaker, t.text) for t in memory.store.iter_traces("carol")] == [("user", "I love jazz"), ("assistant", "Great taste!")]
    # a final message that is not an answer (empty, or no AI message at all): only the user's words
    mw.after_agent({"messages": [HumanMessage("and blues"), AIMessage("")]}, rt)
    mw.after_agent({"messages": []}, rt)
    assert memory.count("carol") == 3


async def test_async_hooks(mw, memory):
    async def handler(r):
        handler.seen = r
        return ModelResponse(result=[AIMessage("ok")])

    await mw.awrap_model_call(request([HumanMessage("sister")], None, Ctx("alice")), handler)
    assert "Lisbon" in handler.seen.system_message.text
    await mw.aafter_agent({"messages": [HumanMessage("hi"), AIMessage("hello")]}, Runtime(context=Ctx("dave")))
    assert memory.count("dave") == 2


def test_a_run_without_a_user_is_refused_unless_a_default_is_explicit(memory):
    """No silent shared "default" namespace: anonymous turns would leak between users."""
    mw = MemoryWeaveMiddleware(memory)
    with pytest.raises(InvalidInputError, match="default_namespace="):
        mw.namespace(Runtime(context=None))
    with pytest.raises(ValueError, match="user_id"):
        mw.after_agent({"messages": [HumanMessage("my PIN is 1234"), AIMessage("noted")]}, Runtime(context=None))
    assert memory.count() == 0  # refused before anything was written
    with pytest.raises(InvalidInputError):
        run(mw, request([HumanMessage("what is my PIN?")], None, None))
    with pytest.raises(InvalidInputError, match="namespace= returned None"):
        MemoryWeaveMiddleware(memory, namespace=lambda rt: None).namespace(None)


def test_the_thread_is_not_repeated_in_the_system_prompt(memory):
    memory.add("My sister Beatrix lives in Lisbon", speaker="user", namespace="alice")
    memory.add("My brother Tomas lives in Porto", speaker="user", namespace="alice")
    mw = MemoryWeaveMiddleware(memory, k=2)
    thread = [HumanMessage("My sister Beatrix lives in Lisbon"), AIMessage("Noted."), HumanMessage("Where do my siblings live?")]
    text = run(mw, request(thread, None, Ctx("alice"))).system_message.text
    assert "Porto" in text
    assert "Beatrix" not in text  # already a message of the thread


def test_include_descendants_recalls_the_users_deeper_namespaces_and_counts_use_where_they_live(memory):
    memory.add("My sister Beatrix lives in Lisbon", speaker="user", namespace="alice")
    fact = memory.add("Beatrix works as a pilot in Lisbon", namespace=("alice", "facts"))
    memory.add("Beatrix the pilot lives in Lisbon", namespace=("alicex", "facts"))
    flat = MemoryWeaveMiddleware(memory, k=5, min_relevance=None)
    assert "pilot" not in run(flat, request([HumanMessage("what does Beatrix do in Lisbon?")], None, Ctx("alice"))
                              ).system_message.text
    deep = MemoryWeaveMiddleware(memory, k=5, min_relevance=None, include_descendants=True)
    before = memory.store.access_logs([fact.id], fact.namespace)[fact.id]
    text = run(deep, request([HumanMessage("what does Beatrix do in Lisbon?")], None, Ctx("alice"))).system_message.text
    assert "Beatrix works as a pilot in Lisbon" in text and "Beatrix the pilot" not in text
    assert memory.store.access_logs([fact.id], fact.namespace)[fact.id] != before  # touched in its own namespace


def test_budget_tokens_packs_what_the_middleware_adds(memory):
    memory.add("My sister Beatrix lives in Lisbon", speaker="user", namespace="alice")
    memory.add("Beatrix " + "and then we talked about many other things at great length " * 6, speaker="user",
               namespace="alice")
    unbounded = MemoryWeaveMiddleware(memory, k=5, min_relevance=None)
    ask = [HumanMessage("where does Beatrix live?")]
    assert "at great length" in run(unbounded, request(ask, None, Ctx("alice"))).system_message.text
    packed = MemoryWeaveMiddleware(memory, k=5, min_relevance=None, budget_tokens=12)
    lines = run(packed, request(ask, None, Ctx("alice"))).system_message.text.splitlines()[1:]
    assert [line.split(" user: ")[1] for line in lines] == ["My sister Beatrix lives in Lisbon"]
    assert sum(len(line.split()) for line in lines) <= 12  # counted as shown, dates included: the long one does not fit


def test_the_template_says_how_a_memory_reads_and_a_bad_one_is_refused(memory):
    memory.add("My sister Beatrix lives in Lisbon", speaker="user", namespace="alice")
    plain = MemoryWeaveMiddleware(memory, k=1, min_relevance=None, template="{who}{text}")
    text = run(plain, request([HumanMessage("where does Beatrix live?")], None, Ctx("alice"))).system_message.text
    assert text.splitlines()[1:] == ["- user: My sister Beatrix lives in Lisbon"]
    with pytest.raises(InvalidInputError, match="not a str.format string"):
        MemoryWeaveMiddleware(memory, template="{when}")
