"""The freshness pathway: a later statement that updates an earlier one outranks it."""

from __future__ import annotations

import numpy as np
import pytest

from memoryweave_core import MemoryWeave, RecallConfig
from memoryweave_core.timeexpr import past_directed, reference_time

OLD = "my favourite colour is red and I like it a lot"
NEW = "my favourite colour is blue and I like it a lot"


def _colours(memory: MemoryWeave) -> None:
    memory.add(OLD, speaker="user", time="2024-01-01")
    memory.add("the weather was cold at the harbour today", speaker="user", time="2024-02-01")
    memory.add(NEW, speaker="user", time="2024-03-01")


def test_later_update_gets_a_bonus_and_the_earlier_a_penalty(memory):
    _colours(memory)
    found = memory.recall("favourite colour", 3, at="2024-04-01", explain=True)
    by_text = {r.text: r for r in found}
    assert by_text[NEW].raw["freshness"] > 0 > by_text[OLD].raw["freshness"]
    assert by_text["the weather was cold at the harbour today"].raw["freshness"] == 0
    assert found[0].text == NEW
    off = memory.recall("favourite colour", 3, at="2024-04-01", config=RecallConfig().without("freshness"))
    assert "freshness" not in off[0].features


def test_another_speaker_does_not_update(memory):
    memory.add(OLD, speaker="user", time="2024-01-01")
    memory.add(NEW, speaker="assistant", time="2024-03-01")
    found = memory.recall("favourite colour", 2, at="2024-04-01", explain=True)
    assert all(r.raw["freshness"] == 0 for r in found)


def test_an_update_after_the_moment_asked_about_does_not_count(memory):
    _colours(memory)
    before = memory.recall("favourite colour", 3, at="2024-02-15", explain=True)
    assert all(r.raw.get("freshness", 0) == 0 for r in before)
    in_window = memory.recall("favourite colour in January 2024", 3, at="2024-04-01", explain=True)
    assert all(r.raw.get("freshness", 0) == 0 for r in in_window)


def test_a_query_about_the_past_turns_it_off(memory):
    _colours(memory)
    found = memory.recall("what favourite colour did I use to have", 3, at="2024-04-01", explain=True)
    assert all("freshness" not in r.features for r in found)
    assert past_directed("What did I previously say?") and not past_directed("What is my favourite colour?")
    now = 1_700_000_000.0
    assert reference_time("what is it now", now) == now and reference_time("in 2022", now) < now


@pytest.mark.slow
def test_real_minilm_colour_update_ranks_first():
    from memoryweave_core import default_embedder

    memory = MemoryWeave(embedder=default_embedder())
    memory.add("My favourite colour is red.", speaker="user", time="2024-01-01")
    memory.add("Nice to meet you.", speaker="assistant", time="2024-01-01")
    memory.add("I went hiking with my dog yesterday.", speaker="user", time="2024-02-01")
    memory.add("Update: my favourite colour is now blue, not red.", speaker="user", time="2024-03-01")
    found = memory.recall("What is my favourite colour?", 3, at="2024-04-01")
    assert found[0].text == "Update: my favourite colour is now blue, not red."
    assert np.isclose(found[0].features["freshness"], -found[1].features["freshness"])
