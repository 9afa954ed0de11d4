"""Speaker names in a query (issue 23, defect 8): the indexed matcher gives the
plain loop's answers, at a cost set by the query, not by the number of names."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoryweave_core import HashingEmbedder, MemoryWeave, retrieval
from memoryweave_core.names import MIXED_FOLDS, NameIndex, fold, names_in, strip_names


# -- the implementation before issue 23, kept as the reference ---------------------
def reference_strip_names(query: str, names) -> str:
    out = query
    for name in sorted(names, key=len, reverse=True):
        out = re.sub(r"\b" + re.escape(name) + r"(?:'s)?\b", " ", out, flags=re.IGNORECASE)
    return " ".join(out.split())


def reference_names_in(query: str, names) -> set[str]:
    words = set(re.findall(r"\w+", query.lower()))
    return {n for n in names if n and set(re.findall(r"\w+", n.lower())) <= words}


# Characters chosen to collide: case pairs, the classes re.IGNORECASE adds
# (ſ/s, K/k, ı/i, İ, µ/μ, ß/ẞ, the ι class with a combining mark), word
# separators, the possessive, digits, underscores and CJK.
ALPHABET = "aAbBsSſkKKiIıİµμßẞιΙͅ' -._9٣名前\t"
NAME = st.text(ALPHABET, max_size=6)
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def in_order(names: set[str]) -> list[str]:
    """Equal-length names in sorted order, the order NameIndex cuts them in."""
    return sorted(names, key=lambda n: (-len(n), n))


@PROPS
@given(names=st.sets(NAME, max_size=8), filler=st.lists(st.text(ALPHABET, max_size=4), max_size=6), data=st.data())
def test_same_answers_as_the_loop_over_every_name(names, filler, data):
    # queries built from the names themselves (in any case), possessives and filler
    parts = filler + [data.draw(st.sampled_from(sorted(names))) for _ in range(3)] if names else filler
    parts = [p.upper() if data.draw(st.booleans()) else p for p in parts]
    parts = [p + "'s" if data.draw(st.booleans()) else p for p in parts]
    query = data.draw(st.sampled_from([" ", "", "-", "'"])).join(data.draw(st.permutations(parts)))
    index = NameIndex(names)
    assert index.names_in(query) == reference_names_in(query, names)
    assert index.strip(query) == reference_strip_names(query, in_order(names))
    assert retrieval.names_in(query, names) == reference_names_in(query, names)
    assert retrieval.strip_names(query, in_order(names)) == reference_strip_names(query, in_order(names))


@PROPS
@given(names=st.sets(st.text(max_size=8), max_size=6), query=st.text(max_size=30))
def test_same_answers_on_any_unicode(names, query):
    assert names_in(query, names) == reference_names_in(query, names)
    assert strip_names(query, names) == reference_strip_names(query, in_order(names))


def test_the_fold_joins_every_class_that_re_ignorecase_joins():
    """fold() must give equal keys to characters that re.IGNORECASE matches to
    each other, and MIXED_FOLDS must list every class mixing word and non-word
    characters; both derived here from the Unicode tables this Python uses."""
    sre = pytest.importorskip("_sre")
    casefix = pytest.importorskip("re._casefix")
    word = re.compile(r"\w")
    extra = casefix._EXTRA_CASES
    # An uncased character (no lower or upper mapping, no extra class) is only
    # ever equal to itself: the rest are the few thousand worth checking.
    cased = [c for c in map(chr, range(sys.maxunicode + 1)) if c.lower() != c or c.upper() != c or ord(c) in extra]
    classes: dict[str, set[bool]] = {}
    for c in cased:
        assert fold(c) == fold(chr(sre.unicode_tolower(ord(c)))), (hex(ord(c)), c)
        for other in extra.get(ord(c), ()):
            assert fold(c) == fold(chr(other)), (hex(ord(c)), hex(other))
        classes.setdefault(fold(c), set()).add(bool(word.match(c)))
    assert {k for k, kinds in classes.items() if len(kinds) > 1} == set(MIXED_FOLDS)


def test_the_index_is_a_set_that_grows():
    index = NameIndex(["Ana"])
    index |= {"Ben", "Ana"}
    assert sorted(index) == ["Ana", "Ben"] and len(index) == 2 and "Ben" in index
    assert {"Ana"} <= index
    index.discard("Ana")
    assert sorted(index) == ["Ben"] and index.names_in("ana and ben") == {"Ben"}


def crowd(n: int) -> list[str]:
    return [f"Speaker{i} Surname{i % 97}" for i in range(n)]


@pytest.mark.parametrize("query", ["what did Speaker7 Surname7 paint?", "what did we paint last week?"])
def test_cost_depends_on_the_query_not_on_the_number_of_speakers(query):
    """Operation counts, not timings: the names a lookup looks at are the same
    with 10 speakers and with 20,000."""
    examined = []
    for n in (10, 20_000):
        index = NameIndex(crowd(n))
        assert index.names_in(query) == reference_names_in(query, crowd(10))
        index.names_in(query)
        looked = index.examined
        index.strip(query)
        examined.append((looked, index.examined))
    assert examined[0] == examined[1]
    assert max(examined[1]) <= 1


def test_recall_keeps_one_index_per_namespace_and_replaces_it_on_a_new_speaker():
    m = MemoryWeave(embedder=HashingEmbedder(64))
    m.add("I painted a sunset", speaker="Caroline")
    first = m._query("what did Caroline paint?", ["default"], 0.0, None)
    assert isinstance(first.names, NameIndex) and first.topic_vector is not None
    assert m._query("what else?", ["default"], 0.0, None).names is first.names  # not rebuilt per query
    m.add("I went hiking", speaker="Melanie")
    second = m._query("where did Melanie go?", ["default"], 0.0, None)
    # copy on write: a recall holding the old index never sees it change under it
    assert set(second.names) == {"Caroline", "Melanie"} and set(first.names) == {"Caroline"}
    assert [r.trace.speaker for r in m.recall("what did Caroline paint?", k=1)] == ["Caroline"]
