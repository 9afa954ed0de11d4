"""A bounds check of an hnswlib graph file before hnswlib reads it.

hnswlib trusts its file: an element count, entry point or neighbour id out
of range makes it read or write outside its buffers (a crash, not an
exception).  A digest recorded in the database only proves who wrote the
file if the database itself is trusted, so every graph is also checked here
against the layout hnswlib writes: header fields consistent with the
dimension, the keys file and the file length, and every link inside the
graph.
"""

from __future__ import annotations

import bisect
import struct
from typing import NamedTuple

import numpy as np

from ..keysets import unique

#: offsetLevel0, max_elements, cur_element_count, size_data_per_element,
#: label_offset, offsetData (size_t), maxlevel (int), enterpoint (uint32),
#: maxM, maxM0, M (size_t), mult (double), ef_construction (size_t).
HEADER = struct.Struct("<QQQQQQiIQQQdQ")

#: Levels above this are not produced by hnswlib's level generator in practice (mult = 1/ln(M)).
MAX_LEVEL = 64


def check_graph(path: str, dim: int, keys: np.ndarray) -> bool:
    """True when ``path`` is a well-formed hnswlib graph of ``dim`` floats holding every one of
    ``keys`` (live elements; deleted ones stay in the graph, marked)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return check_bytes(data, dim, keys)


class Layout(NamedTuple):
    """The header fields a reader of the level-0 records needs (bytes, from the file's start)."""

    elements: int  # in the graph (deleted ones included)
    size_element: int  # bytes per level-0 record
    offset_data: int  # the vector, within a record
    offset_label: int  # the int64 label, within a record
    max_m: int
    max_level: int

    def vectors_at(self, i: int = 0) -> int:
        return HEADER.size + i * self.size_element + self.offset_data

    @property
    def level0_end(self) -> int:
        return HEADER.size + self.elements * self.size_element


def layout(head: bytes, dim: int, size: int) -> Layout | None:
    """The header of a graph file of ``size`` bytes, when its fields agree with each
    other, with ``dim`` floats per element and with the file's length (every level-0
    record and upper-level size word fits); None otherwise."""
    if len(head) < HEADER.size:
        return None
    (off0, max_el, cur, size_el, label_off, off_data, max_level, entry,
     max_m, max_m0, m, _mult, _efc) = HEADER.unpack_from(head)
    links0 = max_m0 * 4 + 4
    if not (0 < m <= 4096 and max_m == m and max_m0 == 2 * m):
        return None
    if off0 != 0 or off_data != links0 or label_off != links0 + dim * 4 or size_el != label_off + 8:
        return None
    if max_el < cur or not (0 <= max_level <= MAX_LEVEL):
        return None
    if cur and entry >= cur:
        return None
    found = Layout(cur, size_el, off_data, label_off, max_m, max_level)
    return found if size >= found.level0_end + cur * 4 else None


def check_bytes(data: bytes, dim: int, keys: np.ndarray) -> bool:
    head = layout(data[: HEADER.size], dim, len(data))
    if head is None or head.elements < len(keys):
        return False
    cur, size_el, label_off = head.elements, head.size_element, head.offset_label
    links0 = head.offset_data
    max_m0 = (links0 - 4) // 4
    if cur:
        # Strided views of the records' link words and labels, read in place: every field
        # offset and the record size are multiples of 4 (layout checked them), so no copy.
        words = np.ndarray((cur, links0 // 4), "<u4", buffer=data, offset=HEADER.size, strides=(size_el, 4))
        n0 = words[:, 0] & 0xFFFF
        if (n0 > max_m0).any():
            return False
        used = np.arange(max_m0)[None, :] < n0[:, None]
        if ((words[:, 1:] >= cur) & used).any():
            return False
        labels = np.ndarray((cur,), "<i8", buffer=data, offset=HEADER.size + label_off, strides=(size_el,))
        if len(unique(labels)) != cur or not np.isin(keys, labels).all():
            return False
    elif len(keys):
        return False
    return _upper_levels_ok(data, head.level0_end, cur, head.max_m, head.max_level)


def _upper_levels_ok(data: bytes, pos: int, cur: int, max_m: int, max_level: int) -> bool:
    """Every element's upper-level link lists fit the file, and point inside the graph.

    The lists are variable-length records, one per element in order, so
    finding them is a walk; most elements have none (a zero size word), so
    the walk steps from one non-empty record to the next (a bisection over
    the non-zero words) and the links of all records are checked at once."""
    per_level = max_m * 4 + 4
    tail = len(data) - pos
    if tail < 0 or tail % 4:
        return False
    words = np.frombuffer(data, np.uint32, tail // 4, pos)
    values = words.tolist()
    nonzero = np.flatnonzero(words).tolist()
    starts: list[int] = []
    ends: list[int] = []
    i = element = 0
    end = len(values)
    while element < cur:
        j = bisect.bisect_left(nonzero, i)
        if j == len(nonzero) or nonzero[j] - i >= cur - element:
            i += cur - element  # the remaining elements have no upper levels
            break
        element += nonzero[j] - i + 1
        i = nonzero[j]
        size = values[i]
        if size % per_level or size // per_level > max_level or i + 1 + size // 4 > end:
            return False
        starts.append(i + 1)
        i += 1 + size // 4
        ends.append(i)
    if i != end:
        return False
    if not starts:
        return True
    first = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(ends, dtype=np.int64) - first
    offsets = np.repeat(first - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    lists = words[offsets + np.arange(int(lengths.sum()))].reshape(-1, max_m + 1)
    n = lists[:, 0] & 0xFFFF
    if (n > max_m).any():
        return False
    used = np.arange(max_m)[None, :] < n[:, None]
    return not ((lists[:, 1:] >= cur) & used).any()
