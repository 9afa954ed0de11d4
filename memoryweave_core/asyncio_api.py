"""Async twins of MemoryWeave's calls, for agents written with asyncio.

Each ``a*`` method runs its sync twin in a worker thread
(:func:`asyncio.to_thread`), so embedding, SQLite I/O and ranking never block
the event loop: other tasks keep running while a recall is computed.  The
engine serialises its own writers and readers with one re-entrant lock and
every store locks its connection, so many concurrent calls from one loop are
safe; they simply queue on that lock off the loop.  Arguments, return values
and errors are exactly those of the sync method.

PostgreSQL takes the same path for now; psycopg's async pool is a later step
that will not change these signatures.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .recollection import RecallResult
    from .trace import Trace


class AsyncMemoryMixin:
    """``aadd``, ``aadd_many``, ``aadd_conversation``, ``arecall``, ``aforget``, ``aupdate``."""

    async def aadd(self, *args: Any, **kwargs: Any) -> Trace:
        """Async :meth:`MemoryWeave.add`."""
        return await asyncio.to_thread(self.add, *args, **kwargs)  # type: ignore[attr-defined]

    async def aadd_many(self, *args: Any, **kwargs: Any) -> list[Trace]:
        """Async :meth:`MemoryWeave.add_many`."""
        return await asyncio.to_thread(self.add_many, *args, **kwargs)  # type: ignore[attr-defined]

    async def aadd_conversation(self, *args: Any, **kwargs: Any) -> list[Trace]:
        """Async :meth:`MemoryWeave.add_conversation`."""
        return await asyncio.to_thread(self.add_conversation, *args, **kwargs)  # type: ignore[attr-defined]

    async def arecall(self, *args: Any, **kwargs: Any) -> RecallResult:
        """Async :meth:`MemoryWeave.recall`."""
        return await asyncio.to_thread(self.recall, *args, **kwargs)  # type: ignore[attr-defined]

    async def aforget(self, *args: Any, **kwargs: Any) -> int:
        """Async :meth:`MemoryWeave.forget`."""
        return await asyncio.to_thread(self.forget, *args, **kwargs)  # type: ignore[attr-defined]

    async def aupdate(self, *args: Any, **kwargs: Any) -> Any:
        """Async ``update`` (refused, not faked, on an engine that has none yet)."""
        update = getattr(self, "update", None)
        if update is None:
            raise NotImplementedError("this MemoryWeave has no update(); aupdate needs it")
        return await asyncio.to_thread(update, *args, **kwargs)
