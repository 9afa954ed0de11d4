"""Behaviour of the engine with the deterministic hashing embedder."""

from __future__ import annotations

import numpy as np
import pytest

from memoryweave_core import (
    DimensionMismatchError,
    EmptyTextError,
    InvalidInputError,
    MemoryWeave,
    NonFiniteVectorError,
    RecallConfig,
    TraceNotFoundError,
)
from memoryweave_core.config import FEATURES

PETS = [("Ana", "I adopted a cat called Luna last week"), ("Ben", "What breed is she?"), ("Ana", "A grey tabby, very playful")]
POTTERY = [("Ana", "I started pottery classes on Tuesday"), ("Ben", "How did the first class go?"), ("Ana", "I made a lopsided bowl")]


def test_add_returns_trace_with_signature(memory, clock):
    t = memory.add("hello there", speaker="Ana", episode="s1", metadata={"mood": "happy"})
    assert t.text == "hello there" and t.speaker == "Ana" and t.episode == "s1" and t.position == 0
    assert t.time == clock.now and t.metadata == {"mood": "happy"}
    assert t.content.shape == (256,) and abs(np.linalg.norm(t.content) - 1) < 1e-5
    assert memory.get(t.id) == t and len(memory) == 1 and list(memory) == [t]


def test_generated_ids_are_unique_uuid7_in_creation_order():
    import time
    import uuid

    from memoryweave_core.trace import new_id

    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids[:100])
    time.sleep(0.002)
    later = new_id()
    assert later > max(ids)  # a later millisecond sorts later: adds append to a database's id index


def test_positions_continue_within_episode(memory):
    a = memory.add("first", episode="s1")
    b = memory.add("second", episode="s1")
    c = memory.add("other", episode="s2")
    assert (a.position, b.position, c.position) == (0, 1, 0)


def test_context_vector_includes_previous_turn(memory):
    q = memory.add("Do you like hiking in the mountains?", speaker="Ben", episode="s")
    a = memory.add("Yes, every Sunday", speaker="Ana", episode="s")
    assert np.allclose(q.content, q.context)  # nothing before the first turn
    assert not np.allclose(a.content, a.context)
    hit = memory.recall("hiking in the mountains", k=2)
    assert {r.trace.id for r in hit} == {q.id, a.id}


def test_streaming_and_batch_give_same_vectors(embedder, clock):
    m1 = MemoryWeave(embedder=embedder, clock=clock)
    m2 = MemoryWeave(embedder=embedder, clock=clock)
    batch = m1.add_conversation(PETS, episode="e")
    stream = [m2.add(text, speaker=sp, episode="e") for sp, text in PETS]
    for a, b in zip(batch, stream):
        assert np.allclose(a.context, b.context)


def test_recall_ranks_relevant_first_and_explains(memory):
    memory.add_conversation(PETS, episode="pets", time="2023-05-08")
    memory.add_conversation(POTTERY, episode="pottery", time="2023-06-08")
    result = memory.recall("what is the cat called", k=3, explain=True)
    top = result[0]
    assert top.text == "I adopted a cat called Luna last week"
    assert abs(sum(top.features.values()) - top.score) < 1e-9
    assert set(top.features) <= set(FEATURES) and "semantic" in top.raw
    text = top.explain()
    assert "Luna" in text and "lexical" in text and "semantic" in text
    assert "<table>" in result._repr_html_()


def test_episodic_neighbour_is_recalled_through_spreading(memory):
    memory.add_conversation(PETS, episode="pets", time="2023-05-08")
    memory.add_conversation(POTTERY, episode="pottery", time="2023-06-08")
    ids = [r.trace.text for r in memory.recall("adopted cat Luna", k=3)]
    assert "A grey tabby, very playful" in ids  # no word in common, reached via the episode


def test_recall_records_access_and_activation_rises(memory, clock):
    t = memory.add("the wifi password is hunter2")
    other = memory.add("the door code is 4321")
    clock.advance(86400 * 10)
    before = memory.activation(t.id)
    assert memory.activation(other.id) == pytest.approx(before)
    memory.recall("wifi password", k=1)
    assert memory.activation(t.id) > before
    assert memory.activation(other.id) == pytest.approx(before)
    clock.advance(86400 * 30)
    assert memory.activation(t.id) < before + 1  # decays again


def test_activation_breaks_ties_toward_recent_use(memory, clock):
    a = memory.add("meeting notes about the budget", episode="a")
    b = memory.add("meeting notes about the budget", episode="b")
    clock.advance(3600)
    for _ in range(5):
        memory.store.record_access([b.id], clock.now, "default")
    clock.advance(60)
    top = memory.recall("budget meeting notes", k=1, record_access=False)[0]
    assert top.trace.id == b.id and top.features["activation"] > 0
    assert a.id != b.id


def test_temporal_expression_prefers_traces_in_window(memory, clock):
    old = memory.add("we went to the beach", time=clock.now - 400 * 86400, episode="old")
    new = memory.add("we went to the beach", time=clock.now - 1 * 86400 - 3600, episode="new")
    top = memory.recall("what did we do yesterday at the beach", k=1, record_access=False)[0]
    assert top.trace.id == new.id and top.features["temporal"] > 0
    assert old.id != new.id


def test_without_disables_features(memory):
    memory.add_conversation(PETS, episode="pets")
    cfg = RecallConfig().without("lexical", "spread")
    m = MemoryWeave(embedder=memory.encoder.embedder, config=cfg, store=memory.store)
    r = m.recall("cat", k=1)[0]
    assert "lexical" not in r.features and "spread" not in r.features


def test_namespaces_are_isolated(memory):
    memory.add("Alice's secret is the blue door", namespace="alice")
    memory.add("Bob likes trains", namespace="bob")
    hits = memory.recall("secret blue door", k=5, namespace="bob")
    assert [h.trace.namespace for h in hits] == ["bob"]
    assert memory.recall("anything", namespace="nobody") == []


def test_forget_by_id_episode_namespace(memory):
    a = memory.add("one", episode="e1")
    memory.add("two", episode="e1")
    memory.add("three", episode="e2", namespace="other")
    with pytest.raises(TraceNotFoundError):
        memory.forget(["nope", a.id])
    assert len(memory) == 3  # nothing deleted by the failed call
    assert memory.forget(a.id) == 1
    assert memory.forget(episode="e1") == 1
    assert memory.forget(namespace="other") == 1
    assert len(memory) == 0
    with pytest.raises(InvalidInputError):
        memory.forget()


def test_art_categories_group_similar_texts(embedder, clock):
    m = MemoryWeave(embedder=embedder, clock=clock, config=RecallConfig(vigilance=0.5))
    for text in ["cats and kittens", "cats and kittens purr", "cats and kittens play", "tax return deadline", "tax return forms"]:
        m.add(text)
    cats = m.categories()
    assert len(cats) == 2
    assert cats[0].size == 3 and "cats" in cats[0].label


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", None, 5])
def test_bad_text_rejected_before_write(memory, bad):
    with pytest.raises(InvalidInputError):
        memory.add(bad)
    assert len(memory) == 0


def test_bad_vectors_and_k(memory):
    with pytest.raises(DimensionMismatchError):
        memory.add("x", embedding=np.ones(10))
    with pytest.raises(NonFiniteVectorError):
        memory.add("x", embedding=np.full(256, np.nan))
    with pytest.raises(NonFiniteVectorError):
        memory.add("x", embedding=np.zeros(256))
    memory.add("ok")
    for k in (0, -1, 1.5, True):
        with pytest.raises(InvalidInputError):
            memory.recall("ok", k=k)
    with pytest.raises(EmptyTextError):
        memory.recall("  ")
    with pytest.raises(TraceNotFoundError):
        memory.get("missing")
    assert len(memory) == 1


def test_add_many_is_all_or_nothing(memory):
    with pytest.raises(InvalidInputError):
        memory.add_many([{"text": "fine"}, {"text": ""}])
    with pytest.raises(InvalidInputError):
        memory.add_many([{"text": "fine", "metadata": {"x": object()}}])
    with pytest.raises(InvalidInputError):
        memory.add_many([{"txt": "typo"}])
    assert len(memory) == 0


def test_precomputed_embeddings(memory):
    vecs = memory.encoder.embed(["alpha beta", "gamma delta"])
    traces = memory.add_many(["alpha beta", "gamma delta"], embeddings=vecs)
    assert np.allclose(traces[1].content, vecs[1])


def test_auto_episodes_split_on_gaps(memory, clock):
    a = memory.add("morning chat")
    clock.advance(60)
    b = memory.add("still chatting")
    clock.advance(3 * 3600)
    c = memory.add("evening chat")
    assert a.episode == b.episode != c.episode and b.position == 1


def test_huge_k_returns_everything_available(memory):
    memory.add_many(["a b", "c d", "e f"])
    assert len(memory.recall("a", k=10**6)) == 3


def test_max_traces_evicts_lowest_activation_outside_current_episode(embedder, clock):
    m = MemoryWeave(embedder=embedder, clock=clock, config=RecallConfig(max_traces=3))
    old = m.add("old unused fact", episode="e1")
    clock.advance(10)
    used = m.add("important used fact", episode="e1")
    for _ in range(3):
        m.store.record_access([used.id], clock.now, "default")
    clock.advance(10)
    m.add("new one", episode="e2")
    m.add("new two", episode="e2")
    texts = {t.text for t in m}
    assert len(m) == 3 and old.text not in texts and used.text in texts


def test_recall_exclude_skips_ids_and_does_not_touch_them(memory, clock):
    a = memory.add("the red bicycle is in the garage")
    b = memory.add("the blue bicycle is at the office")
    clock.advance(100)
    before = memory.activation(a.id)
    hits = memory.recall("where is the bicycle", k=1, exclude=[a.id])
    assert [h.trace.id for h in hits] == [b.id]
    assert memory.activation(a.id) == pytest.approx(before)


def test_touch_and_traces_by_namespace(memory, clock):
    t = memory.add("note", namespace="n1")
    memory.add("other", namespace="n2")
    clock.advance(1000)
    before = memory.activation(t.id, namespace="n1")
    memory.touch([t.id])  # the default namespace: not n1's trace
    assert memory.activation(t.id, namespace="n1") == before
    memory.touch([t.id], namespace="n1")
    assert memory.activation(t.id, namespace="n1") > before
    assert [x.id for x in memory.traces("n1")] == [t.id]


def test_summary_and_html(memory):
    memory.add_conversation(PETS, episode="pets")
    info = memory.summary()
    ns = info["namespaces"]["default"]
    assert info["traces"] == 3 and ns["episodes"] == 1 and ns["speakers"] == ["Ana", "Ben"]
    assert len(ns["most_active"]) == 3 and ns["categories"] >= 1
    assert "<table>" in memory._repr_html_() and "Luna" in memory._repr_html_()
