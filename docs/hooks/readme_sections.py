"""MkDocs hook: site pages include sections of README.md instead of copying them.

The README stays the one place for the overview, the concepts, the benchmarks and
storage, because it is what a code host shows; the site needs the same text on its
own pages. A line ``<!-- readme: Quickstart -->`` in a page is replaced by the body
of the README section with that heading (up to the next heading), so nothing is
kept twice. The README's links are written for the repository (``docs/cli.md``,
``#storage``); they are rewritten for the site (``cli.md``, ``storage.md``), and a
link that names no page or included section is left as it is, so the strict build
reports it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_MARKER = re.compile(r"^<!--\s*readme:\s*(.+?)\s*-->\s*$", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def sections(readme: str) -> dict[str, str]:
    """Each heading of ``readme`` mapped to its body, up to the next heading outside a code fence."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in readme.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading:
            current = found.setdefault(heading.group(2), [])
            continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip("\n") for name, lines in found.items()}


def rewrite_links(text: str, pages_of_sections: dict[str, str], prefix: str = "") -> str:
    """README links made site links: ``docs/x.md`` is ``x.md``, ``#section`` the page including it.

    ``prefix`` leads from the including page's folder back to docs/ (``../`` per level).
    """

    def fix(match: re.Match[str]) -> str:
        target = match.group(1)
        if target.startswith("docs/"):
            target = prefix + target[len("docs/") :]
        elif target.startswith("#") and target[1:] in pages_of_sections:
            target = prefix + pages_of_sections[target[1:]]
        return f"]({target})"

    return _LINK.sub(fix, text)


def include(markdown: str, readme: str, pages_of_sections: dict[str, str], prefix: str = "") -> str:
    """``markdown`` with each readme marker replaced by that README section, its links rewritten."""
    bodies = sections(readme)

    def body(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in bodies:
            raise ValueError(f"README.md has no section {name!r} (headings: {sorted(bodies)})")
        return rewrite_links(bodies[name], pages_of_sections, prefix)

    return _MARKER.sub(body, markdown)


def section_pages(docs_dir: Path) -> dict[str, str]:
    """Which page includes each README section, by the section's anchor (pages relative to docs/)."""
    pages: dict[str, str] = {}
    for page in sorted(docs_dir.rglob("*.md")):
        for name in _MARKER.findall(page.read_text(encoding="utf-8")):
            pages.setdefault(slug(name), page.relative_to(docs_dir).as_posix())
    return pages


_state: dict[str, Any] = {}


def on_config(config: Any) -> Any:
    docs_dir = Path(config["docs_dir"])
    readme = docs_dir.parent / "README.md"
    _state["readme"] = readme.read_text(encoding="utf-8")
    _state["pages"] = section_pages(docs_dir)
    config["watch"].append(str(readme))
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if not _MARKER.search(markdown):
        return markdown
    prefix = "../" * page.file.src_uri.count("/")
    return include(markdown, _state["readme"], _state["pages"], prefix)
