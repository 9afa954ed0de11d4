"""The context mode a store's context vectors were made with, kept beside them.

A trace's context vector depends on ``RecallConfig.context_mode`` (how the
window is turned into a vector) and ``context_window`` (how many turns it
holds); vectors of two kinds in one store are not comparable, and nothing in
a vector says which kind it is.  So each store records the pair once, and
every MemoryWeave that opens it settles with the record (:func:`settle`).
The mode is an opaque string here: a newer MemoryWeave may know modes this
one does not, and comparing strings is all that is needed to refuse a mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from ..errors import ContextModeMismatchError, CorruptStoreError


@dataclass(frozen=True)
class ContextRecord:
    """How a store's context vectors were made."""

    mode: str
    window: int

    def meta(self) -> list[tuple[str, str]]:
        """The record as the (key, value) rows of a store's ``meta`` table."""
        return [("context_mode", self.mode), ("context_window", str(self.window))]


#: What every store written before the record existed holds: the default of
#: every earlier version ("model", a window of two turns; "mean" and "late"
#: were opt-in).  The schema migrations that add the record write this.
UNRECORDED = ContextRecord("model", 2)


#: The ``meta`` keys of the record.  A store reads them in one statement: another
#: process may be writing them, and two reads could see one key but not the other.
CONTEXT_KEYS = ("context_mode", "context_window")


def from_meta(mode: object, window: object, where: str) -> ContextRecord | None:
    """The record read from a store's ``meta`` values (None when the store has none yet)."""
    if mode is None and window is None:
        return None
    try:
        if not isinstance(mode, str) or not mode or not isinstance(window, str):
            raise ValueError
        record = ContextRecord(mode, int(window))
    except ValueError:
        raise CorruptStoreError(f"{where}: unreadable context record {mode!r}, {window!r}") from None
    if record.window < 0:
        raise CorruptStoreError(f"{where}: unreadable context record {mode!r}, {window!r}")
    return record


class Recording(Protocol):
    """The part of :class:`~memoryweave_core.storage.base.Store` that :func:`settle` uses."""

    def context_record(self) -> ContextRecord | None: ...

    def record_context(self, record: ContextRecord) -> None: ...

    def count(self, namespace: str | None = None) -> int: ...


def settle(store: Recording, mode: str, window: int) -> ContextRecord:
    """Record ``(mode, window)`` in a store that holds no record or no trace,
    or refuse a store whose context vectors were made another way; returns
    the record, which the memory then hands to every write (:func:`admit`).

    Refused rather than adopted: a RecallConfig is honoured or refused, never
    silently replaced, and adopting would give a memory another ingest cost
    and recall quality than the one its owner chose.  The error says how to
    open the store as it is, and how to move it to another mode (export and
    import make every context vector again, in the importing store's mode).
    """
    wanted = ContextRecord(mode, window)
    held = store.context_record()
    if held == wanted:
        return wanted
    if held is None or store.count() == 0:
        store.record_context(wanted)
        return wanted
    raise ContextModeMismatchError(refusal(held, wanted))


def refusal(held: ContextRecord, wanted: ContextRecord, *, since_open: bool = False) -> str:
    """Why a memory made ``wanted`` context vectors may not write into a store that holds ``held`` ones."""
    told = (" (another memory, of that mode, wrote to it after this one opened it empty; nothing was written)"
            if since_open else "")
    return (
        f"this store's context vectors were made with context_mode={held.mode!r}, context_window={held.window}{told},"
        f" but this memory has context_mode={wanted.mode!r}, context_window={wanted.window}: open it with"
        f" RecallConfig(context_mode={held.mode!r}, context_window={held.window}), or export it"
        " (memoryweave export --vectors) and import it into a new store opened with the mode you want"
    )


def admit(held: ContextRecord | None, wanted: ContextRecord, holds_traces: Callable[[], bool]) -> bool:
    """Whether a write of ``wanted`` context vectors must first record ``wanted``;
    called inside the write's transaction, with the record it reads there.

    :func:`settle` checks at open, but two memories of different modes may
    open one empty store at the same moment, each recording its own mode.
    So every write checks again where no other write can interleave: a
    matching record admits it; a store that holds no trace takes the
    writer's mode (nothing is mixed yet); anything else is refused before a
    row is written."""
    if held == wanted:
        return False
    if held is not None and holds_traces():
        raise ContextModeMismatchError(refusal(held, wanted, since_open=True))
    return True
