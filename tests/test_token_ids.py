"""Token ids in the SQLite file (schema 5): a store written before them
migrates keeping every row and recall, and processes sharing a file agree
on what each id means.

``fixtures/sqlite_v4.db`` was written by the code of schema version 4
(``fixtures/make_sqlite_v4.py``), with the recalls it gave then.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from test_ids_per_namespace import _dump

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import InvalidInputError
from memoryweave_core.storage.sqlite import SQLiteStore
from memoryweave_core.storage.sqlite.schema import SCHEMA_VERSION, expected_objects

FIXTURES = Path(__file__).parent / "fixtures"


def _vocab_and_ids(path: Path) -> tuple[dict[int, list[str]], list[tuple[str, list[str]]]]:
    """Each namespace's vocab words by id (checked dense) and each trace's (tokens, words of its ids)."""
    conn = sqlite3.connect(path)
    try:
        vocabs: dict[int, list[str]] = {}
        for ns, i, w in conn.execute("SELECT ns, id, word FROM vocab ORDER BY ns, id"):
            assert i == len(vocabs.setdefault(ns, []))
            vocabs[ns].append(w)
        assert set(vocabs) <= {ns for (ns,) in conn.execute("SELECT id FROM namespaces")}
        traces = [(tok, [vocabs[ns][i] for i in np.frombuffer(ids, "<i4").tolist()])
                  for ns, tok, ids in conn.execute("SELECT ns, tokens, tok_ids FROM traces ORDER BY key")]
        return vocabs, traces
    finally:
        conn.close()


def test_a_schema_4_file_migrates_keeping_every_row_and_recall(tmp_path):
    path = tmp_path / "v4.db"
    shutil.copy(FIXTURES / "sqlite_v4.db", path)
    want = json.loads((FIXTURES / "sqlite_v4_recall.json").read_text())
    before = _dump(path)
    store = SQLiteStore(path, background_index=False)
    assert store._db.meta("schema_version") == str(SCHEMA_VERSION) == "6"
    with MemoryWeave(store=store, embedder=HashingEmbedder(64), clock=lambda: want["at"]) as m:
        got = {f"{ns}|{q}": [[r.trace.id, r.score, r.raw.get("lexical", 0.0)]
                             for r in m.recall(q, k=8, namespace=ns, at=want["at"], record_access=False, explain=True)]
               for ns, q in want["queries"]}
    assert {q: [r[0] for r in rs] for q, rs in got.items()} == {q: [r[0] for r in rs] for q, rs in want["want"].items()}
    for q, rs in got.items():
        for (_, score, lex), (_, w_score, w_lex) in zip(rs, want["want"][q], strict=True):
            assert lex == w_lex and score == pytest.approx(w_score, abs=1e-9)
    assert _dump(path) == before  # every row as it was, tok_ids aside
    vocabs, traces = _vocab_and_ids(path)
    assert all(len(set(w)) == len(w) for w in vocabs.values()) and all(tok.split() == ids for tok, ids in traces)
    conn = sqlite3.connect(path)
    objects = {(t, n) for t, n in conn.execute("SELECT type, name FROM sqlite_master") if not n.startswith("sqlite_stat")}
    conn.close()
    assert objects == set(expected_objects())  # what a new file holds: the tamper check accepts it


def test_processes_sharing_a_file_agree_on_token_ids(tmp_path):
    path = tmp_path / "m.db"
    a = MemoryWeave(store=SQLiteStore(path, background_index=False), embedder=HashingEmbedder(64))
    b = MemoryWeave(store=SQLiteStore(path, background_index=False), embedder=HashingEmbedder(64))
    try:
        a.add("a zebra crossing by the lake")
        assert [r.trace.text for r in b.recall("zebra", k=1)] == ["a zebra crossing by the lake"]
        b.add("the quokka met a zebra")  # b interns quokka after a's words
        a.add("a quokka and a wombat")
        assert a.recall("quokka wombat", k=1)[0].trace.text == "a quokka and a wombat"
        assert b.recall("quokka wombat", k=1)[0].trace.text == "a quokka and a wombat"
        t = a.add("the lyrebird sang")
        with pytest.raises(InvalidInputError):  # rolled back: the new word "xylophone" is not kept either
            a.store.add([type(t)(**{**t.__dict__, "text": "a xylophone"})])
        b.add("a marimba and a xylophone")  # b takes the id a had given xylophone in its rolled-back transaction
        assert a.recall("marimba xylophone", k=1)[0].trace.text == "a marimba and a xylophone"
    finally:
        a.close()
        b.close()
    vocabs, traces = _vocab_and_ids(path)
    assert all(len(set(w)) == len(w) for w in vocabs.values()) and all(tok.split() == ids for tok, ids in traces)
