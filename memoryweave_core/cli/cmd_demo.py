"""``memoryweave demo``: the README's demo with the real model, in a temporary in-memory store."""

from __future__ import annotations

import argparse

from .common import quiet_model_loading


def configure(p: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    quiet_model_loading()
    from ..demo import run_demo  # imported here: the demo imports the renderer of this package

    run_demo()
    return 0
