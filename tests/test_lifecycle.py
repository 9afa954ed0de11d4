"""Updates with history and expiry, through MemoryWeave, on every backend."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from backends import BACKENDS, dispose, make_store

from memoryweave_core import MemoryWeave
from memoryweave_core.embedders import HashingEmbedder
from memoryweave_core.errors import InvalidInputError, TraceNotFoundError
from memoryweave_core.storage.sqlite.schema import SCHEMA_VERSION

FILLER = [f"note {i} about the garden and the cats" for i in range(30)]


@pytest.fixture(params=BACKENDS)
def mem(request, tmp_path, clock):
    store = make_store(request.param, tmp_path / "m.db")
    m = MemoryWeave(store=store, embedder=HashingEmbedder(dim=64), clock=clock)
    yield m
    dispose(request.param, store)


def texts(result):
    return [r.trace.text for r in result]


def test_update_supersedes_in_recall_and_at_sees_the_past(mem, clock):
    t = mem.add("Alice lives in Paris", metadata={"source": "chat"})
    mem.add_many(FILLER)
    created = clock.now
    clock.advance(3600)
    new = mem.update(t.id, text="Alice lives in Lyon")
    assert (new.id, new.version, new.supersedes, new.metadata) == (t.id, 2, f"{t.id}@v1", {"source": "chat"})
    assert mem.get(t.id).text == "Alice lives in Lyon"
    now = texts(mem.recall("where does Alice live", k=5))
    assert now[0] == "Alice lives in Lyon" and "Alice lives in Paris" not in now and len(now) == 5
    past = texts(mem.recall("where does Alice live", k=5, at=created + 60))
    assert past[0] == "Alice lives in Paris" and "Alice lives in Lyon" not in past
    both = texts(mem.recall("where does Alice live", k=5, include_superseded=True))
    assert {"Alice lives in Paris", "Alice lives in Lyon"} <= set(both[:2])


def test_superseded_versions_never_crowd_out_k(mem, clock):
    """Thirty versions of one fact, asked for k=5: five distinct current traces come back."""
    t = mem.add("the meeting is on Monday")
    mem.add_many(["the dentist is on Friday", "the party is on Saturday", "the match is on Sunday",
                  "the exam is on Tuesday", "the concert is on Wednesday"])
    for day in range(30):
        clock.advance(60)
        mem.update(t.id, text=f"the meeting is on day {day}")
    got = mem.recall("when is the meeting", k=5)
    assert len(got) == 5 and len({r.trace.id for r in got}) == 5
    assert [r.trace.text for r in got if r.trace.id == t.id] == ["the meeting is on day 29"]
    assert not any("@v" in r.trace.id for r in got)


def test_history_is_oldest_first_and_forget_removes_every_version(mem, clock):
    t = mem.add("the code is 1111", metadata={"n": 1})
    other = mem.add("unrelated note")
    for code, n in (("2222", 2), ("3333", 3)):
        clock.advance(10)
        mem.update(t.id, text=f"the code is {code}", metadata={"n": n})
    hist = mem.history(t.id)
    assert [h.text for h in hist] == ["the code is 1111", "the code is 2222", "the code is 3333"]
    assert [h.version for h in hist] == [1, 2, 3] and [h.metadata["n"] for h in hist] == [1, 2, 3]
    assert [h.id for h in hist] == [f"{t.id}@v1", f"{t.id}@v2", t.id]
    assert hist[0].superseded_at == hist[1].time and hist[2].superseded_at is None
    assert mem.count() == 2 and len(mem) == 2  # archived versions are history, not traces
    assert mem.forget(t.id) == 3
    with pytest.raises(TraceNotFoundError):
        mem.get(t.id)
    assert [x.id for x in mem.traces()] == [other.id]


def test_update_contract(mem, clock):
    t = mem.add("a fact")
    with pytest.raises(InvalidInputError):
        mem.update(t.id)  # nothing to change
    with pytest.raises(TraceNotFoundError):
        mem.update("nope", text="x")
    with pytest.raises(TraceNotFoundError):
        mem.update(t.id, text="x", namespace="elsewhere")
    with pytest.raises(InvalidInputError):
        mem.update(t.id, text="   ")
    with pytest.raises(InvalidInputError):
        mem.update(t.id, text="x", time=clock.now - 10)
    assert mem.history(t.id) == [mem.get(t.id)]  # nothing was written
    clock.advance(1)
    mem.update(t.id, metadata={"tag": "x"})
    assert mem.get(t.id).text == "a fact" and mem.get(t.id).metadata == {"tag": "x"}
    with pytest.raises(InvalidInputError):
        mem.update(f"{t.id}@v1", text="rewrite history")


def test_aupdate(mem, clock):
    t = mem.add("the sky is green")
    clock.advance(5)
    new = asyncio.run(mem.aupdate(t.id, text="the sky is blue"))
    assert new.version == 2 and mem.get(t.id).text == "the sky is blue"


def test_expired_traces_are_never_recalled(mem, clock):
    mem.add_many(FILLER)
    gone = mem.add("the door code is 4321", ttl=60)
    dated = mem.add("the door code is 9999", expires_at=clock.now + 120)
    rows = mem.add_many([{"text": "the door code is 5555", "ttl": 30}])
    conv = mem.add_conversation([{"speaker": "a", "text": "the door code is 7777", "ttl": 30}])
    assert gone.expires_at == clock.now + 60 and dated.expires_at == clock.now + 120
    assert "the door code is 4321" in texts(mem.recall("door code", k=5))
    clock.advance(61)
    got = mem.recall("door code", k=5)
    assert texts(got)[0] == "the door code is 9999" and len(got) == 5
    assert not {gone.id, rows[0].id, conv[0].id} & {r.trace.id for r in got}
    clock.advance(60)
    assert dated.id not in {r.trace.id for r in mem.recall("door code", k=5)}
    with pytest.raises(InvalidInputError):
        mem.add("x", ttl=0)
    with pytest.raises(InvalidInputError):
        mem.add("x", ttl=5, expires_at=clock.now)


def test_prune_and_lazy_purge(mem, clock):
    keep = mem.add("keep me")
    for i in range(3):
        mem.add(f"short lived {i}", ttl=10, namespace="tmp" if i else "default")
    clock.advance(11)
    assert mem.prune(namespace="tmp") == 2
    assert mem.prune() == 1 and mem.prune() == 0
    assert [t.id for t in mem.traces()] == [keep.id]
    mem.add("soon gone", ttl=5)
    clock.advance(6)
    mem.add("a later write purges what expired")
    assert sorted(t.text for t in mem.traces()) == ["a later write purges what expired", "keep me"]


def test_sqlite_file_of_schema_2_is_migrated(tmp_path, clock):
    """A file written before versions and expiry opens, keeps its traces, and takes updates."""
    path = str(tmp_path / "v2.db")
    mem = MemoryWeave(path, embedder=HashingEmbedder(dim=64), clock=clock)
    t = mem.add("Alice lives in Paris")
    mem.add_many(FILLER)
    mem.close()
    downgrade_sqlite_to_2(path)
    mem = MemoryWeave(path, embedder=HashingEmbedder(dim=64), clock=clock)
    assert mem.store._db.meta("schema_version") == str(SCHEMA_VERSION)  # and on through the later ones
    assert mem.get(t.id).version == 1 and mem.get(t.id).expires_at is None
    clock.advance(100)
    mem.update(t.id, text="Alice lives in Lyon")
    mem.add("short", ttl=1)
    assert texts(mem.recall("where does Alice live", k=3))[0] == "Alice lives in Lyon"
    mem.close()


def downgrade_sqlite_to_4(path: str) -> None:
    """What schema version 4 wrote: tokens as text only, no ``vocab`` table nor ``tok_ids`` column."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE vocab")
    conn.execute("ALTER TABLE traces DROP COLUMN tok_ids")
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()


def downgrade_sqlite_to_2(path: str) -> None:
    """What schema version 2 wrote: no lifecycle columns or indexes (nor token ids)."""
    downgrade_sqlite_to_4(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX traces_lifecycle")
    conn.execute("DROP INDEX traces_expiry")
    for col in ("version", "supersedes", "superseded_at", "expires_at"):
        conn.execute(f"ALTER TABLE traces DROP COLUMN {col}")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()


def test_postgres_schema_2_is_migrated(clock):
    from backends import pg_dsn, pg_undo_token_ids

    from memoryweave_core.storage import postgres as pg

    dsn = pg_dsn()
    store = pg.PostgresStore(dsn, schema="mw_lifecycle_v2")
    store.drop()
    store = pg.PostgresStore(dsn, schema="mw_lifecycle_v2")
    try:
        mem = MemoryWeave(store=store, embedder=HashingEmbedder(dim=64), clock=clock)
        t = mem.add("Alice lives in Paris")
        s = '"mw_lifecycle_v2"'
        pg_undo_token_ids(store._conn, "mw_lifecycle_v2")
        store._conn.execute(f"DROP INDEX {s}.traces_lifecycle")
        store._conn.execute(f"DROP INDEX {s}.traces_expiry")
        store._conn.execute(f"ALTER TABLE {s}.traces DROP COLUMN version, DROP COLUMN supersedes,"
                            " DROP COLUMN superseded_at, DROP COLUMN expires_at")
        store._conn.execute(f"UPDATE {s}.meta SET value = '2' WHERE key = 'schema_version'")
        store.close()
        store = pg.PostgresStore(dsn, schema="mw_lifecycle_v2")
        assert store._meta("schema_version") == str(pg.SCHEMA_VERSION)
        mem = MemoryWeave(store=store, embedder=HashingEmbedder(dim=64), clock=clock)
        clock.advance(10)
        mem.update(t.id, text="Alice lives in Lyon")
        assert [h.text for h in mem.history(t.id)] == ["Alice lives in Paris", "Alice lives in Lyon"]
    finally:
        store.drop()
        store.close()


def test_listings_show_current_unexpired_versions_unless_asked(mem, clock):
    """traces(), iteration, categories() and summary() never show an archived id@vN version or an
    expired trace; traces(include_superseded=True) shows every unexpired version."""
    t = mem.add("the cat is called Luna")
    gone = mem.add("the door code is 4321", ttl=5)
    clock.advance(60)
    mem.update(t.id, text="the cat is called Nova")
    assert [x.text for x in mem.traces()] == ["the cat is called Nova"]
    assert [x.text for x in mem] == ["the cat is called Nova"]
    assert [x.text for x in mem.traces("default")] == ["the cat is called Nova"]
    every = mem.traces(include_superseded=True)
    assert sorted(x.id for x in every) == sorted([t.id, f"{t.id}@v1"])
    members = {m for c in mem.categories() for m in c.members}
    assert members == {t.id}
    info = mem.summary()
    assert info["namespaces"]["default"]["traces"] == 1 == mem.count()
    assert all("@v" not in a["id"] and a["id"] != gone.id for a in info["namespaces"]["default"]["most_active"])
