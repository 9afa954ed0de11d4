"""What recall returns: a trace, its score, and why."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field

from .pathways import pathways
from .scopes import Namespace
from .timeutil import format_time
from .trace import Trace


@dataclass(frozen=True)
class Recollection:
    """One recalled trace.

    ``features`` maps each active pathway to its contribution to ``score``
    (weight times the candidate-normalised feature value), so the
    contributions add up to the score.  ``raw`` keeps each feature's
    un-normalised value (a cosine, a BM25 score, an activation in log units).
    ``relevance`` is the calibrated probability that the trace is evidence
    for the query (``relevance.py``): unlike ``score``, it can be compared
    across queries and thresholded.  ``answerable`` is the probability that
    the memory holds evidence for the query at all (``answerable.py``), the
    same for every recollection of one recall: a recall with a relevance
    threshold returns nothing when it is low; with ``explain=True``,
    ``answerable_reasons`` holds each gate signal's term in its log-odds,
    and ``relevance_reasons`` each calibrator signal's term in the
    relevance's log-odds.
    """

    trace: Trace
    score: float
    features: dict[str, float] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)
    relevance: float = 0.0
    answerable: float = 1.0
    answerable_reasons: dict[str, float] = field(default_factory=dict)
    relevance_reasons: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.trace.text

    @property
    def namespace(self) -> Namespace:
        """Where the trace lives, as callers name it (a string, or a tuple of
        labels); a recall with ``include_descendants=True`` spans several."""
        return self.trace.scope

    @property
    def key(self) -> tuple[Namespace, str]:
        """``(namespace, id)``: what identifies a result across namespaces
        (an id alone is only unique within its namespace)."""
        return self.trace.scope, self.trace.id

    def explain(self) -> str:
        """A few readable lines: what was recalled and which pathways brought it."""
        t = self.trace
        where = f"episode {t.episode} #{t.position}" if t.episode is not None else "no episode"
        head = f"{self.score:+.3f}  {t.speaker + ': ' if t.speaker else ''}{t.text}"
        meta = f"        [{where}, {format_time(t.time)}]  relevance {self.relevance:.2f}, answerable {self.answerable:.2f}"
        parts = sorted(self.features.items(), key=lambda kv: -abs(kv[1]))
        why = "        " + "  ".join(
            f"{name} {value:+.3f}" + (f" ({self.raw[name]:.3g})" if name in self.raw else "") for name, value in parts
        )
        lines = [head, meta, why]
        for label, reasons in (("relevant", self.relevance_reasons), ("answerable", self.answerable_reasons)):
            if reasons:  # the three signals that moved the log-odds most
                top = sorted(reasons.items(), key=lambda kv: -abs(kv[1]))[:3]
                lines.append(f"        {label} because " + "  ".join(f"{name} {value:+.2f}" for name, value in top))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain()


class RecallResult(list):
    """A list of Recollections that renders as a table in Jupyter."""

    def explain(self) -> str:
        return "\n".join(f"{i}. {r.explain()}" for i, r in enumerate(self, 1))

    def _repr_html_(self) -> str:
        if not self:
            return "<p><em>nothing recalled</em></p>"
        feats = list(dict.fromkeys(f for r in self for f in r.features))
        about = {p.name: p.description for p in pathways()}
        head = "".join(f"<th title='{html.escape(about.get(f, ''))}'>{html.escape(f)}</th>" for f in feats)
        rows = []
        for i, r in enumerate(self, 1):
            t = r.trace
            cells = "".join(f"<td>{r.features.get(f, 0.0):+.2f}</td>" for f in feats)
            rows.append(
                f"<tr><td>{i}</td><td>{r.score:+.3f}</td><td>{r.relevance:.2f}</td><td>{html.escape(t.speaker or '')}</td>"
                f"<td style='text-align:left'>{html.escape(t.text[:300])}</td>"
                f"<td>{html.escape(str(t.episode))}</td><td>{format_time(t.time)}</td>{cells}</tr>"
            )
        return (
            "<table><thead><tr><th>#</th><th>score</th><th>relevance</th><th>speaker</th><th>text</th><th>episode</th>"
            f"<th>time</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )


def ids_by_namespace(found: Iterable[Recollection]) -> dict[Namespace, list[str]]:
    """The recalled ids grouped by the namespace each lives in: what ``touch``
    takes, one namespace at a time, after a recall that spanned several."""
    out: dict[Namespace, list[str]] = {}
    for r in found:
        out.setdefault(r.namespace, []).append(r.trace.id)
    return out
