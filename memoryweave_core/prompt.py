"""What of a recall goes into a prompt: no repeats, no filler, within a budget.

Core ``recall`` ranks; an LLM reads what the memory puts into its prompt.
There, four copies of one question would take four slots and push the
answer out, "ok" would sit beside facts, and turns already in the
conversation would be shown twice.  :func:`select_for_prompt` is the one
place that turns a ranking into prompt lines; every prompt-facing adapter
(LangChain middleware and classic memory, LlamaIndex block and memory, the
Hugging Face adapter) calls it on a recall of :func:`fetch_size` results,
the first four through :mod:`.prompt_recall`.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Literal, Sequence, Union

import numpy as np

from .errors import InvalidInputError
from .lexical import tokenize
from .recollection import Recollection
from .relevance import CALIBRATED_FOR, PROMPT_MIN_RELEVANCE, check_relevance
from .timeutil import format_time

#: Content cosine at or above which two results say the same thing and share one slot.
DUPLICATE_SIMILARITY = 0.95
#: A trace with fewer content words than this (words that are not stopwords
#: nor speaker names) and none in common with the query is filler ("ok",
#: "Nice to meet you Alice."): stored and recallable, but in a prompt it
#: comes after every fuller result, so it never takes a fact's slot.
MIN_CONTENT_TERMS = 3
#: In packing, a result shorter than this many tokens is charged this many
#: (:func:`pack`): relevance is not calibrated against length, and without a
#: floor a two-word aside outbids a fact for being short.  Chosen by
#: ``benchmarks/tune.py --lift`` with cross-validation, together with the
#: length share of the surrounding lift (``pathways.gate.LIFT_LENGTH``): once
#: the ranking makes long turns pay, packing has less to do (README).
PACK_MIN_COST = 64


def normalise_text(text: str) -> str:
    """Text compared for "already shown": case, spacing and punctuation ignored."""
    return " ".join(re.findall(r"\w+", text.lower()))


def content_terms(text: str, names: Iterable[str] = ()) -> list[str]:
    """The words that carry content: no stopwords, no speaker names."""
    skip = {w for n in names if n for w in tokenize(n, stemming=False)}
    return [w for w in tokenize(text, stemming=False) if w not in skip]


def is_filler(rec: Recollection, query: str = "", names: Iterable[str] = (), min_terms: int = MIN_CONTENT_TERMS) -> bool:
    """Low information content: fewer than ``min_terms`` content words, none
    of them shared with the query (a short answer that names what was
    asked, "I play the cello", is not filler)."""
    if len(content_terms(rec.trace.text, [rec.trace.speaker or "", *names])) >= min_terms:
        return False
    return not set(tokenize(rec.trace.text)) & set(tokenize(query))


def fetch_size(k: int, n_excluded: int = 0) -> int:
    """How many results to recall so that ``k`` remain after selection."""
    return 3 * k + n_excluded


def whitespace_tokens(text: str) -> int:
    return len(text.split())


def _near(v: np.ndarray | None, kept: Sequence[np.ndarray], threshold: float) -> bool:
    """Whether content vector ``v`` is within ``threshold`` cosine of a kept one."""
    return v is not None and any(len(v) == len(w) and float(np.dot(v, w)) >= threshold for w in kept)


def select_for_prompt(
    recollections: Sequence[Recollection],
    k: int,
    *,
    query: str = "",
    exclude_texts: Iterable[str] = (),
    names: Iterable[str] = (),
    duplicate_similarity: float = DUPLICATE_SIMILARITY,
    min_content_terms: int = MIN_CONTENT_TERMS,
    budget_tokens: int | None = None,
    count_tokens: Callable[[str], int] = whitespace_tokens,
    min_cost: int = PACK_MIN_COST,
    render: Callable[[Recollection], str] | None = None,
) -> list[Recollection]:
    """At most ``k`` results for a prompt, best first.

    - results whose text is in ``exclude_texts`` (turns the prompt already
      shows) are left out;
    - a result that repeats a kept one (same words, or content cosine at or
      above ``duplicate_similarity``) is left out: it would take a second slot;
    - filler (:func:`is_filler` given ``query``; ``min_content_terms=0``
      turns it off) goes after every other result;
    - with ``budget_tokens``, the prompt is packed (:func:`pack`): the
      results that carry the most relevance per token and fit together
      (``count_tokens``: whitespace words by default, of each result as
      ``render`` shows it in the prompt, else of its text), facts before
      filler, shown in the order above.

    A relevance threshold is the recall's business (``recall(min_relevance=...)``):
    what it drops never reaches here.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise InvalidInputError(f"k must be an integer >= 0, got {k!r}")
    if not 0.0 < duplicate_similarity <= 1.0:
        raise InvalidInputError(f"duplicate_similarity must be in (0, 1], got {duplicate_similarity!r}")
    if budget_tokens is not None and (isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int) or budget_tokens < 0):
        raise InvalidInputError(f"budget_tokens must be an integer >= 0 or None, got {budget_tokens!r}")
    shown = {normalise_text(t) for t in exclude_texts}
    names = list(names)
    kept: list[Recollection] = []
    kept_texts: set[str] = set()
    kept_vectors: list[np.ndarray] = []
    for rec in recollections:
        text, v = normalise_text(rec.trace.text), rec.trace.content
        if text in shown or text in kept_texts or _near(v, kept_vectors, duplicate_similarity):
            continue
        kept.append(rec)
        kept_texts.add(text)
        if v is not None:
            kept_vectors.append(v)
    if min_content_terms > 0:
        filler = [is_filler(r, query, names, min_content_terms) for r in kept]
        kept = [r for r, f in zip(kept, filler, strict=True) if not f] + [r for r, f in zip(kept, filler, strict=True) if f]
        n_facts = len(kept) - sum(filler)
    else:
        n_facts = len(kept)
    if budget_tokens is None:
        return kept[:k]
    costs = [count_tokens(r.trace.text if render is None else render(r)) for r in kept]
    facts = pack([r.relevance for r in kept[:n_facts]], costs[:n_facts], budget_tokens, k, min_cost=min_cost)
    left = budget_tokens - sum(costs[i] for i in facts)
    rest = pack([r.relevance for r in kept[n_facts:]], costs[n_facts:], left, k - len(facts), min_cost=min_cost)
    return [kept[i] for i in sorted(facts + [n_facts + i for i in rest])]


def pack(relevance: Sequence[float], costs: Sequence[int], budget: int, k: int | None = None, *,
         min_cost: int = PACK_MIN_COST) -> list[int]:
    """Which items (indices, ascending) to put into a prompt of ``budget``
    tokens: the most expected evidence that fits.

    Relevance is the probability that an item is evidence, so filling the
    budget is a knapsack: value ``relevance``, weight ``cost``.  The greedy
    answer takes items by relevance per token, skipping any that no longer
    fits.  Filling in rank order instead lets one long item that is
    probably not evidence take the room of several short ones that probably
    are.  Relevance per token is taken with the cost floored at
    ``min_cost``: the calibrator never saw length, so between short results
    the ranking decides, and only long ones pay for their length.  ``k``
    caps the count; ties keep rank order.
    """
    if len(relevance) != len(costs):
        raise InvalidInputError("pack needs one cost per relevance")
    if isinstance(min_cost, bool) or not isinstance(min_cost, int) or min_cost < 1:
        raise InvalidInputError(f"min_cost must be an integer >= 1, got {min_cost!r}")
    order = sorted(range(len(costs)), key=lambda i: (-max(float(relevance[i]), 0.0) / max(costs[i], min_cost), i))
    chosen: list[int] = []
    used = 0
    for i in order:
        if k is not None and len(chosen) >= k:
            break
        if used + costs[i] <= budget:
            used += costs[i]
            chosen.append(i)
    return sorted(chosen)


#: What prompt-facing adapters apply by default: "auto", the calibrated
#: threshold where relevance is calibrated (:func:`default_min_relevance`).
#: A number sets a threshold, ``None`` switches it off.
DEFAULT_MIN_RELEVANCE: Literal["auto"] = "auto"
MinRelevance = Union[float, None, Literal["auto"]]


def default_min_relevance(memory: Any) -> float | None:
    """:data:`relevance.PROMPT_MIN_RELEVANCE` when the memory embeds with the
    model the calibrator was fitted with; otherwise no threshold, since the
    relevance of another model's similarities is not calibrated."""
    return PROMPT_MIN_RELEVANCE if memory.encoder.model_name == CALIBRATED_FOR else None


def check_min_relevance(value: Any) -> MinRelevance:
    """An adapter's threshold as given, checked when the adapter is made rather
    than at its first recall: ``"auto"``, None, or a number in [0, 1]."""
    if value is None:
        return None
    if isinstance(value, str) and value == "auto":
        return "auto"
    return check_relevance(value)


def relevance_kwargs(min_relevance: MinRelevance, memory: Any = None) -> dict[str, Any]:
    """``recall`` keyword arguments for a threshold: none when there is none."""
    if min_relevance == "auto":
        min_relevance = default_min_relevance(memory) if memory is not None else None
    return {} if min_relevance is None else {"min_relevance": min_relevance}


#: How one recalled memory reads in a prompt-facing adapter's prompt: when it
#: was said, by whom, what.  The date lets the model order what it is shown
#: (a correction after what it corrects, "tomorrow" said in March).
MEMORY_TEMPLATE = "[{date}] {who}{text}"


def check_template(template: Any) -> str:
    """A template must format with the fields :func:`memory_line` provides."""
    try:
        template.format(text="", speaker="", who="", date="", episode="", score=0.0, id="")
    except (AttributeError, KeyError, IndexError, ValueError) as exc:
        raise InvalidInputError(
            f"template {template!r} is not a str.format string over text, speaker, who, date, episode, score, id: {exc!r}"
        ) from exc
    return template


def memory_line(rec: Recollection, template: str = MEMORY_TEMPLATE) -> str:
    """One recalled memory as a line for the prompt.

    ``template`` is a ``str.format`` string over ``text``, ``speaker``,
    ``who`` (``"speaker: "`` or ``""``), ``date`` (UTC, to the minute),
    ``episode``, ``score``, ``id``.
    """
    t = rec.trace
    return template.format(
        text=t.text,
        speaker=t.speaker or "",
        who=f"{t.speaker}: " if t.speaker else "",
        date=format_time(t.time),
        episode=t.episode,
        score=rec.score,
        id=t.id,
    )
