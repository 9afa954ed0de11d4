"""The in-memory store's traces as columns indexed by row key.

A recall gathers a few hundred candidates out of the whole store.  Reading
each candidate's fields from its own Trace object (and stacking hundreds of
separate vectors) cost more than the scoring, so the store also keeps every
field recall reads as arrays indexed by the row key, and a pool is a fancy
index into them.  Vectors live in segments that never move (each twice the
size of the one before): a Trace's vectors are read-only views of its rows,
so they are held once, and a pool gathers them with one index per segment.
A deleted key's rows are cleared and never reused.  Speakers and episodes
are codes into each namespace's own :class:`Interned` (the store's
``_Space`` holds it), so forgetting a namespace forgets its names.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from ..activation import RECENT, AccessLog
from ..keysets import unique_first
from ..pool import Labels, Pool
from ..trace import Trace
from ..vocab import ID, TokenRows, Vocabulary

#: Rows of the first vector segment; segment ``s`` holds ``FIRST * 2**s``.
FIRST = 1024


def _segment(keys: np.ndarray) -> np.ndarray:
    """The segment of each key (segment ``s`` starts at key ``FIRST * (2**s - 1)``)."""
    return np.floor(np.log2(keys // FIRST + 1)).astype(np.int64)


class Interned:
    """Strings as dense codes, one namespace's (a pool maps its own codes to labels)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.labels: list[str] = []

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.labels)
            self.labels.append(value)
        return code

    def pool_labels(self, codes: np.ndarray) -> Labels:
        """The codes of a pool renumbered from 0 in order of first appearance, with their labels."""
        if not len(codes):
            return Labels(np.zeros(0, np.int64), ())
        placed = codes >= 0
        uniq, first, inverse = unique_first(codes[placed])
        order = np.argsort(first, kind="stable")  # labels in order of first appearance, as Labels.of numbers them
        rank = np.empty(len(uniq), np.int64)
        rank[order] = np.arange(len(uniq))
        out = np.full(len(codes), -1, np.int64)
        out[placed] = rank[inverse.reshape(-1)]
        labels = self.labels
        return Labels(out, tuple(map(labels.__getitem__, uniq[order].tolist())))


class KeyColumns:
    """Every field a recall pool reads, by row key, plus the access logs."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.size = 0
        self.ids = np.empty(0, dtype=object)
        self.speaker = np.empty(0, np.int64)
        self.episode = np.empty(0, np.int64)
        self.positions = np.empty(0, np.int64)
        self.times = np.empty(0, np.float64)
        self.categories = np.empty(0, np.int64)
        self.first = np.empty(0, np.float64)
        self.count = np.empty(0, np.float64)
        self.recent = np.empty((0, RECENT), np.float64)
        self.space = np.empty(0, np.int64)  # the code of the namespace (the store's _Space) holding the key
        self.member = np.zeros(0, bool)  # the key is its episode's member at its position (the store's episode map)
        # token ids (of the namespace's vocabulary) in CSR by key: row k is tok_ids[tok_start[k]:tok_start[k] + tok_len[k]]
        self.tok_start = np.empty(0, np.int64)
        self.tok_len = np.empty(0, np.int64)
        self.tok_ids = np.empty(0, ID)
        self.tok_used = 0
        self.segments: list[tuple[np.ndarray, np.ndarray]] = []  # (content, context) of each segment

    def _grow(self, size: int) -> None:
        if size > len(self.ids):
            cap = max(size, 2 * len(self.ids), 1024)
            for name in ("ids", "speaker", "episode", "positions", "times", "categories", "first", "count", "recent",
                         "tok_start", "tok_len", "space", "member"):
                old = getattr(self, name)
                new = (np.zeros if name == "member" else np.empty)((cap, *old.shape[1:]), old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)
        while FIRST * (2 ** len(self.segments) - 1) < size:
            rows = FIRST * 2 ** len(self.segments)
            self.segments.append((np.zeros((rows, self.dim), np.float32), np.zeros((rows, self.dim), np.float32)))
        self.size = max(self.size, size)

    def add(self, keys: Sequence[int], traces: Sequence[Trace], tokens: Sequence[np.ndarray], speakers: Interned,
            episodes: Interned, space: int = 0) -> list[Trace]:
        """Store the traces under these keys, with their token ids (their
        speakers and episodes coded in their namespace's ``speakers`` and
        ``episodes``, ``space`` its code); returns them with their vectors as
        views of the stored rows.  They are no episode's member until
        :meth:`set_member` says so."""
        if not len(keys):
            return []
        k = np.asarray(keys, np.int64)
        self._grow(int(k.max()) + 1)
        lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
        need = self.tok_used + int(lengths.sum())
        if need > len(self.tok_ids):
            grown = np.empty(max(need, 2 * len(self.tok_ids), 4096), ID)
            grown[: self.tok_used] = self.tok_ids[: self.tok_used]
            self.tok_ids = grown
        self.tok_len[k] = lengths
        self.tok_start[k] = self.tok_used + np.cumsum(lengths) - lengths
        if len(tokens):
            self.tok_ids[self.tok_used:need] = np.concatenate(tokens)
        self.tok_used = need
        self.ids[k] = [t.id for t in traces]
        self.speaker[k] = [speakers.code(t.speaker) for t in traces]
        self.episode[k] = [episodes.code(t.episode) for t in traces]
        self.positions[k] = [t.position for t in traces]
        self.times[k] = [t.time for t in traces]
        self.categories[k] = [-1 if t.category is None else t.category for t in traces]
        self.first[k] = self.times[k]
        self.count[k] = 1.0
        self.recent[k] = np.nan
        self.space[k] = space
        self.member[k] = False
        out = []
        seg = _segment(k).tolist()
        for key, s, t in zip(k.tolist(), seg, traces):
            content, context = self.segments[s]
            row = key - FIRST * (2**s - 1)
            content[row] = t.content
            context[row] = t.context
            views = content[row], context[row]
            for v in views:
                v.flags.writeable = False
            out.append(replace(t, content=views[0], context=views[1]))
        return out

    def rename(self, key: int, tid: str) -> None:
        self.ids[key] = tid

    def forget(self, key: int) -> None:
        """Clear a deleted key's rows (its vectors were views: the segment keeps them otherwise)."""
        self.ids[key] = None
        self.member[key] = False
        self.tok_ids[self.tok_start[key]:self.tok_start[key] + self.tok_len[key]] = 0
        s = int(_segment(np.array([key]))[0])
        for matrix in self.segments[s]:
            matrix[key - FIRST * (2**s - 1)] = 0.0

    def set_member(self, key: int, on: bool) -> None:
        """Mirror the store's episode map: ``key`` is (or no longer is) the member at its episode and position."""
        self.member[key] = on

    def neighbours(self, asked: np.ndarray, radius: int, space: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The episode members within ``radius`` positions of the ``asked``
        keys (of the namespace coded ``space``), found where the store's own
        key order puts them: a conversation is added in order, so the member
        ``d`` positions away is usually key ``k + d``.  Each guess is checked
        (a member, of this namespace and episode, at that position), so every
        key returned is what the episode map holds there.  Returns those keys
        and the probes left unresolved, as (asked key, position) arrays, for
        the caller to look up in the map."""
        k = np.asarray(asked, np.int64)
        k = k[self.episode[k] >= 0]  # a trace without an episode has no neighbours
        d = np.arange(-radius, radius + 1)
        guess = (k[:, None] + d).ravel()
        want = (self.positions[k][:, None] + d).ravel()
        episode = np.repeat(self.episode[k], len(d))
        inside = (guess >= 0) & (guess < self.size)
        g = np.where(inside, guess, 0)
        ok = inside & self.member[g] & (self.space[g] == space) & (self.episode[g] == episode) & (self.positions[g] == want)
        return guess[ok], np.repeat(k, len(d))[~ok], want[~ok]

    def vectors(self, keys: np.ndarray, field: str) -> np.ndarray:
        """The ``field`` vectors of these keys, in order."""
        return self.both(keys)[0 if field == "content" else 1]

    def both(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The content and context vectors of these keys, in order: one index per segment."""
        content = np.empty((len(keys), self.dim), np.float32)
        context = np.empty((len(keys), self.dim), np.float32)
        seg = _segment(keys)
        for s in np.flatnonzero(np.bincount(seg)).tolist():
            at = np.flatnonzero(seg == s)
            rows = keys[at] - FIRST * (2**s - 1)
            if len(at) == len(keys):  # one segment holds them all: gather straight into the result
                np.take(self.segments[s][0], rows, axis=0, out=content)
                np.take(self.segments[s][1], rows, axis=0, out=context)
            else:
                content[at] = np.take(self.segments[s][0], rows, axis=0)
                context[at] = np.take(self.segments[s][1], rows, axis=0)
        return content, context

    def tokens(self, keys: np.ndarray, vocab: Vocabulary) -> TokenRows:
        """The token ids of these keys (in their namespace's ``vocab``), as CSR rows in this order."""
        lengths = self.tok_len[keys]
        offsets = np.zeros(len(keys) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(self.tok_start[keys] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return TokenRows(vocab, offsets, self.tok_ids[gather])

    # -- access logs ------------------------------------------------------------
    def log(self, key: int) -> AccessLog:
        recent = self.recent[key]
        return AccessLog(float(self.first[key]), int(self.count[key]), recent[~np.isnan(recent)].tolist())

    def touch(self, key: int, when: float) -> None:
        """:meth:`AccessLog.touch` on the stored columns."""
        log = self.log(key)
        log.touch(when)
        self.count[key] = log.count
        self.recent[key] = np.nan
        self.recent[key, : len(log.recent)] = log.recent

    # -- pools ------------------------------------------------------------------
    def pool(self, keys: Sequence[int] | np.ndarray, vocab: Vocabulary, speakers: Interned, episodes: Interned) -> Pool:
        """The pool of these keys (of the namespace whose words ``vocab``,
        ``speakers`` and ``episodes`` hold), in this order."""
        k = np.asarray(keys, np.int64)
        content, context = self.both(k)
        return Pool(
            ids=self.ids[k], speaker=speakers.pool_labels(self.speaker[k]),
            episode=episodes.pool_labels(self.episode[k]), positions=self.positions[k], times=self.times[k],
            categories=self.categories[k], tokens=self.tokens(k, vocab), content=content, context=context, first_access=self.first[k], access_count=self.count[k],
            recent_access=self.recent[k],
        )
