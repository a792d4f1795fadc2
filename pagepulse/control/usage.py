"""Usage metering: an account's pageviews and custom events per UTC calendar month.

Usage is counted from the lake, across every site the account owns, by
``queries/usage_by_file.sql``: one count per live Parquet file (the file's partition
path already says its site and UTC day), cached by path, size and mtime, so a month
already counted costs a directory listing, and the current month reads only its new
files. A deleted site's events are deleted with it, so they leave the account's usage.

Months are ``datetime.date`` values on the 1st (UTC). The statement of a month bills it
at the plan in force at its end (``plans.plan_at``): overage is ceil(extra / 10K) times
the plan's overage price, extra being the pageviews above the plan's limit.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pagepulse.config import Settings
from pagepulse.control import plans
from pagepulse.control.sites import Site, list_sites
from pagepulse.lake.layout import partition_files, site_days
from pagepulse.query import runner

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
CACHED_FILES = 50_000  # per process; a site has one file a day once compacted


# --- months ------------------------------------------------------------------------


def month_of(moment: dt.date | dt.datetime) -> dt.date:
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.UTC).date()
    return moment.replace(day=1)


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def month_key(month: dt.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def parse_month(text: str) -> dt.date:
    """``"2025-03"`` -> 2025-03-01; raises ValueError for anything else."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise ValueError("give the month as YYYY-MM, e.g. 2025-03")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def month_start(month: dt.date) -> dt.datetime:
    return dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)


def month_end(month: dt.date) -> dt.datetime:
    """Exclusive: the first instant of the next month."""
    return month_start(add_months(month, 1))


def recent_months(now: dt.datetime, count: int) -> list[dt.date]:
    """The ``count`` months up to and including the current one, oldest first."""
    current = month_of(now)
    return [add_months(current, -offset) for offset in range(count - 1, -1, -1)]


# --- usage ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteUsage:
    site_id: int
    domain: str
    pageviews: int
    custom_events: int


@dataclass(frozen=True, slots=True)
class MonthUsage:
    month: dt.date
    pageviews: int
    custom_events: int
    sites: tuple[SiteUsage, ...]

    @property
    def key(self) -> str:
        return month_key(self.month)

    @property
    def events(self) -> int:
        return self.pageviews + self.custom_events


def account_usage(
    settings: Settings, conn: sqlite3.Connection, user_id: int, months: Sequence[dt.date]
) -> list[MonthUsage]:
    """Usage of every site ``user_id`` owns, for each month in ``months`` (same order)."""
    return monthly_usage(settings.events_dir, list_sites(conn, user_id), months)


def monthly_usage(
    events_dir: Path, sites: Sequence[Site], months: Sequence[dt.date]
) -> list[MonthUsage]:
    days_by_site = {site.id: site_days(events_dir, site.id) for site in sites}
    files: dict[tuple[int, dt.date], list[Path]] = {}
    for site in sites:
        for month in months:
            days = [d for d in days_by_site[site.id] if month_of(d) == month]
            files[site.id, month] = partition_files(events_dir, site.id, days)
    counts = file_counts([path for paths in files.values() for path in paths])
    result = []
    for month in months:
        per_site = []
        for site in sites:
            tallies = [counts.get(path, (0, 0)) for path in files[site.id, month]]
            pageviews = sum(t[0] for t in tallies)
            custom = sum(t[1] for t in tallies)
            per_site.append(SiteUsage(site.id, site.domain, pageviews, custom))
        result.append(
            MonthUsage(
                month,
                sum(s.pageviews for s in per_site),
                sum(s.custom_events for s in per_site),
                tuple(per_site),
            )
        )
    return result


_cache: OrderedDict[tuple[str, int, int], tuple[int, int]] = OrderedDict()
_cache_lock = threading.Lock()


def file_counts(paths: Iterable[Path]) -> dict[Path, tuple[int, int]]:
    """(pageviews, custom events) of each file; files that vanished count nothing.

    A file vanishes when compaction's grace period ends after the listing: the
    compacted file that replaced it was not in the listing, so the caller's month is
    short until the next call, never counted twice.
    """
    keys: dict[Path, tuple[str, int, int]] = {}
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        keys[path] = (str(path), stat.st_size, stat.st_mtime_ns)
    counts: dict[Path, tuple[int, int]] = {}
    missing: list[Path] = []
    with _cache_lock:
        for path, key in keys.items():
            if key in _cache:
                _cache.move_to_end(key)
                counts[path] = _cache[key]
            else:
                missing.append(path)
    if missing:
        counted = _count_files(missing)
        with _cache_lock:
            for path in missing:
                counts[path] = _cache[keys[path]] = counted.get(str(path), (0, 0))
            while len(_cache) > CACHED_FILES:
                _cache.popitem(last=False)
    return counts


def _count_files(paths: list[Path]) -> dict[str, tuple[int, int]]:
    try:
        rows = runner.run("usage_by_file", files=[str(p) for p in paths]).rows
    except duckdb.IOException:
        # One of them was deleted since it was listed: count the survivors one by one.
        rows = []
        for path in paths:
            if path.exists():
                try:
                    rows += runner.run("usage_by_file", files=[str(path)]).rows
                except duckdb.IOException:
                    continue
    return {row["file"]: (int(row["pageviews"]), int(row["custom_events"])) for row in rows}


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def projected(count: int, month: dt.date, now: dt.datetime) -> int:
    """The month's count at its end if it goes on at the pace so far (the count itself
    once the month is over)."""
    start, end = month_start(month), month_end(month)
    if now >= end:
        return count
    elapsed = (now - start).total_seconds()
    if elapsed <= 0:
        return count
    return round(count * (end - start).total_seconds() / elapsed)


# --- statements ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """One month of an account: usage, the plan's limit and price, the overage amount."""

    usage: MonthUsage
    plan: plans.Plan
    closed: bool  # the month is over: these are its final numbers
    projected_pageviews: int

    @property
    def month(self) -> dt.date:
        return self.usage.month

    @property
    def limit(self) -> int | None:
        return self.plan.pageview_limit

    @property
    def extra_pageviews(self) -> int:
        return self.plan.extra_pageviews(self.usage.pageviews)

    @property
    def overage_units(self) -> int:
        return -(-self.extra_pageviews // plans.OVERAGE_UNIT)

    @property
    def overage_cents(self) -> int:
        return self.plan.overage_cents_for(self.usage.pageviews)

    @property
    def total_cents(self) -> int:
        return self.plan.price_cents + self.overage_cents


def statement(
    settings: Settings, conn: sqlite3.Connection, user_id: int, month: dt.date, now: dt.datetime
) -> Statement:
    [usage] = account_usage(settings, conn, user_id, [month])
    closed = now >= month_end(month)
    plan = plans.plan_at(settings, conn, user_id, min(now, month_end(month)))
    return Statement(usage, plan, closed, projected(usage.pageviews, month, now))
