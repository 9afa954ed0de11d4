"""The python blocks of an integration's doc page marked ``<!-- tested -->`` run, in order, in one namespace.

Other blocks there are fragments (they use the reader's model, LLM or tools).

They run once per storage backend: the blocks write ``MemoryWeave(...)`` as a
reader would (in memory), and the test makes the default store of a memory
built without ``path`` or ``store`` the backend's, so filters, updates,
expiry, async recall and namespaces with levels are shown to work on SQLite
and PostgreSQL as well.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from backends import BACKENDS, pg_dsn

import memoryweave_core.memory
from memoryweave_core.storage.sqlite import SQLiteStore

DOCS = Path(__file__).resolve().parents[1] / "docs"
_TESTED = re.compile(r"<!--\s*tested\s*-->\s*\n```python\n(.*?)\n```", re.DOTALL)
PAGES = [("langchain.md", "langchain"), ("llamaindex.md", "llama_index.core")]


@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.pg) if b == "postgres" else b
                                     for b in BACKENDS])
@pytest.mark.parametrize(("page", "needs"), PAGES)
def test_tested_blocks_of_the_doc_run(page, needs, backend, tmp_path, monkeypatch):
    pytest.importorskip(needs)
    doc = DOCS / page
    blocks = _TESTED.findall(doc.read_text(encoding="utf-8"))
    assert blocks, f"docs/{page} has no <!-- tested --> block"
    opened: list[Any] = []

    def default_store() -> Any:
        """The store of a page's ``MemoryWeave(...)``: a new one of ``backend`` each time
        (on PostgreSQL in a schema of its own, as each memory may embed at its own size)."""
        if backend == "memory":
            store: Any = memoryweave_core.storage.memory.MemoryStore()
        elif backend == "sqlite":
            store = SQLiteStore(str(tmp_path / f"doc-{len(opened)}.db"))
        else:
            from memoryweave_core.storage.postgres import PostgresStore

            store = PostgresStore(pg_dsn(), schema=f"mwdoc_{uuid.uuid4().hex[:10]}")
        opened.append(store)
        return store

    monkeypatch.setattr(memoryweave_core.memory, "MemoryStore", default_store)
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": f"docs_{page[:-3]}"}
    try:
        for code in blocks:
            exec(compile(code, str(doc), "exec"), scope)
        created = sum(len(re.findall(r"^[^#\n]*?\bMemoryWeave\(", code, re.MULTILINE)) for code in blocks)
        assert len(opened) == created, "every memory of the page ran on the backend"
    finally:
        for store in opened:
            if backend == "postgres":
                store.drop()
            store.close()
