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
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import numpy as np
import pyarrow as pa

from pagepulse.lake.day_sums import GROUP_SCHEMA, groups, hit_columns
from pagepulse.lake.sessions import US_PER_DAY, build_day, continued, day_start_us
from pagepulse.query import days as days_
from pagepulse.query.days import (
    ATTRIBUTES,
    Day,
    DayStore,
    Hits,
    Sums,
    attribute_key,
    first_with,
    sums_of,
)
from pagepulse.query.filters import EVENT_DIMENSIONS, VISIT_DIMENSIONS, filter_params
from pagepulse.query.minutes import MINUTE_SCHEMA, local_micros, minutes

# (values, filter STRUCT) -> bool per value: whether the filter keeps it.
Matcher = Callable[[list[str], dict[str, Any]], np.ndarray]

# Event filter (the $filter_<param> name) -> the hit column it tests.
EVENT_COLUMNS = {"page": "pathname", "name": "name", "hostname": "hostname"}
ONE_DAY = dt.timedelta(days=1)
SCOPE_TTL_S = 120.0
DEFAULT_SCOPE_CACHE_BYTES = 512 << 20


@dataclass(frozen=True, eq=False)
class ScopeTables:
    minutes: pa.Table
    groups: pa.Table
    strings: pa.Table
    # Answers already given from these tables, by query and parameters (small: widgets'
    # rows); they live and go with the tables.
    answers: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

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
    sums: Callable[[str], Sums]  # the whole day's sums in a timezone (computed once)
    load: Callable[[], Day]  # the day's visits, kept in the store (a cut or filtered day)


@dataclass
class _Part:
    minutes: pa.RecordBatch
    groups: pa.RecordBatch


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
        return _whole_day(view, timezone)

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
    minute_sums = minutes(
        local_micros(day.start_us[rows], timezone),
        new_visitor,
        pageviews=pageviews.astype(np.int64),
        events=events.astype(np.int64),
        bounces=is_bounce,
        duration_us=duration_us,
    )
    pages = hit_columns(day.pages, day.visitor, page_rows, "pathname")
    custom = hit_columns(day.custom, day.visitor, custom_rows, "name")
    return _Part(minute_sums, groups(attributes, flags, is_bounce, duration_us, pages, custom))


def _whole(day: dt.date, start_us: int, end_us: int) -> bool:
    """Whether every visit starting on this UTC day is in [start_us, end_us)."""
    first = day_start_us(day)
    return first >= start_us and first + US_PER_DAY <= end_us


def _whole_day(view: DayView, timezone: str) -> _Part | None:
    """A whole day's sums (computed once per day and timezone, kept in the store)."""
    sums = view.sums(timezone)
    if sums.groups is None or sums.groups.num_rows == 0:
        return None
    return _Part(sums.minutes[timezone], sums.groups)


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
            lambda timezone: store.whole_sums(source, following, timezone),
            lambda: store.day(source, following),
        )
        if not scope.filters and _whole(day, start_us, end_us):
            loaded.sums(timezone)
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
        views.append(DayView(day, partial(sums_of, whole), lambda whole=whole: whole))
    return views


@cache
def _pool() -> ThreadPoolExecutor:
    # Reading Parquet and numpy both release the GIL: two days build at once.
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="pagepulse-days")


def _micros(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# -- cache ---------------------------------------------------------------------------


class ScopeCache:
    """Recently built scopes (the ~20 lazily loaded widgets of one dashboard view ask
    for the same scope): kept ``ttl`` seconds, bounded by bytes, one build per key.
    A scope rebuilt because its files changed replaces its previous version
    (``family``: the scope itself; the key adds the files' sizes and times)."""

    def __init__(self, max_bytes: int = DEFAULT_SCOPE_CACHE_BYTES, ttl: float = SCOPE_TTL_S):
        self.max_bytes = max_bytes
        self.ttl = ttl
        # key -> (built at, tables, their bytes: measured once, as nbytes walks every array)
        self._entries: OrderedDict[Any, tuple[float, ScopeTables, int]] = OrderedDict()
        self._families: dict[Any, Any] = {}
        self._total = 0
        self._lock = threading.Lock()
        self._building: dict[Any, threading.Lock] = {}

    def get(self, key: Any, make: Callable[[], ScopeTables], *, family: Any = None) -> ScopeTables:
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
                size = entry[2] if entry is not None else tables.nbytes
                with self._lock:
                    if family is not None:
                        superseded = self._families.get(family)
                        if superseded is not None and superseded != key:
                            self._drop(superseded)
                        self._families[family] = key
                    self._drop(key)
                    self._entries[key] = (time.monotonic(), tables, size)
                    self._total += size
                    self._evict()
        finally:
            with self._lock:
                self._building.pop(key, None)
        return tables

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._families.clear()
            self._total = 0

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._total

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: Any) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._total -= entry[2]

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (made, _, _) in self._entries.items() if now - made > self.ttl]:
            self._drop(key)

    def _evict(self) -> None:
        while self._total > self.max_bytes and len(self._entries) > 1:
            self._drop(next(iter(self._entries)))
