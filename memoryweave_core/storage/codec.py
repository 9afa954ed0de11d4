"""Engine state as plain data: JSON for the scalars, raw bytes for numpy arrays.

The persistent stores keep state (ART prototypes, speaker names) beside the
traces without pickle: ``encode_state`` splits a state dict into a JSON
document and ``(name, dtype, shape, bytes)`` rows; ``decode_array`` checks a
row before turning it back into an array, so a damaged row is an error, never
a surprise.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import numpy as np

from ..errors import InvalidInputError

#: The array types state may hold (numbers only: nothing that can carry code).
ARRAY_DTYPES = frozenset({"float32", "float64", "int64", "int32", "bool", "uint8"})


def encode_state(key: str, state: dict[str, Any]) -> tuple[str, list[tuple[str, str, str, bytes]]]:
    """(JSON document of the non-array values, one row per array)."""
    doc, arrays = {}, []
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            if value.dtype.name not in ARRAY_DTYPES:
                raise InvalidInputError(f"state array {name!r} has unsupported dtype {value.dtype}")
            arrays.append((name, value.dtype.name, json.dumps(list(value.shape)), np.ascontiguousarray(value).tobytes()))
        else:
            doc[name] = value
    try:
        return json.dumps(doc, allow_nan=False), arrays
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"state {key!r} is not JSON-serialisable: {exc}") from exc


def decode_array(name: Any, dtype: Any, shape: Any, data: Any, error: Callable[[str], Exception]) -> np.ndarray:
    """One stored array row back to an array; ``error(message)`` is raised if it is damaged."""
    if not isinstance(name, str) or dtype not in ARRAY_DTYPES or not isinstance(data, (bytes, bytearray, memoryview)):
        raise error(f"state array {name!r} has unsupported dtype {dtype!r} or data")
    data = bytes(data)
    if not isinstance(shape, (list, tuple)) or not all(type(d) is int and d >= 0 for d in shape):
        raise error(f"state array {name!r} has a bad shape {shape!r}")
    if len(data) % np.dtype(dtype).itemsize or len(data) // np.dtype(dtype).itemsize != math.prod(shape):
        raise error(f"state array {name!r} does not match its shape {shape}")
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).copy()
