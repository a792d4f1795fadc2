"""When reports are due and what they cover, in sites' own timezones (time-machine)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from pagepulse.query import Period
from pagepulse.reports.schedule import (
    due_at,
    latest_due_period,
    period_label,
    previous_period,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def local(timezone: str, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(timezone))


def latest_at(kind, timezone: str, moment: dt.datetime) -> Period:
    """latest_due_period with the machine's clock at ``moment`` (as the scheduler runs)."""
    with time_machine.travel(moment, tick=False):
        return latest_due_period(kind, timezone, dt.datetime.now(dt.UTC))


def week(start: dt.date, timezone: str) -> Period:
    return Period(start, start + dt.timedelta(days=6), timezone)


@pytest.mark.parametrize(
    ("moment", "expected_monday"),
    [
        # Monday 8 June 2026, Berlin (UTC+2): 08:59:59 is still the week before's turn.
        (local(BERLIN, 2026, 6, 8, 8, 59, 59), dt.date(2026, 5, 25)),
        (local(BERLIN, 2026, 6, 8, 9, 0, 0), dt.date(2026, 6, 1)),
        (local(BERLIN, 2026, 6, 14, 23, 59), dt.date(2026, 6, 1)),  # all week long
        (local(BERLIN, 2026, 6, 15, 9, 0), dt.date(2026, 6, 8)),
    ],
)
def test_weekly_slot_is_monday_0900_local(moment, expected_monday):
    assert latest_at("weekly", BERLIN, moment) == week(expected_monday, BERLIN)


def test_weekly_slot_in_utc_terms_moves_with_the_timezone():
    # 07:30 UTC on Monday 8 June 2026 is 09:30 in Berlin but 03:30 in New York.
    moment = dt.datetime(2026, 6, 8, 7, 30, tzinfo=dt.UTC)
    assert latest_at("weekly", BERLIN, moment).start == dt.date(2026, 6, 1)
    assert latest_at("weekly", NEW_YORK, moment).start == dt.date(2026, 5, 25)
    assert latest_at("weekly", "UTC", moment).start == dt.date(2026, 5, 25)  # 07:30 UTC
    assert due_at(week(dt.date(2026, 6, 1), BERLIN)) == dt.datetime(2026, 6, 8, 7, tzinfo=dt.UTC)
    assert due_at(week(dt.date(2026, 6, 1), NEW_YORK)) == dt.datetime(2026, 6, 8, 13, tzinfo=dt.UTC)


def test_a_monday_across_a_dst_change_is_due_at_0900_local_time():
    # Berlin's clocks go forward on Sunday 29 March 2026: the Monday after is UTC+2.
    period = latest_at("weekly", BERLIN, local(BERLIN, 2026, 3, 30, 9, 0))
    assert period == week(dt.date(2026, 3, 23), BERLIN)
    assert due_at(period) == dt.datetime(2026, 3, 30, 7, tzinfo=dt.UTC)
    # And the previous Monday (winter time, UTC+1) at 08:00 UTC.
    assert due_at(previous_period("weekly", period)) == dt.datetime(2026, 3, 23, 8, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(NEW_YORK, 2026, 3, 1, 8, 59), (dt.date(2026, 1, 1), dt.date(2026, 1, 31))),
        (local(NEW_YORK, 2026, 3, 1, 9, 0), (dt.date(2026, 2, 1), dt.date(2026, 2, 28))),
        (local(NEW_YORK, 2026, 1, 1, 9, 0), (dt.date(2025, 12, 1), dt.date(2025, 12, 31))),
        (local(NEW_YORK, 2026, 1, 1, 8, 0), (dt.date(2025, 11, 1), dt.date(2025, 11, 30))),
        (local(NEW_YORK, 2028, 3, 20, 12, 0), (dt.date(2028, 2, 1), dt.date(2028, 2, 29))),
    ],
)
def test_monthly_slot_is_the_first_at_0900_local(moment, expected):
    assert latest_at("monthly", NEW_YORK, moment) == Period(*expected, NEW_YORK)


def test_monthly_in_a_timezone_ahead_of_utc():
    # 1 July 2026 00:30 UTC is 10:30 on the 1st in Tokyo: June's report is due there,
    # while in UTC it is not 09:00 yet.
    moment = dt.datetime(2026, 7, 1, 0, 30, tzinfo=dt.UTC)
    assert latest_at("monthly", "Asia/Tokyo", moment).start == dt.date(2026, 6, 1)
    assert latest_at("monthly", "UTC", moment).start == dt.date(2026, 5, 1)


def test_catch_up_is_for_the_latest_period_only():
    # Down from 1 June to 24 June: only the week of 15–21 June is due, not the others.
    moment = local(BERLIN, 2026, 6, 24, 12, 0)
    assert latest_at("weekly", BERLIN, moment) == week(dt.date(2026, 6, 15), BERLIN)


def test_previous_periods():
    assert previous_period("weekly", week(dt.date(2026, 1, 5), "UTC")) == week(
        dt.date(2025, 12, 29), "UTC"
    )
    march = Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31), "UTC")
    assert previous_period("monthly", march) == Period(
        dt.date(2026, 2, 1), dt.date(2026, 2, 28), "UTC"
    )
    january = Period(dt.date(2026, 1, 1), dt.date(2026, 1, 31), "UTC")
    assert previous_period("monthly", january).start == dt.date(2025, 12, 1)


def test_period_labels():
    assert period_label("monthly", Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28))) == (
        "February 2026"
    )
    assert period_label("weekly", week(dt.date(2026, 6, 1), "UTC")) == "1–7 June 2026"
    assert period_label("weekly", week(dt.date(2026, 6, 29), "UTC")) == "29 June – 5 July 2026"
    assert period_label("weekly", week(dt.date(2025, 12, 29), "UTC")) == (
        "29 December 2025 – 4 January 2026"
    )
