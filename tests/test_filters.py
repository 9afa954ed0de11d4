"""The filter language: parsing, the typing rules, and three evaluators that agree.

The Python evaluator (the in-memory store's), the SQLite translation (over a
real in-memory table with the store's column layout) and the PostgreSQL one
(a temp table in the test database) must give the same matches on random
filters and random data.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoryweave_core.errors import (
    InvalidFilterError,
    InvalidInputError,
    UnsupportedFilterError,
)
from memoryweave_core.filter_sql import to_postgres, to_sqlite
from memoryweave_core.filters import (
    And,
    Columns,
    Compare,
    FieldRef,
    In,
    Not,
    mask,
    matches,
    parse_filter,
)
from memoryweave_core.trace import Trace

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z

ROWS = [
    # speaker, episode, time, metadata
    ("Ana", "e1", T0, {"topic": "health", "score": 3, "user": {"tier": "gold"}, "tags": ["a", "b"]}),
    ("Bo", "e1", T0 + 60, {"topic": "work", "score": 4.5, "flag": True, "user": {"tier": "silver"}}),
    (None, "e2", T0 + 86400, {"topic": "health", "score": "3", "flag": False, "speaker": "meta"}),
    ("Ana", None, T0 - 86400, {"n": None}),
]


def traces(rows=ROWS):
    return [
        Trace(id=str(i), text="x", speaker=s, episode=e, time=t, metadata=m) for i, (s, e, t, m) in enumerate(rows)
    ]


def py_ids(spec, rows=ROWS):
    node = parse_filter(spec)
    return {i for i, hit in enumerate(mask(node, Columns.of(traces(rows)))) if hit}


def sqlite_db(rows=ROWS) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE traces (key INTEGER PRIMARY KEY, speaker TEXT, episode TEXT, time REAL NOT NULL, metadata TEXT NOT NULL)")
    db.executemany("INSERT INTO traces VALUES (?, ?, ?, ?, ?)", [(i, s, e, t, json.dumps(m)) for i, (s, e, t, m) in enumerate(rows)])
    return db


def sqlite_ids(db, spec):
    sql, params = to_sqlite(parse_filter(spec), alias="t")
    return {r[0] for r in db.execute(f"SELECT t.key FROM traces t WHERE {sql}", params)}


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({}, {0, 1, 2, 3}),
        ({"topic": "health"}, {0, 2}),
        ({"topic": {"$ne": "health"}}, {1, 3}),  # a missing key matches $ne
        ({"score": 3}, {0}),  # the string "3" is not the number 3
        ({"score": "3"}, {2}),
        ({"score": {"$gte": 3}}, {0, 1}),
        ({"score": {"$gt": 3, "$lt": 5}}, {1}),
        ({"flag": True}, {1}),
        ({"flag": False}, {2}),
        ({"flag": {"$exists": True}}, {1, 2}),
        ({"n": {"$exists": True}}, {3}),  # present, holding null
        ({"user.tier": {"$in": ["gold", "bronze"]}}, {0}),
        ({"user.tier": {"$nin": ["gold"]}}, {1, 2, 3}),
        ({"tags": "a"}, set()),  # lists never equal a scalar
        ({"speaker": "Ana"}, {0, 3}),
        ({"speaker": {"$ne": "Ana"}}, {1, 2}),  # a None speaker matches $ne
        ({"speaker": {"$exists": False}}, {2}),
        ({"metadata.speaker": "meta"}, {2}),
        ({"episode": {"$in": ["e2"]}}, {2}),
        ({"time": {"$gte": "2023-11-14T22:13:20Z"}}, {0, 1, 2}),
        ({"time": {"$lt": datetime(2023, 11, 15, tzinfo=timezone.utc)}}, {0, 1, 3}),
        ({"time": {"$gt": T0}}, {1, 2}),
        ({"$or": [{"speaker": "Bo"}, {"score": "3"}]}, {1, 2}),
        ({"$not": {"topic": "health"}}, {1, 3}),
        ({"score": {"$not": {"$gt": 3}}}, {0, 2, 3}),
        ({"$and": [{"topic": "health"}, {"speaker": "Ana"}]}, {0}),
        ({"user.tier": {"$in": []}}, set()),
    ],
)
def test_semantics_python_and_sqlite(spec, expected):
    assert py_ids(spec) == expected
    assert sqlite_ids(sqlite_db(), spec) == expected


def test_matches_one_trace_and_none_passes_all():
    t = traces()[0]
    assert matches(parse_filter({"user.tier": "gold"}), t)
    assert not matches(parse_filter({"user.tier": "silver"}), t)
    assert matches(None, t) and parse_filter(None) is None


def test_the_ast_is_small_and_immutable():
    node = parse_filter({"a": {"$ne": 1}, "speaker": {"$in": ["x"]}})
    assert node == And((Not(Compare(FieldRef("metadata", ("a",)), "eq", 1)), In(FieldRef("speaker"), ("x",))))
    assert parse_filter(node) is node
    with pytest.raises(AttributeError):
        node.children = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    "spec, error, part",
    [
        ({"a": {"$regex": "x"}}, UnsupportedFilterError, "$regex"),
        ({"$nor": []}, UnsupportedFilterError, "$nor"),
        ({"a": {"$gt": True}}, UnsupportedFilterError, "booleans"),
        ({"a": None}, UnsupportedFilterError, "$exists"),
        ({"a": datetime(2024, 1, 1)}, UnsupportedFilterError, "time"),
        ({"speaker": 3}, UnsupportedFilterError, "speaker"),
        ({"a": [1, 2]}, InvalidFilterError, "$in"),
        ({"a": {"b": 1}}, InvalidFilterError, "dotted"),
        ({"a": {}}, InvalidFilterError, "empty"),
        ({"a": {"$in": "xy"}}, InvalidFilterError, "list"),
        ({"a": {"$exists": 1}}, InvalidFilterError, "true or false"),
        ({"$and": []}, InvalidFilterError, "non-empty"),
        ({"a..b": 1}, InvalidFilterError, "a..b"),
        ({'a"b': 1}, InvalidFilterError, "a\"b"),
        ({"time": {"$gt": "not a time"}}, InvalidFilterError, "time"),
        ({"a": float("nan")}, InvalidFilterError, "finite"),
        (["a"], InvalidFilterError, "dict"),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(spec, error, part):
    with pytest.raises(error) as info:
        parse_filter(spec)
    assert part in str(info.value)
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)


def test_filter_paths_are_parameters_not_sql():
    sql, params = to_sqlite(parse_filter({"x') OR 1=1 --": 1}))
    assert "OR 1=1" not in sql and any("OR 1=1" in str(p) for p in params)
    assert sqlite_ids(sqlite_db(), {"x') OR 1=1 --": 1}) == set()
    sql, params = to_postgres(parse_filter({"x') OR 1=1 --": 1}))
    assert "OR 1=1" not in sql


# -- three evaluators, random filters and data ------------------------------------------
SCALARS = [0, 1, -2, 2.5, 0.1, 1e16, 0.30000000000000004, "", "a", "b", "ab", "B", "é", "a b", True, False]
TIMES = [T0 - 0.5, T0, T0 + 0.5, T0 + 3600]
KEYS = ["a", "b", "n", "speaker", "we ird[0]$'", "ключ"]
scalar = st.sampled_from(SCALARS)
json_value = st.one_of(
    scalar,
    st.none(),
    st.lists(scalar, max_size=2),
    st.dictionaries(st.sampled_from(["a", "x", "0"]), st.one_of(scalar, st.none()), max_size=2),
)
row = st.tuples(
    st.sampled_from([None, "Ana", "Bo", "ana"]),
    st.sampled_from([None, "e1", "e2"]),
    st.sampled_from(TIMES),
    st.dictionaries(st.sampled_from(KEYS), json_value, max_size=4),
)
meta_field = st.sampled_from(["a", "b", "n", "n.x", "n.a", "n.0", "metadata.speaker", "a.x", "we ird[0]$'", "ключ"])
time_operand = st.sampled_from(TIMES + ["2023-11-14T22:13:20Z", datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)])
label_operand = st.sampled_from(["Ana", "Bo", "ana", "e1", "e2", ""])


def _ops(operand, ranged: bool):
    eq_ops = st.sampled_from(["$eq", "$ne"]).flatmap(lambda op: operand.map(lambda v: {op: v}))
    in_ops = st.sampled_from(["$in", "$nin"]).flatmap(lambda op: st.lists(operand, max_size=3).map(lambda v: {op: v}))
    exists = st.booleans().map(lambda b: {"$exists": b})
    choices = [eq_ops, in_ops, exists, operand]
    if ranged:
        choices.append(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]).flatmap(lambda op: operand.map(lambda v: {op: v})))
    return st.one_of(choices)


leaf = st.one_of(
    st.tuples(meta_field, _ops(scalar.filter(lambda v: not isinstance(v, bool)), True)),
    st.tuples(meta_field, _ops(scalar, False)),
    st.tuples(st.sampled_from(["speaker", "episode"]), _ops(label_operand, True)),
    st.tuples(st.just("time"), _ops(time_operand, True)),
).map(lambda kv: {kv[0]: kv[1]})
filters = st.recursive(
    leaf,
    lambda kids: st.one_of(
        st.lists(kids, min_size=1, max_size=3).map(lambda ks: {"$and": ks}),
        st.lists(kids, min_size=1, max_size=3).map(lambda ks: {"$or": ks}),
        kids.map(lambda k: {"$not": k}),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=8), spec=filters)
def test_python_and_sqlite_agree(rows, spec):
    assert py_ids(spec, rows) == sqlite_ids(sqlite_db(rows), spec), spec


@pytest.fixture(scope="module")
def pg():
    from tests.backends import pg_dsn

    psycopg = pytest.importorskip("psycopg")
    conn = psycopg.connect(pg_dsn(), autocommit=True)
    conn.execute(
        "CREATE TEMP TABLE traces (key integer PRIMARY KEY, speaker text, episode text,"
        " time double precision NOT NULL, metadata json NOT NULL, metab jsonb)"
    )
    yield conn
    conn.close()


def pg_ids(conn, spec, rows, json_type="json"):
    conn.execute("TRUNCATE traces")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO traces VALUES (%s, %s, %s, %s, %s::json, %s::jsonb)",
            [(i, s, e, t, json.dumps(m), json.dumps(m)) for i, (s, e, t, m) in enumerate(rows)],
        )
    sql, params = to_postgres(parse_filter(spec), alias="t", json_type=json_type)
    if json_type == "jsonb":
        sql = sql.replace("t.metadata", "t.metab")
    return {r[0] for r in conn.execute(f"SELECT t.key FROM traces t WHERE {sql}", params).fetchall()}


@pytest.mark.pg
@pytest.mark.parametrize("json_type", ["json", "jsonb"])
def test_postgres_fixed_cases(pg, json_type):
    for spec, expected in [
        ({"topic": {"$ne": "health"}}, {1, 3}),
        ({"score": {"$gte": 3}}, {0, 1}),
        ({"user.tier": {"$nin": ["gold"]}}, {1, 2, 3}),
        ({"speaker": {"$exists": False}}, {2}),
        ({"time": {"$lt": datetime(2023, 11, 15, tzinfo=timezone.utc)}}, {0, 1, 3}),
        ({"score": {"$not": {"$gt": 3}}}, {0, 2, 3}),
    ]:
        assert pg_ids(pg, spec, ROWS, json_type) == expected, spec


@pytest.mark.pg
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=8), spec=filters)
def test_python_and_postgres_agree(pg, rows, spec):
    expected = py_ids(spec, rows)
    assert pg_ids(pg, spec, rows) == expected, spec
    assert pg_ids(pg, spec, rows, "jsonb") == expected, spec


def test_time_column_is_vectorised_over_numpy():
    cols = Columns([{}] * 3, [None] * 3, [None] * 3, np.array([1.0, 2.0, 3.0]) + T0)
    assert mask(parse_filter({"time": {"$gt": T0 + 1.5}}), cols).tolist() == [False, True, True]


def test_keys_json_escapes_are_found_in_sqlite():
    """json.dumps (the store's encoding) escapes these keys; older SQLite compares path labels raw."""
    rows = [(None, None, T0, {"ключ": {"emoji😀": 1}, "a\tb": "x", "é": True}), (None, None, T0, {})]
    db = sqlite_db(rows)
    for spec in ({"ключ.emoji😀": 1}, {"a\tb": "x"}, {"é": True}, {"ключ": {"$exists": True}}):
        assert py_ids(spec, rows) == sqlite_ids(db, spec) == {0}, spec
