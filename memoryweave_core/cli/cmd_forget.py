"""``memoryweave forget``: delete by id, by episode, or a whole namespace, after asking."""

from __future__ import annotations

import argparse

from ..errors import TraceNotFoundError
from ..scopes import parse_path
from .common import UsageError, confirm, open_memory


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", dest="ids", action="append", metavar="ID", help="a trace id (repeatable)")
    p.add_argument("--episode", help="delete this whole episode (in --namespace, default 'default')")
    p.add_argument("--namespace", type=parse_path, help="restrict to this namespace; alone, delete the whole namespace")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace) -> int:
    if not (args.ids or args.episode or args.namespace):
        raise UsageError("say what to forget: --id ID, --episode E or --namespace NS")
    if args.ids and args.episode:
        raise UsageError("use either --id or --episode, not both")
    with open_memory(args) as memory:
        if args.ids:
            for tid in args.ids:  # every id first: an unknown one deletes nothing
                try:
                    memory.get(tid, namespace=args.namespace or "default")
                except TraceNotFoundError:
                    raise TraceNotFoundError(f"no trace with id {tid!r} in namespace {args.namespace or 'default'!r}") from None
            what = f"{len(set(args.ids))} trace(s)"
        elif args.episode:
            ns = args.namespace or "default"
            n = sum(1 for t in memory.traces(ns, include_superseded=True) if t.episode == args.episode)
            if not n:
                raise UsageError(f"no episode {args.episode!r} in namespace {ns!r}")
            what = f"episode {args.episode!r} of namespace {ns!r} ({n} traces)"
        else:
            n = memory.count(args.namespace)
            if not n:
                raise UsageError(f"namespace {args.namespace!r} holds no memories")
            what = f"the whole namespace {args.namespace!r} ({n} traces)"
        if not args.yes and not confirm(f"forget {what}?"):
            print("nothing forgotten")
            return 1
        if args.ids:
            deleted = memory.forget(args.ids, namespace=args.namespace or "default")
        elif args.episode:
            deleted = memory.forget(episode=args.episode, namespace=args.namespace or "default")
        else:
            deleted = memory.forget(namespace=args.namespace)
    print(f"forgot {deleted} trace(s): {what}")
    return 0
