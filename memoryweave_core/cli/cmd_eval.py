"""``memoryweave eval``: the benchmark harness, which parses its own arguments."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .parser import Parser


def configure(p: argparse.ArgumentParser) -> None:
    """Nothing: ``main`` hands everything after 'eval' to the harness."""


def run(args: argparse.Namespace) -> int:
    raise AssertionError("eval is dispatched by main before argparse")  # pragma: no cover


def run_argv(argv: Sequence[str]) -> int:
    """Validate with the harness's parser (so a bad command line is one line too), then run it."""
    from ..eval.__main__ import build_parser, main

    parser = build_parser()
    parser.error = Parser.error.__get__(parser)  # type: ignore[method-assign]
    parser.parse_args(list(argv))
    return int(main(list(argv)) or 0)
