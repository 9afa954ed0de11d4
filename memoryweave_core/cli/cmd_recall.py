"""``memoryweave recall``: the memories that best fit a query, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import InvalidInputError
from ..prompt import MinRelevance, relevance_kwargs
from ..relevance import CALIBRATED_FOR, check_relevance
from ..scopes import format_path, parse_path
from .common import UsageError, open_memory, positive_int
from .render import format_recall, recollection_dict


def min_relevance(text: str) -> MinRelevance:
    """argparse type for ``--min-relevance``: a probability, or "auto"."""
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number in [0, 1] or 'auto': {text!r}") from None
    try:
        return check_relevance(value)  # the range recall itself enforces
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def json_object(text: str) -> dict:
    """argparse type for ``--filter``: a JSON object (the filter language checks the rest)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {type(value).__name__}")
    return value


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="what to recall, in plain words (time expressions such as 'last week' count)")
    p.add_argument("-k", type=positive_int, default=5, metavar="N", help="how many memories (default 5)")
    p.add_argument("--explain", action="store_true", help="show each pathway's contribution to the score")
    p.add_argument("--at", metavar="TIME", help="recall as if it were TIME (default now)")
    p.add_argument("--namespace", type=parse_path, default="default", help="whose memory (default 'default')")
    p.add_argument("--descendants", action="store_true",
                   help="also recall from every namespace below --namespace (alice: alice/agent1/run7 too)")
    p.add_argument("--min-relevance", type=min_relevance, metavar="P",
                   help="leave out memories whose calibrated relevance is below P (0-1), so fewer than k, or "
                        "nothing, may come back; 'auto' is the threshold the prompt adapters use")
    p.add_argument("--filter", type=json_object, metavar="JSON",
                   help='only memories matching this filter, e.g. \'{"speaker": "Ana", "topic": "health"}\'')
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-record", action="store_true",
                   help="do not count this recall as a use (activation stays as it is)")


def run(args: argparse.Namespace) -> int:
    with open_memory(args) as memory:
        if not args.descendants and memory.count(args.namespace) == 0:
            known = memory.namespaces()
            hint = (f" (namespaces: {', '.join(map(format_path, known))})" if known
                    else " (the store is empty: try 'memoryweave remember' or 'import')")
            raise UsageError(f"namespace {args.namespace!r} holds no memories{hint}")
        threshold = relevance_kwargs(args.min_relevance, memory)
        if args.min_relevance == "auto" and not threshold:
            print(f"note: relevance is calibrated for {CALIBRATED_FOR} only, so 'auto' applies no threshold",
                  file=sys.stderr)
        results = memory.recall(args.query, k=args.k, namespace=args.namespace, at=args.at, explain=args.explain,
                                record_access=not args.no_record, include_descendants=args.descendants,
                                filter=args.filter, **threshold)
    if args.json:
        print(json.dumps([recollection_dict(r, i) for i, r in enumerate(results, 1)], ensure_ascii=False, indent=2))
    elif not results and threshold:
        print(f"nothing relevant (no memory reached relevance {threshold['min_relevance']:g})")
    else:
        print(format_recall(results, explain=args.explain, namespaces=args.descendants))
    return 0
