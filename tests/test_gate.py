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


def _columns_before_reuse(raw, features, lengths=None):
    """fusion.columns as it was before the gate reused fusion's z-scores."""
    from memoryweave_core.pathways.fusion import normalise
    from memoryweave_core.pathways.registry import get

    wanted = [f for f in features if f in raw]
    surrounding = any(get(f).surrounding for f in wanted)
    gate = own_gate(raw) if surrounding else None
    share = length_share(lengths) if surrounding else None
    out = {}
    for f in wanted:
        z = normalise(f, raw[f])
        if get(f).surrounding:
            z = z if gate is None else z * gate
            z = z if share is None else np.where(z > 0, z * share, z)
        out[f] = z
    return out


@pytest.mark.parametrize("seed", range(30))
def test_columns_equal_the_version_that_zscored_twice(seed: int) -> None:
    """The gate reads the own pathways' z-scores that normalisation computed: the same bits."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    names = ["semantic", "context", "lexical", "spread", "episode", "speaker", "activation", "temporal", "freshness"]
    raw = {f: rng.normal(size=n) * rng.uniform(0.1, 5) for f in names if rng.random() < 0.8}
    if "lexical" in raw and rng.random() < 0.3:
        raw["lexical"][rng.random(n) < 0.5] = 0.0
    if "activation" in raw:
        raw["activation"][rng.random(n) < 0.2] = -np.inf
    features = [f for f in raw if rng.random() < 0.85]
    lengths = rng.integers(0, 200, n) if rng.random() < 0.7 else None
    got, want = columns(raw, features, lengths=lengths), _columns_before_reuse(raw, features, lengths)
    assert list(got) == list(want)
    assert all(np.array_equal(got[f], want[f]) for f in got)
