"""MemoryWeaveBlock: MemoryWeave as a block of ``llama_index.core.memory.Memory``.

``Memory`` keeps a short-term FIFO of chat messages; what it flushes out is
handed to its memory blocks (``_aput``), and on every ``get`` each block is
asked for content given the latest messages (``_aget``).  This block
remembers the flushed messages in MemoryWeave and recalls from it with the
latest message(s) as the query.  It returns one ``TextBlock`` per recalled
memory, best first, so that ``atruncate`` can drop the weakest memories
first when ``Memory`` runs over its token limit.  What it returns goes
through :func:`memoryweave_core.prompt.select_for_prompt`: nothing that is
one of the chat messages it is given, near-duplicates in one slot, filler last.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from llama_index.core.base.llms.types import ChatMessage, ContentBlock, TextBlock
from llama_index.core.bridge.pydantic import ConfigDict, Field, field_validator
from llama_index.core.memory.memory import BaseMemoryBlock
from llama_index.core.utils import get_tokenizer
from pydantic import AfterValidator, BeforeValidator

from memoryweave_core import InvalidInputError, MemoryWeave
from memoryweave_core.prompt import (
    DEFAULT_MIN_RELEVANCE,
    MEMORY_TEMPLATE,
    MinRelevance,
    check_min_relevance,
    check_template,
    memory_line,
)
from memoryweave_core.prompt_recall import PromptRecall, arecall_for_prompt
from memoryweave_core.recall_call import check_k
from memoryweave_core.trace import check_scope

DEFAULT_ROLES = ("user", "assistant")
DEFAULT_TEMPLATE = MEMORY_TEMPLATE  # the core's, shared with the LangChain middleware


# -- helpers shared with MemoryWeaveMemory ---------------------------------------
def message_text(message: ChatMessage) -> str:
    """The text of a message (its text blocks joined); '' when it has none."""
    return "\n".join(b.text for b in message.blocks if isinstance(b, TextBlock) and b.text).strip()


def role_of(message: ChatMessage) -> str:
    return getattr(message.role, "value", str(message.role))


def messages_to_items(
    messages: Sequence[ChatMessage],
    *,
    roles: Sequence[str],
    speakers: Dict[str, str],
    episode: Optional[str] = None,
    session_episodes: bool = True,
) -> List[Dict[str, Any]]:
    """Chat messages as ``add_many`` items; messages without text or of other roles are skipped.

    The episode is ``episode``, else (with ``session_episodes``) the
    ``session_id`` that ``Memory`` stamps on flushed messages, else left to
    the core.
    """
    items = []
    for m in messages:
        role, text = role_of(m), message_text(m)
        if role not in roles or not text:
            continue
        item: Dict[str, Any] = {"text": text, "speaker": speakers.get(role, role)}
        ep = episode or (m.additional_kwargs.get("session_id") if session_episodes else None)
        if ep:
            item["episode"] = str(ep)
        items.append(item)
    return items


def query_from(messages: Sequence[ChatMessage], window: int) -> str:
    """The text of the latest ``window`` messages that have text, oldest first."""
    texts = [t for t in (message_text(m) for m in messages) if t]
    return "\n".join(texts[-window:]) if window > 0 else ""


def check_flag(value: Any) -> bool:
    """A yes/no field is a bool: ``"yes"`` or ``1`` is refused, not read as true."""
    if not isinstance(value, bool):
        raise InvalidInputError(f"include_descendants must be True or False, got {value!r}")
    return value


# Field types shared by the block and MemoryWeaveMemory: the core's checks, once.
Namespace = Annotated[Union[str, Tuple[str, ...]], AfterValidator(check_scope)]  # a label, or a tuple of labels
Flag = Annotated[bool, BeforeValidator(check_flag)]  # before pydantic would read "yes" as True
Count = Annotated[int, AfterValidator(check_k)]
Template = Annotated[str, AfterValidator(check_template)]
Threshold = Annotated[MinRelevance, BeforeValidator(check_min_relevance)]  # before pydantic reads True as 1.0


class MemoryWeaveBlock(BaseMemoryBlock[List[ContentBlock]]):
    """Long-term memory block for ``llama_index.core.memory.Memory``.

    Fields
    ------
    memory : MemoryWeave
        Where flushed messages are remembered and recalled from.
    namespace : str or tuple of str
        Whose memories (one per user); a tuple names a level below a user,
        ``("ana", "agent1", "run7")``.  Flushed messages are remembered here.
    include_descendants : bool
        Also recall from every namespace below ``namespace`` (all of a user's
        agents and runs), ranked once; never from another user's.
    similarity_top_k : int
        Memories recalled per ``get``.
    query_window : int
        How many of the latest messages (those with text) form the query.
    max_tokens : int, optional
        Cap on this block's own size, in ``tokenizer_fn`` tokens: the memories
        carrying the most relevance per token that fit are kept
        (:func:`memoryweave_core.prompt.pack`).
    priority : int
        As for every block: 0 never truncated by ``Memory``; otherwise blocks
        of lower priority are truncated first when ``Memory`` is over its
        token limit (this one drops its weakest memories first).
    roles, speakers, template
        Which roles are remembered, the speaker name stored for each role,
        and how a memory reads in the prompt.
    min_relevance : float, optional
        Recall threshold on calibrated relevance (None: none).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = Field(default="memoryweave", description="The name of the memory block.")
    description: Optional[str] = Field(
        default="Long-term memories recalled by MemoryWeave for the latest messages.",
        description="A description of the memory block.",
    )
    memory: MemoryWeave = Field(exclude=True, description="The MemoryWeave to remember in and recall from.")
    namespace: Namespace = Field(default="default", description="Namespace (one per user).")
    include_descendants: Flag = Field(default=False, description="Also recall from the namespaces below.")
    similarity_top_k: Count = Field(default=5, description="How many memories to recall.")
    query_window: Count = Field(default=1, description="Latest messages (with text) used as the query.")
    max_tokens: Optional[int] = Field(default=None, description="Token cap of this block's content.")
    roles: List[str] = Field(default_factory=lambda: list(DEFAULT_ROLES), description="Roles to remember.")
    speakers: Dict[str, str] = Field(default_factory=dict, description="Speaker name stored for each role.")
    template: Template = Field(default=DEFAULT_TEMPLATE, description="How one memory reads in the prompt.")
    min_relevance: Threshold = Field(default=DEFAULT_MIN_RELEVANCE, description="Recall threshold on relevance ('auto': the calibrated default).")
    tokenizer_fn: Callable[[str], List] = Field(default_factory=get_tokenizer, exclude=True)

    @field_validator("max_tokens")
    @classmethod
    def _check_max_tokens(cls, v: Any) -> Optional[int]:
        return None if v is None else check_k(v)

    # -- LlamaIndex hooks ------------------------------------------------------
    async def _aget(self, messages: Optional[List[ChatMessage]] = None, **block_kwargs: Any) -> List[ContentBlock]:
        query = query_from(messages or [], self.query_window)
        if not query:
            return []
        shown = [t for t in (message_text(m) for m in messages or []) if t]
        found = await arecall_for_prompt(self.memory, PromptRecall(
            query, self.similarity_top_k, self.namespace, shown=shown, min_relevance=self.min_relevance,
            include_descendants=self.include_descendants, budget_tokens=self.max_tokens, count_tokens=self._count,
            render=lambda r: memory_line(r, self.template)))
        blocks: List[ContentBlock] = [TextBlock(text=memory_line(r, self.template)) for r in found]
        if self.max_tokens is not None:
            blocks = self._fit(blocks, self.max_tokens)
        return blocks

    async def _aput(self, messages: List[ChatMessage]) -> None:
        items = messages_to_items(messages, roles=self.roles, speakers=self.speakers)
        if items:
            await self.memory.aadd_many(items, namespace=self.namespace)

    async def atruncate(self, content: List[ContentBlock], tokens_to_truncate: int) -> Optional[List[ContentBlock]]:
        """Drop the weakest memories (the last blocks) until enough tokens are saved."""
        if not content:
            return None
        total = self._tokens(content)
        kept = self._fit(list(content), total - tokens_to_truncate)
        return kept or None

    # -- size --------------------------------------------------------------------
    def _count(self, text: str) -> int:
        return len(self.tokenizer_fn(text))

    def _tokens(self, blocks: Sequence[ContentBlock]) -> int:
        return sum(len(self.tokenizer_fn(b.text)) for b in blocks if isinstance(b, TextBlock))

    def _fit(self, blocks: List[ContentBlock], budget: int) -> List[ContentBlock]:
        while blocks and self._tokens(blocks) > budget:
            blocks.pop()
        return blocks
