"""Reliability (issue 8.1): concurrent writers and readers lose nothing.

* 8 threads mixing ``add``/``add_many``/``recall``/``get``/``count`` on one
  MemoryWeave (every backend): no exception, no lost or duplicated trace, and
  every observation is one a real state could give (recalled traces exist,
  belong to the namespace, results are full and duplicate-free, counts never
  go down).
* Threads racing to add the same explicit id: exactly one wins, the rest get
  a typed error, and the id is stored once.
* Two processes (``multiprocessing`` spawn) writing and reading one SQLite file
  at the same time, with the same checks, verified after reopening the file.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import traceback
from collections import Counter

import pytest
from backends import BACKENDS, dispose, make_store

from memoryweave_core import HashingEmbedder, InvalidInputError, MemoryWeave, MemoryWeaveError

DIM = 64


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    s = make_store(request.param, tmp_path / "reliability.db")
    yield s
    dispose(request.param, s)


# -- 8 threads on one MemoryWeave ----------------------------------------------
N_THREADS = 8
ROUNDS = 12
K = 5


def run_workers(worker) -> None:
    """Run ``worker(w)`` for w in 0..N_THREADS-1, all released at once by a
    barrier; fail on a hung thread or on any worker's exception, with its
    traceback (an assertion inside a thread would otherwise be lost)."""
    errors: list[str] = []
    barrier = threading.Barrier(N_THREADS)

    def guarded(w: int) -> None:
        try:
            barrier.wait()
            worker(w)
        except BaseException:  # noqa: BLE001 - reported below with its traceback
            errors.append(f"worker {w}:\n{traceback.format_exc()}")

    threads = [threading.Thread(target=guarded, args=(w,)) for w in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung (deadlock?)"
    assert not errors, "\n".join(errors)


def test_eight_threads_mixing_adds_and_recalls(store):
    m = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    ns, other = "shared", "elsewhere"
    seed = m.add_many([f"seed fact {i} about apples and pears" for i in range(10)], namespace=ns)
    decoys = m.add_many([f"decoy fact {i} about apples and pears" for i in range(10)], namespace=other)
    added: list[list[str]] = [[] for _ in range(N_THREADS)]
    recalled: list[set[str]] = [set() for _ in range(N_THREADS)]

    def worker(w: int) -> None:
        last_count = 0
        for i in range(ROUNDS):
            if i % 3 == 0:
                batch = m.add_many(
                    [{"text": f"worker {w} batch {i} item {j} apples", "metadata": {"w": w, "i": i}} for j in range(3)],
                    namespace=ns,
                )
                added[w] += [t.id for t in batch]
            else:
                t = m.add(f"worker {w} note {i} about pears", namespace=ns, metadata={"w": w, "i": i})
                added[w].append(t.id)
            # my own writes are visible to me at once
            for tid in added[w][-3:]:
                assert m.get(tid, namespace=ns).namespace == ns
            count = m.count(ns)
            assert count >= last_count, f"count went down: {last_count} -> {count}"
            assert count >= len(seed) + len(added[w])
            last_count = count
            result = m.recall(f"apples pears worker {(w + i) % N_THREADS}", k=K, namespace=ns)
            ids = [r.trace.id for r in result]
            assert len(ids) == K, "a recall over >= k traces came back short"
            assert len(set(ids)) == len(ids), f"duplicate trace in one recall: {ids}"
            assert all(r.trace.namespace == ns for r in result)
            recalled[w].update(ids)

    run_workers(worker)

    expected = [t.id for t in seed] + [tid for ids in added for tid in ids]
    assert len(expected) == len(set(expected)), "the engine handed out one id twice"
    stored = [t.id for t in m.store.iter_traces(ns)]
    assert Counter(stored) == Counter(expected), "lost or duplicated traces"
    assert m.count(ns) == len(expected) and m.count(other) == len(decoys)
    everything_recalled = set().union(*recalled)
    assert everything_recalled <= set(expected), "recall returned a trace that was never added to the namespace"
    # every trace is whole: both vectors, its text, its access log
    traces = m.store.get(expected, ns)
    assert len(traces) == len(expected)
    for t in traces:
        assert t.content is not None and t.context is not None and len(t.content) == len(t.context) == DIM
        assert t.text and t.namespace == ns
    assert len(m.store.access_logs(expected, ns)) == len(expected)
    # positions inside each episode are unique (the writers were serialised)
    pos = Counter((t.episode, t.position) for t in traces)
    assert max(pos.values()) == 1, [k for k, v in pos.items() if v > 1][:5]


def test_threads_racing_for_one_explicit_id_store_it_once(store):
    """Adding a given id is check-then-write; the check must be atomic with the write."""
    m = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    ids = [f"fixed-{j}" for j in range(30)]
    wins: Counter = Counter()

    def worker(w: int) -> None:
        for tid in ids:
            try:
                m.add_many([{"id": tid, "text": f"claim {tid} by worker {w}"}])
                wins[tid] += 1
            except MemoryWeaveError:
                pass  # typed: "a trace with id ... already exists"

    run_workers(worker)
    assert dict(wins) == {tid: 1 for tid in ids}, "an explicit id was accepted more than once"
    stored = [t.id for t in m.store.iter_traces()]
    assert Counter(stored) == Counter(ids)
    assert m.count() == len(ids) == len(m)


def test_duplicate_ids_inside_one_batch_are_rejected_whole(store):
    m = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    m.add("already here", namespace="n")
    before = sorted((t.id, t.text) for t in m)
    with pytest.raises(InvalidInputError):
        m.add_many([{"id": "twin", "text": "one"}, {"id": "twin", "text": "two"}], namespace="n")
    assert sorted((t.id, t.text) for t in m) == before
    assert m.count("n") == len(m) == 1


# -- two processes on one SQLite file --------------------------------------------
PER_PROCESS = 40


def _process_worker(path: str, w: int, start, out) -> None:
    """Runs in a spawned child: write and read the shared file, report what it saw."""
    try:
        m = MemoryWeave(path, embedder=HashingEmbedder(DIM))
        start.wait(60)
        added, recalled, counts = [], set(), []
        i = 0
        while len(added) < PER_PROCESS:
            if i % 4 == 0:
                batch = m.add_many(
                    [{"text": f"process {w} batch {i} item {j} apples", "episode": f"p{w}-e{i // 8}"} for j in range(4)],
                    namespace="shared",
                )
                added += [t.id for t in batch]
            else:
                added.append(m.add(f"process {w} note {i} pears", episode=f"p{w}-e{i // 8}", namespace="shared").id)
            m.add(f"private {w} {i}", namespace=f"own-{w}")
            counts.append(m.count("shared"))
            res = m.recall(f"apples pears process {1 - w}", k=K, namespace="shared")
            if len(res) != min(K, counts[-1]) or len({r.trace.id for r in res}) != len(res):
                raise AssertionError(f"inconsistent recall: {len(res)} results at count {counts[-1]}")
            if any(r.trace.namespace != "shared" for r in res):
                raise AssertionError("recall crossed namespaces")
            recalled.update(r.trace.id for r in res)
            i += 1
        m.close()
        out.put((w, "ok", added, sorted(recalled), counts))
    except BaseException:  # noqa: BLE001
        out.put((w, "error", traceback.format_exc(), [], []))


def test_two_processes_share_one_sqlite_file(tmp_path):
    path = str(tmp_path / "shared.db")
    with MemoryWeave(path, embedder=HashingEmbedder(DIM)) as m:
        seed = [t.id for t in m.add_many([f"seed {i} apples" for i in range(5)], namespace="shared")]
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(path, w, start, out)) for w in range(2)]
    for p in procs:
        p.start()
    start.set()
    reports = {}
    try:
        for _ in procs:
            w, status, added, recalled, counts = out.get(timeout=120)
            assert status == "ok", f"process {w} failed:\n{added}"
            reports[w] = (added, set(recalled), counts)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs)

    all_added = seed + reports[0][0] + reports[1][0]
    assert len(all_added) == len(set(all_added))
    for w in (0, 1):
        counts = reports[w][2]
        assert counts == sorted(counts), f"process {w} saw the count go down: {counts}"
    with MemoryWeave(path, embedder=HashingEmbedder(DIM)) as m:
        stored = [t.id for t in m.store.iter_traces("shared")]
        assert Counter(stored) == Counter(all_added), "lost or duplicated traces across processes"
        assert m.count("own-0") == m.count("own-1") == len(reports[0][2])
        assert (reports[0][1] | reports[1][1]) <= set(all_added)
        traces = m.store.get(all_added, "shared")
        assert len(traces) == len(all_added)
        assert all(t.content is not None and len(t.context) == DIM for t in traces)
        assert max(Counter((t.episode, t.position) for t in traces).values()) == 1
        # the index still answers for what each process wrote (among the first few: its
        # siblings "item 1".."item 3" are later near-copies, which freshness ranks up, and
        # the other process's recalls gave some of them activation)
        for w in (0, 1):
            found = [r.text for r in m.recall(f"process {w} batch 0 item 0 apples", k=4, namespace="shared")]
            assert f"process {w} batch 0 item 0 apples" in found
