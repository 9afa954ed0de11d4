"""Shared fixtures: a deterministic embedder and a fake clock for every test,
and the PostgreSQL DSN and a throwaway schema for the PostgreSQL tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from backends import pg_dsn  # noqa: E402 (tests/ is on sys.path)
from hypothesis import settings  # noqa: E402

from memoryweave_core import HashingEmbedder, MemoryWeave  # noqa: E402

# CI replays the same property-test examples on every run: a failure there is
# reproducible, never a roll of the dice.  Locally, hypothesis explores.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")


class FakeClock:
    """A clock tests move by hand (epoch seconds)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dim=256)


@pytest.fixture
def memory(embedder, clock) -> MemoryWeave:
    return MemoryWeave(embedder=embedder, clock=clock)


@pytest.fixture
def dsn() -> str:
    """The throwaway PostgreSQL database (skips without one; fails under CI=true)."""
    return pg_dsn()


@pytest.fixture
def schema(dsn):
    """A fresh schema name in that database, dropped with all it holds after the test."""
    import uuid

    import psycopg

    name = f"mwtest_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
