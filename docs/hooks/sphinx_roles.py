"""MkDocs hook: the docstrings' Sphinx roles read as plain code in the API reference.

The engine's docstrings cross-reference with ``:func:`name``` for readers of the
source and of ``help()``; mkdocstrings renders Markdown, where the role would show
as a stray ``:func:`` before the code. This drops the role and, as Sphinx does,
shows only the last component of a ``~``-prefixed name.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):<code>(~?)([\w.]+)</code>")


def plain(html: str) -> str:
    """``html`` with each ``:role:<code>name</code>`` rendered as ``<code>name</code>``."""
    return _ROLE.sub(lambda m: f"<code>{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}</code>", html)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return plain(html)
