"""Reliability (issue 8.5): ``RecallConfig(max_traces=N)`` caps every namespace.

* After each add, a namespace holding more than N traces drops the traces of
  lowest ACT-R activation (at the clock's "now") until it holds N -- never a
  trace of the episode being added to, so a namespace may exceed N while its
  current episode alone is larger than N.
* Each namespace is capped separately; an add never evicts from another.
* Eviction is deterministic: the same sequence of calls (same clock) leaves
  the same survivors, run after run and backend after backend, including when
  activations tie.
* An evicted trace is gone everywhere: get, recall, lexical and vector search,
  and (SQLite) every table of the file.
"""

from __future__ import annotations

import os
import sqlite3

import pytest
from backends import BACKENDS, make_store, pg_dsn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoryweave_core import HashingEmbedder, InvalidInputError, MemoryWeave, RecallConfig, TraceNotFoundError

DIM = 64


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def open_memory(kind: str, path: str, cap: int, clock: Clock) -> MemoryWeave:
    return MemoryWeave(store=make_store(kind, path), embedder=HashingEmbedder(DIM), config=RecallConfig(max_traces=cap), clock=clock)


def close(kind: str, m: MemoryWeave) -> None:
    if kind == "postgres":
        for ns in m.store.namespaces():
            m.store.delete_namespace(ns)
    m.close()


# -- lowest activation goes, the current episode stays ------------------------------
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 3), st.integers(0, 4)),  # episode, topic
        st.tuples(st.just("recall"), st.integers(0, 4), st.integers(1, 3)),  # topic, k
        st.tuples(st.just("wait"), st.sampled_from([0, 1, 60, 3600, 86400]), st.just(0)),
    ),
    min_size=5,
    max_size=40,
)


@pytest.mark.parametrize("kind", BACKENDS)
def test_eviction_drops_lowest_activation_never_the_current_episode(kind, tmp_path):
    if kind != "memory":
        pg_dsn()
    runs = iter(range(10**6))

    @settings(max_examples=30 if kind == "memory" else 15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=OPS, cap=st.integers(1, 6))
    def prop(ops, cap):
        clock = Clock()
        m = open_memory(kind, str(tmp_path / f"cap-{next(runs)}.db"), cap, clock)
        try:
            for n, (op, a, b) in enumerate(ops):
                if op == "wait":
                    clock.now += a
                    continue
                if op == "recall":
                    if m.count("ns"):
                        m.recall(f"topic{a}", k=b, namespace="ns")
                    continue
                before = {t.id: t for t in m.store.iter_traces("ns")}
                acts = {tid: m.activation(tid, namespace="ns") for tid in before}
                new = m.add(f"note {n} about topic{b}", episode=f"ep{a}", namespace="ns")
                after = {t.id for t in m.store.iter_traces("ns")}
                assert new.id in after
                victims = set(before) - after
                survivors = [tid for tid in before if tid in after and before[tid].episode != new.episode]
                assert not any(before[v].episode == new.episode for v in victims), "evicted from the current episode"
                removable = sum(t.episode != new.episode for t in before.values())
                excess = len(before) + 1 - cap
                assert len(victims) == max(0, min(excess, removable))
                assert len(after) == len(before) + 1 - len(victims) == m.count("ns")
                if victims and survivors:
                    assert max(acts[v] for v in victims) <= min(acts[s] for s in survivors), "a stronger trace was evicted"
                for v in victims:
                    with pytest.raises(TraceNotFoundError):
                        m.get(v, namespace="ns")
        finally:
            close(kind, m)

    prop()


# -- deterministic --------------------------------------------------------------------
def _scenario(m: MemoryWeave, clock: Clock, tick: float) -> list[str]:
    for i in range(24):
        m.add(f"fact {i} about topic{i % 4}", episode=f"ep{i // 3}", namespace="ns")
        if i % 5 == 4:
            m.recall(f"topic{i % 4}", k=2, namespace="ns")
        clock.now += tick
    m.add_conversation(["hello", "again"], episode="last", namespace="ns")
    return sorted(t.text for t in m.store.iter_traces("ns"))


@pytest.mark.parametrize("tick", [0.0, 1.0, 600.0], ids=["frozen-clock", "1s", "10min"])
def test_same_sequence_gives_same_survivors_everywhere(tick, tmp_path):
    """With a frozen clock activations tie; the survivors must not depend on random ids."""
    results = {}
    kinds = ["memory", "sqlite"] + (["postgres"] if os.environ.get("MEMORYWEAVE_PG_DSN") else [])
    for kind in kinds:
        for run in range(3):
            clock = Clock()
            try:
                m = open_memory(kind, str(tmp_path / f"det-{kind}-{run}.db"), 7, clock)
            except pytest.skip.Exception:
                continue
            try:
                results[(kind, run)] = _scenario(m, clock, tick)
            finally:
                close(kind, m)
    assert len(set(map(tuple, results.values()))) == 1, results
    survivors = next(iter(results.values()))
    assert len(survivors) == 7 and {"hello", "again"} <= set(survivors)


# -- per namespace, and the current episode wins ------------------------------------------
@pytest.mark.parametrize("kind", BACKENDS)
def test_each_namespace_is_capped_on_its_own(kind, tmp_path):
    clock = Clock()
    m = open_memory(kind, str(tmp_path / "per-ns.db"), 5, clock)
    try:
        small = [m.add(f"small {i}", episode=f"s{i}", namespace="small").id for i in range(3)]
        for i in range(12):
            clock.now += 60
            m.add(f"big {i}", episode=f"b{i}", namespace="big")
        assert m.count("big") == 5 and m.count("small") == 3
        assert [t.id for t in m.store.iter_traces("small")] == small
        assert {t.text for t in m.store.iter_traces("big")} == {f"big {i}" for i in range(7, 12)}  # the oldest went
    finally:
        close(kind, m)


@pytest.mark.parametrize("kind", BACKENDS)
def test_current_episode_larger_than_the_cap_is_kept_whole(kind, tmp_path):
    clock = Clock()
    m = open_memory(kind, str(tmp_path / "episode.db"), 4, clock)
    try:
        m.add_conversation([f"old turn {i}" for i in range(3)], episode="old", namespace="ns")
        clock.now += 3600
        turns = m.add_conversation([f"current turn {i}" for i in range(7)], episode="now", namespace="ns")
        assert sorted(t.id for t in m.store.iter_traces("ns")) == sorted(t.id for t in turns)
        clock.now += 10
        more = m.add("one more turn", episode="now", namespace="ns")
        assert m.count("ns") == 8 and more.position == 7
    finally:
        close(kind, m)


@pytest.mark.parametrize("kind", BACKENDS)
def test_recalled_traces_survive_and_evicted_ones_are_gone_everywhere(kind, tmp_path):
    clock = Clock()
    path = str(tmp_path / "gone.db")
    m = open_memory(kind, path, 6, clock)
    try:
        traces = [m.add(f"unique{i} remark number {i}", episode=f"e{i}", namespace="ns") for i in range(6)]
        clock.now += 86400
        favourite = traces[0]
        for _ in range(3):
            clock.now += 60
            assert m.recall("unique0", k=1, namespace="ns")[0].trace.id == favourite.id  # used: activation rises
        clock.now += 60
        m.add_many([{"text": f"fresh{i} item", "episode": "new"} for i in range(3)], namespace="ns")
        kept = {t.id for t in m.store.iter_traces("ns")}
        assert favourite.id in kept and m.count("ns") == 6
        evicted = [t for t in traces if t.id not in kept]
        assert len(evicted) == 3
        for t in evicted:
            word = t.text.split()[0]
            assert all(r.trace.id != t.id for r in m.recall(word, k=20, namespace="ns"))
            assert t.id not in {i for i, _ in m.store.lexical("ns", [word], 20)}
            assert t.id not in {i for i, _ in m.store.nearest("ns", "content", t.content, 20)}
            with pytest.raises(TraceNotFoundError):
                m.get(t.id, namespace="ns")
    finally:
        close(kind, m)
    if kind == "sqlite":
        with sqlite3.connect(path) as raw:
            ids = [t.id for t in evicted]
            assert raw.execute(f"SELECT count(*) FROM traces WHERE id IN ({','.join('?' * len(ids))})", ids).fetchone() == (0,)
            # access rows exist only for used traces, and only for live ones
            assert raw.execute("SELECT count(*) FROM access WHERE key NOT IN (SELECT key FROM traces)").fetchone() == (0,)
            assert raw.execute("SELECT n FROM namespaces WHERE name = 'ns'").fetchone() == (6,)


# -- configuration ---------------------------------------------------------------------
def test_max_traces_must_be_a_positive_integer_or_none():
    assert RecallConfig().max_traces is None
    for bad in (0, -1):
        with pytest.raises(InvalidInputError):
            RecallConfig(max_traces=bad)


def test_max_traces_of_the_wrong_type_is_refused_up_front():
    for bad in (2.5, "3", True):
        with pytest.raises(InvalidInputError):
            RecallConfig(max_traces=bad)


def test_eviction_reads_the_namespace_once_per_margin_of_adds(tmp_path):
    """Issue 23, defect 8: eviction used to decode the whole namespace on every add over the cap."""
    from memoryweave_core.ingest import EVICT_DIVISOR

    cap, adds = 100, 200
    clock = Clock()
    m = open_memory("memory", str(tmp_path / "x.db"), cap, clock)
    reads = 0
    real = m.store.iter_traces

    def counting(*args, **kwargs):
        nonlocal reads
        reads += 1
        return real(*args, **kwargs)

    m.store.iter_traces = counting
    for i in range(cap + adds):
        m.add(f"note {i}", episode=f"ep{i}", namespace="ns")
        assert m.count("ns") <= cap
    margin = cap // EVICT_DIVISOR
    assert m.count("ns") >= cap - margin
    assert reads <= adds // (margin + 1) + 1
    m.close()
