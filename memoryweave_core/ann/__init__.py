"""Approximate nearest neighbours for large stores: hnswlib behind the
:class:`~memoryweave_core.vectors.VectorIndex` methods, plus ``save``/``load``.
``auto.AutoIndex`` (what stores use), ``hnsw.HNSWIndex`` (the graph) and
``files`` (index files written atomically and checked before they are read).
"""

from .auto import CHUNK, DEFAULT_THRESHOLD, AutoIndex
from .files import remove_files
from .hnsw import HNSWIndex

__all__ = ["AutoIndex", "HNSWIndex", "DEFAULT_THRESHOLD", "CHUNK", "remove_files"]
