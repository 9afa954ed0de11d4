"""``memoryweave mcp``: one memory served to any agent that speaks the Model Context Protocol.

Importing this package needs nothing beyond the core; the ``mcp`` SDK (the
``mcp`` extra) is imported only when a server is built or run.
"""

from __future__ import annotations

from .command import configure, run

__all__ = ["configure", "run"]
