"""When reports are due, and which period each one covers, in the site's timezone.

A weekly report covers Monday to Sunday and is due the next Monday at 09:00 local
time; a monthly report covers a calendar month and is due on the 1st at 09:00. Both
are "09:00 on the day after the period ends", so one function answers both.

Only the *latest* due period is ever sent: after a week of downtime the server
catches up last week's report, not the ones before it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from pagepulse.query.periods import Period

Kind = Literal["weekly", "monthly"]
KINDS: tuple[Kind, ...] = get_args(Kind)
SEND_TIME = dt.time(9, 0)


def parse_kind(value: str) -> Kind:
    if value not in KINDS:
        raise ValueError(f"unknown report kind {value!r}; choose weekly or monthly")
    return value  # type: ignore[return-value]


def due_at(period: Period) -> dt.datetime:
    """The UTC instant the report of ``period`` becomes due: 09:00 local the day after."""
    day = period.end + dt.timedelta(days=1)
    local = dt.datetime.combine(day, SEND_TIME, tzinfo=ZoneInfo(period.timezone))
    return local.astimezone(dt.UTC)


def period_containing(kind: Kind, day: dt.date, timezone: str) -> Period:
    """The week (Monday–Sunday) or calendar month that holds ``day``."""
    if kind == "weekly":
        monday = day - dt.timedelta(days=day.weekday())
        return Period(monday, monday + dt.timedelta(days=6), timezone)
    first = day.replace(day=1)
    last = _next_month(first) - dt.timedelta(days=1)
    return Period(first, last, timezone)


def latest_due_period(kind: Kind, timezone: str, now: dt.datetime) -> Period:
    """The most recent period whose report is due at ``now`` (an aware datetime)."""
    local_today = now.astimezone(ZoneInfo(timezone)).date()
    current = period_containing(kind, local_today, timezone)
    candidate = previous_period(kind, current)
    if due_at(candidate) > now:  # before 09:00 on the first day of the current period
        candidate = previous_period(kind, candidate)
    return candidate


def previous_period(kind: Kind, period: Period) -> Period:
    """The period a report compares with: the week before, or the calendar month before."""
    day_before = period.start - dt.timedelta(days=1)
    return period_containing(kind, day_before, period.timezone)


def period_label(kind: Kind, period: Period) -> str:
    """ "March 2026" for a month, "9–15 March 2026" (or across months/years) for a week."""
    if kind == "monthly":
        return f"{period.start:%B %Y}"
    start, end = period.start, period.end
    if start.year != end.year:
        return f"{start.day} {start:%B %Y} – {end.day} {end:%B %Y}"
    if start.month != end.month:
        return f"{start.day} {start:%B} – {end.day} {end:%B %Y}"
    return f"{start.day}–{end.day} {end:%B %Y}"


def _next_month(first: dt.date) -> dt.date:
    return dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
