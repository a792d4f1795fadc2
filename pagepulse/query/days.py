"""Sessionised UTC days: one site's partition turned into visits and hits, built once.

Visitor ids rotate at 00:00 UTC, so a visit never crosses a UTC day: each partition
(``site_id=<id>/date=<day>``) is sessionised on its own, and the result does not depend
on the dashboard's period or filters. :func:`load_day` builds a :class:`Day` from the
day's files and keeps it in a memory-bounded LRU cache keyed by the files' names,
sizes and mtimes (appends land in new files, so today's partition is rebuilt when it
grows; older days stay cached). :mod:`pagepulse.query.scopes` assembles a request's
tables from these days.

Why numpy and not SQL here: files are sorted by (visitor_id, ts) (the lake contract),
so sessionising is one vectorised pass over two columns (a new visit where the visitor
changes or the gap is >= 30 min) instead of a 9M-row window sort. A day with several
files (ingest appends) is merged with one sort of that day only.

Strings never travel: every string column is read dictionary-encoded and its values
are numbered once per site (:class:`Strings`), so visits carry int32 codes; SQL groups
by codes and joins the few names of its result rows at the end.

"Distinct visitors" never needs a distinct count: a visit carries, per dimension, a
flag "first visit of its visitor with this value" (and a hit row "first row of its
visitor with this page / event name"), so visitors are a plain SUM of the flag.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pagepulse.lake import quarantine
from pagepulse.lake.schema import EVENT_SCHEMA

SESSION_GAP_US = 30 * 60 * 1_000_000
PAGEVIEW = "pageview"

# Scope column -> the event column of the visit's first event it is taken from.
FIRST_EVENT_ATTRIBUTES: dict[str, str] = {
    "entry_page": "pathname",
    "source": "referrer_source",
    "referrer": "referrer",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "utm_content": "utm_content",
    "utm_term": "utm_term",
    "country": "country",
    "browser": "browser",
    "browser_version": "browser_version",
    "os": "os",
    "os_version": "os_version",
    "device": "device",
}
# Every visit attribute (exit_page: the last pageview's page, -1 without a pageview).
ATTRIBUTES: tuple[str, ...] = (*FIRST_EVENT_ATTRIBUTES, "exit_page")
# A version is counted per (browser, version) / (os, version): "Chrome 120" and
# "Edge 120" are different rows with different visitors.
PARENTS: dict[str, str] = {"browser_version": "browser", "os_version": "os"}
EVENT_STRING_COLUMNS = ("name", "pathname", "hostname")
STRING_COLUMNS = tuple(dict.fromkeys((*EVENT_STRING_COLUMNS, *FIRST_EVENT_ATTRIBUTES.values())))
READ_COLUMNS = ("visitor_id", "ts", *STRING_COLUMNS)

DEFAULT_CACHE_BYTES = 1 << 30


class Strings:
    """Every string of one site's lake seen so far, numbered by arrival (thread-safe).

    Codes only grow; the table is small (distinct pages, referrers, versions …).
    """

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._values: list[str] = []
        self._lock = threading.Lock()

    def encode(self, values: Sequence[str]) -> np.ndarray:
        with self._lock:
            codes = np.empty(len(values), np.int32)
            for i, value in enumerate(values):
                code = self._codes.get(value)
                if code is None:
                    code = self._codes[value] = len(self._values)
                    self._values.append(value)
                codes[i] = code
            return codes

    def values(self) -> list[str]:
        with self._lock:
            return list(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True, eq=False)
class Hits:
    """Runs of one visit's events with the same (name, pathname, hostname).

    Rows are in (visitor, key, visit) order, the key being the pathname for pageviews
    and the event name for custom events, so a visitor's rows of one key sit together.
    """

    visit: np.ndarray  # int32 row of the visit in Day
    name: np.ndarray
    pathname: np.ndarray
    hostname: np.ndarray
    count: np.ndarray  # int32 events in the run
    first: np.ndarray  # bool: the visitor's first row with this key (whole day)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in vars(self).values())

    def key(self, of: str) -> np.ndarray:
        return self.pathname if of == "pathname" else self.name


@dataclass(frozen=True, eq=False)
class Day:
    """One UTC day of one site, sessionised. Visit rows are in (visitor, start) order."""

    visitor: np.ndarray  # int32 visitor number (dense, in visitor_id order)
    new_visitor: np.ndarray  # bool: first visit of its visitor
    start_us: np.ndarray  # int64 UTC epoch microseconds
    duration_us: np.ndarray  # int64
    pageviews: np.ndarray  # int32
    custom_events: np.ndarray  # int32
    attributes: dict[str, np.ndarray]  # ATTRIBUTES -> int32 codes
    # ATTRIBUTES -> bool (whole day, see module doc); absent where it equals new_visitor.
    first_with: dict[str, np.ndarray]
    pages: Hits
    custom: Hits
    # Results derived from the whole day alone (scopes keep the day's group sums here).
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def visits(self) -> int:
        return len(self.start_us)

    @property
    def nbytes(self) -> int:
        arrays = [
            self.visitor,
            self.new_visitor,
            self.start_us,
            self.duration_us,
            self.pageviews,
            self.custom_events,
            *self.attributes.values(),
            *self.first_with.values(),
        ]
        return sum(a.nbytes for a in arrays) + self.pages.nbytes + self.custom.nbytes


def first_with(visitor: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """True where no earlier row of the same visitor has the same code.

    Rows are grouped by visitor. The previous row is compared with slices (most rows
    are decided there: a visitor's country or browser never changes); only the rows
    still undecided look further back, one row at a time, and a visitor has a
    handful of visits, so this is a few small vectorised passes.
    """
    first = np.ones(len(codes), bool)
    if len(codes) < 2:
        return first
    same_visitor = visitor[1:] == visitor[:-1]
    same_code = codes[1:] == codes[:-1]
    first[1:] = ~(same_visitor & same_code)
    rows = np.flatnonzero(same_visitor & ~same_code) + 1
    back = 2
    while rows.size:
        rows = rows[rows >= back]
        earlier = rows - back
        same = visitor[earlier] == visitor[rows]
        rows, earlier = rows[same], earlier[same]
        repeated = codes[rows] == codes[earlier]
        first[rows[repeated]] = False
        rows = rows[~repeated]
        back += 1
    return first


def attribute_key(attributes: dict[str, np.ndarray], name: str) -> np.ndarray:
    """The codes a visitor's distinctness is judged on (a version with its parent)."""
    codes = attributes[name]
    parent = PARENTS.get(name)
    if parent is None:
        return codes
    return attributes[parent].astype(np.int64) << 32 | codes.astype(np.int64)


def build_day(
    files: Sequence[Path],
    strings: Strings,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Day:
    """Sessionise one UTC day's files (only events in [since, until) when given)."""
    table = _read(files, since, until)
    n = table.num_rows
    visitor_id = table.column("visitor_id").to_numpy()
    ts = table.column("ts").cast(pa.int64()).to_numpy()

    new_visitor_row = np.ones(n, bool)
    np.not_equal(visitor_id[1:], visitor_id[:-1], out=new_visitor_row[1:])
    new_visit = new_visitor_row.copy()
    new_visit[1:] |= (ts[1:] - ts[:-1]) >= SESSION_GAP_US
    starts = np.flatnonzero(new_visit)
    ends = np.append(starts[1:], n) - 1
    visit_of_row = (np.cumsum(new_visit) - 1).astype(np.int32)
    visitor_of_row = (np.cumsum(new_visitor_row) - 1).astype(np.int32)

    # Per-event codes only for the event columns; a visit attribute is looked up for
    # the visits' first rows alone.
    encoded = {column: _encoded(table.column(column), strings) for column in STRING_COLUMNS}
    codes = {column: _per_row(*encoded[column]) for column in EVENT_STRING_COLUMNS}
    is_pageview = codes["name"] == strings.encode([PAGEVIEW])[0]
    # Per-visit counts and the last pageview by prefix sums and a running maximum
    # (both cheaper than ufunc.reduceat over every event).
    seen = np.concatenate(([0], np.cumsum(is_pageview)))
    pageviews = (seen[ends + 1] - seen[starts]).astype(np.int32)
    sizes = (ends - starts + 1).astype(np.int32)
    latest = np.maximum.accumulate(np.where(is_pageview, np.arange(n), -1))[ends] if n else ends
    last_pageview = np.where(latest >= starts, latest, -1)

    attributes = {
        name: encoded[column][0][encoded[column][1][starts]]
        for name, column in FIRST_EVENT_ATTRIBUTES.items()
    }
    attributes["exit_page"] = np.where(
        last_pageview >= 0, codes["pathname"][np.maximum(last_pageview, 0)], -1
    )
    attributes = {name: narrow(values) for name, values in attributes.items()}
    visitor = visitor_of_row[starts]
    new_visitor = new_visitor_row[starts]
    rows = np.arange(n)
    flags = {name: first_with(visitor, attribute_key(attributes, name)) for name in ATTRIBUTES}
    return Day(
        visitor=visitor,
        new_visitor=new_visitor,
        start_us=ts[starts],
        duration_us=ts[ends] - ts[starts],
        pageviews=pageviews.astype(np.int32),
        custom_events=(sizes - pageviews).astype(np.int32),
        attributes=attributes,
        # Country, browser, OS and device are fixed for a visitor's day (its id hashes
        # IP and user agent): those flags are new_visitor itself and are not stored.
        first_with={
            name: flag for name, flag in flags.items() if not np.array_equal(flag, new_visitor)
        },
        pages=_hits(rows[is_pageview], codes, visit_of_row, visitor_of_row, "pathname"),
        custom=_hits(rows[~is_pageview], codes, visit_of_row, visitor_of_row, "name"),
    )


def _hits(
    rows: np.ndarray,
    codes: dict[str, np.ndarray],
    visit_of_row: np.ndarray,
    visitor_of_row: np.ndarray,
    key: str,
) -> Hits:
    # Stable sort by (visitor, key): rows are already in (visitor, ts) order, so a
    # visitor's rows of one key end up together and still in visit order.
    visitor = visitor_of_row[rows].astype(np.int64)
    order = np.argsort(visitor << 32 | codes[key][rows].astype(np.int64), kind="stable")
    rows = rows[order]
    columns = {
        "visit": visit_of_row[rows],
        "visitor": visitor_of_row[rows],
        **{column: codes[column][rows] for column in EVENT_STRING_COLUMNS},
    }
    # One row per run of equal (visit, name, pathname, hostname): a page viewed five
    # times in a visit is one row with count 5.
    change = np.ones(len(rows), bool)
    for column in ("visit", *EVENT_STRING_COLUMNS):
        values = columns[column]
        change[1:] |= values[1:] != values[:-1]
    run_starts = np.flatnonzero(change)
    count = np.diff(np.append(run_starts, len(rows))).astype(np.int32)
    columns = {column: values[run_starts] for column, values in columns.items()}
    key_codes = columns[key]
    first = np.ones(len(run_starts), bool)
    visitors = columns.pop("visitor")  # not kept: Day.visitor[visit] gives it back
    first[1:] = ~((visitors[1:] == visitors[:-1]) & (key_codes[1:] == key_codes[:-1]))
    narrowed = {column: narrow(values) for column, values in columns.items() if column != "visit"}
    return Hits(visit=columns["visit"], count=narrow(count), first=first, **narrowed)


def _read(files: Sequence[Path], since: dt.datetime | None, until: dt.datetime | None) -> pa.Table:
    filters = []
    if since is not None:
        filters.append(("ts", ">=", pa.scalar(since, pa.timestamp("us", tz="UTC"))))
    if until is not None:
        filters.append(("ts", "<", pa.scalar(until, pa.timestamp("us", tz="UTC"))))

    def read(path: Path) -> pa.Table:
        return pq.read_table(
            path,
            columns=list(READ_COLUMNS),
            read_dictionary=list(STRING_COLUMNS),
            filters=filters or None,
        )

    # A file that does not decode is quarantined and the day built from the others.
    tables = [table for _path, table in quarantine.read_each(files, read)]
    if not tables:
        return EVENT_SCHEMA.empty_table().select(list(READ_COLUMNS))
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables).unify_dictionaries()
    if any(column.num_chunks > 1 for column in table.columns):
        table = table.unify_dictionaries().combine_chunks()
    if not _sorted(table):
        # Several files of one day (or a file written out of order): merge them.
        table = table.take(
            pc.sort_indices(table, [("visitor_id", "ascending"), ("ts", "ascending")])
        )
    return table


def _sorted(table: pa.Table) -> bool:
    visitor = table.column("visitor_id").to_numpy()
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    up = visitor[1:] > visitor[:-1]
    same = visitor[1:] == visitor[:-1]
    return bool(np.all(up | (same & (ts[1:] >= ts[:-1]))))


def _encoded(column: pa.ChunkedArray, strings: Strings) -> tuple[np.ndarray, np.ndarray]:
    """(site code of each dictionary entry, dictionary index of each row)."""
    if column.num_chunks == 0:
        return _ints(1), _ints(0)
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    lookup = strings.encode(array.dictionary.to_pylist())
    return (lookup if len(lookup) else _ints(1)), array.indices.to_numpy(zero_copy_only=False)


def _per_row(lookup: np.ndarray, indices: np.ndarray) -> np.ndarray:
    # A column with one value in the day (the hostname, usually) needs no gather.
    if len(lookup) == 1:
        return np.full(len(indices), lookup[0], lookup.dtype)
    return lookup[indices]


def narrow(values: np.ndarray) -> np.ndarray:
    """The same integers in int16 when they fit (codes, counts): halves the cache."""
    if not len(values) or (values.min() >= -(1 << 15) and values.max() < (1 << 15)):
        return values.astype(np.int16)
    return values.astype(np.int32)


def _ints(n: int) -> np.ndarray:
    return np.zeros(n, np.int32)


# -- cache ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayKey:
    events_dir: Path
    site_id: int
    day: dt.date
    files: tuple[tuple[str, int, int], ...]  # (path, mtime_ns, size)


class DayCache:
    """LRU of built days, bounded by their bytes; one build per key at a time."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._days: OrderedDict[DayKey, Day] = OrderedDict()
        self._bytes = 0
        self._strings: dict[tuple[Path, int], Strings] = {}
        self._lock = threading.Lock()
        self._building: dict[DayKey, threading.Lock] = {}

    def strings(self, events_dir: Path, site_id: int) -> Strings:
        with self._lock:
            return self._strings.setdefault((events_dir, site_id), Strings())

    def get(self, key: DayKey, files: Sequence[Path]) -> Day:
        with self._lock:
            day = self._days.get(key)
            if day is not None:
                self._days.move_to_end(key)
                return day
            building = self._building.setdefault(key, threading.Lock())
        try:
            with building:  # a second request for the same day waits for the first build
                with self._lock:
                    day = self._days.get(key)
                if day is None:
                    day = build_day(files, self.strings(key.events_dir, key.site_id))
                    self._put(key, day)
        finally:
            with self._lock:
                self._building.pop(key, None)
        return day

    def _put(self, key: DayKey, day: Day) -> None:
        with self._lock:
            # An older version of the same partition is never asked for again.
            partition = (key.events_dir, key.site_id, key.day)
            stale = [k for k in self._days if (k.events_dir, k.site_id, k.day) == partition]
            for k in stale:
                self._bytes -= self._days.pop(k).nbytes
            self._days[key] = day
            self._bytes += day.nbytes
            while self._bytes > self.max_bytes and len(self._days) > 1:
                _, evicted = self._days.popitem(last=False)
                self._bytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._days.clear()
            self._bytes = 0
            self._strings.clear()

    @property
    def nbytes(self) -> int:
        return self._bytes


def day_key(events_dir: Path, site_id: int, day: dt.date, files: Iterable[Path]) -> DayKey:
    stats = []
    for path in files:
        stat = path.stat()
        stats.append((str(path), stat.st_mtime_ns, stat.st_size))
    return DayKey(events_dir, site_id, day, tuple(stats))
