"""A request's tables: the sessionised days of a :class:`Scope`, cut to it and summed.

The runner registers these Arrow tables on its DuckDB connection under the names the
``queries/*.sql`` files read (zero-copy: DuckDB scans the arrays in place):

* ``scope_minutes``: the scope's visits (started in the period, matching every visit
  filter and, under event filters, holding a matching event) summed per local minute
  of their start: ``minute`` (naive local TIMESTAMP), ``visits``, ``visitors``,
  ``visitors_<minute|hour|day|month>``, ``pageviews`` and ``events`` (the visits'
  *matching* ones), ``bounces``, ``duration_us``. top_stats and the timeseries.
* ``scope_groups``: per day, sums by (``parent``, ``code``) of every ``dimension``:
  ``visit:<attribute>`` (entry/exit page, source … device; ``parent`` is the browser
  or OS of a version, else -1) with ``visitors``, ``visits``, ``bounces``,
  ``duration_us``; ``event:page`` and ``event:name`` (matching pageviews / custom
  events) with ``visitors`` and ``hits``. Every breakdown widget.
* ``scope_strings``: ``code`` → ``value`` for every code above.

Every metric is a sum over visits (or hits), so summing early loses nothing, and
"unique visitors" is a sum too: of flags "first visit of its visitor (in this bucket
/ with this value)". Visitor ids are day-scoped, so flags are set day by day and day
sums add up exactly. A whole unfiltered day's sums are computed once and kept in the
:class:`~pagepulse.query.days.DayStore` (no visit rows needed after that); a cut
(first/last) or filtered day loads its visits and recomputes its flags and sums over
the selected ones. A day's visits include the next day's continuations of them (a
visit across midnight counts once, on its start day).

Filters are evaluated once per distinct string, not per row: ``match`` (the runner's
``filter_values`` query, i.e. the ``matches_filter`` SQL macro) returns which codes a
filter keeps, and rows are kept by indexing that table with their codes.

The numpy work here cannot be interrupted by the query time limit; it is bounded by
the size of the range (~0.1 s per million events when days must be built).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from pagepulse.lake.sessions import US_PER_DAY, build_day, continued, day_start_us
from pagepulse.query import days as days_
from pagepulse.query.days import (
    ATTRIBUTES,
    PARENTS,
    Day,
    DayStore,
    Hits,
    Sums,
    attribute_key,
    first_with,
)
from pagepulse.query.filters import EVENT_DIMENSIONS, VISIT_DIMENSIONS, filter_params

# (values, filter STRUCT) -> bool per value: whether the filter keeps it.
Matcher = Callable[[list[str], dict[str, Any]], np.ndarray]

# Event filter (the $filter_<param> name) -> the hit column it tests.
EVENT_COLUMNS = {"page": "pathname", "name": "name", "hostname": "hostname"}
BUCKETS_US = {"minute": 60_000_000, "hour": 3_600_000_000, "day": 86_400_000_000}
ONE_DAY = dt.timedelta(days=1)
SCOPE_TTL_S = 120.0
DEFAULT_SCOPE_CACHE_BYTES = 512 << 20


@dataclass(frozen=True, eq=False)
class ScopeTables:
    minutes: pa.Table
    groups: pa.Table
    strings: pa.Table

    def named(self) -> dict[str, pa.Table]:
        return {
            "scope_minutes": self.minutes,
            "scope_groups": self.groups,
            "scope_strings": self.strings,
        }

    @property
    def nbytes(self) -> int:
        # Counts shared (zero-copy) day arrays too: an upper bound.
        return sum(table.nbytes for table in self.named().values())


def build(scope: Any, match: Matcher, store: DayStore) -> ScopeTables:
    """The tables of one scope (a :class:`pagepulse.query.runner.Scope`)."""
    strings = store.strings(scope.events_dir, scope.site_id)
    views = _load_days(scope, store)
    values = strings.values()
    keep = _filter_tables(scope, values, match)
    start_us, end_us = _micros(scope.start), _micros(scope.end)
    parts = [_cut(view, scope.period.timezone, start_us, end_us, keep) for view in views]
    parts = [part for part in parts if part is not None]
    minutes = pa.Table.from_batches([p.minutes for p in parts], schema=MINUTE_SCHEMA)
    groups = pa.Table.from_batches([p.groups for p in parts], schema=GROUP_SCHEMA)
    strings_table = pa.table(
        {"code": pa.array(np.arange(len(values), dtype=np.int32)), "value": pa.array(values)}
    )
    return ScopeTables(minutes, groups, strings_table)


@dataclass(frozen=True, eq=False)
class DayView:
    """One UTC day of a scope: its whole-day sums and, when needed, its visits."""

    day: dt.date
    sums: Sums
    load: Callable[[], Day]  # the day's visits, kept in the store (a cut or filtered day)
    peek: Callable[[], Day]  # the same, not kept (to fill the sums once)
    resized: Callable[[], None] = lambda: None  # tell the store the sums grew


@dataclass
class _Part:
    minutes: pa.RecordBatch
    groups: pa.RecordBatch


MINUTE_SCHEMA = pa.schema(
    [
        pa.field("minute", pa.timestamp("us")),
        pa.field("visits", pa.int64()),
        pa.field("visitors", pa.int64()),
        *(pa.field(f"visitors_{interval}", pa.int64()) for interval in (*BUCKETS_US, "month")),
        pa.field("pageviews", pa.int64()),
        pa.field("events", pa.int64()),
        pa.field("bounces", pa.int64()),
        pa.field("duration_us", pa.int64()),
    ]
)
GROUP_SCHEMA = pa.schema(
    [
        pa.field("dimension", pa.string()),
        pa.field("parent", pa.int32()),
        pa.field("code", pa.int32()),
        pa.field("visitors", pa.int64()),
        pa.field("visits", pa.int64()),
        pa.field("bounces", pa.int64()),
        pa.field("duration_us", pa.int64()),
        pa.field("hits", pa.int64()),
    ]
)


def _cut(
    view: DayView,
    timezone: str,
    start_us: int,
    end_us: int,
    keep: dict[str, np.ndarray],
) -> _Part | None:
    """One day's share of the scope; None when no visit of the day is in it."""
    if not keep and _whole(view.day, start_us, end_us):
        return _whole_day(view, timezone)
    day = view.load()
    n = day.visits
    if n == 0:
        return None
    selected: np.ndarray | None = None
    if day.start_us.min() < start_us or day.start_us.max() >= end_us:
        selected = (day.start_us >= start_us) & (day.start_us < end_us)
    for name, kept in keep.items():
        if name in ATTRIBUTES:
            mask = kept[day.attributes[name]]  # exit_page -1 (none) reads kept[-1]
            selected = mask if selected is None else selected & mask
    page_rows = _event_rows(day.pages, keep)
    custom_rows = _event_rows(day.custom, keep)
    if page_rows is not None:
        # Event filters keep the visits with a matching event, then count only
        # the matching events of those visits.
        has_match = np.zeros(n, bool)
        has_match[day.pages.visit[page_rows]] = True
        has_match[day.custom.visit[custom_rows]] = True
        selected = has_match if selected is None else selected & has_match
    if selected is None:
        # Every visit of the day, unfiltered: the day's sums.
        return _whole_day(view, timezone, day)

    rows = np.flatnonzero(selected)
    if rows.size == 0:
        return None
    page_rows = _and(page_rows, selected[day.pages.visit])
    custom_rows = _and(custom_rows, selected[day.custom.visit])
    pageviews = np.bincount(
        day.pages.visit[page_rows], weights=day.pages.count[page_rows], minlength=n
    )[rows]
    events = np.bincount(
        day.custom.visit[custom_rows], weights=day.custom.count[custom_rows], minlength=n
    )[rows]

    # Flags are recomputed over the selected visits: "first visit of the visitor
    # (with this value)" among those only.
    visitor = day.visitor[rows]
    new_visitor = np.ones(rows.size, bool)
    new_visitor[1:] = visitor[1:] != visitor[:-1]
    attributes = {name: day.attributes[name][rows] for name in ATTRIBUTES}
    flags = {
        name: (
            first_with(visitor, attribute_key(attributes, name))
            if name in day.first_with
            else new_visitor
        )
        for name in ATTRIBUTES
    }
    is_bounce = day.pageviews[rows] == 1
    duration_us = day.duration_us[rows]
    minutes = _minutes(
        local_micros(day.start_us[rows], timezone),
        new_visitor,
        pageviews=pageviews.astype(np.int64),
        events=events.astype(np.int64),
        bounces=is_bounce,
        duration_us=duration_us,
    )
    pages = _hit_columns(day.pages, day.visitor, page_rows, "pathname")
    custom = _hit_columns(day.custom, day.visitor, custom_rows, "name")
    return _Part(minutes, _groups(attributes, flags, is_bounce, duration_us, pages, custom))


def _minutes(local_us: np.ndarray, new_visitor: np.ndarray, **values: np.ndarray) -> pa.RecordBatch:
    """The visits' sums per local minute of their start.

    Every metric of top_stats and the timeseries is a sum over visits, so summing
    per minute first loses nothing and leaves SQL ~1,440 rows a day instead of every
    visit. Distinct visitors per bucket are sums of flags: ``visitors_<interval>``
    counts the visits that are their visitor's first in their local bucket (visits
    are in (visitor, start) order, so that is a comparison with the previous row).
    """
    minute = local_us // BUCKETS_US["minute"]
    first = int(minute.min())
    index = minute - first
    size = int(index.max()) + 1
    columns: dict[str, np.ndarray] = {
        "minute": (np.arange(size, dtype=np.int64) + first) * BUCKETS_US["minute"],
        "visits": np.bincount(index, minlength=size).astype(np.int64),
        "visitors": _exact_sums(index, new_visitor, size),
    }
    for interval, bucket in _buckets(local_us).items():
        new = new_visitor.copy()
        new[1:] |= bucket[1:] != bucket[:-1]
        columns[f"visitors_{interval}"] = _exact_sums(index, new, size)
    for name, value in values.items():
        columns[name] = _exact_sums(index, value, size)
    used = columns["visits"] > 0
    return pa.RecordBatch.from_arrays(
        [
            pa.array(values[used], field.type)
            for values, field in zip(columns.values(), MINUTE_SCHEMA, strict=True)
        ],
        schema=MINUTE_SCHEMA,
    )


def _whole(day: dt.date, start_us: int, end_us: int) -> bool:
    """Whether every visit starting on this UTC day is in [start_us, end_us)."""
    first = day_start_us(day)
    return first >= start_us and first + US_PER_DAY <= end_us


def _whole_day(view: DayView, timezone: str, day: Day | None = None) -> _Part | None:
    """A whole day's sums, computed once per day (and timezone) and kept in the store."""
    sums = view.sums
    if sums.groups is None or timezone not in sums.minutes:
        day = day if day is not None else view.peek()
        if sums.groups is None:
            sums.groups = day_groups(day)
        if timezone not in sums.minutes:
            sums.minutes[timezone] = day_minutes(day, timezone)
        view.resized()
    if sums.groups.num_rows == 0:
        return None
    return _Part(sums.minutes[timezone], sums.groups)


def day_minutes(day: Day, timezone: str) -> pa.RecordBatch:
    """A whole day's minute sums in one timezone."""
    if day.visits == 0:
        return pa.RecordBatch.from_pylist([], schema=MINUTE_SCHEMA)
    return _minutes(
        local_micros(day.start_us, timezone),
        day.new_visitor,
        pageviews=day.pageviews,
        events=day.custom_events,
        bounces=day.pageviews == 1,
        duration_us=day.duration_us,
    )


def day_groups(day: Day) -> pa.RecordBatch:
    """A whole day's group sums."""
    flags = {name: day.first_with.get(name, day.new_visitor) for name in ATTRIBUTES}
    return _groups(
        day.attributes,
        flags,
        day.pageviews == 1,
        day.duration_us,
        _hit_columns(day.pages, day.visitor, None, "pathname"),
        _hit_columns(day.custom, day.visitor, None, "name"),
    )


def _groups(
    attributes: dict[str, np.ndarray],
    flags: dict[str, np.ndarray],
    is_bounce: np.ndarray,
    duration_us: np.ndarray,
    pages: tuple[np.ndarray, np.ndarray, np.ndarray],
    custom: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> pa.RecordBatch:
    groups = [
        _group(
            f"visit:{name}",
            attributes[PARENTS[name]] if name in PARENTS else None,
            attributes[name],
            visitors=flags[name],
            bounces=is_bounce,
            duration_us=duration_us,
        )
        for name in ATTRIBUTES
    ]
    for dimension, (codes, counts, first) in (("event:page", pages), ("event:name", custom)):
        groups.append(_group(dimension, None, codes, visitors=first, hits=counts))
    return pa.RecordBatch.from_arrays(
        [pa.concat_arrays([g.column(i) for g in groups]) for i in range(len(GROUP_SCHEMA))],
        schema=GROUP_SCHEMA,
    )


def _group(
    dimension: str,
    parent: np.ndarray | None,
    codes: np.ndarray,
    *,
    visitors: np.ndarray,
    bounces: np.ndarray | None = None,
    duration_us: np.ndarray | None = None,
    hits: np.ndarray | None = None,
) -> pa.RecordBatch:
    """Sums per (parent, code): visitors (flags), visits (rows), bounces, durations, hits.

    np.bincount over the codes: several times cheaper than a hash aggregate over the
    visits, which is why widgets read these sums rather than every visit.
    """
    if parent is None:
        key = codes.astype(np.intp) + 1  # exit_page -1 (none) is bin 0
    else:
        key = parent.astype(np.int64) << 32 | (codes.astype(np.int64) & 0xFFFFFFFF)
    if parent is None and (key.size == 0 or key.max() < 1 << 20):
        # Codes are small: sum straight into one bin per code, keep the bins used.
        visits = np.bincount(key)
        used = np.flatnonzero(visits)
        groups = used - 1
        index, size = key, visits.size
    else:
        groups, index = np.unique(key, return_inverse=True)
        used, size = slice(None), groups.size
        visits = np.bincount(index, minlength=size)

    def total(weights: np.ndarray | None) -> np.ndarray:
        if weights is None:
            return np.zeros(len(groups), np.int64)
        return _exact_sums(index, weights, size)[used]

    if parent is None:
        parent_codes = np.full(len(groups), -1, np.int32)
        group_codes = groups.astype(np.int32)
    else:
        parent_codes = (groups >> 32).astype(np.int32)
        group_codes = (groups & 0xFFFFFFFF).astype(np.uint32).astype(np.int32)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([dimension] * len(groups), pa.string()),
            pa.array(parent_codes),
            pa.array(group_codes),
            pa.array(total(visitors)),
            pa.array(visits[used].astype(np.int64)),
            pa.array(total(bounces)),
            pa.array(total(duration_us)),
            pa.array(total(hits)),
        ],
        schema=GROUP_SCHEMA,
    )


def _exact_sums(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Integer sums per group by np.bincount, exact.

    bincount adds in float64, exact while every partial sum stays below 2**53: true
    for flags and counts, and for durations unless the day's total passes ~285 years;
    then the values are split into 24-bit halves, each summed exactly.
    """
    if values.dtype.kind == "b":
        values = values.view(np.uint8)  # as weights: faster than selecting the rows
    if values.size == 0 or int(values.sum(dtype=np.int64)) < 1 << 53:
        return np.bincount(groups, weights=values, minlength=size).astype(np.int64)
    values = values.astype(np.int64, copy=False)
    low = np.bincount(groups, weights=values & 0xFFFFFF, minlength=size)
    high = np.bincount(groups, weights=values >> 24, minlength=size)
    return (high.astype(np.int64) << 24) + low.astype(np.int64)


def _event_rows(hits: Hits, keep: dict[str, np.ndarray]) -> np.ndarray | None:
    """Rows matching every event filter (None without event filters)."""
    rows: np.ndarray | None = None
    for name, kept in keep.items():
        if name not in EVENT_COLUMNS:
            continue
        mask = kept[getattr(hits, EVENT_COLUMNS[name])]
        rows = mask if rows is None else rows & mask
    return rows


def _and(rows: np.ndarray | None, mask: np.ndarray) -> np.ndarray:
    # None stands for "every row" (no event filter).
    return mask if rows is None else rows & mask


def _hit_columns(
    hits: Hits, day_visitor: np.ndarray, rows: np.ndarray | None, key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key codes, counts, first-of-visitor flags) of the kept hit rows."""
    if rows is None:
        return hits.key(key), hits.count, hits.first
    kept = np.flatnonzero(rows)
    codes = hits.key(key)[kept]
    visitor = day_visitor[hits.visit[kept]]
    first = np.ones(kept.size, bool)
    first[1:] = (visitor[1:] != visitor[:-1]) | (codes[1:] != codes[:-1])
    return codes, hits.count[kept], first


def _filter_tables(scope: Any, values: list[str], match: Matcher) -> dict[str, np.ndarray]:
    """Scope column -> bool per string code (plus a last entry for "no value")."""
    keep = {}
    empty = values.index("") if "" in values else None
    for param, struct in filter_params(scope.filters).items():
        if struct is None:
            continue
        column = param.removeprefix("filter_")
        kept = match([*values, ""], struct)
        if column == "exit_page":
            # A visit without a pageview has no exit page: it filters as ''.
            kept[-1] = kept[empty] if empty is not None else kept[-1]
        keep[column] = kept
    assert set(keep) <= set(ATTRIBUTES) | set(EVENT_COLUMNS), keep
    assert {*VISIT_DIMENSIONS.values()} <= set(ATTRIBUTES)
    assert {*EVENT_DIMENSIONS.values()} == set(EVENT_COLUMNS)
    return keep


def _load_days(scope: Any, store: DayStore) -> list[DayView]:
    """The scope's UTC days: whole unfiltered days with their sums filled, the others
    with their visits loaded (in parallel: reading and numpy release the GIL)."""
    if scope.since is not None or scope.until is not None:
        return _realtime_days(scope, store)
    listed = scope.files_by_day()
    if not listed:
        return []
    days = sorted(listed)
    found = days_.sources(scope.events_dir, scope.site_id, [*days, days[-1] + ONE_DAY], listed)
    start_us, end_us = _micros(scope.start), _micros(scope.end)
    timezone = scope.period.timezone

    def view(day: dt.date) -> DayView:
        source, following = found[day], found.get(day + ONE_DAY)
        loaded = DayView(
            day,
            store.day_sums(source, following),
            lambda: store.day(source, following),
            lambda: store.day(source, following, keep=False),
            store.sums.resized,
        )
        if not scope.filters and _whole(day, start_us, end_us):
            _whole_day(loaded, timezone)
        else:
            loaded.load()
        return loaded

    if len(days) == 1:
        return [view(days[0])]
    return list(_pool().map(view, days))


def _realtime_days(scope: Any, store: DayStore) -> list[DayView]:
    """A realtime scope's few minutes, built afresh (they change every request): visits
    are made of the window's events alone, across midnight too."""
    strings = store.strings(scope.events_dir, scope.site_id)
    built: dict[dt.date, Day] = {}
    for day, paths in sorted(scope.files_by_day().items()):
        before = built.get(day - ONE_DAY)
        built[day] = build_day(
            paths,
            strings,
            day,
            previous=before.tail if before is not None else None,
            since=scope.since,
            until=scope.until,
        )
    views = []
    for day, own in built.items():
        following = built.get(day + ONE_DAY)
        whole = continued(own, following.continuations) if following is not None else own
        views.append(DayView(day, Sums(), lambda whole=whole: whole, lambda whole=whole: whole))
    return views


@cache
def _pool() -> ThreadPoolExecutor:
    # Reading Parquet and numpy both release the GIL: two days build at once.
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="pagepulse-days")


def _micros(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def local_micros(utc_us: np.ndarray, timezone: str) -> np.ndarray:
    """Naive local wall-clock microseconds of UTC instants, exact across DST changes.

    The zone's offset is looked up hour by hour over the span (at most a few hundred
    calls); where it changes, the exact second is found by bisection.
    """
    if utc_us.size == 0:
        return utc_us.astype(np.int64)
    zone = ZoneInfo(timezone)
    first, last = int(utc_us.min()), int(utc_us.max())
    hour = 3_600_000_000
    points = list(range(first - first % hour, last + hour, hour))
    offsets = [_offset_us(zone, p) for p in points]
    starts, values = [first], [offsets[0]]
    for a, b, off_a, off_b in zip(points, points[1:], offsets, offsets[1:], strict=False):
        if off_a != off_b:
            low, high = a, b  # offset(low) == off_a, offset(high) == off_b
            while high - low > 1_000_000:
                mid = (low + high) // 2 // 1_000_000 * 1_000_000
                if mid <= low:
                    mid = low + 1_000_000
                if _offset_us(zone, mid) == off_a:
                    low = mid
                else:
                    high = mid
            starts.append(high)
            values.append(off_b)
    index = np.searchsorted(np.array(starts, np.int64), utc_us, side="right") - 1
    return utc_us + np.array(values, np.int64)[np.maximum(index, 0)]


def _offset_us(zone: ZoneInfo, utc_us: int) -> int:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=utc_us)
    offset = moment.astimezone(zone).utcoffset() or dt.timedelta()
    return int(offset.total_seconds()) * 1_000_000


def _buckets(local_us: np.ndarray) -> dict[str, np.ndarray]:
    buckets = {name: local_us // size for name, size in BUCKETS_US.items()}
    # Months through a table of the few days spanned: converting every row to
    # datetime64[M] costs more than the other buckets together.
    days = buckets["day"]
    first = int(days.min())
    span = np.arange(first, int(days.max()) + 1).astype("datetime64[D]")
    months = span.astype("datetime64[M]").astype(np.int64)
    buckets["month"] = months[days - first]
    return buckets


# -- cache ---------------------------------------------------------------------------


class ScopeCache:
    """Recently built scopes (the ~20 lazily loaded widgets of one dashboard view ask
    for the same scope): kept ``ttl`` seconds, bounded by bytes, one build per key."""

    def __init__(self, max_bytes: int = DEFAULT_SCOPE_CACHE_BYTES, ttl: float = SCOPE_TTL_S):
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._entries: OrderedDict[Any, tuple[float, ScopeTables]] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Any, threading.Lock] = {}

    def get(self, key: Any, make: Callable[[], ScopeTables]) -> ScopeTables:
        with self._lock:
            self._expire()
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry[1]
            building = self._building.setdefault(key, threading.Lock())
        try:
            with building:  # a second request for the same scope waits for the first
                with self._lock:
                    entry = self._entries.get(key)
                tables = entry[1] if entry is not None else make()
                with self._lock:
                    self._entries[key] = (time.monotonic(), tables)
                    self._entries.move_to_end(key)
                    self._evict()
        finally:
            with self._lock:
                self._building.pop(key, None)
        return tables

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (made, _) in self._entries.items() if now - made > self.ttl]:
            del self._entries[key]

    def _evict(self) -> None:
        total = sum(tables.nbytes for _, tables in self._entries.values())
        while total > self.max_bytes and len(self._entries) > 1:
            _, (_, tables) = self._entries.popitem(last=False)
            total -= tables.nbytes
