"""The python blocks of docs/llamaindex.md marked ``<!-- tested -->`` run, in order, in one namespace.

Other blocks there are fragments (they use the reader's ``llm`` and ``tools``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("llama_index.core")

DOC = Path(__file__).resolve().parents[1] / "docs" / "llamaindex.md"
_TESTED = re.compile(r"<!--\s*tested\s*-->\s*\n```python\n(.*?)\n```", re.DOTALL)


def test_tested_blocks_of_the_llamaindex_doc_run(tmp_path, monkeypatch):
    blocks = _TESTED.findall(DOC.read_text(encoding="utf-8"))
    assert blocks, "docs/llamaindex.md has no <!-- tested --> block"
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": "docs_llamaindex"}
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), scope)
