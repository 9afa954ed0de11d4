"""The at-a-glance summary, and that summary.py no longer imports memory.py."""

from __future__ import annotations

import ast
from pathlib import Path

from memoryweave_core import HashingEmbedder, MemoryWeave, summary


def test_summary_counts_episodes_and_renders(clock) -> None:
    memory = MemoryWeave(embedder=HashingEmbedder(dim=64), clock=clock)
    memory.add_conversation([("Ana", "I adopted a cat"), ("Ben", "What is its name?"), ("Ana", "Luna")], episode="pets")
    memory.add("a note without an episode", namespace="notes")
    info = memory.summary()
    assert info["traces"] == 4 and set(info["namespaces"]) == {"default", "notes"}
    pets = info["namespaces"]["default"]
    assert pets["episodes"] == 1 and pets["speakers"] == ["Ana", "Ben"] and len(pets["most_active"]) == 3
    assert "<table>" in memory._repr_html_() and "Luna" in memory._repr_html_()
    assert summary.summarise(memory, "notes")["namespaces"]["notes"]["traces"] == 1


def test_summary_does_not_import_memory() -> None:
    tree = ast.parse(Path(summary.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "memory" not in imported and "memoryweave_core.memory" not in imported
