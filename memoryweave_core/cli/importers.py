"""Reading files to import: JSONL turns, plain text, LoCoMo and LongMemEval, into validated batches.

Everything is read and checked here, with the engine's own validators, before
the command writes anything; an error names the file and line.  LoCoMo and
LongMemEval are read through the public loaders of ``eval.datasets``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MemoryWeaveError
from ..eval.datasets import load_locomo, load_longmemeval
from ..lifecycle import expiry
from ..scopes import Namespace
from ..storage.context import ContextRecord
from ..timeutil import to_timestamp
from ..trace import check_label, check_metadata, check_scope, check_text, check_vectors
from .common import UsageError

FORMATS = ("jsonl", "text", "locomo", "longmemeval")

#: Fields of a JSONL line.  ``position`` and ``category`` are written by ``export``
#: and derived again on import; ``embedding`` is the content vector (``export --vectors``).
_LINE_KEYS = {"id", "text", "speaker", "episode", "time", "metadata", "namespace", "role", "content",
              "position", "category", "embedding", "expires_at", "ttl", "context_mode", "context_window"}


@dataclass
class Batch:
    """The validated turns of one namespace, in file order, with where each came from."""

    namespace: Namespace
    items: list[dict[str, Any]] = field(default_factory=list)
    wheres: list[str] = field(default_factory=list)
    embeddings: list[Any] = field(default_factory=list)
    derived: list[dict[str, Any]] = field(default_factory=list)  # position/category as exported
    context: ContextRecord | None = None  # how the exporting store made its context vectors


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


def _checked(where: str, raw: dict[str, Any]) -> dict[str, Any]:
    """One turn through the engine's validators; a failure names ``where``."""
    try:
        item = {
            "text": check_text(raw.get("text")),
            "speaker": check_label(raw.get("speaker"), "speaker"),
            "episode": check_label(raw.get("episode"), "episode"),
            "time": None if raw.get("time") is None else to_timestamp(raw["time"]),
            "metadata": check_metadata(raw.get("metadata")),
        }
        if raw.get("id") is not None:
            item["id"] = check_label(raw["id"], "id")
        if raw.get("expires_at") is not None or raw.get("ttl") is not None:
            expiry(raw.get("expires_at"), raw.get("ttl"), 0.0)  # checked now: nothing is written on a bad line
            item.update({k: raw[k] for k in ("expires_at", "ttl") if raw.get(k) is not None})
    except MemoryWeaveError as exc:
        raise UsageError(f"{where}: {exc}") from None
    except RecursionError:
        raise UsageError(f"{where}: nested too deeply") from None
    return item


def _line_context(where: str, obj: dict[str, Any]) -> ContextRecord | None:
    """The exporting store's context record on an exported line (None on a line without one)."""
    mode, window = obj.get("context_mode"), obj.get("context_window")
    if mode is None and window is None:
        return None
    if not isinstance(mode, str) or not mode or isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise UsageError(f"{where}: 'context_mode' must be a non-empty string and 'context_window' an integer >= 0")
    return ContextRecord(mode, window)


def _add(batches: dict[Namespace, Batch], ns: Namespace, where: str, item: dict[str, Any]) -> Batch:
    batch = batches.setdefault(ns, Batch(ns))
    batch.items.append(item)
    batch.wheres.append(where)
    return batch


def _check_ids(batches: Iterable[Batch]) -> None:
    """Ids are unique within each namespace of the file, as in a store (the
    second use names both lines); two namespaces may use the same id."""
    for batch in batches:
        seen: dict[str, str] = {}
        for where, item in zip(batch.wheres, batch.items, strict=True):
            tid = item.get("id")
            if tid is None:
                continue
            if tid in seen:
                raise UsageError(f"{where}: the id {tid!r} is used again in namespace {batch.namespace!r}"
                                 f" (first at {seen[tid]})")
            seen[tid] = where


def _inherit_times(batch: Batch) -> None:
    """A turn without a time takes the time of the turn before it in its episode (else the one after).

    Turns of an episode outside the file, or of no episode, keep None: the engine dates them now.
    """
    for order in (range(len(batch.items)), range(len(batch.items) - 1, -1, -1)):
        last: dict[str | None, float] = {}
        for i in order:
            item = batch.items[i]
            ep = item["episode"]
            if ep is None:
                continue
            if item["time"] is None and ep in last:
                item["time"] = last[ep]
            elif item["time"] is not None:
                last[ep] = item["time"]


# ----------------------------------------------------------------------------- JSONL and text


def read_jsonl(lines: Iterable[str], name: str, namespace: Namespace | None) -> list[Batch]:
    """One turn per line: text, speaker, episode, time, metadata, id, namespace, embedding.

    ``role``/``content`` are accepted for ``speaker``/``text``; ``namespace``
    (as ``export`` writes it) is overridden by ``namespace`` when given.
    """
    batches: dict[Namespace, Batch] = {}
    with_vectors: str | None = None
    without_vectors: str | None = None
    context: tuple[int, ContextRecord | None] | None = None  # the first line's, and its number
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{n}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{where}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
        except RecursionError:
            raise UsageError(f"{where}: nested too deeply") from None
        if not isinstance(obj, dict):
            raise UsageError(f"{where}: expected a JSON object per line, got {type(obj).__name__}")
        unknown = set(obj) - _LINE_KEYS
        if unknown:
            raise UsageError(f"{where}: unknown fields {sorted(unknown)}; a turn has text, speaker, episode, time, "
                             "metadata (and id, namespace, embedding as export writes them)")
        text = obj.get("text", obj.get("content"))
        if not isinstance(text, str) or not text.strip():
            raise UsageError(f"{where}: 'text' must be a non-empty string")
        if obj.get("metadata") is not None and not isinstance(obj["metadata"], dict):
            raise UsageError(f"{where}: 'metadata' must be an object")
        for key in ("speaker", "episode"):
            if obj.get(key) is not None and not isinstance(obj[key], (str, int)):
                raise UsageError(f"{where}: '{key}' must be a string")
        try:
            ns = namespace or check_scope(obj.get("namespace") or "default")
        except MemoryWeaveError as exc:
            raise UsageError(f"{where}: {exc}") from None
        line_context = _line_context(where, obj)
        if context is None:
            context = (n, line_context)
        elif context[1] != line_context:
            raise UsageError(f"{where}: its context_mode and context_window differ from line {context[0]}'s: the lines"
                             " come from stores that made their context vectors differently; import them apart")
        raw = {**obj, "text": text, "speaker": obj.get("speaker", obj.get("role"))}
        batch = _add(batches, ns, where, _checked(where, raw))
        batch.derived.append({k: obj[k] for k in ("position", "category") if obj.get(k) is not None})
        if obj.get("embedding") is None:
            without_vectors = without_vectors or where
            continue
        with_vectors = with_vectors or where
        try:
            batch.embeddings.append(check_vectors(obj["embedding"], None, what="embedding")[0])
        except MemoryWeaveError as exc:
            raise UsageError(f"{where}: {exc}") from None
    if not batches:
        raise UsageError(f"{name}: no turns found")
    if with_vectors and without_vectors:
        raise UsageError(f"{without_vectors}: no 'embedding', but {with_vectors} has one: give all or none")
    _check_ids(batches.values())
    for batch in batches.values():
        _inherit_times(batch)
        batch.context = context[1] if context else None
    return list(batches.values())


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
            _add(batches, ns, where, _checked(where, {"text": "\n".join(paragraph),
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
                _add(batches, ns, where, _checked(where, {
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
                _add(batches, ns, where, _checked(where, {
                    "text": t.raw_text, "speaker": t.speaker or None,
                    "episode": f"{qid}/{sess.id}" if namespace else sess.id,
                    "time": None if sess.time is None else sess.time + j,
                    "metadata": {"question_id": qid, "session_id": sess.id, "turn": j,
                                 **({"has_answer": True} if t.has_answer else {})}}))
    return list(batches.values())
