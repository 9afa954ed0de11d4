"""Reliability, round two (issue 23, defects 2 and 9): hostile input gets a
typed error before anything is written, and what is accepted reads back.

* Metadata has explicit limits, ``MAX_METADATA_DEPTH`` nested containers and
  ``MAX_METADATA_BYTES`` of JSON as the stores write it; the largest metadata
  accepted round-trips through every backend and the LangGraph store.
* A query's time expression that cannot be a date ("in May 0000", a
  5,000-digit number of days ago) is not a time expression: recall works.
* Labels given as huge ints, embeddings given as strings: typed errors.
* A time late on 9999-12-31 lies in year 9999 and is accepted.
* ``summary()`` while another thread forgets never raises a bare KeyError.
"""

from __future__ import annotations

import json
import threading

import pytest
from backends import BACKENDS, dispose, make_store

from memoryweave_core import (
    HashingEmbedder,
    InvalidInputError,
    InvalidMetadataError,
    MemoryWeave,
    MemoryWeaveError,
    TraceNotFoundError,
)
from memoryweave_core.storage.memory import MemoryStore
from memoryweave_core.timeexpr import parse_window
from memoryweave_core.timeutil import to_timestamp
from memoryweave_core.trace import MAX_METADATA_BYTES, MAX_METADATA_DEPTH

DIM = 64
NOW = 1_700_000_000.0


@pytest.fixture(params=BACKENDS)
def memory(request, tmp_path):
    store = make_store(request.param, tmp_path / "limits.db")
    m = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    m.add("Ana adopted a cat called Luna", speaker="Ana", episode="pets", time=NOW - 86400)
    yield m
    dispose(request.param, store)


def on_fresh_stack(fn):
    """Run ``fn`` in a new thread, whose stack starts almost empty (as a
    user's script does, unlike a test deep inside pytest), and re-raise."""
    out: list = []

    def run() -> None:
        try:
            out.append(("ok", fn()))
        except BaseException as exc:  # noqa: BLE001
            out.append(("err", exc))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    kind, value = out[0]
    if kind == "err":
        raise value
    return value


def nested(depth: int, leaf: object = 1) -> dict:
    """A mapping ``depth`` containers deep (the outer mapping counts as one)."""
    value: object = leaf
    for _ in range(depth):
        value = {"a": value}
    return value  # type: ignore[return-value]


def deep_list(depth: int) -> list:
    value: list = ["deep lists count too"]
    for _ in range(depth - 1):
        value = [value]
    return value


def largest_accepted() -> dict:
    """Metadata exactly at both limits: MAX_METADATA_DEPTH deep, MAX_METADATA_BYTES long."""
    skeleton = nested(MAX_METADATA_DEPTH, "")
    pad = MAX_METADATA_BYTES - len(json.dumps(skeleton))
    return nested(MAX_METADATA_DEPTH, "x" * pad)


# -- defect 2: metadata depth and size ----------------------------------------------
def test_largest_accepted_metadata_round_trips(memory):
    meta = largest_accepted()
    assert len(json.dumps(meta)) == MAX_METADATA_BYTES
    t = memory.add("the deepest metadata allowed", metadata=meta, episode="deep")
    assert memory.get(t.id).metadata == meta
    assert any(r.trace.id == t.id for r in memory.recall("deepest metadata allowed", k=5))
    assert [x.metadata for x in memory.traces() if x.id == t.id] == [meta]
    memory.summary()


@pytest.mark.parametrize(
    "meta",
    [
        nested(MAX_METADATA_DEPTH + 1),
        nested(950),  # was stored, then every read of the namespace raised CorruptStoreError
        {"a": deep_list(MAX_METADATA_DEPTH)},
        {"big": "x" * MAX_METADATA_BYTES},
        {"big": "é" * (MAX_METADATA_BYTES // 6 + 1)},  # written as \\u00e9: six bytes each
    ],
    ids=["one-too-deep", "950-deep", "deep-lists", "one-too-big", "escaped-too-big"],
)
def test_metadata_beyond_the_limits_is_refused_before_anything_is_written(memory, meta):
    before = [t.to_dict() for t in memory.traces()]
    with pytest.raises(InvalidMetadataError):
        on_fresh_stack(lambda: memory.add("too much metadata", metadata=meta))
    with pytest.raises(InvalidMetadataError):
        on_fresh_stack(lambda: memory.add_many([{"text": "fine"}, {"text": "too much", "metadata": meta}]))
    assert [t.to_dict() for t in memory.traces()] == before
    memory.recall("cat", k=3)  # the namespace still reads
    memory.summary()


def test_langgraph_store_refuses_one_users_deep_value_and_others_search_on(tmp_path):
    pytest.importorskip("langgraph")
    from memoryweave_lc import MemoryWeaveStore

    memory = MemoryWeave(store=make_store("sqlite", tmp_path / "lg.db"), embedder=HashingEmbedder(DIM))
    store = MemoryWeaveStore(memory, index={"fields": ["$"]})
    store.put(("users", "ana"), "pet", {"text": "a cat called Luna"})
    store.put(("users", "ben"), "pet", {"text": "a dog called Rex"})
    with pytest.raises(InvalidMetadataError):
        on_fresh_stack(lambda: store.put(("users", "mallory"), "deep", nested(950)))
    store.put(("users", "mallory"), "ok", {"text": "a fish"})  # her later puts still work
    found = {(tuple(i.namespace), i.key) for i in store.search(("users",), query="pet", limit=10)}
    assert found == {(("users", "ana"), "pet"), (("users", "ben"), "pet"), (("users", "mallory"), "ok")}


# -- defect 9: errors of the wrong type ------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        "what happened in May 0000?",
        "what happened in December 9999?",
        "what happened in Jan 0001?",
        "what did Ana say " + "9" * 5000 + " days ago?",
        "what did Ana say " + "9" * 400 + " years ago?",
        "what did Ana say 99999999 years ago?",
    ],
    ids=["may-0000", "december-9999", "jan-0001", "5000-digit-days", "400-digit-years", "eight-digit-years"],
)
def test_a_time_expression_that_cannot_be_a_date_is_not_one(memory, query):
    window = parse_window(query, NOW)
    assert window is None or all(-62135596800.0 <= x <= 253402300800.0 for x in window)
    found = memory.recall(query, k=3)
    assert len(found) == 1


def test_valid_time_expressions_still_give_windows():
    assert parse_window("what happened in May 2023?", NOW) is not None
    assert parse_window("what happened 3 days ago?", NOW) is not None
    assert parse_window("in December 9998", NOW) is not None


@pytest.mark.parametrize("field", ["speaker", "episode"])
def test_a_huge_int_label_is_a_typed_error(memory, field):
    before = memory.count()
    with pytest.raises(InvalidInputError):
        memory.add("huge label", **{field: 10**5000})
    assert memory.count() == before
    assert memory.add("small int label", **{field: 42}).to_dict()[field] == "42"


def test_a_time_late_on_the_last_day_of_9999_is_accepted():
    assert to_timestamp("9999-12-31T12:00") == to_timestamp("9999-12-31") + 12 * 3600
    assert to_timestamp("9999-12-31T23:59:59") > to_timestamp("9999-12-31T12:00")
    with pytest.raises(InvalidInputError, match="out of range"):
        to_timestamp("0999-12-31T12:00")


@pytest.mark.parametrize(
    "vector",
    [["1"] * DIM, [b"1"] * DIM, ["1"] * (DIM - 1) + [1.0], [None] * DIM],
    ids=["str", "bytes", "one-str", "none"],
)
def test_an_embedding_that_is_not_numbers_is_refused(memory, vector):
    before = memory.count()
    with pytest.raises(InvalidInputError):
        memory.add("strings for a vector", embedding=vector)
    with pytest.raises(InvalidInputError):
        memory.recall("", query_vector=vector)
    assert memory.count() == before


def test_an_embedder_returning_strings_is_refused():
    class StringEmbedder:
        dim = DIM

        def embed(self, texts):
            return [["1"] * DIM for _ in texts]

    from memoryweave_core.embedders import _finish

    with pytest.raises(InvalidInputError):
        _finish(StringEmbedder().embed(["a", "b"]), 2, DIM)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_summary_while_another_thread_forgets_never_raises_a_bare_error(kind, tmp_path):
    m = MemoryWeave(store=make_store(kind, tmp_path / "summary.db"), embedder=HashingEmbedder(DIM))
    m.add("a trace that stays, so the namespace does")
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        while not stop.is_set():
            ids = [t.id for t in m.add_many([{"text": f"turn {i}", "episode": "e"} for i in range(40)])]
            m.forget(ids[::2])
            m.forget(ids[1::2])

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(300):
            try:
                m.summary()
            except MemoryWeaveError:
                pass  # a typed error would be acceptable; a bare KeyError is not
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
    finally:
        stop.set()
        worker.join()
        m.close()
    assert not errors, f"{len(errors)} bare errors, first: {errors[0]!r}"


class ForgetsAfterReading(MemoryStore):
    """A store where, once armed, another caller forgets every trace right
    after a read of traces: the race made certain."""

    armed = False

    def _forget_all(self) -> None:
        if self.armed:
            self.armed = False
            for ns in self.namespaces():
                ids = [t.id for t in super().iter_traces(ns)]
                self.delete(ids, ns)

    def iter_traces(self, namespace=None):
        traces = list(super().iter_traces(namespace))
        self._forget_all()
        return iter(traces)

    def get(self, ids, namespace):
        found = super().get(ids, namespace)
        self._forget_all()
        return found

    def access_logs(self, ids, namespace):
        self._forget_all()  # gone just before the logs are read
        return super().access_logs(ids, namespace)


def test_summary_and_activation_of_traces_forgotten_meanwhile():
    store = ForgetsAfterReading()
    m = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    t = m.add("soon forgotten", episode="e")
    store.armed = True
    info = m.summary(namespace="default")
    assert info["namespaces"]["default"]["traces"] == 0  # read before, gone by the log read: left out
    t = m.add("soon forgotten too", episode="e")
    store.armed = True
    with pytest.raises(TraceNotFoundError):
        m.activation(t.id)
