"""The python blocks of an integration's doc page marked ``<!-- tested -->`` run, in order, in one namespace.

Other blocks there are fragments (they use the reader's model, LLM or tools).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
_TESTED = re.compile(r"<!--\s*tested\s*-->\s*\n```python\n(.*?)\n```", re.DOTALL)


@pytest.mark.parametrize(("page", "needs"), [("langchain.md", "langchain"), ("llamaindex.md", "llama_index.core")])
def test_tested_blocks_of_the_doc_run(page, needs, tmp_path, monkeypatch):
    pytest.importorskip(needs)
    doc = DOCS / page
    blocks = _TESTED.findall(doc.read_text(encoding="utf-8"))
    assert blocks, f"docs/{page} has no <!-- tested --> block"
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": f"docs_{page[:-3]}"}
    for code in blocks:
        exec(compile(code, str(doc), "exec"), scope)
