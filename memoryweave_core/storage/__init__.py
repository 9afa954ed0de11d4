"""Storage backends behind one protocol (see ``base.Store``); a new backend subclasses ``base.StoreBase``."""

from .base import Store, StoreBase
from .memory import MemoryStore

__all__ = ["Store", "StoreBase", "MemoryStore"]
