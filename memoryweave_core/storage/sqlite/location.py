"""Where a store file lives: the path a caller gives, checked before SQLite reads it.

SQLite takes almost any string as a file name and reports a mistake late
and vaguely: a folder that does not exist comes back as "unable to open
database file" (or, after the writability check, as read-only), an empty
name opens a private temporary database, and ``":memory:"`` opens one in RAM
that WAL mode cannot serve.  Each is said here, as the argument's fault.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import InvalidInputError

#: SQLite's name for a database in RAM; a memory in RAM is the in-memory store.
IN_MEMORY = ":memory:"


def store_path(path: Any) -> str:
    """The store file's path with ``~`` expanded, or :class:`InvalidInputError`
    naming what is wrong with it.  The folder must exist: as the command
    line does for a named ``--db``, no folder is created for what may be a typo."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise InvalidInputError(f"a store path must be a str or a path, got {type(path).__name__}")
    raw = os.fspath(path)
    if not raw.strip():
        raise InvalidInputError("the store path is empty: name a file, or give no path for a memory in RAM")
    if raw == IN_MEMORY:
        raise InvalidInputError(
            "SQLiteStore keeps memories in a file; for a memory in RAM use MemoryStore() (MemoryWeave() with no path)"
        )
    full = Path(raw).expanduser()
    if full.is_dir():
        raise InvalidInputError(f"{str(full)!r} is a folder, not a store file: name a file inside it")
    if not full.parent.is_dir():
        raise InvalidInputError(f"the folder of {str(full)!r} does not exist: create it first")
    return str(full)
