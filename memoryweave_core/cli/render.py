"""Plain-text rendering shared by the commands and the demo: tables, recall explanations, the inspect report.

Pure functions of their input (no store, no model), so the demo can print
recall the same way the CLI does without importing any command.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

from ..recollection import Recollection
from ..scopes import format_path
from ..timeutil import format_time


def terminal_width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 160))


def short(text: str, n: int) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: max(n - 1, 1)] + "…"


def fmt_time(ts: float | None) -> str:
    return format_time(ts)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, wrap: int | None = None,
          wrap_width: int = 50, right: Sequence[int] = (), after: Sequence[str] | None = None) -> str:
    """A plain-text table; column ``wrap`` is wrapped to ``wrap_width`` characters.

    ``after[i]``, when given, is printed below row ``i`` (the recall explanations).
    """
    blocks = []
    for row in rows:
        r = [str(c) for c in row]
        if wrap is None:
            blocks.append([r])
            continue
        lines = textwrap.wrap(r[wrap], wrap_width) or [""]
        block = [[c if j != wrap else lines[0] for j, c in enumerate(r)]]
        block += [["" if j != wrap else ln for j in range(len(r))] for ln in lines[1:]]
        blocks.append(block)
    flat = [line for block in blocks for line in block]
    widths = [max([len(h)] + [len(line[j]) for line in flat]) for j, h in enumerate(headers)]

    def fmt(line: Sequence[str]) -> str:
        cells = zip(line, widths, strict=False)
        return "  ".join(c.rjust(w) if j in right else c.ljust(w) for j, (c, w) in enumerate(cells)).rstrip()

    out = [fmt(headers), fmt(["-" * w for w in widths])]
    for i, block in enumerate(blocks):
        out.extend(fmt(line) for line in block)
        if after is not None and after[i]:
            out.append(after[i])
    return "\n".join(out)


def indent(text: str) -> str:
    return textwrap.indent(text, "  ")


# ----------------------------------------------------------------------------- recall


def recollection_dict(r: Recollection, rank: int) -> dict[str, Any]:
    """One recall result as JSON: the trace, its score and each pathway's part."""
    return {"rank": rank, "score": round(float(r.score), 6), "relevance": round(float(r.relevance), 6), **r.trace.to_dict(),
            "features": {k: round(float(v), 6) for k, v in r.features.items()},
            "raw": {k: round(float(v), 6) for k, v in r.raw.items()}}


def format_recall(results: Sequence[Recollection], *, explain: bool, width: int | None = None,
                  namespaces: bool = False) -> str:
    """The recall table: rank, score, relevance, speaker, text, episode, time (+ why, with explain);
    with ``namespaces``, the episode is prefixed with its namespace (``alice/run7: ...``)."""
    width = width or terminal_width()
    if not results:
        return "nothing recalled"
    rows = []
    for i, r in enumerate(results, 1):
        t = r.trace
        rows.append([str(i), f"{r.score:+.3f}", f"{r.relevance:.2f}", short(t.speaker or "-", 14), t.text,
                     short(f"{format_path(t.scope) + ': ' if namespaces else ''}{t.episode} #{t.position}", 28 + 20 * namespaces),
                     fmt_time(t.time)])
    speaker_w = max(len(r[3]) for r in [*rows, ["", "", "", "speaker"]])
    episode_w = max(len(r[5]) for r in [*rows, ["", "", "", "", "", "episode"]])
    fixed = len(str(len(rows))) + 6 + 9 + speaker_w + episode_w + 16 + 6 * 2
    text_width = max(30, width - fixed)
    return table(["#", "score", "relevance", "speaker", "text", "episode", "time"], rows, wrap=4, wrap_width=text_width,
                 right=(0, 1, 2), after=[explain_lines(r) for r in results] if explain else None)


def explain_lines(r: Recollection) -> str:
    """One line per pathway, largest contribution first, with a bar and the raw value."""
    feats = sorted(r.features.items(), key=lambda kv: -abs(kv[1]))
    if not feats:
        return "        (no feature breakdown)"
    scale = max(abs(v) for _, v in feats) or 1.0
    lines = []
    for name, value in feats:
        bar = "█" * max(0, round(12 * abs(value) / scale)) if value else ""
        raw = f"  raw {r.raw[name]:.3g}" if name in r.raw else ""
        lines.append(f"        {name:<10} {value:+.3f}  {bar:<12}{raw}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- inspect


def format_inspect(info: dict[str, Any], width: int | None = None) -> str:
    """The ``inspect`` report: per namespace, its episodes, ART categories and most active traces."""
    width = width or terminal_width()
    lines = [f"store       {info['db']}", f"traces      {info['traces']} in {len(info['namespaces'])} namespace(s)"]
    if not info["namespaces"]:
        lines.append("\n(empty: add memories with 'memoryweave remember' or 'memoryweave import')")
    for ns, s in info["namespaces"].items():
        lines.append("")
        lines.append(f"namespace {ns!r}: {s['traces']} traces, {s['episodes']} episode(s), "
                     f"{s['categories']} ART categories, {fmt_time(s['first'])} .. {fmt_time(s['last'])}")
        if s["speakers"]:
            lines.append(f"  speakers: {', '.join(s['speakers'][:10])}" + (" ..." if len(s["speakers"]) > 10 else ""))
        if s["recent_episodes"]:
            lines.append("")
            lines.append(indent(table(
                ["episode", "turns", "from", "to", "speakers"],
                [[short(str(e["episode"]), 30), str(e["turns"]), fmt_time(e["first"]), fmt_time(e["last"]),
                  short(", ".join(e["speakers"]), 30)] for e in s["recent_episodes"]],
                right=(1,))))
        if s["largest_categories"]:
            lines.append("")
            lw = max(30, width - 20)
            lines.append(indent(table(["category", "size", "label (most typical member)"],
                                      [[str(c["id"]), str(c["size"]), short(c["label"], lw)]
                                       for c in s["largest_categories"]], right=(0, 1))))
        if s["most_active"]:
            lines.append("")
            lw = max(30, width - 50)
            lines.append(indent(table(["activation", "speaker", "text", "id"],
                                      [[f"{a['activation']:+.3f}", short(a["speaker"] or "-", 12),
                                        short(a["text"], lw), a["id"][:12]] for a in s["most_active"]],
                                      right=(0,))))
    return "\n".join(lines)
