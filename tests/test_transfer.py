"""Export and import in the Python API: the lines ``memoryweave export`` writes,
read back into a memory on any backend, checked whole before anything is written."""

from __future__ import annotations

import io
import json

import pytest
from backends import BACKENDS, dispose, make_store
from import_rows import ROWS

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import DimensionMismatchError, InvalidInputError

QUERIES = ["which cities for the food?", "airline flights", "Japan trip"]


def _memory(kind, tmp_path, name, clock):
    """64-d, as every test of the shared PostgreSQL schema makes it."""
    return MemoryWeave(store=make_store(kind, tmp_path / name), embedder=HashingEmbedder(dim=64), clock=clock)


def _same_recalls(one, other, ns="default"):
    """Each query recalls the same traces in the same order, with the same scores (to 1e-9: the
    order of a pool's rows, which PostgreSQL may change, can change the last bit of a sum)."""
    for q in QUERIES:
        a, b = (m.recall(q, 4, namespace=ns, at="2024-07-01", record_access=False) for m in (one, other))
        assert [(r.trace.id, r.text) for r in a] == [(r.trace.id, r.text) for r in b]
        assert [r.score for r in a] == pytest.approx([r.score for r in b], abs=1e-9)


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("vectors", [False, True], ids=["text", "vectors"])
def test_export_then_import_into_an_empty_memory_recalls_identically(kind, vectors, tmp_path, clock):
    source = MemoryWeave(embedder=HashingEmbedder(dim=64), clock=clock)
    source.import_jsonl(json.dumps(row) for row in ROWS)
    source.add("the quarterly report is due Friday", namespace=("alice", "work"), time="2024-06-11")
    path = tmp_path / "out.jsonl"
    assert source.export_jsonl(path, vectors=vectors) == 7
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert ("embedding" in lines[0]) is vectors and not (tmp_path / "out.jsonl.partial").exists()

    copy = _memory(kind, tmp_path, "copy.db", clock)
    try:
        traces = copy.import_jsonl(path)
        assert len(traces) == 7 and copy.get("my-own-id").text == ROWS[2]["text"]
        for ns in ("default", "work", ("alice", "work")):
            _same_recalls(copy, source, ns)
        again = io.StringIO()
        assert copy.export_jsonl(again, vectors=vectors) == 7
        assert again.getvalue() == path.read_text()  # every field, ids and namespaces included
    finally:
        dispose(kind, copy.store)


def test_only_the_current_version_of_an_updated_memory_is_exported(memory):
    memory.add_many(ROWS[:5])  # the default namespace's
    memory.update("my-own-id", text="Kyoto, Osaka and Nara, mostly for the food", time="2024-06-02")
    lines = [json.loads(line) for line in _exported(memory).splitlines()]
    assert [r["text"] for r in lines if r["id"] == "my-own-id"] == ["Kyoto, Osaka and Nara, mostly for the food"]
    assert len(lines) == 5 and all("version" not in r and "supersedes" not in r for r in lines)


def test_a_bad_line_anywhere_writes_nothing_and_names_the_line(memory):
    lines = [json.dumps(r) for r in ROWS] + ['{"text": "fine"}', '{"text": ""}']
    with pytest.raises(InvalidInputError, match="<lines>:8: 'text' must be a non-empty string"):
        memory.import_jsonl(lines)
    with pytest.raises(InvalidInputError, match="notes.jsonl:1: not valid JSON"):
        memory.import_jsonl(_named(io.StringIO("{oops\n"), "notes.jsonl"))
    assert len(memory) == 0


def test_an_id_already_in_the_memory_or_a_wrong_dimension_is_refused_before_writing(memory, tmp_path):
    memory.add_many(ROWS[:5])  # the default namespace's
    path = tmp_path / "rows.jsonl"
    memory.export_jsonl(path)
    with pytest.raises(InvalidInputError, match="rows.jsonl:1: the id '[0-9a-f]+' already exists"):
        memory.import_jsonl(path)
    other = MemoryWeave(embedder=HashingEmbedder(dim=64))
    memory.export_jsonl(path, vectors=True)
    with pytest.raises(DimensionMismatchError, match="dimension 256, this store's is 64"):
        other.import_jsonl(path, namespace="elsewhere")
    assert len(memory) == 5 and len(other) == 0


def test_namespace_puts_every_line_in_one_and_unknown_namespaces_are_refused(memory):
    memory.add_many(ROWS[:5])  # the default namespace's
    memory.import_jsonl([json.dumps({k: v for k, v in json.loads(line).items() if k != "id"})
                         for line in _exported(memory).splitlines()], namespace=("bob", "archive"))
    assert memory.count(("bob", "archive")) == 5
    with pytest.raises(InvalidInputError, match="namespace 'nobody' holds no memories"):
        memory.export_jsonl(io.StringIO(), ["nobody"])


def _exported(memory) -> str:
    buffer = io.StringIO()
    memory.export_jsonl(buffer)
    return buffer.getvalue()


def _named(buffer: io.StringIO, name: str) -> io.StringIO:
    buffer.name = name  # as an open file has
    return buffer


def test_an_export_that_fails_midway_leaves_no_file_and_holds_one_memory_at_a_time(memory, tmp_path, monkeypatch):
    from memoryweave_core import transfer

    memory.add_many(ROWS[:5])
    records = transfer.export_records(memory)
    assert not isinstance(records, list) and next(records)["text"] == ROWS[0]["text"]  # read as consumed

    real = transfer._records

    def failing(*args):
        yield from list(real(*args))[:2]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(transfer, "_records", failing)
    with pytest.raises(OSError, match="No space left"):
        memory.export_jsonl(tmp_path / "out.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the file nor its .partial
