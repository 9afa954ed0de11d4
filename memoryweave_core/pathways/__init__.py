"""Recall pathways: a registry of the kinds of evidence recall fuses.

``registry`` says what a pathway is and holds them, ``builtin`` declares the
built-in ones, ``scale`` and ``fusion`` turn their raw values into a score.
"""

from . import builtin  # noqa: F401  (registers the built-in pathways)
from .fusion import fuse, normalise
from .registry import (
    Compute,
    Context,
    Pathway,
    Query,
    default_weights,
    describe,
    get,
    names,
    pathways,
    register,
    unregister,
)
from .scale import NORMALISATIONS, Normalisation, finite, zscore

__all__ = [
    "NORMALISATIONS",
    "Compute",
    "Context",
    "Normalisation",
    "Pathway",
    "Query",
    "default_weights",
    "describe",
    "finite",
    "fuse",
    "get",
    "names",
    "normalise",
    "pathways",
    "register",
    "unregister",
    "zscore",
]
