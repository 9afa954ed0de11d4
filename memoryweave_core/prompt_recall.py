"""Recall for a prompt: fetch, select, count as used, in one place.

Every prompt-facing adapter (the LangChain middleware and classic memory, the
LlamaIndex block and memory) makes the same three steps around a model call:

1. recall more than ``k`` (:func:`prompt.fetch_size`: some results will be
   turns the prompt already shows, or repeats), at the adapter's relevance
   threshold, without counting anything as used yet;
2. keep what the prompt should read (:func:`prompt.select_for_prompt`);
3. count what reaches the prompt as used, each memory in the namespace it
   lives in (a recall with ``include_descendants`` spans several).

:func:`recall_for_prompt` and its async twin do them, so the adapters differ
only in where the query comes from and how the lines are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from .prompt import (
    DEFAULT_MIN_RELEVANCE,
    MinRelevance,
    fetch_size,
    select_for_prompt,
    whitespace_tokens,
)
from .recollection import RecallResult, Recollection, ids_by_namespace
from .scopes import Namespace

if TYPE_CHECKING:
    from .memory import MemoryWeave


@dataclass(frozen=True)
class PromptRecall:
    """What an adapter asks of recall for one prompt.

    ``shown`` are the texts the prompt already holds (the conversation and
    the query itself): none is shown twice.  ``budget_tokens``, ``count_tokens`` and
    ``render`` are :func:`prompt.select_for_prompt`'s packing.  ``touch``
    False leaves the access log alone (a tool loop's second model call of
    one turn, say: a memory counts as used once per turn)."""

    query: str
    k: int
    namespace: Namespace = "default"
    shown: Sequence[str] = ()
    min_relevance: MinRelevance = DEFAULT_MIN_RELEVANCE
    include_descendants: bool = False
    budget_tokens: int | None = None
    count_tokens: Callable[[str], int] = whitespace_tokens
    render: Callable[[Recollection], str] | None = None
    touch: bool = True

    def recall_kwargs(self) -> dict[str, Any]:
        """``recall`` keyword arguments after the query: step 1 (recall resolves ``"auto"``)."""
        return {"k": fetch_size(self.k, len(self.shown)), "namespace": self.namespace,
                "include_descendants": self.include_descendants, "record_access": False,
                "min_relevance": self.min_relevance}

    def select(self, found: Iterable[Recollection]) -> RecallResult:
        """What of ``found`` the prompt reads: step 2."""
        return RecallResult(select_for_prompt(
            list(found), self.k, query=self.query, exclude_texts=self.shown, budget_tokens=self.budget_tokens,
            count_tokens=self.count_tokens, render=self.render))

    def used(self, chosen: RecallResult) -> dict[Namespace, list[str]]:
        """The ids to count as used, by namespace: step 3 (none when ``touch`` is False)."""
        return ids_by_namespace(chosen) if self.touch else {}


def recall_for_prompt(memory: MemoryWeave, ask: PromptRecall) -> RecallResult:
    """The memories a prompt should read for ``ask``, best first, counted as used."""
    chosen = ask.select(memory.recall(ask.query, **ask.recall_kwargs()))
    for ns, ids in ask.used(chosen).items():
        memory.touch(ids, namespace=ns)
    return chosen


async def arecall_for_prompt(memory: MemoryWeave, ask: PromptRecall) -> RecallResult:
    """:func:`recall_for_prompt` through the async core."""
    chosen = ask.select(await memory.arecall(ask.query, **ask.recall_kwargs()))
    for ns, ids in ask.used(chosen).items():
        await memory.atouch(ids, namespace=ns)
    return chosen
