"""Reliability (issue 8.3): bad input gets a typed error, and changes nothing.

Property-based tests (hypothesis, bounded) over the public API of
MemoryWeave, on every backend: arbitrary unicode, empty and whitespace text,
1 MB text, control characters, NUL, lone surrogates, NaN / infinite / zero
vectors, wrong dimensions, negative or huge k, unknown ids, out-of-range
times, labels, and metadata that is not JSON-serialisable.

Each input either gets a :class:`MemoryWeaveError` subclass (and the store's
content -- ids, texts, labels, times, metadata, vectors -- is exactly what it
was before the call) or the documented behaviour, which each test states as
an executable model:

* text/query: a ``str``, not empty after ``str.strip()``, at most
  ``MAX_TEXT_CHARS`` characters, no NUL, encodable as UTF-8 (no lone
  surrogates); any other unicode, control characters included, is stored
  exactly as given.
* labels (speaker, episode, namespace, id): ``None`` (not for a namespace), an
  ``int`` (taken as its decimal string) or a ``str`` as above of at most 512
  characters.
* times: anything :func:`to_timestamp` parses, finite and between years 1000
  and 9999; stored as epoch seconds.
* vectors: exactly the store's dimension, finite, non-zero length; stored
  unit-normalised.
* k: an ``int`` >= 1 (not a bool); a recall returns ``min(k, count)``.
* metadata: a mapping with ``str`` keys that ``json.dumps(allow_nan=False)``
  accepts, at most ``MAX_METADATA_DEPTH`` levels deep and ``MAX_METADATA_BYTES``
  as JSON (``test_reliability_limits.py``); stored as its JSON round trip.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import numpy as np
import pytest
from backends import BACKENDS, dispose, make_store
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from memoryweave_core import (
    DimensionMismatchError,
    EmptyTextError,
    HashingEmbedder,
    InvalidInputError,
    InvalidMetadataError,
    MemoryWeave,
    MemoryWeaveError,
    NonFiniteVectorError,
    TraceNotFoundError,
)
from memoryweave_core.scopes import encode
from memoryweave_core.timeutil import MAX_TIME, MIN_TIME
from memoryweave_core.trace import MAX_NAMESPACE_CHARS, MAX_TEXT_CHARS

DIM = 64
PROPS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# -- backends (the same small factory in every reliability file) -------------
@pytest.fixture(params=BACKENDS)
def memory(request, tmp_path):
    """A MemoryWeave holding a few traces already (so 'unchanged' means something)."""
    store = make_store(request.param, tmp_path / "reliability.db")
    m = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    m.add_conversation([("Ana", "I adopted a cat called Luna"), ("Ben", "What breed is she?")], episode="pets", time="2023-05-08")
    m.add("the wifi password is hunter2", namespace="other", metadata={"kind": "secret"})
    yield m
    dispose(request.param, store)


def snapshot(m: MemoryWeave) -> list[tuple]:
    """The store's content: everything a rejected call must leave as it was."""
    return sorted(
        (
            t.id, t.namespace, t.text, t.speaker, t.episode, t.position, t.time,
            json.dumps(t.metadata, sort_keys=True), t.content.tobytes(), t.context.tobytes(),
        )
        for t in m.store.iter_traces()
    ) + [("count", m.count(), tuple(m.namespaces()))]


def rejected(m: MemoryWeave, call, error=MemoryWeaveError):
    """Assert ``call()`` raises ``error`` (a MemoryWeaveError) and changes nothing; returns the error."""
    before = snapshot(m)
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, MemoryWeaveError), f"untyped error {type(info.value).__name__}: {info.value}"
    assert snapshot(m) == before, "a rejected call changed the store"
    return info.value


# -- models of the documented behaviour -----------------------------------------
def text_error(text) -> type[MemoryWeaveError] | None:
    if not isinstance(text, str):
        return InvalidInputError
    if not text.strip():
        return EmptyTextError
    if len(text) > MAX_TEXT_CHARS or "\x00" in text:
        return InvalidInputError
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return InvalidInputError
    return None


def label_ok(value, *, allow_none: bool = True) -> bool:
    if value is None:
        return allow_none
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and text_error(value) is None and len(value) <= 512


def as_seconds(value) -> float | None:
    """Epoch seconds of a number or datetime (None for what must be parsed)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def time_ok(value, offset: int = 0) -> bool:
    if isinstance(value, bool):
        return False
    ts = as_seconds(value)
    if ts is None:
        return True  # strings etc.: checked by the result (parsed in range, or a typed error)
    return math.isfinite(ts) and MIN_TIME <= ts and ts + offset <= MAX_TIME


SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
WHITESPACE = st.text(alphabet=" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2000\u2028\u3000", max_size=20)
CONTROL = st.text(alphabet=st.characters(categories=["Cc"]), min_size=1, max_size=20)


@st.composite
def texts(draw):
    base = draw(st.one_of(st.text(max_size=60), WHITESPACE, CONTROL, st.text(alphabet=st.characters(categories=["L", "M", "N", "S", "Z", "Cf", "Co"]), max_size=60)))
    kind = draw(st.sampled_from(["as is", "as is", "nul", "surrogate", "word"]))
    at = draw(st.integers(0, len(base)))
    if kind == "nul":
        base = base[:at] + "\x00" + base[at:]
    elif kind == "surrogate":
        base = base[:at] + draw(SURROGATES) + base[at:]
    elif kind == "word":
        base = base[:at] + " memo " + base[at:]
    return base


NOT_STRINGS = st.one_of(st.none(), st.integers(), st.binary(max_size=5), st.lists(st.text(max_size=3), max_size=2), st.floats())


# -- text ---------------------------------------------------------------------------
def test_add_any_text(memory):
    @PROPS
    @given(text=st.one_of(texts(), NOT_STRINGS), how=st.sampled_from(["add", "add_many", "conversation"]))
    def prop(text, how):
        call = {
            "add": lambda: [memory.add(text, namespace="props")],
            "add_many": lambda: memory.add_many([text], namespace="props"),
            "conversation": lambda: memory.add_conversation([("Ana", text)], namespace="props"),
        }[how]
        error = text_error(text)
        if error is not None:
            rejected(memory, call, error)
            return
        before = memory.count()
        (trace,) = call()
        assert memory.count() == before + 1
        assert memory.get(trace.id, namespace=trace.namespace).text == text, "text not stored exactly as given"
        memory.recall(text, k=3, namespace="props")  # a valid text is also a valid query

    prop()


def test_recall_any_query(memory):
    @PROPS
    @given(query=st.one_of(texts(), NOT_STRINGS), ns=st.sampled_from(["default", "other", "empty-namespace"]))
    def prop(query, ns):
        error = text_error(query)
        if error is not None:
            rejected(memory, lambda: memory.recall(query, namespace=ns), error)
            return
        result = memory.recall(query, k=5, namespace=ns)
        assert len(result) == min(5, memory.count(ns))
        assert all(r.trace.namespace == ns and math.isfinite(r.score) for r in result)

    prop()


def test_text_of_exactly_the_limit_is_kept_and_one_more_is_rejected(memory):
    big = ("lorem ipsum " * (MAX_TEXT_CHARS // 12 + 1))[: MAX_TEXT_CHARS - 5] + " tail"
    assert len(big) == MAX_TEXT_CHARS
    rejected(memory, lambda: memory.add(big + "x"), InvalidInputError)
    rejected(memory, lambda: memory.recall(big + "x"), InvalidInputError)
    t = memory.add(big, namespace="big")
    assert memory.get(t.id, namespace=t.namespace).text == big
    assert memory.recall("lorem ipsum tail", k=1, namespace="big")[0].trace.id == t.id


# -- vectors --------------------------------------------------------------------------
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def vectors(draw):
    n = draw(st.sampled_from([DIM, DIM, DIM, DIM - 1, DIM + 1, 0, 1]))
    kind = draw(st.sampled_from(["any", "finite", "zero", "nan", "inf", "tiny", "huge"]))
    if kind == "zero":
        return [0.0] * n
    vec = draw(st.lists(FLOATS if kind == "any" else st.floats(-1e6, 1e6), min_size=n, max_size=n))
    if n and kind in ("nan", "inf"):
        vec[draw(st.integers(0, n - 1))] = math.nan if kind == "nan" else -math.inf
    if kind == "tiny":
        vec = [x * 1e-300 for x in vec]
    if kind == "huge":
        vec = [x * 1e300 for x in vec]
    return vec


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_add_with_any_embedding(memory):
    @PROPS
    @given(vec=vectors(), as_array=st.booleans())
    def prop(vec, as_array):
        emb = np.asarray(vec, dtype=np.float64) if as_array else vec
        call = lambda: memory.add("a memo with its own vector", embedding=emb, namespace="vectors")  # noqa: E731
        if len(vec) != DIM:
            rejected(memory, call, DimensionMismatchError)
            return
        if not all(math.isfinite(x) for x in vec) or not any(vec):
            rejected(memory, call, NonFiniteVectorError)
            return
        try:
            t = call()
        except NonFiniteVectorError:  # overflows or underflows float32: documented as non-finite
            v32 = np.asarray(vec, dtype=np.float32)
            with np.errstate(all="ignore"):
                norm = float(np.linalg.norm(v32))
            assert not np.isfinite(v32).all() or not (1e-12 < norm < math.inf)
            return
        content = memory.get(t.id, namespace=t.namespace).content
        assert content.shape == (DIM,) and np.isfinite(content).all()
        assert abs(float(np.linalg.norm(content)) - 1) < 1e-4
        direction = np.asarray(vec, np.float64) / np.linalg.norm(np.asarray(vec, np.float64))
        assert float(content @ direction) > 0.999

    prop()


def test_malformed_embeddings_are_typed_errors(memory):
    good = np.ones(DIM)
    rejected(memory, lambda: memory.add("x", embedding="not a vector"), InvalidInputError)
    rejected(memory, lambda: memory.add("x", embedding={"a": 1}), InvalidInputError)
    rejected(memory, lambda: memory.add("x", embedding=[good]), DimensionMismatchError)  # 2-D for one item
    rejected(memory, lambda: memory.add_many(["x", "y"], embeddings=[good]), InvalidInputError)  # wrong count
    rejected(memory, lambda: memory.add_many(["x", "y"], embeddings=[good, [math.nan] * DIM]), NonFiniteVectorError)


def test_an_embedder_of_another_dimension_is_refused(memory):
    other = MemoryWeave(store=memory.store, embedder=HashingEmbedder(DIM // 2))
    rejected(memory, lambda: other.add("hello"), DimensionMismatchError)
    rejected(memory, lambda: other.add_many(["a", "b"]), DimensionMismatchError)
    rejected(memory, lambda: other.recall("cat"), DimensionMismatchError)


# -- k --------------------------------------------------------------------------------
def test_recall_any_k(memory):
    @PROPS
    @given(
        k=st.one_of(
            st.integers(-(2**70), 2**70), st.integers(-3, 8), st.sampled_from([2**62, 2**63, 2**64, 10**30]),
            st.floats(), st.booleans(), st.text(max_size=3), st.none(), st.just(np.int64(3)),
        )
    )
    def prop(k):
        ok = isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1
        if not ok:
            rejected(memory, lambda: memory.recall("cat", k=k), InvalidInputError)
            return
        result = memory.recall("cat", k=k, record_access=False)
        assert len(result) == min(int(k), memory.count("default"))
        assert len({r.trace.id for r in result}) == len(result)

    prop()


# -- ids ------------------------------------------------------------------------------
def test_unknown_ids(memory):
    known = next(iter(memory.store.iter_traces("default"))).id

    @PROPS
    @given(tid=st.one_of(st.text(max_size=40), st.integers(), st.none(), st.binary(max_size=4)))
    def prop(tid):
        assume(tid != known)
        for call in (
            lambda: memory.get(tid),
            lambda: memory.activation(tid),
            lambda: memory.get(known, namespace="other"),  # exists, but not in that namespace
        ):
            err = rejected(memory, call, TraceNotFoundError)
            assert isinstance(err, KeyError)
        if isinstance(tid, str):
            rejected(memory, lambda: memory.forget(tid), TraceNotFoundError)
            rejected(memory, lambda: memory.forget([known, tid]), TraceNotFoundError)  # all or nothing
            rejected(memory, lambda: memory.forget([known], namespace="other"), TraceNotFoundError)

    prop()
    rejected(memory, lambda: memory.forget(), InvalidInputError)
    assert memory.forget(episode="no such episode") == 0
    assert memory.forget(namespace="no such namespace") == 0


# -- times ----------------------------------------------------------------------------
TIMES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**15), 10**15),
    st.sampled_from([MIN_TIME, MAX_TIME, MIN_TIME - 1, MAX_TIME + 1, MAX_TIME - 1, 0, -1, True, 1e300, -1e300]),
    st.text(max_size=20),
    st.sampled_from(["2023-05-08", "1:56 pm on 8 May, 2023", "2023-05-08T10:00:00Z", "yesterday", "", "  ", "nan", "inf"]),
    st.datetimes(timezones=st.just(timezone.utc)),
    st.builds(object),
)


def test_add_and_recall_at_any_time(memory):
    @PROPS
    @given(when=TIMES, how=st.sampled_from(["add", "conversation", "recall"]))
    def prop(when, how):
        turns = 3
        call = {
            "add": lambda: [memory.add("a memo at some time", time=when, namespace="times")],
            "conversation": lambda: memory.add_conversation(["one", "two", "three"], time=when, namespace="times"),
            "recall": lambda: memory.recall("memo", at=when, namespace="times", record_access=False),
        }[how]
        # conversation turns are one second apart: the last one must fit too
        ok = time_ok(when, turns - 1 if how == "conversation" else 0)
        if not ok:
            rejected(memory, call, InvalidInputError)
            return
        before = snapshot(memory)
        try:
            out = call()
        except InvalidInputError:  # a string or object that does not parse: a typed error, nothing written
            assert as_seconds(when) is None, f"{when!r} is in range but was refused"
            assert snapshot(memory) == before
            return
        if how != "recall":
            for i, t in enumerate(out):
                assert MIN_TIME <= t.time <= MAX_TIME and memory.get(t.id, namespace=t.namespace).time == t.time
                if as_seconds(when) is not None:
                    assert t.time == pytest.approx(as_seconds(when) + i, abs=1e-6)

    prop()


def test_time_beyond_float_range_is_a_typed_error(memory):
    rejected(memory, lambda: memory.add("x", time=10**400), InvalidInputError)


# -- labels ---------------------------------------------------------------------------
LABELS = st.one_of(texts(), st.none(), st.integers(-5, 5), st.booleans(), st.text(min_size=510, max_size=515), st.floats())


def test_any_labels(memory):
    @PROPS
    @given(speaker=LABELS, episode=LABELS, namespace=LABELS, tid=LABELS)
    def prop(speaker, episode, namespace, tid):
        # a namespace label is stored escaped (scopes.encode: U+001E and U+001F inside a label
        # take two characters), and the stored form has its own limit
        ns_ok = label_ok(namespace, allow_none=False) and len(encode((str(namespace),))) <= MAX_NAMESPACE_CHARS
        ok = label_ok(speaker) and label_ok(episode) and ns_ok and label_ok(tid)
        taken = tid is not None and label_ok(tid) and ns_ok and bool(memory.store.get([str(tid)], encode((str(namespace),))))
        call = lambda: memory.add_many(  # noqa: E731
            [{"text": "labelled memo", "speaker": speaker, "episode": episode, "id": tid}], namespace=namespace
        )
        if not ok or taken:
            rejected(memory, call, InvalidInputError)
            return
        (t,) = call()
        assert t.namespace == encode((str(namespace),)) and t.scope == str(namespace)
        assert t.speaker == (None if speaker is None else str(speaker))
        assert memory.get(t.id, namespace=t.scope) == t  # the stored form is not a namespace to pass back (scopes.py)

    prop()


# -- metadata -------------------------------------------------------------------------
JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10))
BAD_LEAVES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not math.isfinite(x)),
    st.binary(max_size=3), st.sets(st.integers(), max_size=2), st.builds(object), st.complex_numbers(),
)
VALUES = st.recursive(
    st.one_of(JSON_LEAVES, BAD_LEAVES),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.tuples(kids, kids),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none()), kids, max_size=3),
    ),
    max_leaves=8,
)
METADATA = st.one_of(
    st.dictionaries(st.text(max_size=8), VALUES, max_size=4),
    st.dictionaries(st.one_of(st.integers(), st.tuples(st.integers())), VALUES, min_size=1, max_size=2),
    st.lists(st.integers(), max_size=2), st.text(max_size=5), st.integers(), st.none(),
)


def metadata_ok(md) -> bool:
    if md is None:
        return True
    if not isinstance(md, dict) or not all(isinstance(k, str) for k in md):
        return False
    try:
        encoded = json.dumps(md, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        return False
    # documented: no NUL and no lone surrogate in any string (every backend must store it)
    try:
        encoded.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not _has_nul(md)


def _has_nul(node) -> bool:
    if isinstance(node, str):
        return "\x00" in node
    if isinstance(node, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_nul(v) for v in node)
    return False


def test_any_metadata(memory):
    @PROPS
    @given(md=METADATA)
    def prop(md):
        call = lambda: memory.add("memo with metadata", metadata=md, namespace="meta")  # noqa: E731
        if not metadata_ok(md):
            rejected(memory, call, InvalidMetadataError)
            return
        t = call()
        expected = json.loads(json.dumps(md or {}))
        assert t.metadata == expected and memory.get(t.id, namespace=t.namespace).metadata == expected

    prop()


def test_pathological_metadata_is_a_typed_error(memory):
    deep: dict = {}
    cur = deep
    for _ in range(100_000):
        cur["a"] = {}
        cur = cur["a"]
    rejected(memory, lambda: memory.add("x", metadata=deep), InvalidMetadataError)
    loop: dict = {}
    loop["self"] = loop
    rejected(memory, lambda: memory.add("x", metadata=loop), InvalidMetadataError)
    rejected(memory, lambda: memory.add("x", metadata={"n": math.nan}), InvalidMetadataError)
    rejected(memory, lambda: memory.add("x", metadata={1: "int key"}), InvalidMetadataError)


# -- a batch is all or nothing --------------------------------------------------------
BAD_ITEMS = [
    {"text": ""},
    {"text": "   \n\t"},
    {"text": "nul \x00 inside"},
    {"text": "surrogate \ud800"},
    {"text": None},
    {"text": "ok", "metadata": {"f": {1, 2}}},
    {"text": "ok", "time": math.inf},
    {"text": "ok", "time": "not a time at all"},
    {"text": "ok", "speaker": ""},
    {"text": "ok", "episode": "x" * 600},
    {"text": "ok", "colour": "red"},  # unknown field
    {"text": "ok", "id": "dup-in-batch"},  # with a second item of that id
    42,
    b"bytes",
]


def test_one_bad_item_rejects_the_whole_batch(memory):
    @PROPS
    @given(n_good=st.integers(0, 5), bad=st.sampled_from(BAD_ITEMS), data=st.data())
    def prop(n_good, bad, data):
        items: list = [{"text": f"good item {i}", "episode": "batch"} for i in range(n_good)]
        items.insert(data.draw(st.integers(0, len(items))), bad)
        if isinstance(bad, dict) and bad.get("id") == "dup-in-batch":
            items.append({"text": "again", "id": "dup-in-batch"})
        rejected(memory, lambda: memory.add_many(items, namespace="batch"), InvalidInputError)

    prop()


def test_existing_id_rejects_the_whole_batch(memory):
    known = next(iter(memory.store.iter_traces("other"))).id
    items = [{"text": "fresh"}, {"text": "clash", "id": known}]
    rejected(memory, lambda: memory.add_many(items, namespace="other"), InvalidInputError)
    assert [t.namespace for t in memory.add_many(items)] == ["default"] * 2  # ids are per namespace


def test_bad_namespace_arguments(memory):
    for ns in ("", "   ", None, "x" * 513, "a\x00b", "\udc00", 3.5, b"ns"):
        rejected(memory, lambda ns=ns: memory.add("x", namespace=ns), InvalidInputError)
        rejected(memory, lambda ns=ns: memory.recall("x", namespace=ns), InvalidInputError)
        if ns is not None:
            rejected(memory, lambda ns=ns: memory.forget(namespace=ns), InvalidInputError)
