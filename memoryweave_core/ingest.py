"""Remembering: validate items, place them in episodes, encode them with the
turns before them, categorise them (ART) and write rows and engine state in
one store call; over ``max_traces``, evict the least active.

A mixin of :class:`~memoryweave_core.memory.MemoryWeave` (``self`` is one:
typed Any, as a mixin cannot name the class it is mixed into without an
import cycle), kept apart so that recall and ingest each read in one sitting.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable, Mapping

from .activation import base_levels
from .art import ART2A
from .encoder import Preceding, turn_text
from .errors import InvalidInputError
from .lifecycle import PURGE_BATCH, expiry
from .names import NameIndex
from .progress import bar as progress_bar
from .scopes import Namespace
from .timeutil import to_timestamp
from .trace import Trace, check_label, check_metadata, check_namespace, check_text, check_vectors, new_id

#: Over ``max_traces``, eviction goes ``max_traces // EVICT_DIVISOR`` traces below the cap
#: (none for caps under this), so its full read of the namespace is amortised over that many adds.
EVICT_DIVISOR = 20

_ITEM_KEYS = frozenset({"id", "text", "speaker", "episode", "time", "metadata", "expires_at", "ttl"})


class IngestMixin:
    """``add``, ``add_many`` and ``add_conversation``, with their checks and eviction."""

    def add(
        self: Any,
        text: str,
        *,
        speaker: str | None = None,
        episode: str | None = None,
        time: Any = None,
        metadata: Mapping[str, Any] | None = None,
        namespace: Namespace = "default",
        embedding: Any = None,
        expires_at: Any = None,
        ttl: float | None = None,
    ) -> Trace:
        """Remember one piece of text; returns the stored Trace.  It is never
        recalled at or after ``expires_at``, or ``ttl`` seconds from now."""
        item = {"text": text, "speaker": speaker, "episode": episode, "time": time, "metadata": metadata,
                "expires_at": expires_at, "ttl": ttl}
        return self.add_many([item], embeddings=None if embedding is None else [embedding], namespace=namespace)[0]

    def add_many(
        self: Any,
        items: Iterable[Mapping[str, Any] | str],
        *,
        embeddings: Any = None,
        namespace: Namespace = "default",
        progress: bool = False,
    ) -> list[Trace]:
        """Remember many items at once (dicts with ``text`` and optionally
        ``speaker``, ``episode``, ``time``, ``metadata``, ``id``, ``expires_at``,
        ``ttl``; or plain strings).

        All items are validated before anything is written, and the write is
        atomic: either every item is stored or none is.  ``progress=True``
        shows a bar over the texts embedded (:mod:`.progress`; tqdm, the
        ``cli`` extra).
        """
        ns = check_namespace(namespace)
        rows = [self._check_item(item) for item in items]
        if not rows:
            return []
        dim = self.store.dim or self.encoder.dim
        given = None if embeddings is None else check_vectors(embeddings, dim, n=len(rows), what="embedding")
        with self._lock:
            self._check_new_ids(ns, rows)  # under the lock: check-then-write must be atomic
            self._assign_episodes(ns, rows)
            previous = self._previous_turns(ns, rows)
            with progress_bar(progress, "remembering"):
                content, context = self.encoder.encode([(r["text"], r["speaker"]) for r in rows], previous, given)
            self._check_dim(content.shape[1])
            art = self._art(ns)
            before = art.get_state()
            labels = art.partial_fit(content).labels_
            traces = [
                Trace(
                    id=r["id"] or new_id(),
                    text=r["text"],
                    namespace=ns,
                    speaker=r["speaker"],
                    episode=r["episode"],
                    position=r["position"],
                    time=r["time"],
                    metadata=r["metadata"],
                    content=content[i],
                    context=context[i],
                    category=int(labels[i]),
                    expires_at=r["expires_at"],
                )
                for i, r in enumerate(rows)
            ]
            names = self._speakers(ns)
            new_names = {t.speaker for t in traces if t.speaker} - names
            states = {"art": art.get_state()}
            if new_names:
                states["speakers"] = {"names": sorted(names | new_names)}
            try:  # the rows with their engine state: a crash cannot keep one without the other
                self.store.add_with_state(traces, states, context=self._context_record)
            except BaseException:
                self._arts[ns] = ART2A.from_state(before)
                raise
            if new_names:  # copy on write: a recall holding the old index keeps a consistent one
                grown = NameIndex(names)
                grown |= new_names
                self._names[ns] = grown
            if self.config.max_traces is not None:
                self._evict(ns, keep_episode=traces[-1].episode)
            self._purge(PURGE_BATCH)
            return traces

    def add_conversation(
        self: Any,
        turns: Iterable[Mapping[str, Any] | tuple[str, str] | str],
        *,
        episode: str | None = None,
        time: Any = None,
        namespace: Namespace = "default",
        progress: bool = False,
    ) -> list[Trace]:
        """Remember a conversation as one episode (``progress``: as :meth:`add_many`).

        ``turns`` are dicts (``{"speaker", "text"}`` or ``{"role", "content"}``),
        ``(speaker, text)`` pairs, or plain strings.  Turns without their own
        time get ``time``, one second apart so their order is kept.
        """
        episode = check_label(episode, "episode") or f"episode-{uuid.uuid4().hex[:8]}"
        start = to_timestamp(time, default=self.clock())
        items = []
        for i, turn in enumerate(turns):
            if isinstance(turn, tuple):
                turn = {"speaker": turn[0], "text": turn[1]}
            elif isinstance(turn, str):
                turn = {"text": turn}
            elif isinstance(turn, Mapping) and "content" in turn and "text" not in turn:
                turn = {"speaker": turn.get("role"), "text": turn["content"], "metadata": turn.get("metadata")}
            items.append({"time": start + i, **turn, "episode": episode})
        return self.add_many(items, namespace=namespace, progress=progress)

    def _check_item(self: Any, item: Any) -> dict[str, Any]:
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"an item must be a dict or a string, got {type(item).__name__}")
        unknown = set(item) - _ITEM_KEYS
        if unknown:
            raise InvalidInputError(f"unknown item fields {sorted(unknown)}; allowed: {sorted(_ITEM_KEYS)}")
        tid = check_label(item.get("id"), "id")
        return {
            "id": tid,
            "text": check_text(item.get("text")),
            "speaker": check_label(item.get("speaker"), "speaker"),
            "episode": check_label(item.get("episode"), "episode"),
            "time": to_timestamp(item.get("time"), default=self.clock()),
            "metadata": check_metadata(item.get("metadata")),
            "expires_at": expiry(item.get("expires_at"), item.get("ttl"), self.clock()),
        }

    def _check_new_ids(self: Any, ns: str, rows: list[dict]) -> None:
        ids = [r["id"] for r in rows if r["id"] is not None]
        seen: set[str] = set()
        for tid in ids:
            if tid in seen:
                raise InvalidInputError(f"the id {tid!r} appears more than once in one batch")
            seen.add(tid)
        taken = self.store.get(ids, ns) if ids else []  # ids are unique per namespace (a schema constraint)
        if taken:
            raise InvalidInputError(f"the id {taken[0].id!r} already exists in namespace {ns!r}; give another id or none")

    def _assign_episodes(self: Any, ns: str, rows: list[dict]) -> None:
        """Name an episode for rows without one, and give every row its position.

        Without an explicit episode a row continues the namespace's latest
        episode unless more than ``config.episode_gap`` seconds passed: the
        way a conversation that pauses for an hour becomes a new session.
        """
        last = self.store.last_trace(ns)
        current = (last.episode, last.time) if last is not None else (None, None)
        next_pos: dict[str, int] = {}
        for r in rows:
            if r["episode"] is None:
                ep, t = current
                if ep is None or abs(r["time"] - t) > self.config.episode_gap:
                    ep = f"episode-{uuid.uuid4().hex[:8]}"
                r["episode"] = ep
            ep = r["episode"]
            if ep not in next_pos:
                next_pos[ep] = self.store.episode_length(ns, ep)
            r["position"] = next_pos[ep]
            next_pos[ep] += 1
            current = (ep, r["time"])

    def _previous_turns(self: Any, ns: str, rows: list[dict]) -> list[list[Preceding]]:
        """The turns before each row in its episode (batch first, then store),
        with the batch row or the stored content vector of each."""
        w = self.config.context_window
        if not w:
            return [[] for _ in rows]
        in_batch = {(r["episode"], r["position"]): Preceding(turn_text(r["text"], r["speaker"]), row=i) for i, r in enumerate(rows)}
        out = []
        for r in rows:
            ep, pos = r["episode"], r["position"]
            window = []
            missing = [p for p in range(pos - w, pos) if p >= 0 and (ep, p) not in in_batch]
            stored = (
                {t.position: Preceding(turn_text(t.text, t.speaker), t.content) for t in self.store.episode_traces(ns, ep, min(missing), pos)}
                if missing
                else {}
            )
            for p in range(max(pos - w, 0), pos):
                turn = in_batch.get((ep, p)) or stored.get(p)
                if turn:
                    window.append(turn)
            out.append(window)
        return out

    def _evict(self: Any, ns: str, keep_episode: str | None) -> None:
        """Drop the lowest-activation traces beyond ``max_traces`` (never the current episode).

        Choosing reads the whole namespace, so once over the cap it evicts down to
        ``max_traces // EVICT_DIVISOR`` below it: the read happens once per that many adds, not on each."""
        cap = self.config.max_traces
        if cap is None:
            return
        excess = self.store.count(ns) - cap
        if excess <= 0:
            return
        excess += cap // EVICT_DIVISOR
        traces = [t for t in self.store.iter_traces(ns) if t.episode != keep_episode]
        logs = self.store.access_logs([t.id for t in traces], ns)
        traces = [t for t in traces if t.id in logs]  # forgotten meanwhile by another process: skipped
        acts = base_levels([logs[t.id] for t in traces], self.clock(), self.config.decay)
        # Ties (same activation and time, e.g. a batch) go oldest-added first: by
        # insertion order, never by id, which is random and would make the
        # survivors differ from one run of the same calls to the next.
        order = sorted(range(len(traces)), key=lambda i: (acts[i], traces[i].time, i))
        self.store.delete([traces[i].id for i in order[:excess]], ns)
