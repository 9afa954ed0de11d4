"""One SQLite connection with the store's error mapping and write transactions.

Every other module of the store reads and writes through this, so a damaged
file surfaces as :class:`CorruptStoreError` (and a busy or closed one as
:class:`StoreError`) wherever the query runs.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable, Iterator, Sequence

from ...errors import CorruptStoreError, StoreError

#: Keys per ``IN (...)`` list: below SQLite's default limit of host parameters.
SQL_CHUNK = 900


def chunks(seq: Sequence, size: int = SQL_CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def marks(n: int) -> str:
    return ",".join("?" * n)


class Database:
    """The store's connection: reads that map errors, and IMMEDIATE write transactions."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self.closed = False

    def sql(self, sql: str, params: Sequence = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self.error(exc) from exc

    def error(self, exc: Exception) -> StoreError:
        if isinstance(exc, UnicodeDecodeError):  # text cells that are not UTF-8: written by something else
            return CorruptStoreError(f"{self.path} is damaged: {exc}")
        if type(exc) is sqlite3.DatabaseError or "malformed" in str(exc) or "not a database" in str(exc):
            return CorruptStoreError(f"{self.path} is damaged: {exc}")
        return StoreError(f"{self.path}: {exc}")

    def corrupt(self, what: str) -> CorruptStoreError:
        return CorruptStoreError(f"{self.path} is damaged: {what}")

    def pragma(self, name: str) -> Any:
        return self.sql(f"PRAGMA {name}")[0][0]

    def meta(self, key: str) -> str | None:
        rows = self.sql("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def json(self, text: Any, what: str, kind: type) -> Any:
        """A JSON cell of the expected kind (dict or list), or CorruptStoreError."""
        if text == "{}" or text == "[]":  # most metadata and fresh access logs
            if (text == "{}") == (kind is dict):
                return kind()
        if not isinstance(text, str):
            raise self.corrupt(f"{what} is {type(text).__name__}, not JSON text")
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise self.corrupt(f"{what} is not valid JSON ({exc})") from None
        if not isinstance(value, kind):
            raise self.corrupt(f"{what} is JSON {type(value).__name__}, not {kind.__name__}")
        return value

    def write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` in one IMMEDIATE transaction; roll back on any error."""
        if self.closed:
            raise StoreError("the store is closed")
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self.error(exc) from exc
        try:
            out = fn(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(exc, (sqlite3.DatabaseError, UnicodeDecodeError)):
                raise self.error(exc) from exc
            raise
        return out
