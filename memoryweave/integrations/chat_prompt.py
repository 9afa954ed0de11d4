"""The text of the adapter's prompt that needs no model or tokenizer.

Which recalled memories a prompt still shows beside its history, how one
memory reads as a line, merging consecutive messages of one role for strict
chat templates, and a chat template for tokenizers that have none.
"""

from __future__ import annotations

from typing import Any, Mapping

from memoryweave_core.encoder import turn_text
from memoryweave_core.timeutil import format_time

#: The chat format of TinyLlama-1.1B-Chat (Zephyr style), for tokenizers without one.
ZEPHYR_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '</s>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def _not_in(memories: list[dict[str, Any]], history: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The memories that are not already messages of the shown history."""
    shown = {m["content"].strip() for m in history}
    return [m for m in memories if str(m["text"]).strip() not in shown]


def _memory_line(m: Mapping[str, Any]) -> str:
    """``[date] speaker: text``, as the LangChain and LlamaIndex adapters show a
    memory (:data:`memoryweave_core.prompt.MEMORY_TEMPLATE`): when it was
    said lets the model tell a correction from what it corrects."""
    line = turn_text(" ".join(str(m["text"]).split()), m.get("speaker"))
    return line if m.get("time") is None else f"[{format_time(m['time'])}] {line}"


def _alternate(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Merge consecutive messages of one role (strict templates require alternation)."""
    out: list[dict[str, str]] = []
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            out[-1] = {"role": m["role"], "content": out[-1]["content"] + "\n" + m["content"]}
        else:
            out.append(dict(m))
    return out
