"""``memoryweave inspect``: counts, episodes, ART categories and the most active memories."""

from __future__ import annotations

import argparse
import json

from ..scopes import format_path, parse_path
from .common import UsageError, open_memory, positive_int, resolve_db
from .render import format_inspect


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--namespace", type=parse_path, help="only this namespace (default: all)")
    p.add_argument("--top", type=positive_int, default=5, metavar="N",
                   help="how many episodes, categories and active traces to list (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    with open_memory(args) as memory:
        path = resolve_db(getattr(args, "db", None), create=False)
        if args.namespace and memory.count(args.namespace) == 0:
            known = memory.namespaces()
            raise UsageError(f"namespace {args.namespace!r} holds no memories"
                             + (f" (namespaces: {', '.join(map(format_path, known))})" if known else ""))
        info = {"db": str(path), **memory.summary(args.namespace, args.top)}
    info["namespaces"] = {format_path(ns): s for ns, s in info["namespaces"].items()}  # JSON keys are strings
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        print(format_inspect(info))
    return 0
