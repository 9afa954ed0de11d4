"""``memoryweave export``: every memory as one JSON line, in the order 'import' needs to rebuild it.

Each line holds every field of the trace (id, text, namespace, speaker,
episode, position, time, metadata, category), and with ``--vectors`` its
content vector as ``embedding``, so an import needs no model to embed it,
and how the store made its context vectors (``context_mode``,
``context_window``): an import makes every context vector again, and a new
store made by it makes them the way the exporting store did.
What recall has recorded (the access history behind activation) is not
exported: an imported memory starts as if never recalled.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from ..scopes import format_path, parse_path
from .common import UsageError, open_memory


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--namespace", type=parse_path, action="append", metavar="NS", help="only this namespace (repeatable; "
                                                                       "default: all)")
    p.add_argument("--out", "-o", metavar="FILE", help="write here instead of standard output")
    p.add_argument("--vectors", action="store_true", help="include each memory's content vector ('embedding')")


def _write(lines: list[str], out: TextIO) -> None:
    for line in lines:
        out.write(line + "\n")


def run(args: argparse.Namespace) -> int:
    with open_memory(args) as memory:
        known = memory.namespaces()
        wanted = args.namespace or known
        missing = [ns for ns in wanted if ns not in known]
        if missing:
            raise UsageError(f"namespace {missing[0]!r} holds no memories"
                             + (f" (namespaces: {', '.join(map(format_path, known))})" if known else ""))
        lines = []
        context = memory.store.context_record()  # on every line: an import into a new store makes it the same way
        for ns in wanted:
            for t in memory.traces(ns):
                if t.superseded_at is not None:
                    continue  # the current version of each memory; its history stays in the store
                row = {k: v for k, v in t.to_dict().items() if k not in ("version", "supersedes", "superseded_at")}
                if context is not None:
                    row.update(context_mode=context.mode, context_window=context.window)
                if args.vectors:
                    row["embedding"] = None if t.content is None else [float(x) for x in t.content]
                lines.append(json.dumps(row, ensure_ascii=False))
    if args.out:
        path = Path(args.out).expanduser()
        tmp = path.with_name(path.name + ".partial")
        with tmp.open("w", encoding="utf-8") as fh:
            _write(lines, fh)
        tmp.replace(path)  # never a half-written export under the asked-for name
        print(f"exported {len(lines)} memories from {len(wanted)} namespace(s) to {args.out}", file=sys.stderr)
    else:
        _write(lines, sys.stdout)
    return 0
