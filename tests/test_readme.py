"""Every ```python block of README.md runs, in order, in one namespace.

A block preceded by ``<!-- no-test -->`` (on the line before the fence, blank
lines allowed between) is skipped; that is for blocks that truly cannot run
here, such as ones that call a hosted LLM.  Blocks run in a temporary working
directory so files they create do not litter the repository, with the real
all-MiniLM-L6-v2 model available offline.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_NO_TEST = re.compile(r"<!--\s*no-test\s*-->", re.IGNORECASE)


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """``(first line number, code, skipped)`` for every python block, in order."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, indent = m.group("fence"), m.group("info").strip().lower(), m.group("indent")
        start = i + 1
        j = start
        while j < len(lines) and not (lines[j].strip().startswith(fence) and not lines[j].strip()[len(fence):].strip()):
            j += 1
        lang = info.split()[0].strip("{}.") if info else ""
        if lang in ("python", "py", "python3"):
            body = [ln[len(indent):] if ln.startswith(indent) else ln for ln in lines[start:j]]
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            skipped = k >= 0 and bool(_NO_TEST.search(lines[k]))
            blocks.append((start + 1, "\n".join(body) + "\n", skipped))
        i = j + 1
    return blocks


def test_block_parser_understands_fences_and_markers():
    text = "\n".join([
        "intro", "```python", "a = 1", "```", "", "<!-- no-test -->", "", "```python", "llm()", "```",
        "```bash", "make test", "```", "  ```py", "  b = a + 1", "  ```", "~~~python", "c = 3", "~~~",
    ])
    assert python_blocks(text) == [(3, "a = 1\n", False), (9, "llm()\n", True), (15, "b = a + 1\n", False),
                                   (18, "c = 3\n", False)]


def test_readme_python_blocks_run_in_order(tmp_path, monkeypatch):
    if not README.exists():
        pytest.skip("README.md is not written yet")
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    runnable = [b for b in blocks if not b[2]]
    if not runnable:
        pytest.skip("README.md has no python blocks to run")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    for key in ("MEMORYWEAVE_DB", "MEMORYWEAVE_EMBEDDER"):
        monkeypatch.delenv(key, raising=False)
    # keep a store the README opens by default out of the real user data directory
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    namespace: dict = {"__name__": "__readme__"}
    for line, code, _ in runnable:
        try:
            compiled = compile(code, f"README.md:{line}", "exec")
        except SyntaxError as exc:
            pytest.fail(f"README.md python block at line {line} does not compile: {exc}")
        try:
            exec(compiled, namespace)  # noqa: S102 - running our own documentation is the point
        except Exception as exc:
            pytest.fail(f"README.md python block at line {line} failed: {type(exc).__name__}: {exc}\n\n{code}")
