"""The lexical tokenizer: lower-cased words, English stopwords out, a light stemmer.

Every backend and every recall tokenizes with :func:`tokenize`, so a query
word and a stored word meet exactly when they are the same token.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The engine's one stopword list: standard English function words, no domain words.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    let's me more most mustn't my myself no nor not of off on once only or other ought our ours ourselves
    out over own same shan't she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this those through
    to too under until up very was wasn't we we'd we'll we're we've were weren't what what's when when's
    where where's which while who who's whom why why's with won't would wouldn't you you'd you'll you're
    you've your yours yourself yourselves s t d ll m re ve just also will""".split()
)

_WORD = re.compile(r"\w+", re.UNICODE)


_VOWELS = frozenset("aeiou")


def _measure(stem: str) -> int:
    """Porter's m: how many vowel-consonant sequences the stem has."""
    pattern = "".join("v" if c in _VOWELS or (c == "y" and i and stem[i - 1] not in _VOWELS) else "c" for i, c in enumerate(stem))
    return pattern.count("vc")


def _ends_cvc(stem: str) -> bool:
    return (
        len(stem) >= 3
        and stem[-1] not in _VOWELS | {"w", "x", "y"}
        and stem[-2] in _VOWELS
        and stem[-3] not in _VOWELS
    )


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stemmer: Porter's step 1 (plurals, -ed, -ing) only.

    Conservative on purpose: "paintings", "painted" and "painting" meet, and
    "moved" meets "move", while names, numbers and words such as "family"
    stay whole.  Porter's later steps (-ational, -ness...) merge too much
    for matching what people said in conversation.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies"):
        word = word[:-3] + "y" if len(word) > 4 else word[:-1]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("eed", "ed", "ing"):
        if not word.endswith(suffix):
            continue
        base = word[: -len(suffix)]
        if suffix == "eed":
            return word[:-1] if _measure(base) > 0 else word
        if not any(c in _VOWELS for c in base) or len(base) < 2:
            return word
        if base.endswith(("at", "bl", "iz")):
            return base + "e"
        if len(base) > 2 and base[-1] == base[-2] and base[-1] not in "lsz":
            return base[:-1]  # stopped -> stop
        if _measure(base) == 1 and _ends_cvc(base):
            return base + "e"  # moved -> move, hoped -> hope
        return base
    return word


def tokenize(text: str, *, stopwords: frozenset[str] = STOPWORDS, stemming: bool = True) -> list[str]:
    """Lower-cased word tokens without stopwords, lightly stemmed."""
    words = (w for w in _WORD.findall(text.lower()) if w not in stopwords)
    return [stem(w) for w in words] if stemming else list(words)
