"""Every adapter that takes ``min_relevance`` checks it when it is made, with
the same rule (``prompt.check_min_relevance``): "auto", None, or a number in
[0, 1]. A bad threshold used to surface only at the first recall, inside an
agent run, or (a bool) to be read as 0 or 1."""
from __future__ import annotations

import pytest

pytest.importorskip("langchain_classic")
pytest.importorskip("llama_index.core")

from memoryweave_core import InvalidInputError  # noqa: E402


def _adapters(memory):
    from memoryweave_lc import MemoryWeaveMemory, MemoryWeaveMiddleware, MemoryWeaveRetriever, MemoryWeaveStore
    from memoryweave_li import MemoryWeaveBlock
    from memoryweave_li import MemoryWeaveMemory as LIMemory
    from memoryweave_li import MemoryWeaveRetriever as LIRetriever

    return {
        "langchain middleware": lambda v: MemoryWeaveMiddleware(memory, min_relevance=v),
        "langchain classic memory": lambda v: MemoryWeaveMemory(memory=memory, min_relevance=v),
        "langchain retriever": lambda v: MemoryWeaveRetriever(memory=memory, min_relevance=v),
        "langgraph store": lambda v: MemoryWeaveStore(memory, min_relevance=v),
        "llamaindex block": lambda v: MemoryWeaveBlock(memory=memory, min_relevance=v),
        "llamaindex memory": lambda v: LIMemory(memory=memory, min_relevance=v),
        "llamaindex retriever": lambda v: LIRetriever(memory=memory, min_relevance=v),
    }


NAMES = ["langchain middleware", "langchain classic memory", "langchain retriever", "langgraph store",
         "llamaindex block", "llamaindex memory", "llamaindex retriever"]


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_threshold_is_refused_when_the_adapter_is_made(memory, name):
    make = _adapters(memory)[name]
    for bad in (2, -0.1, "high", True, float("nan")):
        with pytest.raises((InvalidInputError, ValueError), match="min_relevance"):
            make(bad)
    for good in ("auto", None, 0, 0.25, 1.0):
        assert make(good).min_relevance == good
