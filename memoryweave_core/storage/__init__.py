"""Storage backends behind one protocol (see ``base.Store``)."""

from .base import Store
from .memory import MemoryStore

__all__ = ["Store", "MemoryStore"]
