"""Sessionising: one UTC day of one site's events turned into visits and hits.

Visitor ids rotate at 00:00 UTC, so each partition (``site_id=<id>/date=<day>``) is
sessionised on its own: a new visit where the visitor changes or the gap reaches 30
minutes. :func:`build_day` does it in one vectorised numpy pass (files are sorted by
(visitor_id, ts), so no window sort); compaction persists the result as the day's
visits files (:mod:`pagepulse.lake.visits`) and the query layer reads those back, or
builds a day here itself when they are missing or stale (:mod:`pagepulse.query.days`).

A visit across midnight is counted once (docs/lake.md, "Visits across midnight"): a
visit of day D+1 whose first event carries a ``prev_visitor_id`` that is a visitor of
day D seen less than 30 minutes earlier *continues* that visitor's last visit of day
D, unless that one itself started with a ``prev_visitor_id`` (a visit crosses one
midnight at most). Building day D+1 therefore takes day D's :class:`Tail`; the
continuing visits leave D+1's visits for its :class:`Continuations`, and
:func:`continued` adds them to day D's visits (pageviews, events, duration, exit page,
hits under D's visitor).

Strings never travel: every string column is read dictionary-encoded and its values
are numbered once per site (:class:`Strings`), so visits carry int codes.

"Distinct visitors" never needs a distinct count: a visit carries, per attribute, a
flag "first visit of its visitor with this value" (and a hit row "first row of its
visitor with this page / event name"), so visitors are a plain SUM of the flag.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pagepulse.lake import quarantine
from pagepulse.lake.schema import EVENT_SCHEMA

SESSION_GAP_US = 30 * 60 * 1_000_000
US_PER_DAY = 86_400_000_000
PAGEVIEW = "pageview"

# Visit attribute -> the event column of the visit's first event it is taken from.
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
PREVIOUS_ID = "prev_visitor_id"
READ_COLUMNS = ("visitor_id", "ts", PREVIOUS_ID, *STRING_COLUMNS)
TAIL_COLUMNS = ("visitor_id", "ts", PREVIOUS_ID)


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

    visit: np.ndarray  # int32 row of the visit in Day (or in Continuations)
    name: np.ndarray
    pathname: np.ndarray
    hostname: np.ndarray
    count: np.ndarray  # events in the run
    first: np.ndarray  # bool: the visitor's first row with this key (whole day)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in vars(self).values())

    def key(self, of: str) -> np.ndarray:
        return self.pathname if of == "pathname" else self.name

    def take(self, rows: np.ndarray) -> Hits:
        return Hits(**{name: values[rows] for name, values in vars(self).items()})

    @classmethod
    def empty(cls) -> Hits:
        ints = np.zeros(0, np.int32)
        return cls(ints, ints, ints, ints, ints, np.zeros(0, bool))


@dataclass(frozen=True, eq=False)
class Tail:
    """The visits of a day that a visit of the next day may continue: each visitor's
    last visit when it ended less than 30 minutes before midnight and did not itself
    start with a ``prev_visitor_id``. Sorted by visitor id."""

    visitor_id: np.ndarray  # uint64
    end_us: np.ndarray  # int64: the visit's last event

    @classmethod
    def of(
        cls,
        visitor_id: np.ndarray,
        end_us: np.ndarray,
        early: np.ndarray,
        day: dt.date,
    ) -> Tail:
        # A visitor's visits never overlap and are 30 minutes apart: the one visit
        # ending in the day's last 30 minutes is its last.
        keep = (end_us >= day_start_us(day) + US_PER_DAY - SESSION_GAP_US) & ~early
        ids, ends = visitor_id[keep], end_us[keep]
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], ends[order])

    def continued_by(self, previous_id: np.ndarray, first_us: np.ndarray) -> np.ndarray:
        """Per visit (its first event's previous-day id and time): does it continue one?"""
        if not len(self.visitor_id) or not len(previous_id):
            return np.zeros(len(previous_id), bool)
        at = np.minimum(np.searchsorted(self.visitor_id, previous_id), len(self.visitor_id) - 1)
        gap = first_us - self.end_us[at]
        return (self.visitor_id[at] == previous_id) & (gap >= 0) & (gap < SESSION_GAP_US)

    @property
    def nbytes(self) -> int:
        return self.visitor_id.nbytes + self.end_us.nbytes

    @classmethod
    def empty(cls) -> Tail:
        return cls(np.zeros(0, np.uint64), np.zeros(0, np.int64))


@dataclass(frozen=True, eq=False)
class Continuations:
    """Visits of a day that continue a visit of the previous day, with their own
    numbers; they belong to that visit (:func:`continued`), not to this day."""

    target: np.ndarray  # uint64: the previous day's visitor id (their prev_visitor_id)
    visitor_id: np.ndarray  # uint64: their own (this day's) visitor id
    start_us: np.ndarray
    duration_us: np.ndarray
    pageviews: np.ndarray
    custom_events: np.ndarray
    attributes: dict[str, np.ndarray]  # ATTRIBUTES -> codes, of their own events
    pages: Hits  # visit = row here
    custom: Hits

    def __len__(self) -> int:
        return len(self.target)

    @property
    def nbytes(self) -> int:
        arrays = [self.target, self.visitor_id, self.start_us, self.duration_us,
                  self.pageviews, self.custom_events, *self.attributes.values()]  # fmt: skip
        return sum(a.nbytes for a in arrays) + self.pages.nbytes + self.custom.nbytes


@dataclass(frozen=True, eq=False)
class Day:
    """One UTC day of one site, sessionised. Visit rows are in (visitor_id, start) order
    and hold the visits that start this day (not the continuations of yesterday's)."""

    visitor_id: np.ndarray  # uint64
    visitor: np.ndarray  # int32 visitor number (ascending with visitor_id)
    new_visitor: np.ndarray  # bool: first visit of its visitor
    start_us: np.ndarray  # int64 UTC epoch microseconds
    duration_us: np.ndarray  # int64
    pageviews: np.ndarray  # int32
    custom_events: np.ndarray  # int32
    attributes: dict[str, np.ndarray]  # ATTRIBUTES -> int codes
    # ATTRIBUTES -> bool (whole day, see module doc); absent where it equals new_visitor.
    first_with: dict[str, np.ndarray]
    pages: Hits
    custom: Hits
    previous_id: np.ndarray  # uint64: the first event's prev_visitor_id (0 without one)
    early: np.ndarray  # bool: the first event carries a prev_visitor_id
    tail: Tail
    continuations: Continuations
    # visitor_id is ascending from this row on, and every visit a visit of the next day
    # may continue is there (0 for a day built here: all rows are in visitor_id order;
    # a visits file puts the day's tail last).
    sorted_from: int = 0
    # Results derived from the whole day alone.
    memo: dict[Any, Any] = field(default_factory=dict)

    @property
    def visits(self) -> int:
        return len(self.start_us)

    @property
    def nbytes(self) -> int:
        arrays = [
            self.visitor_id,
            self.visitor,
            self.new_visitor,
            self.start_us,
            self.duration_us,
            self.pageviews,
            self.custom_events,
            self.previous_id,
            self.early,
            *self.attributes.values(),
            *self.first_with.values(),
        ]
        parts = (self.pages, self.custom, self.tail, self.continuations)
        return sum(a.nbytes for a in arrays) + sum(part.nbytes for part in parts)


def day_start_us(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * US_PER_DAY


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


def new_visitors(visitor: np.ndarray) -> np.ndarray:
    """True on each visitor's first row (rows grouped by visitor)."""
    new = np.ones(len(visitor), bool)
    np.not_equal(visitor[1:], visitor[:-1], out=new[1:])
    return new


def build_day(
    files: Sequence[Path],
    strings: Strings,
    day: dt.date,
    *,
    previous: Tail | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Day:
    """Sessionise one UTC day's files (only events in [since, until) when given).

    ``previous`` is the previous day's :class:`Tail` (None: nothing to continue).
    """
    table = _read(files, since, until)
    n = table.num_rows
    visitor_id = table.column("visitor_id").to_numpy()
    ts = table.column("ts").cast(pa.int64()).to_numpy()

    new_visitor_row = new_visitors(visitor_id)
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

    previous_ids = table.column(PREVIOUS_ID)
    early = pc.is_valid(previous_ids).to_numpy()[starts]
    previous_id = previous_ids.fill_null(0).to_numpy()[starts].astype(np.uint64)
    visit_ids, start_us, end_us = visitor_id[starts], ts[starts], ts[ends]
    continues = np.zeros(len(starts), bool)
    if previous is not None and early.any():
        continues = early & previous.continued_by(previous_id, start_us)
        continues &= _first_per_target(continues, previous_id, start_us)

    # The continuing visits leave the day: everything below is over the others.
    kept = np.flatnonzero(~continues)
    moved = np.flatnonzero(continues)
    index_of_visit = np.full(len(starts), -1, np.int32)
    index_of_visit[kept] = np.arange(len(kept), dtype=np.int32)
    index_of_visit[moved] = np.arange(len(moved), dtype=np.int32)
    row_moves = continues[visit_of_row]
    rows = np.arange(n)
    new_visit_of_row = index_of_visit[visit_of_row]

    def hits(selected: np.ndarray, key: str) -> Hits:
        return _hits(rows[selected], codes, new_visit_of_row, visitor_of_row, key)

    new_visitor = new_visitors(visit_ids[kept])
    visitor = (np.cumsum(new_visitor) - 1).astype(np.int32)
    kept_attributes = {name: values[kept] for name, values in attributes.items()}
    flags = {name: first_with(visitor, attribute_key(kept_attributes, name)) for name in ATTRIBUTES}
    return Day(
        visitor_id=visit_ids[kept],
        visitor=visitor,
        new_visitor=new_visitor,
        start_us=start_us[kept],
        duration_us=(end_us - start_us)[kept],
        pageviews=pageviews[kept],
        custom_events=(sizes - pageviews)[kept],
        attributes=kept_attributes,
        # Country, browser, OS and device are fixed for a visitor's day (its id hashes
        # IP and user agent): those flags are new_visitor itself and are not stored.
        first_with={
            name: flag for name, flag in flags.items() if not np.array_equal(flag, new_visitor)
        },
        pages=hits(is_pageview & ~row_moves, "pathname"),
        custom=hits(~is_pageview & ~row_moves, "name"),
        previous_id=previous_id[kept],
        early=early[kept],
        tail=Tail.of(visit_ids, end_us, early, day),
        continuations=Continuations(
            target=previous_id[moved],
            visitor_id=visit_ids[moved],
            start_us=start_us[moved],
            duration_us=(end_us - start_us)[moved],
            pageviews=pageviews[moved],
            custom_events=(sizes - pageviews)[moved],
            attributes={name: values[moved] for name, values in attributes.items()},
            pages=hits(is_pageview & row_moves, "pathname"),
            custom=hits(~is_pageview & row_moves, "name"),
        ),
    )


def read_tail(files: Sequence[Path], day: dt.date) -> Tail:
    """A day's :class:`Tail` from its event files, reading three columns only."""

    def read(path: Path) -> pa.Table:
        stat = path.stat()
        present = _column_names(str(path), stat.st_size, stat.st_mtime_ns)
        table = pq.read_table(path, columns=[c for c in TAIL_COLUMNS if c in present])
        if PREVIOUS_ID not in present:
            table = table.append_column(PREVIOUS_ID, pa.nulls(table.num_rows, pa.uint64()))
        return table.select(list(TAIL_COLUMNS))

    tables = [table for _path, table in quarantine.read_each(files, read)]
    if not tables:
        return Tail.empty()
    table = pa.concat_tables(tables).combine_chunks()
    if not _sorted(table):
        table = table.take(
            pc.sort_indices(table, [("visitor_id", "ascending"), ("ts", "ascending")])
        )
    visitor_id = table.column("visitor_id").to_numpy()
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    new_visit = new_visitors(visitor_id)
    new_visit[1:] |= (ts[1:] - ts[:-1]) >= SESSION_GAP_US
    starts = np.flatnonzero(new_visit)
    ends = np.append(starts[1:], len(ts)) - 1
    early = pc.is_valid(table.column(PREVIOUS_ID)).to_numpy()[starts]
    return Tail.of(visitor_id[starts], ts[ends], early, day)


def _first_per_target(
    continues: np.ndarray, previous_id: np.ndarray, start_us: np.ndarray
) -> np.ndarray:
    """Keep one continuing visit per previous-day visitor, the earliest (two visits
    naming one target only happen with imported ids)."""
    rows = np.flatnonzero(continues)
    keep = np.ones(len(continues), bool)
    if rows.size > 1:
        rows = rows[np.lexsort((start_us[rows], previous_id[rows]))]
        targets = previous_id[rows]
        repeated = np.zeros(rows.size, bool)
        repeated[1:] = targets[1:] == targets[:-1]
        keep[rows[repeated]] = False
    return keep


def continued(day: Day, continuations: Continuations) -> Day:
    """``day`` with the next day's ``continuations`` added to the visits they continue.

    A continued visit keeps its start, visitor and entry attributes; its pageviews
    and events add up, its duration runs to the continuation's last event, its exit
    page is the continuation's when that has a pageview, and the continuation's hits
    become its hits (under this day's visitor, flagged against the visitor's hits of
    this day). The continued visit is its visitor's last of the day, so no other row's
    flag changes.
    """
    if not len(continuations):
        return day
    ordered = day.visitor_id[day.sorted_from :]
    last = np.searchsorted(ordered, continuations.target, side="right") - 1
    found = (last >= 0) & (ordered[np.maximum(last, 0)] == continuations.target)
    last += day.sorted_from
    # Both days come from the same files, so every target is found; a continuation
    # whose target is missing (files changed in between) is left out of this answer.
    which = np.flatnonzero(found)
    target = last[which]
    pageviews = day.pageviews.copy()
    custom_events = day.custom_events.copy()
    duration_us = day.duration_us.copy()
    pageviews[target] += continuations.pageviews[which]
    custom_events[target] += continuations.custom_events[which]
    end_us = continuations.start_us[which] + continuations.duration_us[which]
    duration_us[target] = end_us - day.start_us[target]

    own_exit = continuations.attributes["exit_page"][which]
    exits = _widened(day.attributes["exit_page"], own_exit)
    has_exit = own_exit >= 0
    exits[target[has_exit]] = own_exit[has_exit]
    exit_first = day.first_with.get("exit_page", day.new_visitor).copy()
    for row in target:
        start = np.searchsorted(day.visitor, day.visitor[row], side="left")
        exit_first[row] = not np.any(exits[start:row] == exits[row])
    first_with = dict(day.first_with)
    first_with["exit_page"] = exit_first
    attributes = {**day.attributes, "exit_page": exits}

    visit_of = np.full(len(continuations), -1, np.int64)
    visit_of[which] = target
    return replace(
        day,
        pageviews=pageviews,
        custom_events=custom_events,
        duration_us=duration_us,
        attributes=attributes,
        first_with=first_with,
        pages=_with_hits(day.pages, day.visitor, continuations.pages, visit_of, "pathname"),
        custom=_with_hits(day.custom, day.visitor, continuations.custom, visit_of, "name"),
        memo={},
    )


def visitors_only(day: Day, visitor_ids: np.ndarray) -> Day:
    """The visits (and hits) of the given visitors alone, as a day of their own: their
    flags are theirs alone (a visitor's flags depend on that visitor's visits only),
    so its sums are exactly those visitors' share of the day's."""
    keep = np.isin(day.visitor_id, visitor_ids)
    rows = np.flatnonzero(keep)
    number = np.full(day.visits, -1, np.int32)
    number[rows] = np.arange(rows.size, dtype=np.int32)

    def hits(of: Hits) -> Hits:
        kept = of.take(np.flatnonzero(keep[of.visit]))
        return replace(kept, visit=number[kept.visit])

    visitor_id = day.visitor_id[rows]
    return Day(
        visitor_id=visitor_id,
        visitor=(np.cumsum(new_visitors(visitor_id)) - 1).astype(np.int32),
        new_visitor=day.new_visitor[rows],
        start_us=day.start_us[rows],
        duration_us=day.duration_us[rows],
        pageviews=day.pageviews[rows],
        custom_events=day.custom_events[rows],
        attributes={name: values[rows] for name, values in day.attributes.items()},
        first_with={name: flags[rows] for name, flags in day.first_with.items()},
        pages=hits(day.pages),
        custom=hits(day.custom),
        previous_id=day.previous_id[rows],
        early=day.early[rows],
        tail=Tail.empty(),
        continuations=_no_continuations(day),
        sorted_from=0 if day.sorted_from == 0 or not rows.size else _sorted_start(day, rows),
    )


def _sorted_start(day: Day, rows: np.ndarray) -> int:
    """Where ``day.sorted_from`` falls among the kept ``rows``."""
    return int(np.searchsorted(rows, day.sorted_from))


def _no_continuations(day: Day) -> Continuations:
    cont = day.continuations
    empty = np.zeros(0, np.int64)
    return Continuations(
        target=cont.target[:0],
        visitor_id=cont.visitor_id[:0],
        start_us=empty,
        duration_us=empty,
        pageviews=cont.pageviews[:0],
        custom_events=cont.custom_events[:0],
        attributes={name: values[:0] for name, values in cont.attributes.items()},
        pages=Hits.empty(),
        custom=Hits.empty(),
    )


def _with_hits(
    hits: Hits, day_visitor: np.ndarray, extra: Hits, visit_of: np.ndarray, key: str
) -> Hits:
    """``hits`` plus ``extra`` (a continuation's) as hits of the visits ``visit_of``
    names, each inserted after its visitor's rows of the same key (or after the
    visitor's rows), so rows of one (visitor, key) stay together."""
    visits = visit_of[extra.visit]
    rows = np.flatnonzero(visits >= 0)
    if rows.size == 0:
        return hits
    hit_visitor = day_visitor[hits.visit]
    keys = hits.key(key)
    extra_keys = extra.key(key)
    positions = np.empty(rows.size, np.int64)
    first = np.empty(rows.size, bool)
    seen: set[tuple[int, int]] = set()
    for i, row in enumerate(rows):
        visitor = day_visitor[visits[row]]
        code = extra_keys[row]
        low = np.searchsorted(hit_visitor, visitor, side="left")
        high = np.searchsorted(hit_visitor, visitor, side="right")
        same = np.flatnonzero(keys[low:high] == code)
        positions[i] = low + same[-1] + 1 if same.size else high
        first[i] = not same.size and (visitor, code) not in seen
        seen.add((visitor, code))
    added = {
        "visit": visits[rows],
        "name": extra.name[rows],
        "pathname": extra.pathname[rows],
        "hostname": extra.hostname[rows],
        "count": extra.count[rows],
        "first": first,
    }
    columns = {}
    for name, values in vars(hits).items():
        new = added[name]
        kind = np.result_type(values.dtype, new.dtype) if name != "first" else bool
        columns[name] = np.insert(values.astype(kind, copy=False), positions, new.astype(kind))
    return Hits(**columns)


def _widened(values: np.ndarray, other: np.ndarray) -> np.ndarray:
    """A copy of ``values`` in a dtype that also holds ``other``."""
    return values.astype(np.result_type(values.dtype, other.dtype))


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
    change = np.zeros(len(rows), bool)
    change[:1] = True
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
        stat = path.stat()
        present = _column_names(str(path), stat.st_size, stat.st_mtime_ns)
        table = pq.read_table(
            path,
            columns=[c for c in READ_COLUMNS if c in present],
            read_dictionary=list(STRING_COLUMNS),
            filters=filters or None,
        )
        if PREVIOUS_ID not in present:  # written before the column existed
            table = table.add_column(2, PREVIOUS_ID, pa.nulls(table.num_rows, pa.uint64()))
        return table.select(list(READ_COLUMNS))

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


@lru_cache(maxsize=4096)
def _column_names(path: str, _size: int, _mtime_ns: int) -> frozenset[str]:
    return frozenset(pq.read_schema(path).names)


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
