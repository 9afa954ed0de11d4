"""MemoryWeaveMemory: the legacy ``BaseMemory`` of langchain-classic."""

from __future__ import annotations

import warnings
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import ConfigDict, PrivateAttr, field_validator

from memoryweave_core import MemoryWeave, prompt
from memoryweave_core.prompt import MinRelevance
from memoryweave_core.prompt_recall import PromptRecall, recall_for_prompt
from memoryweave_core.scopes import Namespace

#: An older memory as a message's content: the message type already says who.
MESSAGE_TEMPLATE = "[{date}] {text}"

with warnings.catch_warnings():  # BaseMemory is deprecated upstream; this class exists for legacy chains
    warnings.simplefilter("ignore")
    from langchain_classic.base_memory import BaseMemory
    from langchain_classic.memory.utils import get_prompt_input_key


class MemoryWeaveMemory(BaseMemory):
    """Long-term memory for classic chains such as ``ConversationChain``.

    >>> chain = ConversationChain(llm=llm, memory=MemoryWeaveMemory(memory=MemoryWeave()))

    ``load_memory_variables`` puts into ``memory_key`` (a ``"Human: ..."``
    transcript, or messages with ``return_messages=True``) the last
    ``recent_turns`` turns of this conversation verbatim and in order, then
    up to ``k`` older memories that fit the input: none of them repeats a
    turn shown above or the input, near-duplicates share one slot, and
    filler comes last (:func:`memoryweave_core.prompt.select_for_prompt`).
    The older memories are dated (``template``; as messages, ``"[date]
    text"``), so the model can tell them from the turns just said and order
    a fact and its later correction.
    ``save_context`` remembers the input and the output as two turns.
    ``clear()`` ends the conversation; the long-term memory stays (forget
    explicitly with ``memory.forget(namespace=...)``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: MemoryWeave
    k: int = 5
    namespace: Namespace = "default"
    memory_key: str = "history"
    input_key: str | None = None
    output_key: str | None = None
    human_prefix: str = "Human"
    ai_prefix: str = "AI"
    return_messages: bool = False
    #: How many of the conversation's latest turns are shown verbatim.
    recent_turns: int = 4
    #: Recall threshold on calibrated relevance (None: none).
    min_relevance: MinRelevance = prompt.DEFAULT_MIN_RELEVANCE
    #: How an older memory reads in the transcript (fields of ``prompt.memory_line``).
    template: str = prompt.MEMORY_TEMPLATE

    _conversation: list[tuple[str, str]] = PrivateAttr(default_factory=list)

    @field_validator("template")
    @classmethod
    def _check_template(cls, template: str) -> str:
        return prompt.check_template(template)

    @field_validator("min_relevance", mode="before")
    @classmethod
    def _check_min_relevance(cls, value: MinRelevance) -> MinRelevance:
        return prompt.check_min_relevance(value)

    @property
    def memory_variables(self) -> list[str]:
        return [self.memory_key]

    def _input(self, inputs: dict[str, Any]) -> str:
        key = self.input_key or get_prompt_input_key(inputs, self.memory_variables)
        return str(inputs[key])

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        query = self._input(inputs)
        recent = self._conversation[-self.recent_turns :] if self.recent_turns > 0 else []
        shown = [text for _, text in recent] + [query]
        chosen = recall_for_prompt(self.memory, PromptRecall(
            query, self.k, self.namespace, shown=shown, min_relevance=self.min_relevance)) if query.strip() else []
        if self.return_messages:
            kind = {self.ai_prefix: AIMessage}
            turns = [*recent, *((r.trace.speaker, prompt.memory_line(r, MESSAGE_TEMPLATE)) for r in chosen)]
            messages: list[BaseMessage] = [kind.get(who or "", HumanMessage)(content=text) for who, text in turns]
            return {self.memory_key: messages}
        lines = [f"{who}: {text}" if who else text for who, text in recent]
        return {self.memory_key: "\n".join([*lines, *(prompt.memory_line(r, self.template) for r in chosen)])}

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        if self.output_key is None:
            if len(outputs) != 1:
                raise ValueError(f"One output key expected, got {sorted(outputs)}; set output_key")
            output = next(iter(outputs.values()))
        else:
            output = outputs[self.output_key]
        turns = [(who, text) for who, text in ((self.human_prefix, self._input(inputs)), (self.ai_prefix, str(output))) if text.strip()]
        self.memory.add_many([{"speaker": who, "text": text} for who, text in turns], namespace=self.namespace)
        self._conversation.extend(turns)

    def clear(self) -> None:
        """End the conversation: its turns are no longer shown verbatim.

        The long-term memory keeps them (they are still recalled when they
        fit); forgetting is explicit: ``memory.forget(namespace=...)``."""
        self._conversation.clear()
