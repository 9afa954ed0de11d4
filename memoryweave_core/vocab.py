"""Token strings as integers: a store's vocabulary and token sequences in CSR.

Lexical scoring compares words, and comparing small integers in numpy costs
far less than comparing strings in Python.  A store interns each token
string once, when a trace is added (a vocabulary per namespace, so that
forgetting a namespace forgets its words), and recall scores a pool's tokens as two
arrays: ``offsets`` (row ``i`` holds ``ids[offsets[i]:offsets[i + 1]]``) and
``ids``.  Ids are never reused nor forgotten: a vocabulary grows with the
distinct words a store has seen, which Zipf's law keeps far smaller than
the text.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

#: dtype of token ids (two billion distinct words is beyond any store).
ID = np.int32


class Vocabulary:
    """Token string <-> id, ids dense from 0 in order of first sight; safe across threads."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._words: list[str] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._words)

    def intern(self, tokens: Iterable[str]) -> np.ndarray:
        """The ids of ``tokens``, new words added."""
        tokens = list(tokens)
        ids, words = self._ids, self._words
        with self._lock:
            out = [ids.get(t, -1) for t in tokens]
            for j, i in enumerate(out):
                if i < 0:
                    t = tokens[j]
                    i = out[j] = ids.get(t, -1)  # an earlier token of this call may have added it
                    if i < 0:
                        i = out[j] = ids[t] = len(words)
                        words.append(t)
        return np.array(out, dtype=ID)

    def extend(self, first: int, words: Sequence[str]) -> None:
        """Take ``words`` as ids ``first``, ``first + 1``... (a store's saved
        vocabulary); ``first`` must be the next id."""
        with self._lock:
            if first != len(self._words):
                raise ValueError(f"vocabulary ids are dense: the next one is {len(self._words)}, not {first}")
            for w in words:
                self._ids.setdefault(w, len(self._words))
                self._words.append(w)

    def truncate(self, size: int) -> None:
        """Forget the ids from ``size`` on (words interned in a transaction that rolled back)."""
        with self._lock:
            for w in self._words[size:]:
                del self._ids[w]
            del self._words[size:]

    def lookup(self, terms: Iterable[str]) -> np.ndarray:
        """The ids of ``terms``, -1 for a word never seen (nothing adds it)."""
        get = self._ids.get
        return np.array([get(t, -1) for t in terms], dtype=ID)

    def words(self, ids: np.ndarray) -> tuple[str, ...]:
        """The strings of ``ids``."""
        words = self._words
        return tuple(words[i] for i in ids.tolist())


@dataclass(frozen=True)
class TokenRows:
    """Token sequences of many texts in CSR form, ids from ``vocab``.

    Indexing or iterating gives a row's words as strings, for code that
    reads one text; scoring reads ``offsets`` and ``ids`` directly.
    """

    vocab: Vocabulary
    offsets: np.ndarray  # int64 [n + 1], offsets[0] == 0
    ids: np.ndarray  # ID [offsets[-1]]

    @classmethod
    def of(cls, vocab: Vocabulary, rows: Sequence[np.ndarray]) -> "TokenRows":
        """Rows already interned in ``vocab``."""
        offsets = np.zeros(len(rows) + 1, np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        ids = np.concatenate(rows).astype(ID, copy=False) if len(rows) else np.zeros(0, ID)
        return cls(vocab, offsets, ids)

    @classmethod
    def from_words(cls, docs: Iterable[Sequence[str]], vocab: Vocabulary | None = None) -> "TokenRows":
        """Rows of token strings, interned in ``vocab`` (a fresh one if None)."""
        vocab = Vocabulary() if vocab is None else vocab
        docs = list(docs)
        offsets = np.zeros(len(docs) + 1, np.int64)
        np.cumsum([len(d) for d in docs], out=offsets[1:])
        return cls(vocab, offsets, vocab.intern([t for d in docs for t in d]))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per row (int64)."""
        return np.diff(self.offsets)

    def __getitem__(self, i: int) -> tuple[str, ...]:
        return self.vocab.words(self.ids[self.offsets[i]:self.offsets[i + 1]])

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return (self[i] for i in range(len(self)))

    def take(self, rows: Sequence[int] | np.ndarray) -> "TokenRows":
        """These rows, in this order."""
        idx = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[idx]
        offsets = np.zeros(len(idx) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(self.offsets[idx] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return TokenRows(self.vocab, offsets, self.ids[gather])

    @staticmethod
    def concat(parts: Sequence["TokenRows"]) -> "TokenRows":
        """The rows of ``parts``, in order: in their vocabulary when they
        share one, else interned in a new one (a store's is never changed here)."""
        if not parts:
            return TokenRows.from_words([])
        vocab = parts[0].vocab
        if any(p.vocab is not vocab for p in parts):
            vocab = Vocabulary()
        same = [p if p.vocab is vocab else TokenRows.from_words(p, vocab) for p in parts]
        lengths = np.concatenate([p.lengths for p in same])
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return TokenRows(vocab, offsets, np.concatenate([p.ids for p in same]))
