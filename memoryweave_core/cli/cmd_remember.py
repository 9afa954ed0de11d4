"""``memoryweave remember``: store one memory, from the command line or standard input."""

from __future__ import annotations

import argparse
import json
import sys

from ..scopes import parse_path
from .common import open_memory, parse_meta
from .render import fmt_time, short


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="what to remember; '-' reads it from standard input")
    p.add_argument("--speaker", help="who said it (e.g. a name, 'user', 'assistant')")
    p.add_argument("--episode", help="episode (session) it belongs to; by default the latest episode continues "
                                     "unless more than 30 minutes passed")
    p.add_argument("--time", help="when it happened: ISO date/time, epoch seconds or e.g. '1:56 pm on 8 May, 2023' "
                                  "(default now)")
    p.add_argument("--namespace", type=parse_path, default="default", help="whose memory (default 'default')")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="metadata; VALUE is parsed as JSON when it can be (repeatable)")
    p.add_argument("--ttl", type=float, help="expire it this many seconds from now (never recalled after)")
    p.add_argument("--json", action="store_true", help="print the stored trace as JSON")


def run(args: argparse.Namespace) -> int:
    meta = parse_meta(args.meta)
    # '-' is standard input, read whole; a trailing newline is not part of the memory.
    text = sys.stdin.read().rstrip("\n") if args.text == "-" else args.text
    with open_memory(args, create=True) as memory:
        trace = memory.add(text, speaker=args.speaker, episode=args.episode, time=args.time,
                           metadata=meta or None, namespace=args.namespace, ttl=args.ttl)
    if args.json:
        print(json.dumps(trace.to_dict(), ensure_ascii=False))
    else:
        who = f"{trace.speaker}: " if trace.speaker else ""
        print(f"remembered {trace.id}  [{trace.namespace} / {trace.episode} #{trace.position}, "
              f"{fmt_time(trace.time)}]  {who}{short(trace.text, 80)}")
    return 0
