"""Batches of texts that pad little: grouped by token count, longest first.

A transformer pads every text of a batch to the longest one, and on the CPU
it pays for every padded token.  A session's turns are few and of very
different lengths, so a fixed batch size either pads short turns to a long
one (large batches) or gives up batching among equals (small ones).  Here a
batch closes when it is full or when the next text is clearly shorter than
the batch's longest: similar lengths share a batch, and a call over one
session costs about what the same turns cost inside a large sorted import.
"""

from __future__ import annotations

from typing import Sequence

from .errors import InvalidInputError

#: A batch closes at the first text shorter than this share of its longest,
#: so padding stays under a fifth of the batch's tokens.
MIN_FILL = 0.8


def length_batches(lengths: Sequence[int], max_batch: int, min_fill: float = MIN_FILL) -> list[list[int]]:
    """Row indices grouped into batches: longest first, at most ``max_batch``
    rows, each row at least ``min_fill`` times as long as its batch's first."""
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise InvalidInputError(f"max_batch must be an integer >= 1, got {max_batch!r}")
    if not 0.0 <= min_fill <= 1.0:
        raise InvalidInputError(f"min_fill must be between 0 and 1, got {min_fill!r}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        batch = batches[-1] if batches else None
        if batch is None or len(batch) >= max_batch or lengths[i] < min_fill * lengths[batch[0]]:
            batches.append([i])
        else:
            batch.append(i)
    return batches
