"""recall_for_prompt: the recall, selection and use-count the prompt adapters share."""
import asyncio

from memoryweave_core.prompt import fetch_size
from memoryweave_core.prompt_recall import PromptRecall, arecall_for_prompt, recall_for_prompt


def _uses(memory, ids, namespace="default"):
    return {i: log.count for i, log in memory.store.access_logs(ids, namespace).items()}


def test_what_reaches_the_prompt_is_counted_and_nothing_else(memory):
    texts = ["My locker combination is 12-34-56.", "What is my locker combination?",
             "What is my locker combination?", "ok", "I play the cello"]
    memory.add_many([{"text": t, "speaker": "user"} for t in texts])
    ids = [t.id for t in memory.traces()]
    before = _uses(memory, ids)
    query = "What is my locker combination?"
    ask = PromptRecall(query, 2, shown=["I play the cello", query], min_relevance=None)  # the prompt shows both
    assert ask.recall_kwargs()["k"] == fetch_size(2, 2)
    chosen = recall_for_prompt(memory, ask)
    texts = [r.trace.text for r in chosen]
    assert texts[0] == "My locker combination is 12-34-56."
    assert "I play the cello" not in texts and query not in texts  # never shown twice
    assert texts == ["My locker combination is 12-34-56.", "ok"]  # filler last
    after = _uses(memory, ids)
    assert {i for i in ids if after[i] > before[i]} == {r.trace.id for r in chosen}


def test_touch_false_leaves_the_access_log_alone_and_the_async_twin_agrees(memory):
    memory.add_many(["My sister Clara lives in Lisbon.", "I keep bees."], namespace=("ana", "chat"))
    ids = [t.id for t in memory.traces(("ana", "chat"))]
    before = _uses(memory, ids, ("ana", "chat"))
    ask = PromptRecall("Where does my sister live?", 1, "ana", include_descendants=True, min_relevance=None,
                       touch=False)
    sync = recall_for_prompt(memory, ask)
    assert sync[0].namespace == ("ana", "chat") and _uses(memory, ids, ("ana", "chat")) == before
    assert [r.trace.id for r in asyncio.run(arecall_for_prompt(memory, ask))] == [r.trace.id for r in sync]
