"""A conversation history, in any of the shapes the seed's callers pass, as chat messages.

The retriever reads the recent turns to recall for a follow-up, and the
Hugging Face adapter shows them in the prompt: both go through
:func:`history_messages`, so one history means the same messages to both.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from memoryweave_core.errors import InvalidInputError

_USER_ROLES = {"user", "human", "you", "me", "customer"}
_ASSISTANT_ROLES = {"assistant", "ai", "bot", "model", "system_response", "agent", "gpt"}


def _role(speaker: Any) -> str:
    s = str(speaker or "user").strip().lower()
    if s in _ASSISTANT_ROLES:
        return "assistant"
    if s == "system":
        return "system"
    return "user"


def history_messages(history: Iterable[Any] | None) -> list[dict[str, str]]:
    """Normalise a conversation history to ``[{"role", "content"}]`` messages.

    Accepts the seed's ``{"speaker", "message", "response"}`` items (one item
    becomes the speaker's message plus the assistant's response), the usual
    ``{"role", "content"}`` messages, ``{"speaker", "text"}`` turns,
    ``(speaker, text)`` pairs and plain strings (taken as user messages).
    Roles other than user/assistant/system are mapped to ``user``.
    """
    out: list[dict[str, str]] = []
    for item in history or []:
        if isinstance(item, str):
            pairs = [("user", item)]
        elif isinstance(item, tuple) and len(item) == 2:
            pairs = [(_role(item[0]), item[1])]
        elif isinstance(item, Mapping):
            if "content" in item:
                pairs = [(_role(item.get("role")), item["content"])]
            else:
                text = item.get("message", item.get("text"))
                pairs = [(_role(item.get("speaker", item.get("role"))), text)]
                if item.get("response"):
                    pairs.append(("assistant", item["response"]))
        else:
            raise InvalidInputError(f"cannot read a conversation turn of type {type(item).__name__}")
        for role, text in pairs:
            if isinstance(text, str) and text.strip():
                out.append({"role": role, "content": text})
    return out
