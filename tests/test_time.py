"""Time parsing and time expressions in queries."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from memoryweave_core import InvalidInputError
from memoryweave_core.timeexpr import DAY, parse_window, window_fit
from memoryweave_core.timeutil import to_timestamp

NOW = datetime(2023, 6, 15, 12, 0, tzinfo=timezone.utc).timestamp()  # a Thursday


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)),
        ("2023/05/20 (Sat) 02:21", datetime(2023, 5, 20, 2, 21, tzinfo=timezone.utc)),
        ("2023-05-08T10:00:00Z", datetime(2023, 5, 8, 10, tzinfo=timezone.utc)),
        ("8 May 2023", datetime(2023, 5, 8, tzinfo=timezone.utc)),
        (datetime(2023, 5, 8), datetime(2023, 5, 8, tzinfo=timezone.utc)),
    ],
)
def test_to_timestamp_formats(value, expected):
    assert to_timestamp(value) == expected.timestamp()


@pytest.mark.parametrize("bad", ["not a date", "", float("nan"), 1e20, True, object()])
def test_to_timestamp_rejects(bad):
    with pytest.raises(InvalidInputError):
        to_timestamp(bad)


def test_windows():
    y0, y1 = parse_window("what did I do yesterday?", NOW)
    assert y1 - y0 == DAY and y1 <= NOW
    a0, a1 = parse_window("three days ago we met", NOW)
    assert a0 < NOW - 3 * DAY < a1
    w0, w1 = parse_window("anything from last week?", NOW)
    assert w0 == NOW - 14 * DAY and w1 == NOW - 7 * DAY
    m0, m1 = parse_window("what happened in May 2023", NOW)
    assert m0 == datetime(2023, 5, 1, tzinfo=timezone.utc).timestamp()
    assert m1 == datetime(2023, 6, 1, tzinfo=timezone.utc).timestamp()
    assert parse_window("in 2022", NOW)[0] == datetime(2022, 1, 1, tzinfo=timezone.utc).timestamp()
    s0, _ = parse_window("last Saturday", NOW)
    assert datetime.fromtimestamp(s0, tz=timezone.utc).weekday() == 5
    assert parse_window("may I ask about the cat?", NOW) is None
    assert parse_window("tell me about the cat", NOW) is None


def test_window_fit_is_one_inside_and_decays_outside():
    fit = window_fit([5.0 * DAY, 20.0 * DAY, 100.0 * DAY], (0.0, 10.0 * DAY))
    assert fit[0] == 1.0 and fit[0] > fit[1] > fit[2] > 0
