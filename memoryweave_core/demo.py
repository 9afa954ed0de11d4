"""The demo behind ``memoryweave demo`` and ``make demo``.

Three chat sessions between Maya and her assistant, on three dates, are
remembered with the real all-MiniLM-L6-v2 model in a temporary in-memory
store.  Then a few questions are recalled with explanations, each showing one
idea of MemoryWeave:

* "what's my dog's name?": the assistant's question about the name matches
  best, and its episodic neighbour (the answer) comes right after it;
* "how often do I go climbing?" is answered by "Yes, every Sunday morning
  ...", which never names the topic: the context vector (the turn inside
  the question it answered) finds it;
* questions with time expressions ("... last week?", "yesterday"), answered
  from the sessions that happened then.

The clock is fixed (the morning after the last session), so the demo prints
the same thing every time.  Run it with ``python -m memoryweave_core.demo``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .memory import MemoryWeave

#: "Now" for the demo: the morning after the third session.
NOW = datetime(2024, 3, 20, 9, 0, tzinfo=timezone.utc)

#: (episode name, start time, [(speaker, text), ...])
SESSIONS: list[tuple[str, datetime, list[tuple[str, str]]]] = [
    (
        "new-dog",
        datetime(2024, 2, 28, 19, 0, tzinfo=timezone.utc),
        [
            ("Maya", "I finally adopted a dog from the shelter last weekend!"),
            ("Assistant", "Congratulations! What is the dog's name?"),
            ("Maya", "Her name is Pepper, she's a three-year-old border collie."),
            ("Assistant", "Do you still go bouldering at the climbing gym?"),
            ("Maya", "Yes, every Sunday morning with my sister Ines."),
        ],
    ),
    (
        "interview-nerves",
        datetime(2024, 3, 12, 20, 30, tzinfo=timezone.utc),
        [
            ("Maya", "I'm nervous: I have a job interview at a robotics startup on Friday."),
            ("Assistant", "Which part of the interview worries you most?"),
            ("Maya", "The live coding round. I haven't written C++ in years."),
            ("Assistant", "Shall we practise a few exercises together tonight?"),
            ("Maya", "Sure. Also, I started reading Project Hail Mary and love it so far."),
        ],
    ),
    (
        "good-news",
        datetime(2024, 3, 19, 18, 15, tzinfo=timezone.utc),
        [
            ("Maya", "Good news: I got the job! I start in April."),
            ("Assistant", "Fantastic! How will you celebrate?"),
            ("Maya", "A weekend trip to Lisbon with Ines, while Pepper stays with my parents."),
        ],
    ),
]

#: (question, what it shows)
QUESTIONS: list[tuple[str, str]] = [
    (
        "What's my dog's name?",
        "the assistant's question matches best; the answer two turns on comes back through its episode and context",
    ),
    (
        "How often do I go climbing?",
        "the answer never says 'climbing': its episode and context (the question it answered) bring it back",
    ),
    ("What was I reading last week?", "a time expression: 'last week' favours the session of 12 March"),
    ("What happened yesterday?", "only a time expression: the session of 19 March comes back"),
]


def build_memory(embedder: Any = None) -> MemoryWeave:
    """A fresh in-memory MemoryWeave holding the three demo sessions."""
    from .embedders import default_embedder
    from .memory import MemoryWeave

    memory = MemoryWeave(embedder=embedder or default_embedder(), clock=lambda: NOW.timestamp())
    for episode, start, turns in SESSIONS:
        memory.add_conversation(turns, episode=episode, time=start)
    return memory


def run_demo(out: Callable[[str], Any] = print, *, embedder: Any = None, k: int = 3, width: int = 100) -> list:
    """Print the demo; returns ``[(question, RecallResult), ...]`` for tests."""
    from .cli.render import format_recall

    out("MemoryWeave demo: long-term memory that remembers like a person does.")
    out("")
    out("Loading all-MiniLM-L6-v2 and remembering three chat sessions ...")
    memory = build_memory(embedder)
    out("")
    for episode, start, turns in SESSIONS:
        out(f"  session {episode!r}, {start:%a %d %b %Y %H:%M}")
        for speaker, text in turns:
            out(f"    {speaker + ':':<11}{text}")
        out("")
    cats = memory.categories()
    out(f"{len(memory)} memories in {len({t.episode for t in memory})} episodes, "
        f"{len(cats)} ART categories.  Now it is {NOW:%a %d %b %Y %H:%M}.")
    results = []
    for question, lesson in QUESTIONS:
        out("")
        out("=" * width)
        out(f"recall: {question!r}")
        out(f"        ({lesson})")
        out("-" * width)
        # record_access=False: the demo's own questions should not prime each other.
        found = memory.recall(question, k=k, explain=True, record_access=False)
        out(format_recall(found, explain=True, width=width))
        results.append((question, found))
    out("")
    out("Each score is the sum of the pathway contributions listed under it (weights in RecallConfig).")
    out("Try it yourself:  memoryweave remember \"...\"  then  memoryweave recall \"...\" --explain")
    return results


if __name__ == "__main__":
    from .cli.common import quiet_model_loading

    quiet_model_loading()
    run_demo()
