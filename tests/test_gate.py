"""The own-match gate: a trace's window and episode lift it only as far as it matches itself."""

from __future__ import annotations

import numpy as np
import pytest

from memoryweave_core import MemoryWeave, pathways
from memoryweave_core.lexical import tokenize
from memoryweave_core.pathways.fusion import columns, fuse
from memoryweave_core.pathways.gate import GATE_FLOOR, length_share, own_gate, own_match


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


def test_a_long_trace_keeps_a_positive_surrounding_lift_in_proportion_to_its_length() -> None:
    raw = _raw()
    lengths = np.array([4, 10, 20, 40, 80, 160] * 2)
    share = length_share(lengths, 20)
    assert share is not None and np.allclose(share, np.minimum(1.0, 20 / lengths))
    assert length_share(None, 20) is None and length_share(lengths, None) is None
    plain = columns(raw, raw, lift_length=None)
    cols = columns(raw, raw, lengths=lengths, lift_length=20)
    for f in ("semantic", "lexical", "spread"):  # a trace's own match is not shared
        assert np.allclose(cols[f], plain[f])
    for f in ("context", "episode"):
        z = plain[f]
        assert np.allclose(cols[f], np.where(z > 0, z * share, z))  # a verdict against it is kept whole
    assert np.allclose(columns(raw, raw, lift_length=20)["episode"], plain["episode"])  # no lengths: no share


def test_recall_shares_the_lift_by_lexical_length(memory: MemoryWeave) -> None:
    fact = "I bought a new television for the living room last week"
    essay = " ".join(["Televisions differ in panel, brightness, contrast, sound and price; pick by room size."] * 8)
    memory.add(fact, speaker="user", episode="s1")
    memory.add(essay, speaker="assistant", episode="s1")
    memory.add("the harbour was cold and windy in the morning", speaker="user", episode="s2")
    table = memory.features("what television did I buy")
    assert table.lengths is not None
    by_id = dict(zip(table.ids, table.lengths.tolist()))
    for t in memory.traces():
        assert by_id[t.id] == len(tokenize(t.text))
    score, _ = fuse(table.raw, memory.config.weights, table.lengths)  # what recall ranks by
    expected = dict(zip(table.ids, score.tolist()))
    for rec in memory.recall("what television did I buy", k=3):
        assert rec.score == pytest.approx(expected[rec.trace.id])
