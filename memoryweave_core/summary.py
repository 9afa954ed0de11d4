"""What a memory holds, at a glance: counts, episodes, categories, the most active traces.

Used by ``MemoryWeave.summary()``, its Jupyter rendering and ``memoryweave inspect``.
This walks every trace of the namespaces it summarises: it is an inspection
tool, never on the recall path.  It reads the memory through
:class:`Summarisable`, the few members it needs, so that ``memory.py`` can
import this module without this module importing ``memory.py``.
"""

from __future__ import annotations

import html
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from .activation import AccessLog, base_levels
from .config import RecallConfig
from .scopes import Namespace
from .timeutil import format_time
from .trace import Trace


class _CategoryView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def label(self) -> str: ...


class _AccessLogs(Protocol):
    def access_logs(self, ids: Sequence[str], namespace: str) -> dict[str, AccessLog]: ...


class Summarisable(Protocol):
    """What :func:`summarise` reads of a memory (``MemoryWeave`` has it all)."""

    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def config(self) -> RecallConfig: ...
    @property
    def store(self) -> _AccessLogs: ...
    def namespaces(self) -> list[Namespace]: ...
    def count(self, namespace: Namespace | None = None) -> int: ...
    def traces(self, namespace: Namespace | None = None) -> Iterator[Trace]: ...
    def categories(self, namespace: Namespace = "default") -> Sequence[_CategoryView]: ...


def summarise(memory: Summarisable, namespace: Namespace | None = None, top: int = 5) -> dict[str, Any]:
    """Counts, episodes, ART categories and the most active traces, as a dict."""
    names = [namespace] if namespace else memory.namespaces()
    now = memory.clock()
    out: dict[str, Any] = {"traces": memory.count(), "namespaces": {}}
    for ns in names:
        traces, logs = _traces_with_logs(memory, ns)
        episodes: dict[str | None, dict[str, Any]] = {}
        for t in traces:
            e = episodes.setdefault(
                t.episode, {"episode": t.episode, "turns": 0, "first": t.time, "last": t.time, "speakers": []}
            )
            e["turns"] += 1
            e["first"], e["last"] = min(e["first"], t.time), max(e["last"], t.time)
            if t.speaker and t.speaker not in e["speakers"]:
                e["speakers"].append(t.speaker)
        eps = sorted(episodes.values(), key=lambda e: e["last"], reverse=True)
        cats = memory.categories(ns) if traces else []
        acts = base_levels(logs, now, memory.config.decay) if traces else np.zeros(0)
        order = sorted(range(len(traces)), key=lambda i: -float(acts[i]))[:top]
        out["namespaces"][ns] = {
            "traces": len(traces),
            "episodes": len(eps),
            "speakers": sorted({t.speaker for t in traces if t.speaker}),
            "first": min((t.time for t in traces), default=None),
            "last": max((t.time for t in traces), default=None),
            "recent_episodes": eps[:top],
            "categories": len(cats),
            "largest_categories": [{"id": c.id, "size": c.size, "label": c.label} for c in cats[:top]],
            "most_active": [
                {
                    "id": traces[i].id,
                    "activation": round(float(acts[i]), 4),
                    "speaker": traces[i].speaker,
                    "text": traces[i].text,
                    "episode": traces[i].episode,
                    "time": traces[i].time,
                }
                for i in order
            ],
        }
    return out


def _traces_with_logs(memory: Summarisable, ns: Namespace) -> tuple[list[Trace], list[AccessLog]]:
    """A namespace's traces and their access logs, read in two steps.  A trace
    forgotten in between (by another thread or process) is left out: the
    store's ``access_logs`` skips an id it no longer holds."""
    traces = list(memory.traces(ns))
    logs = memory.store.access_logs([t.id for t in traces], traces[0].namespace) if traces else {}
    traces = [t for t in traces if t.id in logs]
    return traces, [logs[t.id] for t in traces]


def summary_html(info: dict[str, Any]) -> str:
    """The summary as HTML tables, for Jupyter."""
    esc = lambda v: html.escape(str(v))  # noqa: E731
    parts = [f"<p><b>MemoryWeave</b>: {info['traces']} traces in {len(info['namespaces'])} namespace(s)</p>"]
    for ns, s in info["namespaces"].items():
        parts.append(
            f"<h4>{esc(ns)}</h4><p>{s['traces']} traces, {s['episodes']} episodes, {s['categories']} ART categories, "
            f"{format_time(s['first'])} .. {format_time(s['last'])}; speakers: {esc(', '.join(s['speakers'][:10]))}</p>"
        )
        rows = "".join(
            f"<tr><td>{c['id']}</td><td>{c['size']}</td><td style='text-align:left'>{esc(c['label'][:200])}</td></tr>"
            for c in s["largest_categories"]
        )
        parts.append(f"<table><thead><tr><th>category</th><th>size</th><th>label</th></tr></thead><tbody>{rows}</tbody></table>")
        rows = "".join(
            f"<tr><td>{a['activation']:+.2f}</td><td>{esc(a['speaker'] or '')}</td>"
            f"<td style='text-align:left'>{esc(a['text'][:200])}</td><td>{esc(a['episode'])}</td></tr>"
            for a in s["most_active"]
        )
        parts.append(
            "<table><thead><tr><th>activation</th><th>speaker</th><th>most active traces</th><th>episode</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    return "".join(parts)
