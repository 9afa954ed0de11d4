"""Progress bars on long work: a bar over the texts an add or an import embeds,
opt-in, ending full, changing no vector, and refused clearly without tqdm."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave, progress
from memoryweave_core.errors import MissingDependencyError

TURNS = [("Ana", "I adopted a kitten called Luna"), ("Ben", "How is she settling in?"),
         ("Ana", "She sleeps on my keyboard"), ("Ben", "My marathon is in June")]


def _last_bar(err: str) -> str:
    return err.replace("\r", "\n").strip().splitlines()[-1]


def test_add_conversation_shows_a_bar_over_the_texts_it_embeds_and_ends_full(capsys, clock):
    memory = MemoryWeave(embedder=HashingEmbedder(dim=64), clock=clock)
    memory.add_conversation(TURNS, progress=True)
    last = _last_bar(capsys.readouterr().err)
    # four turns and three windows (the first turn has no preceding turn): seven texts
    assert last.startswith("remembering: 100%") and "7/7" in last
    memory.add_conversation(TURNS)  # off by default
    assert capsys.readouterr().err == ""


def test_a_bar_changes_no_vector(clock):
    plain, shown = (MemoryWeave(embedder=HashingEmbedder(dim=64), clock=clock) for _ in range(2))
    a = plain.add_conversation(TURNS, episode="e")
    b = shown.add_conversation(TURNS, episode="e", progress=True)
    assert all(np.array_equal(x.content, y.content) and np.array_equal(x.context, y.context) for x, y in zip(a, b))


def test_an_import_announces_an_estimate_and_ends_full_at_what_it_embedded(capsys, clock):
    memory = MemoryWeave(embedder=HashingEmbedder(dim=64), clock=clock)
    lines = [json.dumps({"text": t, "speaker": s, "episode": "e", "namespace": ns})
             for ns in ("one", "two") for s, t in TURNS]
    memory.import_jsonl(lines, progress=True)
    err = capsys.readouterr().err.replace("\r", "\n")
    assert "importing:   0%" in err and "0/16" in err  # 8 turns, each counted with a window up front
    assert _last_bar(err).startswith("importing: 100%") and "14/14" in _last_bar(err)  # two first turns had none


def test_an_embedder_that_reports_its_batches_is_not_counted_twice():
    seen = []

    class Shown:  # the parts of a tqdm bar the module uses
        n, total, planned = 0, 0, False

        def update(self, k):
            self.n += k
            seen.append(k)

        def refresh(self):
            pass

    token = progress._open.set(Shown())
    try:
        progress.expect(5)
        with progress.embedding(5):
            progress.advance(2)  # one model batch reported by the embedder
        with progress.embedding(3):
            pass  # an embedder that reports nothing: counted when it returns
        assert seen == [2, 3, 3] and progress._open.get().total == 5
    finally:
        progress._open.reset(token)
    with progress.embedding(4):  # no bar open: nothing to count
        progress.advance(4)
        progress.expect(4)


def test_without_tqdm_a_bar_asked_for_names_the_extra_and_writes_nothing(monkeypatch, clock):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if not installed
    memory = MemoryWeave(embedder=HashingEmbedder(dim=64), clock=clock)
    with pytest.raises(MissingDependencyError, match=r"memoryweave\[cli\]"):
        memory.add_conversation(TURNS, progress=True)
    assert memory.count() == 0
    memory.add_conversation(TURNS)  # no bar asked for: no tqdm needed
    assert memory.count() == 4
