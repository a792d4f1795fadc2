"""Named date ranges ("7d", "month", "custom" …) resolved to a :class:`Period`.

One table for the dashboard and the Stats API, so both mean the same by "30d". Ranges
end today in the site's timezone ("7d" is the last 7 days including today, as in
Plausible); "all" starts at the site's first day with data.
"""

from __future__ import annotations

import datetime as dt

from pagepulse.query.periods import Period, local_today

# Shown in the dashboard's picker, in order, with their labels.
DASHBOARD_RANGES: dict[str, str] = {
    "realtime": "Realtime",
    "day": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "Month to date",
    "last_month": "Last month",
    "12mo": "Last 12 months",
    "all": "All time",
    "custom": "Custom range",
}

# Accepted by the Stats API too (Plausible's names).
_LAST_DAYS = {"7d": 7, "28d": 28, "30d": 30, "91d": 91}
RANGE_NAMES = frozenset({*DASHBOARD_RANGES, *_LAST_DAYS, "6mo", "year"})


class RangeError(ValueError):
    pass


def resolve_range(
    name: str,
    timezone: str,
    *,
    now: dt.datetime | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    first_day: dt.date | None = None,
) -> Period:
    """The local-date period a range name stands for.

    ``realtime`` resolves to today: the caller narrows it to the last 30 minutes.
    ``custom`` needs ``start`` and ``end``; ``all`` uses ``first_day`` (today when the
    site has no data yet).
    """
    today = local_today(timezone, now)
    if name in ("day", "realtime"):
        return Period(today, today, timezone)
    if name == "yesterday":
        day = today - dt.timedelta(days=1)
        return Period(day, day, timezone)
    if name in _LAST_DAYS:
        return Period.last_days(_LAST_DAYS[name], timezone, now)
    if name == "month":
        return Period(today.replace(day=1), today, timezone)
    if name == "last_month":
        last = today.replace(day=1) - dt.timedelta(days=1)
        return Period(last.replace(day=1), last, timezone)
    if name in ("6mo", "12mo"):
        months = 6 if name == "6mo" else 12
        return Period(_months_back(today.replace(day=1), months - 1), today, timezone)
    if name == "year":
        return Period(today.replace(month=1, day=1), today, timezone)
    if name == "all":
        return Period(min(first_day or today, today), today, timezone)
    if name == "custom":
        if start is None or end is None:
            raise RangeError("a custom range needs a start and an end date")
        if end < start:
            raise RangeError("the end date is before the start date")
        if (end - start).days > 3660:
            raise RangeError("a custom range may span at most ten years")
        return Period(start, end, timezone)
    raise RangeError(f"unknown date range {name!r}")


def _months_back(first_of_month: dt.date, months: int) -> dt.date:
    index = first_of_month.year * 12 + first_of_month.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)
