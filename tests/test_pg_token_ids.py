"""Token ids in PostgreSQL (schema 5): a schema written before them migrates
keeping every row and recall, writers in two processes agree on what each id
means, forgetting a namespace forgets its words, and recall ranks as the
in-memory store does.

``fixtures/pg_v4.sql`` is a plain-SQL dump of a schema written by the code of
schema version 4 (``fixtures/make_pg_v4.py``), with the recalls it gave then.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import InvalidInputError
from memoryweave_core.lexical import POSTING_BUDGET
from memoryweave_core.storage.context import UNRECORDED
from memoryweave_core.storage.memory import MemoryStore

pytestmark = pytest.mark.pg
FIXTURES = Path(__file__).parent / "fixtures"
TABLES = ("meta", "traces", "access", "state", "state_arrays", "nsstats", "terms")


def _rows(conn, s: str) -> dict[str, list[str]]:
    """Every row of the schema as text, schema 5's columns aside, and the version and schema 6's context record too."""
    out = {t: [r[0] for r in conn.execute(f"SELECT (to_jsonb(x) - 'tok_ids' - 'nsid')::text FROM \"{s}\".{t} x ORDER BY 1")]
           for t in TABLES}
    out["meta"] = [r for r in out["meta"] if not any(k in r for k in ("schema_version", "context_mode", "context_window"))]
    out["seq"] = [str(conn.execute(f'SELECT last_value FROM "{s}".traces_key_seq').fetchone()[0])]
    return out


def _indexes(conn, s: str) -> dict[str, str | None]:
    """The schema's indexes by name: their definitions, None for those of schema 5's tables."""
    return {name: (None if name.startswith(("vocab_", "nsstats_nsid")) else d)
            for name, d in conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", (s,))}


def _vocab_and_ids(conn, s: str) -> tuple[dict[int, list[str]], list[tuple[str, list[str], list[str]]]]:
    """Each vocabulary's words by id (checked dense from 0), and each trace's
    (namespace, tokens, words of its ids)."""
    vocabs: dict[int, list[str]] = {}
    for nsid, i, w in conn.execute(f'SELECT nsid, id, word FROM "{s}".vocab ORDER BY nsid, id'):
        assert i == len(vocabs.setdefault(nsid, []))
        vocabs[nsid].append(w)
    traces = [(ns, list(toks), [vocabs[nsid][i] for i in np.frombuffer(ids, ">i4").tolist()])
              for ns, nsid, toks, ids in conn.execute(
                  f'SELECT t.namespace, n.nsid, t.toks, t.tok_ids FROM "{s}".traces t'
                  f' JOIN "{s}".nsstats n ON n.namespace = t.namespace ORDER BY t.key')]
    return vocabs, traces


def _check_ids(conn, s: str) -> dict[int, list[str]]:
    """Every trace's ids name its tokens; a vocabulary holds its namespace's words once, and no others."""
    vocabs, traces = _vocab_and_ids(conn, s)
    assert all(toks == words for _, toks, words in traces)
    nsids = dict(conn.execute(f'SELECT namespace, nsid FROM "{s}".nsstats').fetchall())
    assert set(vocabs) <= set(nsids.values())
    for ns, nsid in nsids.items():
        assert len(set(vocabs.get(nsid, []))) == len(vocabs.get(nsid, []))
        assert set(vocabs.get(nsid, [])) >= {t for n, toks, _ in traces if n == ns for t in toks}
    return vocabs


def _recalls(m: MemoryWeave, queries, at: float) -> dict[str, list]:
    return {f"{ns}|{q}": [[r.trace.id, r.score, r.raw.get("lexical", 0.0)]
                          for r in m.recall(q, k=8, namespace=ns, at=at, record_access=False, explain=True)]
            for ns, q in queries}


def test_a_schema_4_dump_migrates_keeping_every_row_and_recall(dsn, schema):
    import psycopg

    from memoryweave_core.storage import postgres as pg

    want = json.loads((FIXTURES / "pg_v4_recall.json").read_text())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute((FIXTURES / "pg_v4.sql").read_text().replace("__SCHEMA__", schema))
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute(f"SELECT value FROM \"{schema}\".meta WHERE key = 'schema_version'").fetchone() == ("4",)
        before = _rows(conn, schema)
        indexes = _indexes(conn, schema)
        assert {"traces_content_hnsw", "traces_context_hnsw"} <= set(indexes)

    store = pg.PostgresStore(dsn, schema=schema)
    assert store._meta("schema_version") == str(pg.SCHEMA_VERSION) == "6"
    assert store.context_record() == UNRECORDED  # written by version 4, whose context vectors were the model's
    with MemoryWeave(store=store, embedder=HashingEmbedder(64), clock=lambda: want["at"]) as m:
        got = _recalls(m, want["queries"], want["at"])
        assert {q: [r[0] for r in rs] for q, rs in got.items()} == {q: [r[0] for r in rs] for q, rs in want["want"].items()}
        for q, rs in got.items():
            for (_, score, lex), (_, w_score, w_lex) in zip(rs, want["want"][q], strict=True):
                assert lex == w_lex and score == pytest.approx(w_score, abs=1e-9)
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert _rows(conn, schema) == before  # every row, key and the key sequence as they were
            added = {"vocab_pkey": None, "vocab_nsid_word_key": None, "nsstats_nsid_key": None}
            assert _indexes(conn, schema) == {**indexes, **added}  # the graphs rebuilt alike
            vocabs = _check_ids(conn, schema)
            carol = conn.execute(f"SELECT nsid FROM \"{schema}\".nsstats WHERE namespace = 'carol'").fetchone()[0]
            assert "talked" not in vocabs[carol]  # the forgotten carol's words were never carried over
        m.add_many([{"text": "Bea painted a zebra by the lake", "id": "alice-zebra"}], namespace="alice")
        assert m.recall("zebra painted", k=1, namespace="alice", record_access=False)[0].trace.id == "alice-zebra"
        with psycopg.connect(dsn, autocommit=True) as conn:
            _check_ids(conn, schema)  # the new words took the next ids
            with pytest.raises(psycopg.errors.NotNullViolation):  # a writer of schema 4, still connected, is refused
                conn.execute(f'INSERT INTO "{schema}".traces (id, namespace, text, position, time, metadata, toks,'
                             " ntokens, terms, content, context) SELECT 'old', namespace, text, 99, time, metadata,"
                             f" toks, ntokens, terms, content, context FROM \"{schema}\".traces LIMIT 1")


def _adder(dsn: str, schema: str, tag: str, n: int, queue) -> None:
    from memoryweave_core.storage.postgres import PostgresStore

    mem = MemoryWeave(store=PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(dim=32), clock=lambda: 1_700_000_000.0)
    for i in range(n):  # shared words, words of this process alone, and words both see first at about the same time
        mem.add(f"shared{i % 5} word{i} {tag}only{i} fresh{i}x{i % 3}", namespace="race")
    mem.close()
    queue.put(tag)


def test_writers_in_two_processes_agree_on_token_ids(dsn, schema):
    import psycopg

    from memoryweave_core.storage.postgres import PostgresStore

    PostgresStore(dsn, schema=schema).close()  # the tables, before the race
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_adder, args=(dsn, schema, tag, 30, queue)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    done = sorted(queue.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert done == ["a", "b"] and all(p.exitcode == 0 for p in procs)
    with psycopg.connect(dsn, autocommit=True) as conn:
        vocabs = _check_ids(conn, schema)
    (words,) = vocabs.values()
    assert {"aonly7", "bonly7", "word29", "shared4"} <= set(words)
    store = PostgresStore(dsn, schema=schema)
    with MemoryWeave(store=store, embedder=HashingEmbedder(dim=32)) as m:
        assert m.recall("bonly7", k=1, namespace="race", record_access=False)[0].trace.text.split()[2] == "bonly7"


def test_forgetting_a_namespace_forgets_its_words_and_a_stale_reader_follows(dsn, schema):
    import psycopg

    from memoryweave_core.storage.postgres import PostgresStore

    a = MemoryWeave(store=PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(dim=32))
    b = MemoryWeave(store=PostgresStore(dsn, schema=schema), embedder=HashingEmbedder(dim=32))
    try:
        a.add_many(["the heron stood in the reeds", "a kingfisher dived"], namespace="birds")
        a.add("the otter swam", namespace="other")
        assert b.recall("heron", k=1, namespace="birds", record_access=False)[0].trace.text.startswith("the heron")
        a.forget(namespace="birds")
        with psycopg.connect(dsn, autocommit=True) as conn:
            left = {w for (w,) in conn.execute(f'SELECT word FROM "{schema}".vocab')}
        assert left == {"otter", "swam"}  # stemmed and without stopwords, as the tokenizer gives them
        # the namespace again, other words under the same ids: b read the old ones
        a.add_many(["quails ran", "a heron again"], namespace="birds")
        assert [r.trace.text for r in b.recall("quails", k=1, namespace="birds", record_access=False)] == ["quails ran"]
        assert b.recall("heron", k=2, namespace="birds", record_access=False, explain=True)[0].trace.text == "a heron again"
        with pytest.raises(InvalidInputError):  # rolled back: its new word is not kept either
            a.add_many([{"text": "a xylophone", "id": "dup"}, {"text": "a flute", "id": "dup"}], namespace="birds")
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert not conn.execute(f"SELECT 1 FROM \"{schema}\".vocab WHERE word LIKE 'xylophon%%'").fetchall()
            _check_ids(conn, schema)
    finally:
        a.close()
        b.close()


def test_postgres_recalls_what_the_memory_store_recalls(dsn, schema):
    from memoryweave_core.storage.postgres import PostgresStore

    def fill(store) -> MemoryWeave:
        now = [1_700_000_000.0]
        m = MemoryWeave(store=store, embedder=HashingEmbedder(64), clock=lambda: now[0])
        for e in range(4):
            m.add_many([{"text": f"{sp} said the {thing} near the {place} was {adj} {e}", "speaker": sp, "id": f"{e}-{i}"}
                        for i, (sp, thing, place, adj) in enumerate([
                            ("Ana", "kite", "lake", "red"), ("Bo", "boat", "harbour", "slow"),
                            ("Ana", "dog", "park", "muddy"), ("Bo", "painting", "lake", "finished"),
                            ("Ana", "cake", "bakery", "sweet"), ("Bo", "kite", "beach", "torn")])], namespace="n")
            now[0] += 86_400
        m.forget(["1-2"], namespace="n")
        return m

    queries = [("n", q) for q in ("what did Ana say about the kite?", "the lake painting", "muddy dog in the park",
                                  "harbour", "zebra")]
    mem, pgm = fill(MemoryStore()), fill(PostgresStore(dsn, schema=schema, posting_budget=POSTING_BUDGET))
    try:
        at = 1_700_000_000.0 + 5 * 86_400
        want, got = _recalls(mem, queries, at), _recalls(pgm, queries, at)
        assert {q: [r[0] for r in rs] for q, rs in got.items()} == {q: [r[0] for r in rs] for q, rs in want.items()}
        for q in want:
            assert [x for r in got[q] for x in r[1:]] == pytest.approx([x for r in want[q] for x in r[1:]], abs=1e-6)
    finally:
        mem.close()
        pgm.close()


def test_a_pool_hands_over_ids_of_the_store_s_vocabulary_without_interning(dsn, schema, monkeypatch):
    from memoryweave_core.storage.postgres import PostgresStore
    from memoryweave_core.tokenizer import tokenize
    from memoryweave_core.vocab import Vocabulary

    store = PostgresStore(dsn, schema=schema)
    texts = ["the heron stood in the reeds", "a kingfisher dived past the heron", "otters swam"]
    with MemoryWeave(store=store, embedder=HashingEmbedder(dim=32)) as m:
        ids = [t.id for t in m.add_many(texts)]

        def refuse(self, tokens):
            raise AssertionError("a pool re-interned its tokens")

        monkeypatch.setattr(Vocabulary, "intern", refuse)
        first, again = store.pool("default", ids), store.pool("default", ids[::-1])
        assert first.tokens.vocab is again.tokens.vocab  # the store's, kept between reads
        assert [list(row) for row in first.tokens] == [tokenize(t) for t in texts]
        assert len(first.tokens.vocab) == len({w for t in texts for w in tokenize(t)})
        assert m.recall("heron reeds", k=1, record_access=False)[0].trace.id == ids[0]
