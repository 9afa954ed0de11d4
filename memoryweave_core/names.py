"""Finding known speaker names in a query, at a cost set by the query.

Recall asks two things of a namespace's speaker names: which of them the
query mentions (the speaker pathway) and what the query says without them
(its topic).  Looping over every name made a recall with 20,000 speakers
cost a hundred times one with ten.  A :class:`NameIndex` files each name
under one of its words, so a query looks up only the names filed under its
own words; the few names without an indexable word are always checked.

Both answers are exactly those of the plain loop over every name
(``tests/test_names.py`` compares them on random inputs):

* ``names_in``: a name is mentioned when all of its lowercase ``\\w+`` words
  are words of the lowercased query (a name with no word always is);
* ``strip``: each name, longest first, is cut out wherever it stands as whole
  words (``re.IGNORECASE``), with a possessive ``'s``; then spaces are
  collapsed.  Only names whose every word, compared as ``re.IGNORECASE``
  compares characters, is a word of the query can match, and cutting a
  match out never creates a word, so skipping the other names changes
  nothing.  Names of equal length are cut in sorted order (the loop used the
  set's arbitrary order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, MutableSet

_WORD = re.compile(r"\w+")
#: Case-insensitive classes that mix word and non-word characters: U+0345
#: (a combining mark) matches "ι" under re.IGNORECASE.  A name holding one is
#: always checked, since its words may not be words of a query it matches.
#: ``tests/test_names.py`` derives this set from the Unicode tables.
MIXED_FOLDS = frozenset({"ι"})


def fold(text: str) -> str:
    """One key for all characters that ``re.IGNORECASE`` treats as equal:
    lowercase (the simple mapping: "İ" is "i"), then up and down again,
    which joins the classes regex adds ("ſ" and "s", "K" and "k", "µ" and "μ")."""
    return "".join(c.lower()[:1].upper().lower() for c in text)


class NameIndex(MutableSet[str]):
    """A set of speaker names, indexed by word.  Adding a name costs its own
    words; a lookup costs the query's words and the names filed under them.
    Safe to read while one thread adds (lookups never iterate a dict)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._fill(names)

    def _fill(self, names: Iterable[str]) -> None:
        self._names: set[str] = set()
        self._lower: dict[str, list[tuple[str, frozenset[str]]]] = {}  # for names_in
        self._folded: dict[str, list[tuple[str, frozenset[str]]]] = {}  # for strip
        self._always_in: list[str] = []
        self._always_strip: list[str] = []
        #: Names looked at by the last lookups (tests count them: cost, not time).
        self.examined = 0
        for name in names:
            self.add(name)

    # -- the set --------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def add(self, name: str) -> None:
        if name in self._names:
            return
        self._names.add(name)
        lower = frozenset(_WORD.findall(name.lower()))
        if not name:
            pass  # "" is never mentioned (a name must be truthy), but strip() cuts it
        elif lower:
            _file(self._lower, name, lower)
        else:
            self._always_in.append(name)
        folded = frozenset(fold(w) for w in _WORD.findall(name))
        if folded and not any(c in MIXED_FOLDS for c in fold(name)):
            _file(self._folded, name, folded)
        else:
            self._always_strip.append(name)

    def discard(self, name: str) -> None:
        """Removing is rare (names only grow until a namespace is forgotten): rebuild."""
        if name in self._names:
            self._fill(self._names - {name})

    # -- lookups --------------------------------------------------------------
    def _present(self, words: set[str], filed: dict[str, list[tuple[str, frozenset[str]]]],
                 always: list[str]) -> set[str]:
        """The names filed under one of ``words`` whose every word is among
        them, plus ``always``; counts the entries it examined."""
        found = set(always)
        self.examined = len(always)
        for word in words:
            for name, need in filed.get(word, ()):
                self.examined += 1
                if need <= words:
                    found.add(name)
        return found

    def names_in(self, query: str) -> set[str]:
        """Known names that the query mentions (whole words, any case)."""
        return self._present(set(_WORD.findall(query.lower())), self._lower, self._always_in)

    def strip(self, query: str) -> str:
        """The query without the known names in it (see the module docstring)."""
        present = self._present({fold(w) for w in _WORD.findall(query)}, self._folded, self._always_strip)
        out = query
        for name in sorted(present, key=lambda n: (-len(n), n)):
            out = re.sub(r"\b" + re.escape(name) + r"(?:'s)?\b", " ", out, flags=re.IGNORECASE)
        return " ".join(out.split())


def _file(index: dict[str, list[tuple[str, frozenset[str]]]], name: str, words: frozenset[str]) -> None:
    """File a name under the word of its own that has the fewest names so far
    (any of its words would do: a query must contain them all)."""
    key = min(words, key=lambda w: (len(index.get(w, ())), w))
    index.setdefault(key, []).append((name, words))


def as_index(names: Iterable[str]) -> NameIndex:
    """``names`` itself when it is already indexed, else a new index of them."""
    return names if isinstance(names, NameIndex) else NameIndex(names)


def names_in(query: str, names: Iterable[str]) -> set[str]:
    """Known speaker names that the query mentions (whole words, any case)."""
    return as_index(names).names_in(query)


def strip_names(query: str, names: Iterable[str]) -> str:
    """The query without the names of known speakers in it."""
    return as_index(names).strip(query)
