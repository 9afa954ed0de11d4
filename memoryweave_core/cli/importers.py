"""Reading files to import: JSONL turns, plain text, LoCoMo and LongMemEval, into validated batches.

JSONL is read by :mod:`memoryweave_core.transfer`, which the Python API shares.

Everything is read and checked here, with the engine's own validators, before
the command writes anything; an error names the file and line.  LoCoMo and
LongMemEval are read through the public loaders of ``eval.datasets``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..eval.datasets import load_locomo, load_longmemeval
from ..scopes import Namespace
from ..transfer import Batch, add_turn, checked_turn
from .common import UsageError

FORMATS = ("jsonl", "text", "locomo", "longmemeval")


def guess_format(path: Path, head: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".txt", ".md", ".text"):
        return "text"
    start = head.lstrip()
    if start.startswith("["):
        if '"haystack_sessions"' in head or '"question_id"' in head:
            return "longmemeval"
        if '"conversation"' in head or '"sample_id"' in head or '"qa"' in head:
            return "locomo"
        raise UsageError(f"cannot tell the format of {str(path)!r}; pass --format {'|'.join(FORMATS)}")
    return "jsonl" if start.startswith("{") else "text"


def read_text(text: str, name: str, namespace: Namespace | None) -> list[Batch]:
    """Plain text: one memory per paragraph (paragraphs are separated by blank lines)."""
    batches: dict[Namespace, Batch] = {}
    ns = namespace or "default"
    source = Path(name).name
    paragraph: list[str] = []
    start = 0
    for n, line in enumerate([*text.splitlines(), ""], 1):
        if line.strip():
            if not paragraph:
                start = n
            paragraph.append(line.rstrip())
            continue
        if paragraph:
            where = f"{name}:{start}"
            add_turn(batches, ns, where, checked_turn(where, {"text": "\n".join(paragraph),
                                                              "metadata": {"source": source, "line": start}}))
            paragraph = []
    if not batches:
        raise UsageError(f"{name}: no paragraphs found")
    return list(batches.values())


# ----------------------------------------------------------------------------- benchmark files


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None


def read_locomo(path: Path, namespace: Namespace | None, limit: int | None) -> list[Batch]:
    """Every conversation, one episode per session, each in the namespace of its sample_id."""
    data = _read_json(path)
    if not isinstance(data, list) or not all(isinstance(s, dict) and "conversation" in s for s in data):
        raise UsageError(f"{path}: not a LoCoMo file (expected a list of samples with a 'conversation')")
    try:
        ds = load_locomo(path)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: not a LoCoMo file (missing {exc})") from None
    batches: dict[Namespace, Batch] = {}
    for conv in ds.conversations[:limit]:
        ns = namespace or conv.id
        for sess in conv.sessions:
            for i, t in enumerate(sess.turns):
                if not t.body.strip():
                    continue
                where = f"{path}: {conv.id} {t.id}"
                add_turn(batches, ns, where, checked_turn(where, {
                    "text": t.body, "speaker": t.speaker or None,
                    "episode": f"{conv.id}/{sess.id}" if namespace else sess.id,
                    "time": None if t.time is None else t.time + i,
                    "metadata": {"dia_id": t.id, "conversation": conv.id, "session_date": sess.date}}))
    return list(batches.values())


def read_longmemeval(path: Path, namespace: Namespace | None, limit: int | None) -> list[Batch]:
    """The haystack sessions of every question, each question in the namespace of its question_id."""
    data = _read_json(path)
    if not isinstance(data, list) or not all(isinstance(q, dict) and "haystack_sessions" in q for q in data):
        raise UsageError(f"{path}: not a LongMemEval file (expected a list of questions with 'haystack_sessions')")
    try:
        ds = load_longmemeval(path, skip_abstention=False)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: not a LongMemEval file (missing {exc})") from None
    batches: dict[Namespace, Batch] = {}
    for conv in ds.conversations[:limit]:
        qid = conv.id
        ns = namespace or qid
        for sess in conv.sessions:
            for j, t in enumerate(sess.turns):
                if not t.raw_text.strip():
                    continue
                where = f"{path}: {qid} {t.id}"
                add_turn(batches, ns, where, checked_turn(where, {
                    "text": t.raw_text, "speaker": t.speaker or None,
                    "episode": f"{qid}/{sess.id}" if namespace else sess.id,
                    "time": None if sess.time is None else sess.time + j,
                    "metadata": {"question_id": qid, "session_id": sess.id, "turn": j,
                                 **({"has_answer": True} if t.has_answer else {})}}))
    return list(batches.values())
