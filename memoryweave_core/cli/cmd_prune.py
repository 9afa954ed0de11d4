"""``memoryweave prune``: delete every expired memory now (recall never shows them anyway)."""

from __future__ import annotations

import argparse

from ..scopes import parse_path
from .common import open_memory


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--namespace", type=parse_path, help="only this namespace (default: all)")


def run(args: argparse.Namespace) -> int:
    with open_memory(args) as memory:
        removed = memory.prune(namespace=args.namespace)
    print(f"pruned {removed} expired trace(s)")
    return 0
