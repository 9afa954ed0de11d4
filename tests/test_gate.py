"""The own-match gate: a trace's window and episode lift it only as far as it matches itself."""

from __future__ import annotations

import numpy as np
import pytest

from memoryweave_core import MemoryWeave, pathways
from memoryweave_core.pathways.fusion import columns, fuse
from memoryweave_core.pathways.gate import GATE_FLOOR, own_gate, own_match


def _raw() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f: rng.normal(size=12) for f in ("semantic", "lexical", "context", "episode", "spread")}


def test_only_surrounding_pathways_are_gated() -> None:
    assert {p.name for p in pathways.pathways() if p.surrounding} == {"context", "episode"}
    raw = _raw()
    gate = own_gate(raw)
    assert gate is not None and np.all((gate >= GATE_FLOOR) & (gate <= 1.0))
    cols = columns(raw, raw)
    for f in ("semantic", "lexical", "spread"):
        assert np.allclose(cols[f], pathways.normalise(f, raw[f]))
    for f in ("context", "episode"):
        assert np.allclose(cols[f], pathways.normalise(f, raw[f]) * gate)


def test_the_gate_rises_with_the_own_match_and_a_floor_of_one_switches_it_off() -> None:
    raw = _raw()
    own, gate = own_match(raw), own_gate(raw, floor=0.5, centre=0.0)
    assert own is not None and gate is not None
    order = np.argsort(own)
    assert np.all(np.diff(gate[order]) >= 0) and gate.min() > 0.5
    assert own_gate(raw, floor=1.0) is None
    assert own_gate({"context": raw["context"]}) is None  # no own pathway computed: no gate
    assert np.allclose(columns(raw, raw, floor=1.0)["episode"], pathways.normalise("episode", raw["episode"]))


def test_contributions_still_add_up_to_the_score() -> None:
    raw = _raw()
    score, contributions = fuse(raw, {f: 1.0 for f in raw})
    assert np.allclose(score, np.sum(list(contributions.values()), axis=0))


def test_of_one_episode_the_turn_that_matches_itself_keeps_more_of_the_lift(memory: MemoryWeave) -> None:
    turns = [
        "I bought a new television for the living room last week",
        "That sounds like a lovely purchase, enjoy the films and the evenings with friends",
        "Thanks, we also painted the hallway a pale green colour",
    ]
    for i, text in enumerate(turns):
        memory.add(text, speaker="user" if i % 2 == 0 else "assistant", episode="s1")
    memory.add("the harbour was cold and windy in the morning", speaker="user", episode="s2")
    found = {r.text: r for r in memory.recall("what television did I buy", k=4, explain=True)}
    tv, reply = found[turns[0]], found[turns[1]]
    assert tv.raw["episode"] == pytest.approx(reply.raw["episode"])  # one episode, one raw value
    assert tv.features["episode"] > reply.features["episode"] > 0  # the gate keeps more for the better own match
