"""Time expressions in a query, turned into a window of time.

"What did we talk about yesterday?", "last week", "three days ago", "in May
2023": a person asking this wants memories from that window.  The parser is
small and general (English calendar words and numbers); it returns the
window relative to the moment of recall, or None when the query names no time.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np

DAY = 86400.0

_NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}
_NUMBERS.update({"a": 1, "an": 1, "a couple of": 2, "a few": 3, "several": 4})
_UNITS = {"day": 1, "week": 7, "month": 30.44, "year": 365.25}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}

_AGO = re.compile(
    r"\b(\d+|a couple of|a few|several|an?|" + "|".join(_NUMBERS) + r")\s+(day|week|month|year)s?\s+ago\b"
)
_LAST = re.compile(r"\b(last|this|past|previous)\s+(day|week|month|year|weekend|" + "|".join(_WEEKDAYS) + r")\b")
_MONTH_YEAR = re.compile(r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?(?:\s+(\d{4}))?\b")
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")


def _day_start(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


#: The span a window may cover: what a datetime can represent (years 1-9999).
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc).timestamp()
_LATEST = datetime.max.replace(tzinfo=timezone.utc).timestamp()


def parse_window(query: str, now: float) -> tuple[float, float] | None:
    """The (start, end) epoch window a query refers to, or None.

    An expression that cannot be a date ("in May 0000", a 5,000-digit number
    of days ago) is not a time expression: the next kind is tried, and a query
    with none has no temporal pathway.
    """
    q = query.lower()
    today = _day_start(datetime.fromtimestamp(now, tz=timezone.utc))
    for parse in (_named_day, _ago, _last, _month_year, _year):
        try:
            window = parse(q, query, now, today)
        except (ValueError, OverflowError):
            continue
        if window is not None and _EARLIEST <= window[0] <= window[1] <= _LATEST:
            return window
    return None


def _named_day(q: str, query: str, now: float, today: datetime) -> tuple[float, float] | None:
    if re.search(r"\byesterday\b|\blast night\b", q):
        return (today - timedelta(days=1)).timestamp(), today.timestamp()
    if re.search(r"\btoday\b|\bthis (morning|afternoon|evening)\b|\btonight\b", q):
        return today.timestamp(), now
    return None


def _ago(q: str, query: str, now: float, today: datetime) -> tuple[float, float] | None:
    if m := _AGO.search(q):
        amount = int(m.group(1)) if m.group(1).isdigit() else _NUMBERS[m.group(1)]
        centre = now - amount * _UNITS[m.group(2)] * DAY
        half = max(_UNITS[m.group(2)] * DAY * 0.5, DAY)
        return centre - half, centre + half
    return None


def _last(q: str, query: str, now: float, today: datetime) -> tuple[float, float] | None:
    if m := _LAST.search(q):
        which, unit = m.groups()
        if unit in _WEEKDAYS:
            back = (today.weekday() - _WEEKDAYS[unit]) % 7 or 7
            day = today - timedelta(days=back)
            return day.timestamp(), (day + timedelta(days=1)).timestamp()
        if unit == "weekend":
            back = (today.weekday() - 5) % 7 or 7
            sat = today - timedelta(days=back)
            return sat.timestamp(), (sat + timedelta(days=2)).timestamp()
        span = _UNITS[unit] * DAY
        if which in ("this", "past"):
            return now - span, now
        return now - 2 * span, now - span
    return None


def _month_year(q: str, query: str, now: float, today: datetime) -> tuple[float, float] | None:
    if m := _MONTH_YEAR.search(q):
        name, year = m.group(1), m.group(2)
        # "may" and "march" are also ordinary words: trust a month name only
        # with a year after it or when it is capitalised in the query.
        if year or re.search(r"\b" + re.escape(name) + r"\b", query) is None:
            month = _MONTHS[name]
            y = int(year) if year else (today.year if month <= today.month else today.year - 1)
            start = datetime(y, month, 1, tzinfo=timezone.utc)
            end = datetime(y + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
            return start.timestamp(), end.timestamp()
    return None


def _year(q: str, query: str, now: float, today: datetime) -> tuple[float, float] | None:
    if m := _YEAR.search(q):
        y = int(m.group(1))
        return datetime(y, 1, 1, tzinfo=timezone.utc).timestamp(), datetime(y + 1, 1, 1, tzinfo=timezone.utc).timestamp()
    return None


def window_fit(times: Sequence[float] | np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """1 inside the window, decaying with distance outside (one window-width halves it)."""
    import numpy as np

    start, end = window
    width = max(end - start, DAY)
    dist = np.maximum(start - np.asarray(times, dtype=np.float64), 0) + np.maximum(
        np.asarray(times, dtype=np.float64) - end, 0
    )
    return np.power(0.5, dist / width)


#: Grammar of asking about an earlier state ("used to", "previously"): general
#: English aspect and adverbs, not any dataset's wording.
_PAST_DIRECTED = re.compile(r"\b(used to|use to|previously|formerly|originally|initially|at first|before|earlier|back then|once had)\b")


def past_directed(query: str) -> bool:
    """Whether the query asks about how things were rather than how they are.

    Recall prefers a later statement that updates an earlier one (the
    ``freshness`` pathway); a query asking about the past turns that off.
    """
    return _PAST_DIRECTED.search(query.lower()) is not None


def reference_time(query: str, now: float) -> float:
    """The moment the query asks about: the end of its time window when it
    names one before ``now``, else ``now``."""
    window = parse_window(query, now) if query else None
    return now if window is None else min(now, window[1])
