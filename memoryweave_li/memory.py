"""MemoryWeaveMemory: a LlamaIndex ``BaseMemory`` for agents.

``FunctionAgent.run(..., memory=...)`` (and every chat engine) talks to its
memory through ``put``/``get``.  This memory keeps the recent chat in a
short-term buffer (any ``BaseMemory``; a ``ChatMemoryBuffer`` by default) and
remembers *every* message put into it in MemoryWeave, not only what the
buffer flushes.  ``get(input=...)`` returns the buffer's history with the
memories recalled for ``input`` (or, without input, for the latest message
with text) in a system message in front.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import ConfigDict, Field, SerializeAsAny, field_validator
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.memory.types import BaseMemory

from memoryweave_core import MemoryWeave, Recollection
from memoryweave_core.prompt import DEFAULT_MIN_RELEVANCE, memory_line
from memoryweave_core.prompt_recall import PromptRecall, arecall_for_prompt, recall_for_prompt
from memoryweave_core.trace import check_label

from .block import (
    DEFAULT_ROLES,
    DEFAULT_TEMPLATE,
    Count,
    Flag,
    Namespace,
    Template,
    Threshold,
    message_text,
    messages_to_items,
)

DEFAULT_HEADER = "Relevant memories from earlier in this and past conversations:"
DEFAULT_BUFFER_TOKEN_LIMIT = 3000


def _default_buffer() -> BaseMemory:
    return ChatMemoryBuffer.from_defaults(token_limit=DEFAULT_BUFFER_TOKEN_LIMIT)


class MemoryWeaveMemory(BaseMemory):
    """Chat history plus long-term recall, for agents and chat engines.

    Fields
    ------
    memory : MemoryWeave
        Where every message is remembered and recalled from.
    namespace, include_descendants, similarity_top_k, roles, speakers, template, min_relevance
        As for :class:`~memoryweave_li.block.MemoryWeaveBlock`, except that
        every message is remembered in ``namespace``, not only flushed ones.
    buffer : BaseMemory
        The short-term chat history (default: a 3000-token ``ChatMemoryBuffer``).
    query_window : int
        Without ``input``, how many of the latest messages form the query.
    episode : str, optional
        Episode name for remembered messages; by default the core starts a new
        episode after a pause (``RecallConfig.episode_gap``).
    header : str
        The line above the memories.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: MemoryWeave = Field(exclude=True)
    namespace: Namespace = "default"
    include_descendants: Flag = False
    buffer: SerializeAsAny[BaseMemory] = Field(default_factory=_default_buffer)
    similarity_top_k: Count = 5
    query_window: Count = 1
    episode: Optional[str] = None
    roles: List[str] = Field(default_factory=lambda: list(DEFAULT_ROLES))
    speakers: Dict[str, str] = Field(default_factory=dict)
    template: Template = DEFAULT_TEMPLATE
    header: str = DEFAULT_HEADER
    min_relevance: Threshold = DEFAULT_MIN_RELEVANCE

    @field_validator("episode")
    @classmethod
    def _check_episode(cls, v: Any) -> Optional[str]:
        return check_label(v, "episode")

    @classmethod
    def class_name(cls) -> str:
        return "MemoryWeaveMemory"

    @classmethod
    def from_defaults(
        cls,
        memory: Optional[MemoryWeave] = None,
        *,
        namespace: Namespace = "default",
        chat_history: Optional[List[ChatMessage]] = None,
        token_limit: Optional[int] = None,
        llm: Any = None,
        embedder: Any = None,
        path: Any = None,
        **kwargs: Any,
    ) -> "MemoryWeaveMemory":
        """Build one, creating the MemoryWeave (``path``, ``embedder``) and the
        ``ChatMemoryBuffer`` (``chat_history``, ``token_limit``, ``llm``) when not given."""
        if memory is None:
            memory = MemoryWeave(path, embedder=embedder)
        if "buffer" not in kwargs:
            kwargs["buffer"] = ChatMemoryBuffer.from_defaults(
                chat_history=chat_history,
                llm=llm,
                token_limit=token_limit if token_limit is not None or llm is not None else DEFAULT_BUFFER_TOKEN_LIMIT,
            )
        elif chat_history is not None:
            kwargs["buffer"].set(chat_history)
        return cls(memory=memory, namespace=namespace, **kwargs)

    # -- translation -------------------------------------------------------------
    def _items(self, messages: Sequence[ChatMessage]) -> List[Dict[str, Any]]:
        return messages_to_items(
            messages, roles=self.roles, speakers=self.speakers, episode=self.episode, session_episodes=False
        )

    def _remember(self, messages: Sequence[ChatMessage]) -> None:
        items = self._items(messages)
        if items:
            self.memory.add_many(items, namespace=self.namespace)

    def _query(self, input: Any, history: Sequence[ChatMessage]) -> str:
        if isinstance(input, ChatMessage):
            input = message_text(input)
        if isinstance(input, str) and input.strip():
            return input
        texts = [t for t in (message_text(m) for m in history) if t]
        return "\n".join(texts[-self.query_window :])

    def _with_memories(self, query: str, history: List[ChatMessage]) -> List[ChatMessage]:
        """Recall for ``query`` and put the memories in a system message before ``history``.

        What the history already shows is left out (the model sees it
        there), near-duplicates share one slot and filler comes last
        (:func:`memoryweave_core.prompt.select_for_prompt`).
        """
        if not query:
            return history
        return self._note(recall_for_prompt(self.memory, self._ask(query, history)), history)

    async def _awith_memories(self, query: str, history: List[ChatMessage]) -> List[ChatMessage]:
        """:meth:`_with_memories` through the async core."""
        if not query:
            return history
        return self._note(await arecall_for_prompt(self.memory, self._ask(query, history)), history)

    def _ask(self, query: str, history: List[ChatMessage]) -> PromptRecall:
        """The recall for ``query``; what the history shows is never shown twice."""
        shown = [t for t in (message_text(m) for m in history) if t]
        return PromptRecall(query, self.similarity_top_k, self.namespace, shown=shown,
                            min_relevance=self.min_relevance, include_descendants=self.include_descendants)

    def _note(self, fresh: Sequence[Recollection], history: List[ChatMessage]) -> List[ChatMessage]:
        """``history`` after a system message listing the memories (``history`` alone when none)."""
        if not fresh:
            return history
        lines = "\n".join(memory_line(r, self.template) for r in fresh)
        note = ChatMessage(role=MessageRole.SYSTEM, content=f"{self.header}\n{lines}")
        return [note, *history]

    # -- BaseMemory --------------------------------------------------------------
    def get(self, input: Optional[str] = None, **kwargs: Any) -> List[ChatMessage]:
        history = self.buffer.get(input=input, **kwargs)
        return self._with_memories(self._query(input, history), history)

    async def aget(self, input: Optional[str] = None, **kwargs: Any) -> List[ChatMessage]:
        history = await self.buffer.aget(input=input, **kwargs)
        return await self._awith_memories(self._query(input, history), history)

    def get_all(self) -> List[ChatMessage]:
        return self.buffer.get_all()

    async def aget_all(self) -> List[ChatMessage]:
        return await self.buffer.aget_all()

    def put(self, message: ChatMessage) -> None:
        self.put_messages([message])

    async def aput(self, message: ChatMessage) -> None:
        await self.aput_messages([message])

    def put_messages(self, messages: List[ChatMessage]) -> None:
        self._remember(messages)
        self.buffer.put_messages(messages)

    async def aput_messages(self, messages: List[ChatMessage]) -> None:
        items = self._items(messages)
        if items:
            await self.memory.aadd_many(items, namespace=self.namespace)
        await self.buffer.aput_messages(messages)

    def set(self, messages: List[ChatMessage]) -> None:
        """Replace the short-term history (not remembered: ``put`` is what remembers)."""
        self.buffer.set(messages)

    async def aset(self, messages: List[ChatMessage]) -> None:
        await self.buffer.aset(messages)

    def reset(self) -> None:
        """Clear the short-term history; long-term memories stay (``memory.forget(namespace=...)``)."""
        self.buffer.reset()

    async def areset(self) -> None:
        await self.buffer.areset()
