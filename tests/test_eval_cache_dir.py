"""``memoryweave eval --cache-dir`` holds every vector of the run.

The memory under test embeds its own context windows and topics through the
cache; those must land in the directory asked for, not in the user's cache."""

from __future__ import annotations

import json
import sqlite3

from lme_question import lme_question

import memoryweave_core.embedders as embedders
from memoryweave_core import HashingEmbedder
from memoryweave_core.eval.__main__ import main


def test_every_vector_of_the_run_goes_to_the_cache_dir(tmp_path, monkeypatch):
    data = tmp_path / "lme.json"
    data.write_text(json.dumps([lme_question("q1"), lme_question("q2")]))
    home_cache = tmp_path / "home-cache"
    monkeypatch.setenv("MEMORYWEAVE_CACHE", str(home_cache))
    model = HashingEmbedder(dim=384)
    model.model_name = "all-MiniLM-L6-v2"  # type: ignore[attr-defined]
    monkeypatch.setattr(embedders, "_DEFAULT", model)
    asked = tmp_path / "asked"
    assert main(["longmemeval", "--data", str(data), "--systems", "memoryweave", "--no-ablations", "--quiet",
                 "--cache-dir", str(asked)]) == 0
    rows = sqlite3.connect(str(asked / "all-MiniLM-L6-v2.sqlite")).execute("SELECT count(*) FROM emb").fetchone()[0]
    assert rows > 8  # 4 distinct turns, 3 session keys and the question, then the memory's own windows
    assert not home_cache.exists()
