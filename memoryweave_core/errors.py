"""Every exception MemoryWeave raises on purpose lives here.

Callers catch one family, :class:`MemoryWeaveError`; the subclasses also derive
from the matching built-in (``ValueError``, ``KeyError``, ``ImportError``) so
code written against plain Python conventions keeps working.  Input errors are
always raised *before* anything is written, so a rejected call leaves the
store exactly as it was.
"""

from __future__ import annotations

from types import ModuleType


class MemoryWeaveError(Exception):
    """Base class of every error raised by MemoryWeave."""


class InvalidInputError(MemoryWeaveError, ValueError):
    """An argument is malformed: empty text, k < 1, an unparseable time..."""


class EmptyTextError(InvalidInputError):
    """Text to remember or to recall with is empty or only whitespace."""


class DimensionMismatchError(InvalidInputError):
    """A vector does not have the dimension the memory was built with."""


class ContextModeMismatchError(InvalidInputError):
    """A store's context vectors were made with another ``context_mode`` or
    ``context_window`` than the memory opening it has: refused, because new
    vectors of one kind beside old ones of another are not comparable."""


class NonFiniteVectorError(InvalidInputError):
    """A vector holds NaN or infinite values, or has zero length."""


class InvalidMetadataError(InvalidInputError):
    """Metadata is not a JSON-serialisable mapping with string keys."""


class InvalidFilterError(InvalidInputError):
    """A recall filter is malformed; the message names the offending part."""


class UnsupportedFilterError(InvalidFilterError):
    """A filter asks for something no backend can honour (an unknown operator,
    a range on a boolean...): refused, because an ignored filter leaks data."""


class NoEmbedderError(InvalidInputError):
    """Text must be embedded but the memory has no model (``embedding_dim=`` only):
    pass the vector yourself, or give the memory an embedder."""


class TraceNotFoundError(MemoryWeaveError, KeyError):
    """No trace has the given id (in the given namespace)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else "trace not found"


class MissingDependencyError(MemoryWeaveError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class StoreError(MemoryWeaveError):
    """The storage backend failed or holds something it cannot read."""


class CorruptStoreError(StoreError):
    """A database file is truncated, tampered with, or not a MemoryWeave store."""


class SchemaVersionError(StoreError):
    """A store was written by a newer MemoryWeave than this one."""


class ReadOnlyStoreError(StoreError, PermissionError):
    """A healthy store file (or its folder) cannot be written: a read-only filesystem or permissions."""


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency or raise a MissingDependencyError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module!r} is needed for this feature: pip install 'memoryweave[{extra}]'"
        ) from exc


class LoopDeadlockError(MemoryWeaveError, RuntimeError):
    """A blocking call on an event loop's thread would wait for a write that waits for that loop."""
