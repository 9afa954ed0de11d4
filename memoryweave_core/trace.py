"""The unit of memory: a Trace, and the validation every new trace passes."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import (
    DimensionMismatchError,
    EmptyTextError,
    InvalidInputError,
    InvalidMetadataError,
    NonFiniteVectorError,
)
from .scopes import MAX_DEPTH, Namespace, encode, labels_of, public

#: Largest text accepted in one trace (characters).  Bigger inputs are almost
#: always a mistake (a whole file passed as one memory) and would dominate the
#: lexical statistics; split them into turns or chunks instead.
MAX_TEXT_CHARS = 1_000_000
#: Deepest metadata accepted, counting the mapping itself as one level.  Far
#: below Python's recursion limit, so every JSON decoder on every read path
#: (at any stack depth a caller happens to be at) reads back what was stored.
MAX_METADATA_DEPTH = 32
#: Largest metadata accepted: its JSON as the stores write it (``json.dumps``,
#: ASCII-escaped), in bytes.  Metadata rides along with every trace read (each
#: recall reads its k winners whole), so it is for labels and small records;
#: bulk content belongs in the text, which is searchable and capped separately.
MAX_METADATA_BYTES = 64 * 1024
#: Longest namespace accepted, in its stored form (:mod:`.scopes`): a plain
#: label's limit, so that every backend's index on the column holds it.
MAX_NAMESPACE_CHARS = 512


@dataclass(frozen=True)
class Trace:
    """One remembered thing: raw text plus its contextual signature.

    ``content`` embeds the text itself; ``context`` embeds the text inside its
    surroundings (the turns before it in the episode, its speaker, its date),
    so that "yes, every Sunday" can be found by the question it answered.
    Traces never change once written; what changes (how often and when a trace
    was recalled) lives in the store's access log.  A correction is a new
    *version*: it keeps the id, ``supersedes`` names the archived previous
    version (kept under its own id, ``superseded_at`` set), and ``version``
    counts from 1.  ``expires_at`` (epoch seconds) ends a trace's life.
    """

    id: str
    text: str
    namespace: str = "default"
    speaker: str | None = None
    episode: str | None = None
    position: int = 0
    time: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    content: np.ndarray | None = field(default=None, repr=False, compare=False)
    context: np.ndarray | None = field(default=None, repr=False, compare=False)
    category: int | None = None
    version: int = 1
    supersedes: str | None = None
    superseded_at: float | None = None
    expires_at: float | None = None

    def to_dict(self, *, vectors: bool = False) -> dict[str, Any]:
        """JSON-safe view (vectors as lists only when asked for)."""
        out = {
            "id": self.id,
            "text": self.text,
            "namespace": _json_scope(public(self.namespace)),  # as callers name it (a tuple as a list)
            "speaker": self.speaker,
            "episode": self.episode,
            "position": self.position,
            "time": self.time,
            "metadata": dict(self.metadata),
            "category": self.category,
            "version": self.version,
            "supersedes": self.supersedes,
            "superseded_at": self.superseded_at,
            "expires_at": self.expires_at,
        }
        if vectors:
            out["content"] = None if self.content is None else self.content.tolist()
            out["context"] = None if self.context is None else self.context.tolist()
        return out

    @property
    def scope(self) -> Namespace:
        """The namespace as callers name it (a string, or a tuple of labels);
        ``namespace`` is its stored form, which differs for tuples."""
        return public(self.namespace)


def _json_scope(namespace: Namespace) -> str | list[str]:
    return namespace if isinstance(namespace, str) else list(namespace)


def new_id() -> str:
    """A fresh trace id: a UUIDv7 (RFC 9562) in hex, 48 bits of Unix
    milliseconds then 74 random bits.  Ids made later sort later, so a bulk
    import appends to a database's id index instead of dirtying a random page
    of it per trace: bulk adds into a million-trace SQLite store went from
    4,100 to 5,400 a second.  (The id reveals when the trace was made, which
    the trace's own time field already tells.)"""
    ms = time.time_ns() // 1_000_000 & (1 << 48) - 1
    rand = int.from_bytes(os.urandom(10), "big")
    value = ms << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62 | rand & (1 << 62) - 1
    return f"{value:032x}"


def check_text(text: Any, what: str = "text") -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"{what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise EmptyTextError(f"{what} is empty or whitespace")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInputError(f"{what} has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}")
    if "\x00" in text:
        raise InvalidInputError(f"{what} contains a NUL character")
    _check_utf8(text, what)
    return text


def _check_utf8(value: str, what: str) -> None:
    """Lone surrogates ("\\ud800") are valid in a Python str but not in UTF-8,
    so no database can store them: reject them here, on every backend alike."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} is not valid Unicode (lone surrogate at position {exc.start})") from None


def check_label(value: Any, what: str) -> str | None:
    """Speaker, episode and namespace names: short non-empty strings or None."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(10**512) < value < 10**512:  # str() of a longer int is slow, or refused by Python
            raise InvalidInputError(
                f"{what} must be a non-empty string of at most 512 characters, got a {value.bit_length()}-bit int"
            )
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 512 or "\x00" in value:
        raise InvalidInputError(f"{what} must be a non-empty string of at most 512 characters, got {value!r}")
    _check_utf8(value, what)
    return value


def check_namespace(namespace: Any) -> str:
    """The stored form of a namespace (a label, or a tuple of labels: see
    :mod:`.scopes`); what the engine hands to stores."""
    labels = _check_labels(namespace)
    stored = encode(labels)
    if len(stored) > MAX_NAMESPACE_CHARS:
        raise InvalidInputError(
            f"namespace takes {len(stored):,} characters stored; the limit is {MAX_NAMESPACE_CHARS}"
        )
    return stored


def check_scope(namespace: Any) -> Namespace:
    """A namespace validated, in the form callers give it (a string, or a
    tuple of labels): for adapters that keep one and pass it on."""
    return public(check_namespace(namespace))


def _check_labels(namespace: Any) -> tuple[str, ...]:
    if namespace is None:
        raise InvalidInputError("namespace must not be None")
    labels = labels_of(namespace)
    if not labels or len(labels) > MAX_DEPTH:
        raise InvalidInputError(f"a namespace has 1 to {MAX_DEPTH} levels, got {len(labels)}")
    out = []
    for label in labels:
        if isinstance(namespace, (tuple, list)) and not isinstance(label, str):
            raise InvalidInputError(f"namespace levels must be strings, got {type(label).__name__}")
        checked = check_label(label, "namespace")
        if checked is None:
            raise InvalidInputError("namespace must not be None")
        out.append(checked)
    return tuple(out)


def check_metadata(metadata: Any) -> dict[str, Any]:
    """Metadata must survive a JSON round trip unchanged (no pickle, ever), and
    stay within MAX_METADATA_DEPTH and MAX_METADATA_BYTES so that whatever is
    accepted can always be read back."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"metadata must be a mapping, got {type(metadata).__name__}")
    if not all(isinstance(k, str) for k in metadata):
        raise InvalidMetadataError("metadata keys must be strings")
    _check_depth(metadata)
    try:
        encoded = json.dumps(dict(metadata), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidMetadataError(f"metadata is not JSON-serialisable: {exc}") from exc
    except RecursionError:
        raise InvalidMetadataError("metadata is nested too deeply to serialise") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise InvalidMetadataError(
            f"metadata takes {len(encoded):,} bytes as JSON; the limit is {MAX_METADATA_BYTES:,}"
        )
    decoded = json.loads(encoded)
    # Every backend must store every string: no NUL (PostgreSQL refuses it) and
    # no lone surrogate (not UTF-8).
    stack: list[Any] = [decoded]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            for text in (key, value):
                if isinstance(text, str) and not _storable(text):
                    raise InvalidMetadataError(f"metadata string {text[:40]!r} contains NUL or a lone surrogate")
            if isinstance(value, (dict, list)):
                stack.append(value)
    return decoded


def _check_depth(metadata: Mapping[str, Any]) -> None:
    """Refuse nesting beyond MAX_METADATA_DEPTH, walking iteratively (a cycle
    is infinitely deep, so it is refused here too, before JSON sees it)."""
    stack: list[tuple[Any, int]] = [(metadata, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise InvalidMetadataError(f"metadata is nested more than {MAX_METADATA_DEPTH} levels deep")
        children = node.values() if isinstance(node, Mapping) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (Mapping, list, tuple)))


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_storable_id(value: Any) -> bool:
    """Whether ``value`` could be the id of a stored trace (ids are labels)."""
    return isinstance(value, str) and 0 < len(value) <= 512 and _storable(value)


def numeric_array(vectors: Any, what: str = "vector") -> np.ndarray:
    """``vectors`` as float32, refusing anything that is not numbers: NumPy
    would turn the strings "1" into 1.0, so ``["1"] * 64`` would pass as a vector."""
    try:
        raw = vectors if isinstance(vectors, np.ndarray) else np.asarray(vectors)
        if raw.dtype.kind not in "biuf" and not (raw.dtype.kind == "O" and all(map(_is_number, raw.flat))):
            raise InvalidInputError(f"{what} must hold numbers, not {raw.dtype} values")
        return np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"{what} is not numeric: {exc}") from exc


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number))


def check_vectors(vectors: Any, dim: int | None, n: int | None = None, what: str = "vector") -> np.ndarray:
    """Validate and unit-normalise a [n, dim] batch (or one [dim] vector)."""
    arr = numeric_array(vectors, what)
    single = arr.ndim == 1
    if single:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise DimensionMismatchError(f"{what} must be 1-D or 2-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InvalidInputError(f"expected {n} {what}s, got {arr.shape[0]}")
    if dim is not None and arr.shape[1] != dim:
        raise DimensionMismatchError(f"{what} has dimension {arr.shape[1]}, expected {dim}")
    if not np.isfinite(arr).all():
        raise NonFiniteVectorError(f"{what} contains NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if (norms <= 1e-12).any() or not math.isfinite(float(norms.max(initial=0.0))):
        raise NonFiniteVectorError(f"{what} has zero length and cannot be normalised")
    return np.ascontiguousarray(arr / norms, dtype=np.float32)
