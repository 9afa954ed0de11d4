"""``memoryweave export``: every memory as one JSON line, in the order 'import' needs to rebuild it.

The lines are :func:`memoryweave_core.transfer.export_records` (which says
what each holds); ``--vectors`` adds each content vector as ``embedding``, so
an import needs no model.  A new store made by ``import`` makes its context
vectors the way the exporting store did.
"""

from __future__ import annotations

import argparse
import sys

from ..scopes import parse_path
from ..transfer import export_jsonl
from .common import open_memory


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--namespace", type=parse_path, action="append", metavar="NS", help="only this namespace (repeatable; "
                                                                       "default: all)")
    p.add_argument("--out", "-o", metavar="FILE", help="write here instead of standard output")
    p.add_argument("--vectors", action="store_true", help="include each memory's content vector ('embedding')")


def run(args: argparse.Namespace) -> int:
    with open_memory(args) as memory:
        wanted = args.namespace or memory.namespaces()
        count = export_jsonl(memory, args.out or sys.stdout, wanted, vectors=args.vectors)  # refuses an unknown one
    if args.out:
        print(f"exported {count} memories from {len(wanted)} namespace(s) to {args.out}", file=sys.stderr)
    return 0
