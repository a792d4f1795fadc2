import datetime as dt

import pytest

from pagepulse.query.ranges import DASHBOARD_RANGES, RANGE_NAMES, RangeError, resolve_range

# 2026-03-01 02:30 UTC is still 2026-02-28 in New York.
NOW = dt.datetime(2026, 3, 1, 2, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("day", "2026-02-28", "2026-02-28"),
        ("realtime", "2026-02-28", "2026-02-28"),
        ("yesterday", "2026-02-27", "2026-02-27"),
        ("7d", "2026-02-22", "2026-02-28"),
        ("30d", "2026-01-30", "2026-02-28"),
        ("month", "2026-02-01", "2026-02-28"),
        ("last_month", "2026-01-01", "2026-01-31"),
        ("6mo", "2025-09-01", "2026-02-28"),
        ("12mo", "2025-03-01", "2026-02-28"),
        ("year", "2026-01-01", "2026-02-28"),
    ],
)
def test_named_ranges_end_today_in_the_sites_timezone(name, start, end):
    period = resolve_range(name, "America/New_York", now=NOW)
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)
    assert period.timezone == "America/New_York"


def test_the_same_instant_is_another_day_in_tokyo():
    assert resolve_range("day", "Asia/Tokyo", now=NOW).start == dt.date(2026, 3, 1)


def test_all_time_and_custom():
    first = dt.date(2025, 6, 3)
    assert resolve_range("all", "UTC", now=NOW, first_day=first).start == first
    assert resolve_range("all", "UTC", now=NOW).start == dt.date(2026, 3, 1)
    custom = resolve_range("custom", "UTC", start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 9))
    assert custom.days == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "custom"}, "needs a start and an end"),
        ({"name": "custom", "start": dt.date(2026, 2, 2), "end": dt.date(2026, 2, 1)}, "before"),
        ({"name": "fortnight"}, "unknown date range"),
    ],
)
def test_bad_ranges_say_why(kwargs, message):
    with pytest.raises(RangeError, match=message):
        resolve_range(timezone="UTC", now=NOW, **kwargs)


def test_every_name_resolves():
    for name in RANGE_NAMES | set(DASHBOARD_RANGES):
        extra = {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 1, 2)}
        assert resolve_range(name, "UTC", now=NOW, **(extra if name == "custom" else {}))
