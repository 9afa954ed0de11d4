"""Memories in and out as JSON lines: what :func:`export_records` writes, :func:`read_jsonl` reads back.

One JSON object per memory, with every field of its current version (id,
text, namespace, speaker, episode, position, time, metadata, category,
expiry), optionally its content vector as ``embedding`` (so an import needs
no model), and how the exporting store made its context vectors.  An import
makes every context vector again, its own memory's way.  What recall
recorded (the access history behind activation) is not exported: an
imported memory starts as if never recalled.

The lines are checked whole, with the engine's own validators, before
anything is written; an error names the line.  Each namespace is then
written in one transaction.  The command line's ``export`` and ``import``
are this module with a file name and a progress bar.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Sequence

import numpy as np

from .errors import DimensionMismatchError, InvalidInputError, MemoryWeaveError, StoreError
from .lifecycle import expiry
from .progress import bar as progress_bar
from .scopes import Namespace, format_path
from .storage.context import ContextRecord
from .timeutil import to_timestamp
from .trace import Trace, check_label, check_metadata, check_namespace, check_scope, check_text, check_vectors

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


def checked_turn(where: str, raw: dict[str, Any]) -> dict[str, Any]:
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
        raise InvalidInputError(f"{where}: {exc}") from None
    except RecursionError:
        raise InvalidInputError(f"{where}: nested too deeply") from None
    return item


def _line_context(where: str, obj: dict[str, Any]) -> ContextRecord | None:
    """The exporting store's context record on an exported line (None on a line without one)."""
    mode, window = obj.get("context_mode"), obj.get("context_window")
    if mode is None and window is None:
        return None
    if not isinstance(mode, str) or not mode or isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise InvalidInputError(f"{where}: 'context_mode' must be a non-empty string and 'context_window' an integer >= 0")
    return ContextRecord(mode, window)


def add_turn(batches: dict[Namespace, Batch], ns: Namespace, where: str, item: dict[str, Any]) -> Batch:
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
                raise InvalidInputError(f"{where}: the id {tid!r} is used again in namespace {batch.namespace!r}"
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


def read_jsonl(lines: Iterable[str], name: str, namespace: Namespace | None = None) -> list[Batch]:
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
            raise InvalidInputError(f"{where}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
        except RecursionError:
            raise InvalidInputError(f"{where}: nested too deeply") from None
        if not isinstance(obj, dict):
            raise InvalidInputError(f"{where}: expected a JSON object per line, got {type(obj).__name__}")
        unknown = set(obj) - _LINE_KEYS
        if unknown:
            raise InvalidInputError(f"{where}: unknown fields {sorted(unknown)}; a turn has text, speaker, episode, time, "
                             "metadata (and id, namespace, embedding as export writes them)")
        text = obj.get("text", obj.get("content"))
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f"{where}: 'text' must be a non-empty string")
        if obj.get("metadata") is not None and not isinstance(obj["metadata"], dict):
            raise InvalidInputError(f"{where}: 'metadata' must be an object")
        for key in ("speaker", "episode"):
            if obj.get(key) is not None and not isinstance(obj[key], (str, int)):
                raise InvalidInputError(f"{where}: '{key}' must be a string")
        try:
            ns = namespace or check_scope(obj.get("namespace") or "default")
        except MemoryWeaveError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
        line_context = _line_context(where, obj)
        if context is None:
            context = (n, line_context)
        elif context[1] != line_context:
            raise InvalidInputError(f"{where}: its context_mode and context_window differ from line {context[0]}'s: the lines"
                             " come from stores that made their context vectors differently; import them apart")
        raw = {**obj, "text": text, "speaker": obj.get("speaker", obj.get("role"))}
        batch = add_turn(batches, ns, where, checked_turn(where, raw))
        batch.derived.append({k: obj[k] for k in ("position", "category") if obj.get(k) is not None})
        if obj.get("embedding") is None:
            without_vectors = without_vectors or where
            continue
        with_vectors = with_vectors or where
        try:
            batch.embeddings.append(check_vectors(obj["embedding"], None, what="embedding")[0])
        except MemoryWeaveError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
    if not batches:
        raise InvalidInputError(f"{name}: no turns found")
    if with_vectors and without_vectors:
        raise InvalidInputError(f"{without_vectors}: no 'embedding', but {with_vectors} has one: give all or none")
    _check_ids(batches.values())
    for batch in batches.values():
        _inherit_times(batch)
        batch.context = context[1] if context else None
    return list(batches.values())


# ----------------------------------------------------------------------------- export


def export_records(memory: Any, namespaces: Sequence[Namespace] | None = None, *,
                   vectors: bool = False) -> Iterator[dict[str, Any]]:
    """Each current memory of ``namespaces`` (default: all), oldest first, as
    the JSON object :func:`read_jsonl` reads back; ``vectors`` adds the
    content vector as ``embedding``.  A namespace that holds no memory is an
    :class:`InvalidInputError`, raised by this call, before any record: a
    typo would otherwise export nothing.  The records are read as they are
    consumed, so an export holds one memory at a time."""
    known = memory.namespaces()
    wanted = [check_namespace(ns) for ns in namespaces] if namespaces is not None else known
    missing = [ns for ns in wanted if ns not in known]
    if missing:
        raise InvalidInputError(f"namespace {missing[0]!r} holds no memories"
                                + (f" (namespaces: {', '.join(map(format_path, known))})" if known else ""))
    return _records(memory, wanted, vectors)


def _records(memory: Any, wanted: list[Namespace], vectors: bool) -> Iterator[dict[str, Any]]:
    context = memory.store.context_record()  # on every line: an import into a new store makes it the same way
    for ns in wanted:
        for t in memory.traces(ns):
            if t.superseded_at is not None:
                continue  # the current version of each memory; its history stays in the store
            row = {k: v for k, v in t.to_dict().items() if k not in ("version", "supersedes", "superseded_at")}
            if context is not None:
                row.update(context_mode=context.mode, context_window=context.window)
            if vectors:
                row["embedding"] = None if t.content is None else [float(x) for x in t.content]
            yield row


def export_jsonl(memory: Any, file: str | os.PathLike | IO[str], namespaces: Sequence[Namespace] | None = None, *,
                 vectors: bool = False) -> int:
    """Write :func:`export_records` to ``file`` (a path or an open text file),
    one JSON object per line, as they are read (a million memories are never
    held at once); returns how many.  A path is written whole or not at all:
    the lines go to ``NAME.partial``, renamed when complete."""
    records = export_records(memory, namespaces, vectors=vectors)  # an unknown namespace is refused here
    if not isinstance(file, (str, os.PathLike)):
        return _write_lines(records, file)
    path = Path(file).expanduser()
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as fh:
            count = _write_lines(records, fh)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return count


def _write_lines(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for row in records:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


# ----------------------------------------------------------------------------- import


def check_against_store(memory: Any, batches: Sequence[Batch]) -> None:
    """What only the store can tell: ids already taken, and the vectors' dimension."""
    dim = memory.store.dim or memory.encoder.dim
    for batch in batches:
        for where, item in zip(batch.wheres, batch.items, strict=True):
            if item.get("id") is None:
                continue
            if memory.store.get([item["id"]], check_namespace(batch.namespace)):  # ids are unique per namespace
                raise InvalidInputError(f"{where}: the id {item['id']!r} already exists in namespace"
                                        f" {batch.namespace!r}; give another id or none")
        if batch.embeddings and len(batch.embeddings[0]) != dim:
            raise DimensionMismatchError(f"{batch.wheres[0]}: the embedding has dimension "
                                         f"{len(batch.embeddings[0])}, this store's is {dim}")


def import_batches(memory: Any, batches: Sequence[Batch],
                   on_batch: Callable[[Batch, list[Trace]], None] | None = None, *,
                   progress: bool = False, file: Any = None) -> list[Trace]:
    """Write batches that passed :func:`check_against_store`, a namespace per
    transaction; returns the traces.

    A namespace that fails to write leaves nothing of itself behind, and the
    error says which namespaces were written before it.  ``on_batch`` is
    called after each namespace (a line of output, say); ``progress`` shows
    one bar over the texts the whole import embeds (on ``file``)."""
    estimate = sum(memory.encoder.texts_to_embed(len(b.items), len(b.items), bool(b.embeddings))
                   for b in batches) if progress else 0
    with progress_bar(progress, "importing", total=estimate, file=file):
        return _write_batches(memory, batches, on_batch)


def _write_batches(memory: Any, batches: Sequence[Batch],
                   on_batch: Callable[[Batch, list[Trace]], None] | None) -> list[Trace]:
    written: list[Namespace] = []
    traces: list[Trace] = []
    for batch in batches:
        vectors = np.stack(batch.embeddings) if batch.embeddings else None
        try:
            added = memory.add_many(batch.items, embeddings=vectors, namespace=batch.namespace)
        except (MemoryWeaveError, OSError) as exc:
            done = f" (already imported: namespaces {', '.join(map(repr, written))})" if written else ""
            kind = type(exc) if isinstance(exc, MemoryWeaveError) else StoreError  # an OSError: a full disk
            raise kind(f"importing namespace {batch.namespace!r} failed, nothing of it was written{done}: {exc}") from exc
        written.append(batch.namespace)
        traces.extend(added)
        if on_batch is not None:
            on_batch(batch, added)
    return traces


def import_jsonl(memory: Any, file: str | os.PathLike | IO[str] | Iterable[str],
                 namespace: Namespace | None = None, *, progress: bool = False) -> list[Trace]:
    """Import the lines :func:`export_jsonl` writes (or any JSONL of turns:
    ``text`` with ``speaker``, ``episode``, ``time``, ``metadata``, ``id``)
    into ``memory``; returns the new traces.  Every line is checked before
    anything is written; ``namespace`` puts every line in that namespace;
    ``progress`` shows a bar over the texts embedded."""
    scope = None if namespace is None else check_scope(namespace)
    if isinstance(file, (str, os.PathLike)):
        path = Path(file).expanduser()
        with path.open(encoding="utf-8") as fh:
            batches = read_jsonl(fh, str(file), scope)
    else:
        batches = read_jsonl(file, getattr(file, "name", "<lines>"), scope)
    check_against_store(memory, batches)
    return import_batches(memory, batches, progress=progress)
