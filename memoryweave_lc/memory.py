"""MemoryWeaveMemory: the legacy ``BaseMemory`` of langchain-classic."""

from __future__ import annotations

import warnings
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import ConfigDict

from memoryweave_core import MemoryWeave

with warnings.catch_warnings():  # BaseMemory is deprecated upstream; this class exists for legacy chains
    warnings.simplefilter("ignore")
    from langchain_classic.base_memory import BaseMemory
    from langchain_classic.memory.utils import get_prompt_input_key


class MemoryWeaveMemory(BaseMemory):
    """Long-term memory for classic chains such as ``ConversationChain``.

    >>> chain = ConversationChain(llm=llm, memory=MemoryWeaveMemory(memory=MemoryWeave()))

    ``load_memory_variables`` recalls the ``k`` memories that fit the input
    into ``memory_key`` (a ``"Human: ..."`` transcript, or messages with
    ``return_messages=True``); ``save_context`` remembers the input and the
    output as two turns of the same conversation.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: MemoryWeave
    k: int = 5
    namespace: str = "default"
    memory_key: str = "history"
    input_key: str | None = None
    output_key: str | None = None
    human_prefix: str = "Human"
    ai_prefix: str = "AI"
    return_messages: bool = False

    @property
    def memory_variables(self) -> list[str]:
        return [self.memory_key]

    def _input(self, inputs: dict[str, Any]) -> str:
        key = self.input_key or get_prompt_input_key(inputs, self.memory_variables)
        return str(inputs[key])

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        query = self._input(inputs)
        found = self.memory.recall(query, self.k, namespace=self.namespace) if query.strip() else []
        if self.return_messages:
            kind = {self.ai_prefix: AIMessage}
            messages: list[BaseMessage] = [kind.get(r.trace.speaker, HumanMessage)(content=r.trace.text) for r in found]
            return {self.memory_key: messages}
        lines = [f"{r.trace.speaker}: {r.trace.text}" if r.trace.speaker else r.trace.text for r in found]
        return {self.memory_key: "\n".join(lines)}

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        if self.output_key is None:
            if len(outputs) != 1:
                raise ValueError(f"One output key expected, got {sorted(outputs)}; set output_key")
            output = next(iter(outputs.values()))
        else:
            output = outputs[self.output_key]
        turns = [(self.human_prefix, self._input(inputs)), (self.ai_prefix, str(output))]
        self.memory.add_many(
            [{"speaker": who, "text": text} for who, text in turns if text.strip()], namespace=self.namespace
        )

    def clear(self) -> None:
        """Forget everything in this memory's namespace."""
        self.memory.forget(namespace=self.namespace)
