"""Async twins of MemoryWeave's calls, for agents written with asyncio.

On a store with an async face (PostgreSQL: ``store.open_async()``, psycopg
async connections from a pool), :meth:`arecall` awaits the store itself:
the candidate search, the winners and the access record each take a pooled
connection, so concurrent recalls wait on the server, not on a thread or on
each other.  Only CPU work leaves the loop for a worker thread: embedding the
query and ranking the pool (ranking happens once, in the engine, as for
``recall``; :class:`~memoryweave_core.recall_call.RecallCall` holds the steps
both share).

Every other call, and every call on SQLite and in memory, runs its sync twin
in a worker thread (:func:`asyncio.to_thread`).  On PostgreSQL the writes'
SQL still goes to the async pool: an add reads the episode it extends and
updates the ART state under the engine's thread lock, from the id check to
the commit, which a coroutine cannot hold across awaits; so the worker holds
it and sends each write plan to the loop (see
:meth:`~memoryweave_core.storage.postgres.aio.AsyncPostgres.lending`).  A
blocking call on the loop's thread that needs the lock meanwhile raises
:class:`~memoryweave_core.errors.LoopDeadlockError` rather than hanging
(see :mod:`~memoryweave_core.engine_lock`).
At most :data:`MAX_WORKERS` calls of one memory occupy worker threads at once
(the rest wait on the loop, costing nothing): the loop thread competes for
the GIL with every thread running Python, so its wait grows with their
number, while the engine's lock already serialises most of a recall and an
add, so more threads would mostly queue on it anyway.  Arguments, return values
and errors are exactly those of the sync method.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .recall_call import RecallCall
from .recollection import RecallResult

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .retrieval import Ranked, Retriever
    from .trace import Trace

T = TypeVar("T")

#: Calls of one memory that run in worker threads at once; more wait their turn on the loop
#: (``benchmarks/bench_async.py --max-workers`` compares other bounds).
MAX_WORKERS = 2

_GUARD = threading.Lock()


class AsyncMemoryMixin:
    """The async twins: ``aadd``, ``aadd_many``, ``aadd_conversation``, ``arecall``, ``atouch``, ``aforget``,
    ``aupdate``, ``aset_expiry``, ``aprune``, ``aget``, ``ahistory``, ``aimport_jsonl``, ``aexport_jsonl``, ``aclose``."""

    async def _off_loop(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, at most MAX_WORKERS of this memory's at once."""
        with _GUARD:  # one semaphore per memory and loop, made once
            slots = getattr(self, "_async_slots", None)
            loop = asyncio.get_running_loop()
            if slots is None or slots[0] is not loop:
                slots = self._async_slots = (loop, asyncio.Semaphore(MAX_WORKERS))
        async with slots[1]:
            return await asyncio.to_thread(fn, *args, **kwargs)

    async def _writing(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` as :meth:`_off_loop`, its store writes on the store's async pool when it has one."""
        face = await self._async_store()
        if face is None:
            return await self._off_loop(fn, *args, **kwargs)
        return await self._off_loop(face.lending(self._lock), fn, *args, **kwargs)  # type: ignore[attr-defined]

    async def _async_store(self) -> Any | None:
        """The store's async face on this loop, or None when it has none."""
        opener = getattr(self.store, "open_async", None)  # type: ignore[attr-defined]
        return None if opener is None else await opener()

    async def aadd(self, *args: Any, **kwargs: Any) -> Trace:
        """Async :meth:`MemoryWeave.add`."""
        return await self._writing(self.add, *args, **kwargs)  # type: ignore[attr-defined]

    async def aadd_many(self, *args: Any, **kwargs: Any) -> list[Trace]:
        """Async :meth:`MemoryWeave.add_many`."""
        return await self._writing(self.add_many, *args, **kwargs)  # type: ignore[attr-defined]

    async def aadd_conversation(self, *args: Any, **kwargs: Any) -> list[Trace]:
        """Async :meth:`MemoryWeave.add_conversation`."""
        return await self._writing(self.add_conversation, *args, **kwargs)  # type: ignore[attr-defined]

    async def arecall(self, query: str, k: int = 5, **kwargs: Any) -> RecallResult:
        """Async :meth:`MemoryWeave.recall` (same arguments, result and errors)."""
        face = await self._async_store()
        if face is None or kwargs.get("include_descendants"):  # a span of namespaces ranks on a worker thread
            return await self._off_loop(self.recall, query, k, **kwargs)  # type: ignore[attr-defined]
        call = RecallCall.check(self, query, k, **kwargs)  # cheap: nothing is read before it passes
        async with face.recalling:  # a bounded number at once: see AsyncPostgres.recalling
            return await self._arecall_on(face, call)

    async def _arecall_on(self, face: Any, call: RecallCall) -> RecallResult:
        """:meth:`arecall` on the store's async face, from the count to the access record."""
        held = await face.count(call.namespace)
        if held == 0:
            return RecallResult()
        call = call.capped(held)
        request, prototypes = await self._off_loop(self._recall_setup, call)
        retriever = call.retriever(self.store)  # type: ignore[attr-defined]
        terms = retriever.terms(request)
        cfg = retriever.config
        pool = await face.candidates(call.namespace, retriever.searches(request), terms, cfg.candidates,
                                     cfg.neighbour_radius, where=request.where, live=request.live)
        stats = await face.lexical_stats(call.namespace, terms) if terms and len(pool) else (held, 0.0, {})
        ranked = await self._off_loop(_rank, retriever, call, request, terms, pool, stats, prototypes)
        found = call.keep(ranked.recollections(await face.get(ranked.ids, call.namespace)))
        if call.record_access and found:
            await face.record_access([r.trace.id for r in found], call.now, call.namespace)
        return RecallResult(found)

    def _recall_setup(self, call: RecallCall) -> tuple[Any, Any]:
        """The embedded query, and a copy of the namespace's ART prototypes (read under the lock)."""
        request = call.request(self)
        with self._lock:  # type: ignore[attr-defined]
            art = self._art(call.namespace)  # type: ignore[attr-defined]
            return request, art.prototypes_.copy() if art.n_categories_ else None

    async def atouch(self, *args: Any, **kwargs: Any) -> None:
        """Async :meth:`MemoryWeave.touch`."""
        await self._writing(self.touch, *args, **kwargs)  # type: ignore[attr-defined]

    async def aforget(self, *args: Any, **kwargs: Any) -> int:
        """Async :meth:`MemoryWeave.forget`."""
        return await self._writing(self.forget, *args, **kwargs)  # type: ignore[attr-defined]

    async def aupdate(self, *args: Any, **kwargs: Any) -> Trace:
        """Async :meth:`MemoryWeave.update`."""
        return await self._writing(self.update, *args, **kwargs)  # type: ignore[attr-defined]

    async def aset_expiry(self, *args: Any, **kwargs: Any) -> int:
        """Async :meth:`MemoryWeave.set_expiry`."""
        return await self._writing(self.set_expiry, *args, **kwargs)  # type: ignore[attr-defined]

    async def aprune(self, *args: Any, **kwargs: Any) -> int:
        """Async :meth:`MemoryWeave.prune` (a long purge keeps the loop running)."""
        return await self._writing(self.prune, *args, **kwargs)  # type: ignore[attr-defined]

    async def aget(self, *args: Any, **kwargs: Any) -> Trace:
        """Async :meth:`MemoryWeave.get`."""
        return await self._off_loop(self.get, *args, **kwargs)  # type: ignore[attr-defined]

    async def ahistory(self, *args: Any, **kwargs: Any) -> list[Trace]:
        """Async :meth:`MemoryWeave.history`."""
        return await self._off_loop(self.history, *args, **kwargs)  # type: ignore[attr-defined]

    async def aimport_jsonl(self, *args: Any, **kwargs: Any) -> list[Trace]:
        """Async :meth:`MemoryWeave.import_jsonl` (a file is read on the worker thread too)."""
        return await self._writing(self.import_jsonl, *args, **kwargs)  # type: ignore[attr-defined]

    async def aexport_jsonl(self, *args: Any, **kwargs: Any) -> int:
        """Async :meth:`MemoryWeave.export_jsonl`."""
        return await self._off_loop(self.export_jsonl, *args, **kwargs)  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        """Close the store's async pool on this loop (if any), then the memory."""
        closer = getattr(self.store, "close_async", None)  # type: ignore[attr-defined]
        if closer is not None:
            await closer()
        await asyncio.to_thread(self.close)  # type: ignore[attr-defined]


def _rank(retriever: Retriever, call: RecallCall, request: Any, terms: list[str], pool: Any, stats: Any,
          prototypes: Any) -> Ranked:
    """Steps 2 and 3 of recall over a gathered pool (CPU only: run in a worker thread)."""
    table = retriever.table(request, terms, pool, lambda _: stats, prototypes)
    return retriever.rank(table, call.wanted, explain=call.explain)

