"""Multi-level namespaces: how a tuple of labels is kept as one stored string.

A namespace may be a tuple of labels, ``("alice", "agent1", "run7")``, in the
spirit of mem0's user / agent / run ids; a plain string is the 1-tuple of
itself.  Stores keep one string per trace, so a tuple is encoded: labels
joined by ``SEP`` (U+001F, the ASCII unit separator), with ``SEP`` and the
escape ``ESC`` (U+001E) inside a label escaped by ``ESC``.

Why this encoding:

- A plain label holding neither control character encodes to itself, so every
  namespace stored before tuples existed is read back unchanged.
- It is injective and a prefix code: the encoding of ``("alice",)`` followed
  by a bare ``SEP`` starts exactly the namespaces under ``("alice", ...)``, and
  never ``("alicex", ...)``, ``("alice/x",)`` or ``("alice\\x1f",)``, whatever
  the labels hold (the labels an attacker chooses are escaped, never read as
  structure).  Prefix matching still compares decoded tuples, which is the
  definition; the prefix property keeps a future SQL ``LIKE`` honest.
- A string given as a namespace is always one label: ``"alice\\x1fx"`` is the
  1-tuple holding that string, never ``("alice", "x")``.  The stored (encoded)
  form is therefore not something to pass back as a namespace: use
  :func:`public` (``Trace.scope``, ``Recollection.namespace``) for that.

The CLI's string form (:func:`parse_path`) writes levels with ``/``.
"""

from __future__ import annotations

from typing import Any, Union

#: Separates the labels of a multi-level namespace in its stored form.
SEP = "\x1f"
#: Escapes ``SEP`` and itself inside one label.
ESC = "\x1e"

#: A namespace as callers give it: one label, or a tuple of labels (outermost first).
Namespace = Union[str, tuple[str, ...]]

#: Deepest namespace accepted (mem0 has three levels: user, agent, run).
MAX_DEPTH = 16


def labels_of(namespace: Any) -> tuple[Any, ...]:
    """The labels of a namespace as given (a string is one label); the
    caller validates each.  Lists are accepted like tuples (JSON has no tuple)."""
    if isinstance(namespace, (tuple, list)):
        return tuple(namespace)
    return (namespace,)


def encode(labels: tuple[str, ...]) -> str:
    """The stored form of validated labels."""
    return SEP.join(label.replace(ESC, ESC + ESC).replace(SEP, ESC + SEP) for label in labels)


def decode(stored: str) -> tuple[str, ...]:
    """The labels of a stored namespace (the inverse of :func:`encode`)."""
    if ESC not in stored:
        return tuple(stored.split(SEP))
    labels, current, escaped = [], [], False
    for ch in stored:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == ESC:
            escaped = True
        elif ch == SEP:
            labels.append("".join(current))
            current = []
        else:
            current.append(ch)
    labels.append("".join(current))
    return tuple(labels)


def public(stored: str) -> Namespace:
    """A stored namespace as callers name it: one level as its string, more as a tuple.

    Passing this back as ``namespace=`` names the same namespace."""
    labels = decode(stored)
    return labels[0] if len(labels) == 1 else labels


def is_under(stored: str, prefix: tuple[str, ...]) -> bool:
    """Whether a stored namespace is ``prefix`` or lies below it (label by label)."""
    return decode(stored)[: len(prefix)] == prefix


def parse_path(text: str) -> Namespace:
    """The CLI's string form of a namespace: levels separated by ``/``
    (``alice/agent1/run7``), ``\\/`` a literal slash, ``\\\\`` a literal
    backslash and any other backslash itself.  One level is that string, so a
    name without ``/`` means what it did before namespaces had levels."""
    labels, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch if ch in "/\\" else "\\" + ch)  # other backslashes are themselves
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "/":
            labels.append("".join(current))
            current = []
        else:
            current.append(ch)
    if escaped:
        current.append("\\")  # a trailing lone backslash is itself
    labels.append("".join(current))
    return labels[0] if len(labels) == 1 else tuple(labels)


def format_path(namespace: Namespace) -> str:
    """The CLI's string form of a namespace (the inverse of :func:`parse_path`)."""
    return "/".join(label.replace("\\", "\\\\").replace("/", "\\/") for label in labels_of(namespace))
