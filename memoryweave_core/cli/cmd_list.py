"""``memoryweave list``: the current memories of a namespace, oldest first, filtered by speaker, episode or time."""

from __future__ import annotations

import argparse
import json

from ..scopes import format_path, parse_path
from ..timeutil import to_timestamp
from .common import UsageError, open_memory, positive_int
from .render import fmt_time, short, table, terminal_width


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--namespace", type=parse_path, default="default", help="whose memory (default 'default')")
    p.add_argument("--speaker", help="only what this speaker said")
    p.add_argument("--episode", help="only this episode")
    p.add_argument("--since", metavar="TIME", help="only memories at or after TIME")
    p.add_argument("--until", metavar="TIME", help="only memories before TIME")
    p.add_argument("--limit", type=positive_int, metavar="N", help="at most N memories (the oldest that match)")
    p.add_argument("--include-superseded", action="store_true",
                   help="also list the archived versions that updates replaced (id@vN)")
    p.add_argument("--json", action="store_true", help="print JSON lines (as 'export' writes them)")


def run(args: argparse.Namespace) -> int:
    since = None if args.since is None else to_timestamp(args.since)
    until = None if args.until is None else to_timestamp(args.until)
    found = []
    with open_memory(args) as memory:
        if memory.count(args.namespace) == 0:
            known = memory.namespaces()
            raise UsageError(f"namespace {args.namespace!r} holds no memories"
                             + (f" (namespaces: {', '.join(map(format_path, known))})" if known else ""))
        for t in memory.traces(args.namespace, include_superseded=args.include_superseded):
            if args.speaker is not None and t.speaker != args.speaker:
                continue
            if args.episode is not None and t.episode != args.episode:
                continue
            if (since is not None and t.time < since) or (until is not None and t.time >= until):
                continue
            found.append(t)
            if args.limit is not None and len(found) >= args.limit:
                break
    if args.json:
        for t in found:
            print(json.dumps(t.to_dict(), ensure_ascii=False))
        return 0
    if not found:
        print("nothing matches")
        return 0
    width = max(30, terminal_width() - 100)
    rows = [[t.id, short(t.speaker or "-", 14), t.text, short(f"{t.episode} #{t.position}", 28),
             fmt_time(t.time)] for t in found]
    print(table(["id", "speaker", "text", "episode", "time"], rows, wrap=2, wrap_width=width))
    return 0
