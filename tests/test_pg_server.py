"""Smoke test for the PostgreSQL + pgvector server that `make test` provides.

`make test` (via .ci/postgres.sh) exports MEMORYWEAVE_PG_DSN pointing at a local
throw-away database with the `vector` extension. Without it these tests skip,
except under CI=true, where a missing server is a failure.
"""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.pg


@pytest.fixture
def psycopg():
    try:
        import psycopg as module
    except ImportError as exc:  # the [pg] extra is not installed
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"psycopg not importable under CI=true: {exc}")
        pytest.skip(f"psycopg not installed (pip install -e '.[pg]'): {exc}")
    return module


def test_vector_extension_and_nearest_neighbour(dsn, psycopg):
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        version = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        assert version is not None and version[0]

        conn.execute("CREATE TEMP TABLE mw_smoke (id int PRIMARY KEY, embedding vector(3))")
        conn.execute(
            "INSERT INTO mw_smoke VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')"
        )
        rows = conn.execute(
            "SELECT id, embedding <-> '[1,0,0]' AS l2, embedding <=> '[1,0,0]' AS cos"
            " FROM mw_smoke ORDER BY embedding <-> '[1,0,0]' LIMIT 2"
        ).fetchall()
        assert [r[0] for r in rows] == [1, 3]
        assert rows[0][1] == pytest.approx(0.0)
        assert rows[0][2] == pytest.approx(0.0, abs=1e-6)
        assert rows[1][1] == pytest.approx((0.1**2 + 0.1**2) ** 0.5, rel=1e-5)


def test_pgvector_python_adapter(dsn, psycopg):
    np = pytest.importorskip("numpy")
    try:
        from pgvector.psycopg import register_vector
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"pgvector (python) not importable under CI=true: {exc}")
        pytest.skip(f"pgvector python package not installed: {exc}")

    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        query = np.array([0.0, 1.0, 0.0], dtype=np.float32)
        got = conn.execute(
            "SELECT v FROM (VALUES ('[0,1,0]'::vector), ('[1,0,0]'::vector)) AS t(v)"
            " ORDER BY v <-> %s LIMIT 1",
            (query,),
        ).fetchone()[0]
        # pgvector>=0.4 returns a Vector object, older versions a numpy array
        got = got.to_numpy() if hasattr(got, "to_numpy") else np.asarray(got)
        assert np.allclose(got, query)
