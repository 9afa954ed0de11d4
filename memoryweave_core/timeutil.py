"""Turning the many ways people write times into one number.

Inside MemoryWeave a time is a float: seconds since the Unix epoch, UTC.  This
module accepts what users and datasets actually hand us (datetimes, dates,
ISO strings, epoch numbers, and a few common human formats such as
"1:56 pm on 8 May, 2023" or "2023/05/20 (Sat) 02:21") and converts them.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timezone
from typing import Callable

from .errors import InvalidInputError

# Earliest and latest times we accept: year 1 .. 9999 fits datetime, but
# anything before year 1000 is almost certainly a unit mistake (ms vs s).  The
# last accepted time is the last whole second of year 9999, which every
# datetime conversion can still render.
MIN_TIME = datetime(1000, 1, 1, tzinfo=timezone.utc).timestamp()
MAX_TIME = datetime.max.replace(microsecond=0, tzinfo=timezone.utc).timestamp()

_HUMAN_FORMATS = (
    "%I:%M %p on %d %B, %Y",  # 1:56 pm on 8 May, 2023
    "%I:%M %p on %d %b, %Y",
    "%Y/%m/%d (%a) %H:%M",  # 2023/05/20 (Sat) 02:21
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d %B %Y",
    "%d %B, %Y",
    "%B %d, %Y",
    "%B %d %Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
)


def to_timestamp(value: object, *, default: float | None = None) -> float:
    """Convert ``value`` to epoch seconds (UTC); ``None`` gives ``default``.

    Naive datetimes are taken as UTC so that results never depend on the
    machine's time zone.
    """
    if value is None:
        if default is None:
            raise InvalidInputError("a time is required")
        return float(default)
    if isinstance(value, bool):
        raise InvalidInputError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        try:
            ts = float(value)
        except OverflowError:
            raise InvalidInputError(f"time out of range: {value!r}") from None
    elif isinstance(value, datetime):
        ts = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    elif isinstance(value, date):
        ts = datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp()
    elif isinstance(value, str):
        ts = _parse_string(value)
    else:
        raise InvalidInputError(f"not a time: {value!r} ({type(value).__name__})")
    if not math.isfinite(ts) or not MIN_TIME <= ts <= MAX_TIME:
        raise InvalidInputError(f"time out of range: {value!r}")
    return ts


def _parse_string(text: str) -> float:
    s = " ".join(text.strip().split())
    if not s:
        raise InvalidInputError("empty time string")
    try:
        return float(s)
    except ValueError:
        pass
    # Parse first, range-check after: an out-of-range date must say so, not
    # fall through to "cannot parse".
    parsed = _datetime(lambda: datetime.fromisoformat(s.replace("Z", "+00:00")))
    for fmt in _HUMAN_FORMATS:
        parsed = parsed or _datetime(lambda: datetime.strptime(s, fmt))  # noqa: B023
    if parsed is not None:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    # "8 May, 2023 at 1:56 pm" and friends: drop ordinal suffixes and retry.
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", s, flags=re.IGNORECASE)
    if cleaned != s:
        return _parse_string(cleaned)
    raise InvalidInputError(f"cannot parse time: {text!r}")


def _datetime(parse: Callable[[], datetime]) -> datetime | None:
    try:
        return parse()
    except ValueError:
        return None


def format_time(ts: float | None) -> str:
    """A short, readable UTC rendering used by explanations and the CLI."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
