"""PostgresStore beyond the shared contract: concurrent processes, schema versions, reopen.

Runs against ``MEMORYWEAVE_PG_DSN`` (``.ci/postgres.sh`` starts a local
server and prints it); skipped with the reason shown when it is not set,
and a failure when ``CI=true``.
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
from backends import pg_undo_token_ids
from test_store_contract import pg_dsn  # noqa: E402 (tests/ is on sys.path)

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import SchemaVersionError

pytestmark = pytest.mark.pg


def _worker(dsn: str, schema: str, tag: str, n: int, queue) -> None:
    from memoryweave_core.storage.postgres import PostgresStore

    mem = MemoryWeave(store=PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(dim=64), clock=lambda: 1_700_000_000.0)
    ids, recalled = [], 0
    for i in range(n):
        trace = mem.add(f"{tag} remembers fact number {i} about shared topic", episode=f"{tag}-ep", namespace="shared")
        ids.append(trace.id)
        hits = mem.recall("fact about shared topic", k=5, namespace="shared")  # records accesses concurrently
        recalled += len(hits)
    mem.close()
    queue.put((tag, ids, recalled))


def test_two_processes_adding_and_recalling_lose_nothing(dsn, schema):
    from memoryweave_core.storage.postgres import PostgresStore

    setup = PostgresStore(dsn, schema=schema)  # create the tables once, before the race
    setup.close()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    n = 25
    procs = [ctx.Process(target=_worker, args=(dsn, schema, tag, n, queue)) for tag in ("alpha", "beta")]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    store = PostgresStore(dsn, schema=schema)
    try:
        all_ids = [i for _, ids, _ in results for i in ids]
        assert store.count("shared") == 2 * n
        assert {t.id for t in store.iter_traces("shared")} == set(all_ids)
        # every recall of both processes was recorded: total accesses = creations + recalled hits
        logs = store.access_logs(all_ids, "shared").values()
        assert sum(log.count for log in logs) == 2 * n + sum(r for _, _, r in results)
        for tag, _ids, _ in results:
            assert [t.position for t in store.episode_traces("shared", f"{tag}-ep", 0, n)] == list(range(n))
        # BM25 statistics stayed consistent under the race
        assert store.lexical_stats("shared", ["alpha"])[::2] == (2 * n, {"alpha": n})
    finally:
        store.close()


def test_reopen_gives_same_recall(dsn, schema, clock):
    from memoryweave_core.storage.postgres import PostgresStore

    def open_mem():
        return MemoryWeave(store=PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(dim=64), clock=clock)

    mem = open_mem()
    mem.add_conversation(
        [("Caroline", "I went to the support group"), ("Melanie", "I painted a sunrise"), ("Caroline", "Luna is my cat")],
        episode="s1",
        time=1_690_000_000,
    )
    before = [(r.trace.id, round(r.score, 9)) for r in mem.recall("what did Melanie paint", k=3, record_access=False)]
    cats = [(c.id, c.size) for c in mem.categories()]
    mem.close()
    again = open_mem()
    assert [(r.trace.id, round(r.score, 9)) for r in again.recall("what did Melanie paint", k=3, record_access=False)] == before
    assert [(c.id, c.size) for c in again.categories()] == cats
    again.close()


def test_planner_statistics_follow_bulk_adds(dsn, schema, monkeypatch):
    """After a bulk add the store ANALYZEs its table itself, so the planner
    does not choose between the HNSW index and an exact scan on the row
    counts of before the add (autovacuum would take up to a minute)."""
    from memoryweave_core.storage import postgres as pg
    from memoryweave_core.storage.postgres import store as pg_store

    monkeypatch.setattr(pg_store, "ANALYZE_MIN_ROWS", 20)
    mem = MemoryWeave(store=pg.PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(dim=16))

    def planned_rows() -> float:
        return mem.store._conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (f'"{schema}".traces',)
        ).fetchone()[0]

    mem.add_many([f"turn {i}" for i in range(10)])
    assert planned_rows() == -1  # never analyzed: 10 rows are below the threshold
    mem.add_many([f"turn {i}" for i in range(10, 30)])
    assert planned_rows() == 30
    mem.close()


def test_posting_budget_leaves_common_words_to_scoring(dsn, schema):
    """Over the budget, a word too common to bring candidates still scores them."""
    from memoryweave_core.storage.postgres import PostgresStore

    texts = ["tea with lemon"] + [f"tea number {i}" for i in range(5)] + ["lemon cake"]
    found = {}
    for budget in (100, 3):
        store = PostgresStore(dsn, schema=schema, posting_budget=budget)
        mem = MemoryWeave(store=store, embedder=HashingEmbedder(dim=16))
        if not store.count():
            mem.add_many(texts)
        text_of = {t.id: t.text for t in store.iter_traces()}
        found[budget] = [(text_of[i], round(s, 9)) for i, s in store.lexical("default", ["tea", "lemon"], 10)]
        store.close()
    assert len(found[100]) == len(texts)  # every text holds one of the words
    assert found[3] == found[100][:2]  # "tea" (6 postings) is over the budget: only "lemon" brings texts
    assert found[3][0][0] == "tea with lemon"


def test_lexical_over_the_budget_scores_every_candidate(dsn, schema):
    """Over the budget, every candidate is scored with every word: the exact
    top n of the texts holding the other words, however small n is."""
    from memoryweave_core import lexical
    from memoryweave_core.storage.postgres import PostgresStore

    rng = np.random.default_rng(5)
    filler = ["walk", "rain", "book", "song", "train", "lamp", "door", "bread"]
    texts = [" ".join(["tea"] * int(rng.integers(1, 4)) + list(rng.choice(filler, int(rng.integers(0, 7))))) for _ in range(16)]
    texts += [" ".join(["lemon"] + ["tea"] * int(rng.integers(0, 3)) + list(rng.choice(filler, int(rng.integers(0, 7))))) for _ in range(12)]
    store = PostgresStore(dsn, schema=schema, posting_budget=15)  # "tea" is left out, "lemon" is not
    ids = [t.id for t in MemoryWeave(store=store, embedder=HashingEmbedder(dim=16)).add_many(texts)]
    docs = [lexical.tokenize(t) for t in texts]
    n_docs, avg, df = store.lexical_stats("default", ["lemon", "tea"])
    exact = lexical.bm25_scores(docs, lexical.query_weights(["lemon", "tea"], n_docs, df), avg)
    holders = [i for i, d in enumerate(docs) if "lemon" in d]
    for n in (1, 2, 3, 5):
        want = sorted(holders, key=lambda i: (-exact[i], i))[:n]
        assert [i for i, _ in store.lexical("default", ["lemon", "tea"], n)] == [ids[i] for i in want]
    store.close()


def test_filtered_search_that_runs_out_scans_exactly(dsn, schema):
    """A graph walk filtered to a namespace can find fewer than n of its rows
    (here the planner still counts rows deleted since the last ANALYZE, so it
    walks the graph, and iterative scans are off as before pgvector 0.8);
    those searches run again as exact scans in the same transaction, and the
    others keep their answer."""
    from memoryweave_core.storage.postgres import PostgresStore

    store = PostgresStore(dsn, schema=schema, ef_search=10)
    store._iterative = False
    mem = MemoryWeave(store=store, embedder=HashingEmbedder(dim=16))
    mem.add_many([f"crowd note {i}" for i in range(300)], namespace="big")
    small = mem.add_many([f"quiet note {i}" for i in range(300)], namespace="small")
    store._conn.execute(f'ANALYZE "{schema}".traces')
    store.delete([t.id for t in small[12:]], "small")  # too few deletions for the store's own ANALYZE
    q = HashingEmbedder(dim=16).embed(["crowd note 7"])[0]  # near the big namespace, far from the small one
    with store._conn.transaction():
        store._conn.execute("SET LOCAL hnsw.ef_search = 10")
        walk = store._conn.execute(
            f'SELECT id FROM "{schema}".traces WHERE namespace = %s ORDER BY content <=> %s LIMIT 10', ("small", q)
        ).fetchall()
    assert len(walk) < 10  # the walk alone runs out
    kept = {t.id for t in small[:12]}
    for field in ("content", "context"):
        want = sorted((float(getattr(t, field) @ q) for t in small[:12]), reverse=True)[:10]
        hits = store.nearest("small", field, q, 10)
        assert {i for i, _ in hits} <= kept
        assert [s for _, s in hits] == pytest.approx(want, abs=1e-6)  # the exact answer (ties in any order)
    both = store._nearest("small", [("content", q), ("context", q)], 10)
    assert [len(hits) for hits in both] == [10, 10]
    assert [len(hits) for hits in store._nearest("big", [("content", q), ("context", q)], 10)] == [10, 10]
    store.close()


def test_version_1_schema_keeps_its_access_logs(dsn, schema):
    """Version 1 kept the access log in ``traces``; opening it moves the logs
    to the ``access`` table and drops those columns."""
    from memoryweave_core.storage import postgres as pg

    store = pg.PostgresStore(dsn, schema=schema)
    mem = MemoryWeave(store=store, embedder=HashingEmbedder(dim=16))
    ids = [t.id for t in mem.add_many(["a cat", "a dog", "a bird"])]
    store.record_access([ids[0], ids[0], ids[1]], 1_700_000_000.0, "default")
    before = store.access_logs(ids, "default")
    # back to the version 1 layout
    s = f'"{schema}"'
    pg_undo_token_ids(store._conn, schema)  # version 5's token ids go first
    for sql in (
        f"DROP INDEX {s}.traces_lifecycle",  # then version 3's columns
        f"DROP INDEX {s}.traces_expiry",
        f"ALTER TABLE {s}.traces DROP COLUMN version, DROP COLUMN supersedes, DROP COLUMN superseded_at,"
        " DROP COLUMN expires_at",
        f"ALTER TABLE {s}.traces ADD COLUMN first_access double precision, ADD COLUMN access_count integer NOT NULL"
        " DEFAULT 1, ADD COLUMN recent double precision[] NOT NULL DEFAULT '{}'",
        f"UPDATE {s}.traces SET first_access = time",
        f"UPDATE {s}.traces t SET access_count = 1 + a.uses, recent = a.recent FROM {s}.access a WHERE a.key = t.key",
        f"DROP TABLE {s}.access",
        f"UPDATE {s}.meta SET value = '1' WHERE key = 'schema_version'",
    ):
        store._conn.execute(sql)
    mem.close()
    again = pg.PostgresStore(dsn, schema=schema)
    assert again._meta("schema_version") == str(pg.SCHEMA_VERSION)
    assert again.access_logs(ids, "default") == before
    assert before[ids[0]].count == 3 and before[ids[2]].count == 1
    again.record_access([ids[2]], 1_700_000_100.0, "default")
    assert again.access_logs([ids[2]], "default")[ids[2]].recent == [1_700_000_100.0]
    again.close()


def test_newer_schema_is_refused(dsn, schema):
    from memoryweave_core.storage import postgres as pg

    store = pg.PostgresStore(dsn, schema=schema)
    store._conn.execute(f'UPDATE "{schema}".meta SET value = %s WHERE key = %s', (str(pg.SCHEMA_VERSION + 1), "schema_version"))
    store.close()
    with pytest.raises(SchemaVersionError):
        pg.PostgresStore(dsn, schema=schema)
    import psycopg  # fix it back so the fixture can open and drop it

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".meta SET value = %s WHERE key = %s', (str(pg.SCHEMA_VERSION), "schema_version"))


def test_bad_schema_name_rejected(dsn):
    from memoryweave_core.errors import InvalidInputError
    from memoryweave_core.storage.postgres import PostgresStore

    with pytest.raises(InvalidInputError):
        PostgresStore(dsn, schema='x"; DROP TABLE users; --')


def test_missing_dsn_behaviour(monkeypatch):
    """Outside CI the pg tests skip with a reason; with CI=true they fail."""
    monkeypatch.delenv("MEMORYWEAVE_PG_DSN", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        pg_dsn()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        pg_dsn()



def _churn(dsn: str, schema: str, seconds: float, queue) -> None:
    """Adds ten traces and forgets the ten oldest, over and over, on its own connection."""
    import time

    from memoryweave_core.storage.postgres import PostgresStore

    mem = MemoryWeave(store=PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(dim=64))
    ids = [t.id for t in mem.traces("live")]
    end, rounds = time.time() + seconds, 0
    while time.time() < end and rounds < 2000:
        ids += [t.id for t in mem.add_many([f"fresh fact {rounds} {j} about apples" for j in range(10)], namespace="live")]
        mem.forget(ids[:10], namespace="live")
        del ids[:10]
        rounds += 1
    mem.close()
    queue.put(rounds)


def test_recall_reads_one_snapshot_while_another_connection_writes(dsn, schema):
    """Defect 7 on PostgreSQL: the searches, the pool and the winners of a
    recall are read in one REPEATABLE READ transaction, so a trace forgotten by
    another connection between two of those reads never shortens the result."""
    from memoryweave_core.storage.postgres import PostgresStore

    mem = MemoryWeave(store=PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(dim=64))
    mem.add_many([f"old fact {i} about apples" for i in range(300)], namespace="live")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    writer = ctx.Process(target=_churn, args=(dsn, schema, 6.0, queue))
    writer.start()
    short = recalls = 0
    try:
        while writer.is_alive() and recalls < 3000:
            got = mem.recall("facts about apples", k=10, namespace="live", record_access=False)
            recalls += 1
            short += len(got) < 10
        rounds = queue.get(timeout=120)
    finally:
        writer.join(timeout=60)
        mem.close()
    assert writer.exitcode == 0 and rounds > 0
    assert recalls > 20
    assert short == 0, f"{short} of {recalls} recalls returned fewer than k"


def test_a_snapshot_is_read_only_and_nests(dsn, schema):
    from memoryweave_core.errors import StoreError
    from memoryweave_core.storage.postgres import PostgresStore

    store = PostgresStore(dsn, schema=schema)
    mem = MemoryWeave(store=store, embedder=HashingEmbedder(dim=64))
    t = mem.add("a fact about pears", namespace="n")
    with store.snapshot():
        with store.snapshot():  # the outer transaction serves both
            assert [x.id for x in store.get([t.id], "n")] == [t.id]
        with pytest.raises(StoreError):
            store.save_state("n", "art", {"x": 1})  # a write inside a read-only snapshot fails
    assert mem.recall("pears", k=1, namespace="n")[0].trace.id == t.id  # the connection works on afterwards
    mem.close()


@pytest.mark.parametrize("field", ["content", "context"])
def test_a_damaged_vector_in_a_pool_is_a_corrupt_store_naming_its_trace(dsn, schema, field):
    """pgvector takes any finite float: a vector no store would write, finite
    but huge, is refused by name when a pool meets it, and forgetting that
    trace makes recall whole again (as SQLite's, test_sqlite_pool.py)."""
    from memoryweave_core.errors import CorruptStoreError
    from memoryweave_core.storage.postgres import PostgresStore

    mem = MemoryWeave(store=PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(dim=64))
    try:
        mem.add_conversation([("ana", f"the {w} was on the table") for w in ("cup", "key", "book", "lamp")], episode="e")
        victim = [t.id for t in mem.traces()][1]
        mem.store._conn.execute(f'UPDATE "{schema}".traces SET {field} = array_fill(1e30::real, ARRAY[64])::vector'
                                " WHERE id = %s", (victim,))
        with pytest.raises(CorruptStoreError, match=f"{victim}.*{field} vector"):
            mem.recall("the key", k=3)
        mem.forget([victim])
        assert victim not in [r.trace.id for r in mem.recall("the key", k=4)]
    finally:
        mem.close()
