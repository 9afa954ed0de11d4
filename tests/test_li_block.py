"""MemoryWeaveBlock inside llama_index.core.memory.Memory: flush, recall, priority, size."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Settings  # noqa: E402
from llama_index.core.agent.workflow import FunctionAgent  # noqa: E402
from llama_index.core.base.llms.types import ChatMessage, TextBlock  # noqa: E402
from llama_index.core.embeddings import MockEmbedding  # noqa: E402
from llama_index.core.llms.mock import MockFunctionCallingLLMWithChatMemoryOfLastCall  # noqa: E402
from llama_index.core.memory import Memory, StaticMemoryBlock  # noqa: E402
from llama_index.core.storage.chat_store.sql import MessageStatus  # noqa: E402

from memoryweave_li import MemoryWeaveBlock  # noqa: E402

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


@pytest.fixture(autouse=True)
def _no_hosted_models(monkeypatch):
    monkeypatch.setattr(Settings, "_embed_model", MockEmbedding(embed_dim=8))


def text_of(messages) -> str:
    return "\n".join(b.text for m in messages for b in m.blocks if isinstance(b, TextBlock))


def small_memory(block, **kw) -> Memory:
    """A short-term queue of ~60 tokens: a few turns in, the oldest are flushed to the blocks."""
    kw.setdefault("token_limit", 120)
    kw.setdefault("chat_history_token_ratio", 0.5)
    kw.setdefault("token_flush_size", 20)
    return Memory.from_defaults(session_id="s1", memory_blocks=[block], **kw)


async def chat(mem: Memory, user_texts, reply="ok, noted") -> None:
    for text in user_texts:
        await mem.aput(ChatMessage(role="user", content=text))
        await mem.aput(ChatMessage(role="assistant", content=reply))


async def test_flushed_messages_are_remembered_and_recalled(memory):
    block = MemoryWeaveBlock(memory=memory, similarity_top_k=2, speakers={"user": "Ana"})
    mem = small_memory(block)
    await chat(mem, [FACT, *SMALL_TALK])
    assert memory.count() > 0  # the queue overflowed into the block
    # the fact left the short-term queue long ago ...
    queue = await mem.aget_all(status=MessageStatus.ACTIVE)
    assert queue and FACT not in text_of(queue)
    # ... but asking about it brings it back in the <memoryweave> block
    seen = text_of(await mem.aget(input="Where does my sister Clara live?"))
    assert "<memoryweave>" in seen and "Ana: " + FACT in seen
    stored = [t for t in memory if t.text == FACT][0]
    assert stored.speaker == "Ana" and stored.episode == "s1"  # the session is the episode


async def test_recall_uses_latest_messages(memory):
    block = MemoryWeaveBlock(memory=memory, similarity_top_k=1)
    memory.add(FACT, speaker="user")
    memory.add("The car needs new tyres", speaker="user")
    assert await block.aget([]) == []
    got = await block.aget([ChatMessage(role="user", content="tyres for the car?")])
    assert len(got) == 1 and "tyres" in got[0].text
    # only the latest message with text forms the query by default
    msgs = [ChatMessage(role="user", content="tell me about my sister Clara"), ChatMessage(role="assistant", content="tyres?")]
    assert "tyres" in (await block.aget(msgs))[0].text
    wide = MemoryWeaveBlock(memory=memory, similarity_top_k=1, query_window=2)
    msgs = [ChatMessage(role="user", content="Clara marine biologist in Lisbon sister"), ChatMessage(role="assistant", content="hm")]
    assert "Clara" in (await wide.aget(msgs))[0].text


async def test_roles_and_accept_short_term_memory(memory):
    block = MemoryWeaveBlock(memory=memory)
    await block.aput(
        [
            ChatMessage(role="system", content="You are helpful"),
            ChatMessage(role="user", content="I like jazz"),
            ChatMessage(role="tool", content="{'result': 42}"),
            ChatMessage(role="assistant", content=""),
            ChatMessage(role="assistant", content="Noted: jazz"),
        ]
    )
    assert sorted(t.text for t in memory) == ["I like jazz", "Noted: jazz"]
    closed = MemoryWeaveBlock(memory=memory, name="closed", namespace="closed", accept_short_term_memory=False)
    await closed.aput([ChatMessage(role="user", content="secret")], from_short_term_memory=True)
    assert memory.count("closed") == 0


async def test_namespaces_isolate_users(memory):
    ana = small_memory(MemoryWeaveBlock(memory=memory, namespace="ana"))
    ben = Memory.from_defaults(
        session_id="s2", memory_blocks=[MemoryWeaveBlock(memory=memory, namespace="ben")],
        token_limit=120, chat_history_token_ratio=0.5, token_flush_size=20,
    )
    await chat(ana, [FACT, *SMALL_TALK])
    await chat(ben, [*SMALL_TALK, *SMALL_TALK])
    assert memory.count("ana") > 0 and memory.count("ben") > 0
    assert FACT in text_of(await ana.aget(input="Where does my sister Clara live?"))
    assert FACT not in text_of(await ben.aget(input="Where does my sister Clara live?"))


def _filled(memory):
    for text in [FACT, "Clara visited Porto in May", "Clara has a dog", "Clara loves the sea"]:
        memory.add(text, speaker="user")
    return memory


async def test_max_tokens_caps_block(memory):
    _filled(memory)
    query = [ChatMessage(role="user", content="Clara")]
    full = await MemoryWeaveBlock(memory=memory, similarity_top_k=4).aget(query)
    capped_block = MemoryWeaveBlock(memory=memory, similarity_top_k=4, max_tokens=30)
    capped = await capped_block.aget(query)
    assert len(full) == 4 and 1 <= len(capped) < 4
    assert capped_block._tokens(capped) <= 30
    assert [b.text for b in capped] == [b.text for b in full[: len(capped)]]  # weakest dropped first


async def test_priority_and_token_limit(memory):
    _filled(memory)
    static = StaticMemoryBlock(name="profile", static_content="The user is called Ana.", priority=0)

    async def shown(priority: int, token_limit: int) -> str:
        block = MemoryWeaveBlock(memory=memory, similarity_top_k=4, priority=priority)
        mem = Memory.from_defaults(memory_blocks=[static, block], token_limit=token_limit)
        await mem.aput(ChatMessage(role="user", content="Tell me everything about Clara please"))
        return text_of(await mem.aget())

    roomy = await shown(priority=1, token_limit=10_000)
    assert all(t in roomy for t in [FACT, "Clara has a dog"]) and "called Ana" in roomy
    # over the limit: a priority>0 block sheds its weakest memories, the static block (priority 0) stays
    tight = await shown(priority=1, token_limit=60)
    assert "called Ana" in tight
    kept = [t for t in ["Clara visited Porto in May", "Clara has a dog", "Clara loves the sea", FACT] if t in tight]
    assert len(kept) < 4
    # priority 0 means never truncated
    never = await shown(priority=0, token_limit=60)
    assert all(t in never for t in [FACT, "Clara has a dog", "Clara loves the sea", "Clara visited Porto in May"])


async def test_atruncate_drops_whole_memories(memory):
    block = MemoryWeaveBlock(memory=memory)
    content = [TextBlock(text="one two three"), TextBlock(text="four five six")]
    assert [b.text for b in await block.atruncate(list(content), 2)] == ["one two three"]
    assert await block.atruncate(list(content), 100) is None
    assert await block.atruncate([], 5) is None


async def test_rendering(memory):
    memory.add("The boiler was serviced", time="2023-05-08")
    memory.add("Clara has a dog", speaker="Ana", episode="e1", time="2023-05-09")
    plain = await MemoryWeaveBlock(memory=memory, similarity_top_k=1).aget([ChatMessage(role="user", content="boiler")])
    assert plain[0].text == "[2023-05-08 00:00] The boiler was serviced"  # no speaker, no "None:"
    custom = MemoryWeaveBlock(memory=memory, similarity_top_k=1, template="{speaker} said: {text} ({episode})")
    assert (await custom.aget([ChatMessage(role="user", content="dog")]))[0].text == "Ana said: Clara has a dog (e1)"
    with pytest.raises(ValueError, match="template"):
        MemoryWeaveBlock(memory=memory, template="{nope}")


def test_invalid_fields(memory):
    # pydantic wraps the core's InvalidInputError in a ValidationError (a ValueError)
    with pytest.raises(ValueError, match="k must be an integer"):
        MemoryWeaveBlock(memory=memory, similarity_top_k=0)
    with pytest.raises(ValueError, match="namespace"):
        MemoryWeaveBlock(memory=memory, namespace=" ")
    with pytest.raises(ValueError, match="max_tokens|k must be"):
        MemoryWeaveBlock(memory=memory, max_tokens=0)
    with pytest.raises(ValueError):
        MemoryWeaveBlock(memory="nope")


@pytest.mark.timeout(60)
async def test_function_agent_with_memory_block(memory):
    """Memory + MemoryWeaveBlock as an agent's memory: what was flushed comes back."""
    llm = MockFunctionCallingLLMWithChatMemoryOfLastCall()
    agent = FunctionAgent(tools=[], llm=llm, system_prompt="You are a helpful assistant.")
    mem = small_memory(MemoryWeaveBlock(memory=memory, similarity_top_k=2))
    for text in [FACT, *SMALL_TALK]:
        await asyncio.wait_for(agent.run(user_msg=text, memory=mem), timeout=20)
    assert memory.count() > 0
    await asyncio.wait_for(agent.run(user_msg="Where does my sister Clara live?", memory=mem), timeout=20)
    assert FACT in text_of(llm.last_chat_messages)


def test_block_leaves_out_the_messages_it_is_given_and_collapses_repeats(memory):
    block = MemoryWeaveBlock(memory=memory, similarity_top_k=2)
    memory.add(FACT, speaker="user")
    for _ in range(4):
        memory.add("Where does my sister Clara live?", speaker="user")
    memory.add("My brother Tomas lives in Porto and repairs boats", speaker="user")
    latest = [ChatMessage(role="user", content="Where does my sister Clara live?")]
    texts = [b.text for b in asyncio.run(block._aget(latest))]
    assert len(texts) == 2 and any("Clara lives in Lisbon" in t for t in texts)
    assert not any("Where does my sister Clara live?" in t for t in texts)  # it is the message itself


async def test_max_tokens_packs_the_short_fact_before_a_long_memory(memory):
    memory.add("Clara " + "we talked about the harbour and the boats and the weather there " * 5, speaker="user")
    memory.add(FACT, speaker="user")
    query = [ChatMessage(role="user", content="what does Clara do in Lisbon?")]
    block = MemoryWeaveBlock(memory=memory, similarity_top_k=4, max_tokens=40, min_relevance=None)
    got = await block.aget(query)
    assert any(FACT in b.text for b in got) and block._tokens(got) <= 40


async def test_include_descendants_spans_one_users_levels_and_never_another_user(memory):
    memory.add("Ana likes green tea", namespace="ana")
    run = memory.add(FACT, namespace=("ana", "agent1", "run7"))
    memory.add("My sister Clara lives in Madrid and works as a pilot", namespace=("anabel", "run1"))
    memory.add("My sister Clara lives in Oslo and works as a nurse", namespace="bob")
    asked = [ChatMessage(role="user", content="Where does my sister Clara live?")]
    span = MemoryWeaveBlock(memory=memory, namespace=("ana",), include_descendants=True, similarity_top_k=5)
    before = memory.activation(run.id, namespace=("ana", "agent1", "run7"))
    got = text_of([ChatMessage(role="system", blocks=await span.aget(asked))])
    assert FACT in got and "Madrid" not in got and "Oslo" not in got
    # what reached the prompt counts as used where it lives, not in the block's own namespace
    assert memory.activation(run.id, namespace=("ana", "agent1", "run7")) > before
    alone = MemoryWeaveBlock(memory=memory, namespace="ana", similarity_top_k=5)
    assert FACT not in text_of([ChatMessage(role="system", blocks=await alone.aget(asked))])
    with pytest.raises(ValueError, match="include_descendants"):
        MemoryWeaveBlock(memory=memory, namespace="ana", include_descendants="yes")
