"""A plain-Python reference for every widget, written from the definitions alone.

It shares nothing with the SQL but the definitions (pagepulse/query/widgets.py and
filters.py docstrings, docs/lake.md "Visits across midnight"): sessionise each
visitor's events (gap >= 30 min starts a visit), join a visit that continues one of
the previous day, keep visits that start in the period, apply filters, aggregate.
The tests compare it with the queries for exact equality.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq

from pagepulse.lake.layout import site_dir
from pagepulse.query import Filter, Period

GAP = dt.timedelta(minutes=30)
UTM_OR_REFERRER = {
    "visit:referrer",
    "visit:utm_source",
    "visit:utm_medium",
    "visit:utm_campaign",
    "visit:utm_content",
    "visit:utm_term",
}
VISIT_ATTRIBUTE = {
    "visit:entry_page": "pathname",
    "visit:source": "referrer_source",
    "visit:referrer": "referrer",
    "visit:utm_source": "utm_source",
    "visit:utm_medium": "utm_medium",
    "visit:utm_campaign": "utm_campaign",
    "visit:utm_content": "utm_content",
    "visit:utm_term": "utm_term",
    "visit:country": "country",
    "visit:browser": "browser",
    "visit:browser_version": "browser_version",
    "visit:os": "os",
    "visit:os_version": "os_version",
    "visit:device": "device",
}
EVENT_ATTRIBUTE = {"event:page": "pathname", "event:name": "name", "event:hostname": "hostname"}
PARENT = {"visit:browser_version": "browser", "visit:os_version": "os"}


def percent(part: int, whole: int) -> int:
    return 0 if whole == 0 else (200 * part + whole) // (2 * whole)


def percent_1dp(part: int, whole: int) -> float:
    return 0.0 if whole == 0 else ((2000 * part + whole) // (2 * whole)) / 10


def ratio_2dp(part: int, whole: int) -> float:
    return 0.0 if whole == 0 else ((200 * part + whole) // (2 * whole)) / 100


def average_seconds(total_us: int, count: int) -> int:
    return 0 if count == 0 else (total_us + count * 500_000) // (count * 1_000_000)


def micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass
class Visit:
    events: list[dict]  # a continuation's events follow the visit's own
    local_start: dt.datetime

    @property
    def first(self) -> dict:
        return self.events[0]

    @property
    def visitor_id(self) -> int:
        # A continued visit's events after midnight carry the next day's id: the visit
        # (and each of its pageviews) counts for the visitor it started with.
        return self.first["visitor_id"]

    @property
    def pageviews(self) -> int:
        return sum(e["name"] == "pageview" for e in self.events)

    @property
    def exit_page(self) -> str | None:
        pages = [e["pathname"] for e in self.events if e["name"] == "pageview"]
        return pages[-1] if pages else None

    @property
    def duration_us(self) -> int:
        return micros(self.events[-1]["ts"] - self.first["ts"])

    def value(self, dimension: str) -> str:
        if dimension == "visit:exit_page":
            return self.exit_page or ""
        return self.first[VISIT_ATTRIBUTE[dimension]]


def read_site_events(events_dir: Path, site_id: int) -> list[dict]:
    files = sorted(site_dir(events_dir, site_id).rglob("*.parquet"))
    return [row for path in files for row in pq.read_table(path).to_pylist()]


def matches(value: str, item: Filter) -> bool:
    if item.op == "is":
        return value in item.values
    if item.op == "is_not":
        return value not in item.values
    return any(needle in value for needle in item.values)


class Reference:
    def __init__(
        self,
        events: Iterable[dict],
        period: Period,
        filters: Iterable[Filter] = (),
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ):
        # since/until (a realtime scope) drop the events outside [since, until) first:
        # visits are made of the remaining events only.
        self.period = period
        self.start = max(period.utc_start, since or period.utc_start)
        self.end = min(period.utc_end, until or period.utc_end)
        events = [
            e
            for e in events
            if (since is None or e["ts"] >= since) and (until is None or e["ts"] < until)
        ]
        self.tz = ZoneInfo(period.timezone)
        filters = list(filters)
        event_filters = [f for f in filters if f.dimension in EVENT_ATTRIBUTE]
        visit_filters = [f for f in filters if f.dimension not in EVENT_ATTRIBUTE]

        def event_matches(e: dict) -> bool:
            return all(matches(e[EVENT_ATTRIBUTE[f.dimension]], f) for f in event_filters)

        self.visits: list[Visit] = []
        self.hits: list[tuple[Visit, dict]] = []
        for visit_events in sessionise(events):
            start = visit_events[0]["ts"]
            if not self.start <= start < self.end:
                continue
            local = start.astimezone(self.tz).replace(tzinfo=None)
            visit = Visit(visit_events, local)
            if not all(matches(visit.value(f.dimension), f) for f in visit_filters):
                continue
            matching = [e for e in visit_events if event_matches(e)]
            if event_filters and not matching:
                continue
            self.visits.append(visit)
            self.hits.extend((visit, e) for e in matching)

    # -- widgets ---------------------------------------------------------------------

    def top_stats(self) -> dict:
        return self._stats(self.visits, [e for _, e in self.hits])

    def timeseries(self, interval: str) -> list[dict]:
        first = truncate(self.start.astimezone(self.tz).replace(tzinfo=None), interval)
        last_instant = self.end - dt.timedelta(microseconds=1)
        last = truncate(last_instant.astimezone(self.tz).replace(tzinfo=None), interval)
        visits = defaultdict(list)
        hits = defaultdict(list)
        for visit in self.visits:
            visits[truncate(visit.local_start, interval)].append(visit)
        for visit, e in self.hits:
            hits[truncate(visit.local_start, interval)].append(e)
        rows, bucket = [], first
        while bucket <= last:
            rows.append({"bucket": bucket, **self._stats(visits[bucket], hits[bucket])})
            bucket = step(bucket, interval)
        return rows

    def breakdown(self, dimension: str) -> list[dict]:
        groups = defaultdict(list)
        for visit in self.visits:
            name = visit.value(dimension)
            if name == "" and dimension in UTM_OR_REFERRER:
                continue
            parent = visit.first[PARENT[dimension]] if dimension in PARENT else ""
            groups[(parent, name)].append(visit)
        rows = [
            {"parent": parent, "name": name, **self._visit_metrics(group)}
            for (parent, name), group in groups.items()
        ]
        return sorted(rows, key=lambda r: (-r["visitors"], r["name"], r["parent"]))

    def entry_pages(self) -> list[dict]:
        groups = defaultdict(list)
        for visit in self.visits:
            groups[visit.first["pathname"]].append(visit)
        rows = [{"name": name, **self._visit_metrics(group)} for name, group in groups.items()]
        return sorted(rows, key=lambda r: (-r["visitors"], r["name"]))

    def exit_pages(self) -> list[dict]:
        groups = defaultdict(list)
        for visit in self.visits:
            if visit.exit_page is not None:
                groups[visit.exit_page].append(visit)
        pageviews = self._pageviews_by_page()
        rows = []
        for name, group in groups.items():
            views = pageviews.get(name)
            rows.append(
                {
                    "name": name,
                    "visitors": len({v.visitor_id for v in group}),
                    "visits": len(group),
                    "exit_rate": None if views is None else percent(len(group), views),
                }
            )
        return sorted(rows, key=lambda r: (-r["visitors"], r["name"]))

    def top_pages(self) -> list[dict]:
        visitors = defaultdict(set)
        for visit, e in self.hits:
            if e["name"] == "pageview":
                visitors[e["pathname"]].add(visit.visitor_id)
        entries = defaultdict(list)
        for visit in self.visits:
            entries[visit.first["pathname"]].append(visit)
        pageviews = self._pageviews_by_page()
        rows = []
        for name, ids in visitors.items():
            entered = entries.get(name)
            bounce = None
            if entered:
                bounce = percent(sum(v.pageviews == 1 for v in entered), len(entered))
            rows.append(
                {
                    "name": name,
                    "visitors": len(ids),
                    "pageviews": pageviews[name],
                    "bounce_rate": bounce,
                }
            )
        return sorted(rows, key=lambda r: (-r["visitors"], r["name"]))

    def custom_events(self) -> list[dict]:
        total_visitors = len({v.visitor_id for v in self.visits})
        visitors, counts = defaultdict(set), defaultdict(int)
        for visit, e in self.hits:
            if e["name"] != "pageview":
                visitors[e["name"]].add(visit.visitor_id)
                counts[e["name"]] += 1
        rows = [
            {
                "name": name,
                "visitors": len(ids),
                "events": counts[name],
                "conversion_rate": percent_1dp(len(ids), total_visitors),
            }
            for name, ids in visitors.items()
        ]
        return sorted(rows, key=lambda r: (-r["visitors"], r["name"]))

    # -- shared ------------------------------------------------------------------------

    def _pageviews_by_page(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _, e in self.hits:
            if e["name"] == "pageview":
                counts[e["pathname"]] += 1
        return dict(counts)

    @staticmethod
    def _visit_metrics(visits: list[Visit]) -> dict:
        return {
            "visitors": len({v.visitor_id for v in visits}),
            "visits": len(visits),
            "bounce_rate": percent(sum(v.pageviews == 1 for v in visits), len(visits)),
            "visit_duration": average_seconds(sum(v.duration_us for v in visits), len(visits)),
        }

    @staticmethod
    def _stats(visits: list[Visit], hits: list[dict]) -> dict:
        pageviews = sum(e["name"] == "pageview" for e in hits)
        return {
            "visitors": len({v.visitor_id for v in visits}),
            "visits": len(visits),
            "pageviews": pageviews,
            "views_per_visit": ratio_2dp(pageviews, len(visits)),
            "bounce_rate": percent(sum(v.pageviews == 1 for v in visits), len(visits)),
            "visit_duration": average_seconds(sum(v.duration_us for v in visits), len(visits)),
            "events": len(hits) - pageviews,
        }


def sessionise(events: Iterable[dict]) -> list[list[dict]]:
    """Visits as lists of events: each visitor's runs without a 30-minute gap, then a
    run whose first event's ``prev_visitor_id`` names a visitor whose last event came
    less than 30 minutes before it is appended to that visitor's last run (its events
    follow), unless that run itself began with a ``prev_visitor_id``; one run joins a
    given visitor's last run at most (the earliest)."""
    by_visitor = defaultdict(list)
    for e in events:
        by_visitor[e["visitor_id"]].append(e)
    runs = []
    last_run: dict[int, list[dict]] = {}
    for visitor, visitor_events in by_visitor.items():
        visitor_events.sort(key=lambda e: e["ts"])
        current = [visitor_events[0]]
        for previous, e in itertools.pairwise(visitor_events):
            if e["ts"] - previous["ts"] >= GAP:
                runs.append(current)
                current = []
            current.append(e)
        runs.append(current)
        last_run[visitor] = current
    visits: dict[int, list[dict]] = {id(run): list(run) for run in runs}
    joined: set[int] = set()
    for run in sorted(runs, key=lambda run: run[0]["ts"]):
        target = last_run.get(run[0].get("prev_visitor_id"))  # type: ignore[arg-type]
        if target is None or target is run or id(target) in joined:
            continue
        gap = run[0]["ts"] - target[-1]["ts"]
        if dt.timedelta(0) <= gap < GAP and target[0].get("prev_visitor_id") is None:
            joined.add(id(target))
            visits[id(target)] += visits.pop(id(run))
    return list(visits.values())


def truncate(local: dt.datetime, interval: str) -> dt.datetime:
    if interval == "minute":
        return local.replace(second=0, microsecond=0)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    if interval == "day":
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def step(bucket: dt.datetime, interval: str) -> dt.datetime:
    if interval == "minute":
        return bucket + dt.timedelta(minutes=1)
    if interval == "hour":
        return bucket + dt.timedelta(hours=1)
    if interval == "day":
        return bucket + dt.timedelta(days=1)
    return bucket.replace(year=bucket.year + bucket.month // 12, month=bucket.month % 12 + 1)
