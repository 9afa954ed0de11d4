"""Progress of long work: a bar over the texts a large add embeds.

With a real model, embedding is nearly all of an add's time (tens of texts a
second on a CPU), so the bar counts embedded texts.  It is opt-in
(``add_many(..., progress=True)``, ``import_jsonl``, ``add_conversation``).
The work reports through a context variable rather than through every
signature: the encoder says how many texts it will embed (:func:`expect`),
the packaged embedders report each model batch as it finishes
(:func:`advance`), and an embedder that reports nothing (your own function)
is counted a call at a time (:func:`embedding`).  With no bar open, a report
is one lookup.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

from .errors import require

_open: ContextVar[Any] = ContextVar("memoryweave_progress", default=None)


def expect(count: int) -> None:
    """``count`` more texts to embed before the bar's work is done (a bar
    opened with a ``total`` keeps it: the work announced it as a whole)."""
    shown = _open.get()
    if shown is not None and count > 0 and not getattr(shown, "planned", False):
        shown.total = (shown.total or 0) + count
        shown.refresh()


def advance(count: int) -> None:
    """``count`` texts embedded."""
    shown = _open.get()
    if shown is not None and count > 0:
        shown.update(count)


@contextmanager
def embedding(count: int) -> Iterator[None]:
    """A call that embeds ``count`` texts: what the embedder did not report
    batch by batch is counted when the call returns."""
    shown = _open.get()
    start = None if shown is None else shown.n
    yield
    if shown is not None and start is not None:
        advance(count - (shown.n - start))


@contextmanager
def bar(enabled: bool, desc: str = "embedding", *, total: int = 0, file: Any = None) -> Iterator[None]:
    """A tqdm bar over the embedding done inside the block, when ``enabled``
    (``tqdm``: the ``cli`` extra).  ``total`` is an estimate made up front
    (work over several calls, each announcing its own part late); without
    one the calls' announcements add up.  A bar that ends with its work
    done ends full.  Inside an open bar, the outer one counts."""
    if not enabled or _open.get() is not None:
        yield
        return
    tqdm = require("tqdm.auto", "cli").tqdm  # a widget in Jupyter, text in a terminal
    shown = tqdm(total=total, desc=desc, unit="text", file=file or sys.stderr, dynamic_ncols=True)
    shown.planned = total > 0
    token = _open.set(shown)
    try:
        yield
        shown.total = shown.n  # an estimate is corrected once the work is done
        shown.refresh()
    finally:
        _open.reset(token)
        shown.close()
