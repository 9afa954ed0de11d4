"""MemoryWeave core: long-term memory for LLM applications.

>>> from memoryweave_core import MemoryWeave, HashingEmbedder
>>> memory = MemoryWeave(embedder=HashingEmbedder())
>>> _ = memory.add("I adopted a cat called Luna", speaker="Ana")
>>> memory.recall("what is the cat's name?", k=1)[0].text
'I adopted a cat called Luna'
"""

from importlib.metadata import PackageNotFoundError, version

from .art import ART2A
from .config import FEATURES, RecallConfig
from .embedders import (
    Embedder,
    HashingEmbedder,
    as_embedder,
    default_embedder,
)
from .encoder import MemoryEncoder
from .errors import (
    ContextModeMismatchError,
    DimensionMismatchError,
    EmptyTextError,
    InvalidInputError,
    InvalidMetadataError,
    MemoryWeaveError,
    MissingDependencyError,
    NonFiniteVectorError,
    StoreError,
    TraceNotFoundError,
)
from .memory import Category, MemoryWeave
from .recollection import RecallResult, Recollection
from .trace import Trace

try:  # one version, pyproject's, as installed
    __version__ = version("memoryweave")
except PackageNotFoundError:  # a bare checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ART2A",
    "FEATURES",
    "Category",
    "ContextModeMismatchError",
    "DimensionMismatchError",
    "Embedder",
    "EmptyTextError",
    "HashingEmbedder",
    "InvalidInputError",
    "InvalidMetadataError",
    "MemoryEncoder",
    "MemoryWeave",
    "MemoryWeaveError",
    "MissingDependencyError",
    "NonFiniteVectorError",
    "RecallConfig",
    "RecallResult",
    "Recollection",
    "StoreError",
    "Trace",
    "TraceNotFoundError",
    "as_embedder",
    "default_embedder",
]
