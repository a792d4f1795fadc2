"""Date ranges in a site's timezone, and the UTC facts the queries need from them.

A :class:`Period` is an inclusive range of *local* dates (``start`` … ``end``) in the
site's timezone: "today", day boundaries and hourly buckets are the site's. From it
come the exact UTC bounds (``utc_start`` inclusive, ``utc_end`` exclusive) that SQL
filters on, and the UTC days whose partition folders hold those events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

# "minute" is for realtime scopes (the last 30 minutes); ranges of days use the rest.
Interval = Literal["minute", "hour", "day", "month"]
INTERVALS: tuple[Interval, ...] = ("minute", "hour", "day", "month")

# Ranges longer than this are charted by month (Plausible switches for "12 months").
LONGEST_DAILY_CHART_DAYS = 93


@dataclass(frozen=True, slots=True)
class Period:
    start: dt.date
    end: dt.date
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        ZoneInfo(self.timezone)  # raises for an unknown timezone

    @classmethod
    def last_days(cls, days: int, timezone: str, now: dt.datetime | None = None) -> Period:
        """The ``days`` local days ending today (``days=1`` is today)."""
        today = local_today(timezone, now)
        return cls(today - dt.timedelta(days=days - 1), today, timezone)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def utc_start(self) -> dt.datetime:
        return _local_midnight_utc(self.start, self.timezone)

    @property
    def utc_end(self) -> dt.datetime:
        """Exclusive: local midnight after the last day."""
        return _local_midnight_utc(self.end + dt.timedelta(days=1), self.timezone)

    def utc_days(self) -> list[dt.date]:
        """UTC days that overlap the range: the partition folders to read.

        No extra day is needed on either side: visitor ids rotate at 00:00 UTC, so a
        visit never crosses a UTC midnight and every visit overlapping the range is
        whole within these days.
        """
        first = self.utc_start.date()
        last = (self.utc_end - dt.timedelta(microseconds=1)).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def previous(self) -> Period:
        """The range of equal length just before this one (for % change)."""
        length = dt.timedelta(days=self.days)
        return Period(self.start - length, self.end - length, self.timezone)

    def default_interval(self) -> Interval:
        if self.days == 1:
            return "hour"
        if self.days <= LONGEST_DAILY_CHART_DAYS:
            return "day"
        return "month"


def local_today(timezone: str, now: dt.datetime | None = None) -> dt.date:
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(ZoneInfo(timezone)).date()


def _local_midnight_utc(day: dt.date, timezone: str) -> dt.datetime:
    # zoneinfo resolves a midnight that a DST jump skips (e.g. America/Havana) to the
    # first instant after it, which is the day's real start.
    local = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC)
