"""``memoryweave update``: correct a memory; the old text stays in its history."""

from __future__ import annotations

import argparse
import json
import sys

from ..scopes import parse_path
from .common import open_memory, parse_meta
from .render import fmt_time, short


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="the id of the memory to correct (it keeps this id)")
    p.add_argument("text", nargs="?", help="the corrected text; '-' reads it from standard input; omit to keep it")
    p.add_argument("--namespace", type=parse_path, help="refuse the id unless it is in this namespace")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="replace the metadata; VALUE is parsed as JSON when it can be (repeatable)")
    p.add_argument("--ttl", type=float, help="expire the new version this many seconds from now")
    p.add_argument("--history", action="store_true", help="print every version, oldest first, after the update")
    p.add_argument("--json", action="store_true", help="print the new version as JSON")


def run(args: argparse.Namespace) -> int:
    meta = parse_meta(args.meta)
    text = sys.stdin.read().rstrip("\n") if args.text == "-" else args.text
    with open_memory(args) as memory:
        trace = memory.update(args.id, text=text, metadata=meta or None, namespace=args.namespace, ttl=args.ttl)
        versions = memory.history(trace.id, namespace=args.namespace) if args.history else []
    if args.json:
        print(json.dumps(trace.to_dict(), ensure_ascii=False))
    else:
        print(f"updated {trace.id} to version {trace.version}  [{fmt_time(trace.time)}]  {short(trace.text, 80)}")
    for v in versions:
        print(f"  v{v.version}  {v.id}  {fmt_time(v.time)}  {short(v.text, 70)}")
    return 0
