"""A sessionised day as the three tables of its derived files, and back.

* **visits**: one row per visit, in three blocks, each its own row group: the visits of
  visitors that no visit of the next day can continue, then those of the day's
  :class:`~pagepulse.lake.sessions.Tail` visitors (their last visit ended in the last
  30 minutes), then the day's continuations of the previous day's visits. Within a
  block, rows are in (visitor_id, start) order. A reader takes only the blocks it
  needs: the tail and the continuations are a few hundred rows.
* **visit events**: the :class:`~pagepulse.lake.sessions.Hits` of those visits, in the
  same three blocks (``visit`` is the visit's row in the visits table).
* **groups**: the day's own sums per dimension value (:mod:`pagepulse.lake.day_sums`),
  so that a dashboard adds up a day without touching its visits.

Codes are turned into strings when written and into the reader's site codes when read.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pagepulse.lake import quarantine
from pagepulse.lake.day_sums import GROUP_SCHEMA, day_groups
from pagepulse.lake.sessions import (
    ATTRIBUTES,
    PAGEVIEW,
    Continuations,
    Day,
    Hits,
    Strings,
    Tail,
    new_visitors,
)

# Visit attributes are stored as text under their names. Their "first visit of the
# visitor with this value" flags and ``new_visitor`` share one int column: bit 0 is
# new_visitor, bit 1 + i the flag of ATTRIBUTES[i] (a few dozen distinct values a day,
# so the column's dictionary makes it nearly free; sixteen boolean columns were not).
NEW_VISITOR_BIT = 1
FLAG_BITS: dict[str, int] = {name: 1 << (1 + i) for i, name in enumerate(ATTRIBUTES)}
EVENT_TEXT = ("name", "pathname", "hostname")
TEXT_COLUMNS = (*ATTRIBUTES, *EVENT_TEXT, "dimension", "parent", "value")
REST, TAIL, CONTINUED = 0, 1, 2  # the blocks
MINUTE_COLUMNS = ["start", "duration_us", "pageviews", "custom_events", "flags"]


# A day with fewer visits is written in one row group and without a groups file: its
# few rows are read whole (cheaper than the footers of three row groups and a file).
SPLIT_VISITS = 20_000


@dataclass(frozen=True, slots=True)
class Blocks:
    """Rows per block (REST, TAIL, CONTINUED) of the visits and visit-events tables;
    ``split``: each non-empty block is a row group of its own, and the day has a
    groups file."""

    visits: tuple[int, int, int]
    events: tuple[int, int, int]
    split: bool = True

    def to_json(self) -> bytes:
        return json.dumps(
            {"visits": self.visits, "visit_events": self.events, "split": self.split}
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Blocks:
        data = json.loads(raw)
        return cls(tuple(data["visits"]), tuple(data["visit_events"]), data["split"])  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DayFiles:
    """A day's derived files and their blocks (``groups``: None for a small day)."""

    visits: Path
    visit_events: Path
    groups: Path | None
    blocks: Blocks


@dataclass(frozen=True, eq=False)
class MinuteInputs:
    """What a day's per-minute sums need of its visits (``minutes.day_minutes``): rows
    grouped by visitor in start order, so ``new_visitor`` marks where one begins."""

    new_visitor: np.ndarray
    start_us: np.ndarray
    duration_us: np.ndarray
    pageviews: np.ndarray
    custom_events: np.ndarray

    @property
    def visits(self) -> int:
        return len(self.start_us)


# -- writing ---------------------------------------------------------------------------


def day_tables(day: Day, strings: Strings) -> tuple[pa.Table, pa.Table, pa.Table | None, Blocks]:
    """(visits, visit events, groups or None for a small day, blocks) of a day built
    from its events."""
    values = np.array(strings.values() or [""], dtype=object)
    is_tail = np.isin(day.visitor_id, day.tail.visitor_id)
    order = np.concatenate([np.flatnonzero(~is_tail), np.flatnonzero(is_tail)])
    position = np.empty(day.visits, np.int32)
    position[order] = np.arange(day.visits, dtype=np.int32)
    cont = day.continuations
    n, m = day.visits, len(cont)

    flags = day.new_visitor.astype(np.int32) * NEW_VISITOR_BIT
    for name, bit in FLAG_BITS.items():
        flags |= day.first_with.get(name, day.new_visitor).astype(np.int32) * bit
    columns: dict[str, pa.Array] = {
        "visitor_id": pa.array(np.concatenate([day.visitor_id[order], cont.visitor_id])),
        "start": pa.array(
            np.concatenate([day.start_us[order], cont.start_us]), pa.timestamp("us", tz="UTC")
        ),
        "duration_us": pa.array(np.concatenate([day.duration_us[order], cont.duration_us])),
        "pageviews": pa.array(np.concatenate([day.pageviews[order], cont.pageviews]), pa.int32()),
        "custom_events": pa.array(
            np.concatenate([day.custom_events[order], cont.custom_events]), pa.int32()
        ),
    }
    for name in ATTRIBUTES:
        codes = np.concatenate([day.attributes[name][order], cont.attributes[name]])
        columns[name] = _text(codes, values)
    previous = np.concatenate([day.previous_id[order], cont.target])
    early = np.concatenate([day.early[order], np.ones(m, bool)])
    columns["prev_visitor_id"] = pa.array(previous, pa.uint64(), mask=~early)
    columns["continues"] = pa.array(np.concatenate([np.zeros(n, bool), np.ones(m, bool)]))
    columns["flags"] = pa.array(np.concatenate([flags[order], np.zeros(m, np.int32)]))
    visits = pa.table(columns)

    parts: list[tuple[Hits, np.ndarray]] = []
    sizes = []
    for block in (~is_tail, is_tail):
        size = 0
        for hits in (day.pages, day.custom):
            rows = np.flatnonzero(block[hits.visit])
            parts.append((hits.take(rows), position[hits.visit[rows]]))
            size += rows.size
        sizes.append(size)
    for hits in (cont.pages, cont.custom):
        parts.append((hits, hits.visit.astype(np.int32) + n))
    sizes.append(len(cont.pages.visit) + len(cont.custom.visit))
    events = pa.table(
        {
            "visit": pa.array(np.concatenate([visit for _, visit in parts]).astype(np.int32)),
            **{
                column: _text(np.concatenate([getattr(h, column) for h, _ in parts]), values)
                for column in EVENT_TEXT
            },
            "count": pa.array(np.concatenate([h.count for h, _ in parts]).astype(np.int32)),
            "first": pa.array(np.concatenate([h.first for h, _ in parts])),
        }
    )
    tail = int(is_tail.sum())
    split = n >= SPLIT_VISITS
    blocks = Blocks((n - tail, tail, m), (sizes[0], sizes[1], sizes[2]), split)
    groups = _group_table(day_groups(day), values) if split else None
    return visits, events, groups, blocks


def _group_table(groups: pa.RecordBatch, values: np.ndarray) -> pa.Table:
    """Sums with strings for codes (NULL: no parent, or no exit page)."""
    return pa.table(
        {
            "dimension": groups.column("dimension").dictionary_encode(),
            "parent": _text(groups.column("parent").to_numpy(), values),
            "value": _text(groups.column("code").to_numpy(), values),
            **{name: groups.column(name) for name in GROUP_SCHEMA.names[3:]},
        }
    )


def _text(codes: np.ndarray, values: np.ndarray) -> pa.DictionaryArray:
    """Site string codes as a dictionary array of just the strings used (-1: NULL)."""
    shifted = codes.astype(np.int64) + 1  # -1 (no value) -> 0
    used = np.flatnonzero(np.bincount(shifted, minlength=1))
    position = np.zeros(used[-1] + 1 if len(used) else 1, np.int32)
    position[used] = np.arange(len(used), dtype=np.int32)
    indices = position[shifted]
    has_null = bool(len(used)) and used[0] == 0
    if has_null:
        used, indices = used[1:], indices - 1
    dictionary = pa.array(values[used - 1].tolist(), pa.string())
    mask = shifted == 0 if has_null else None
    return pa.DictionaryArray.from_arrays(pa.array(indices, mask=mask), dictionary)


# -- reading ---------------------------------------------------------------------------


def read_day(files: DayFiles, strings: Strings) -> Day:
    """The whole day (every block) as it was built."""
    blocks = files.blocks
    visits = _Visits(_visit_rows(files, (REST, TAIL, CONTINUED)), strings)
    events = _event_rows(files, (REST, TAIL, CONTINUED))
    n = blocks.visits[REST] + blocks.visits[TAIL]
    own = np.arange(events.num_rows) < blocks.events[REST] + blocks.events[TAIL]
    is_page = _is_page(events, strings)
    day = visits.day(
        n,
        _hits(events, strings, own & is_page, 0),
        _hits(events, strings, own & ~is_page, 0),
        sorted_from=blocks.visits[REST],
        tail=Tail.of(visits.visitor_id, visits.end_us, visits.early, _date(files.visits)),
    )
    return _with(
        day,
        visits.continuations(
            n,
            _hits(events, strings, ~own & is_page, n),
            _hits(events, strings, ~own & ~is_page, n),
        ),
    )


def read_tail_day(files: DayFiles, strings: Strings) -> Day:
    """Only the visits of the day's tail visitors (those a visit of the next day may
    continue), as a day of their own: their sums are theirs alone, since a visitor's
    flags depend on that visitor's visits only."""
    blocks = files.blocks
    visits = _Visits(_visit_rows(files, (TAIL,)), strings)
    events = _event_rows(files, (TAIL,))
    is_page = _is_page(events, strings)
    offset = blocks.visits[REST]
    return visits.day(
        visits.rows,
        _hits(events, strings, is_page, offset),
        _hits(events, strings, ~is_page, offset),
        sorted_from=0,
        tail=Tail.empty(),
    )


def read_continuations(files: DayFiles, strings: Strings) -> Continuations:
    """The day's visits that continue one of the previous day."""
    blocks = files.blocks
    visits = _Visits(_visit_rows(files, (CONTINUED,)), strings)
    events = _event_rows(files, (CONTINUED,))
    is_page = _is_page(events, strings)
    offset = blocks.visits[REST] + blocks.visits[TAIL]
    return visits.continuations(
        0, _hits(events, strings, is_page, offset), _hits(events, strings, ~is_page, offset)
    )


def read_minute_inputs(files: DayFiles) -> MinuteInputs:
    """The day's visits' times, counts and new-visitor flags (five columns)."""
    table = _visit_rows(files, (REST, TAIL), MINUTE_COLUMNS)
    flags = table.column("flags").to_numpy()
    return MinuteInputs(
        new_visitor=(flags & NEW_VISITOR_BIT) != 0,
        start_us=table.column("start").cast(pa.int64()).to_numpy(),
        duration_us=table.column("duration_us").to_numpy(),
        pageviews=table.column("pageviews").to_numpy(),
        custom_events=table.column("custom_events").to_numpy(),
    )


def read_groups(files: DayFiles, strings: Strings) -> pa.RecordBatch:
    """The day's own sums per dimension value, in this site's codes (a day with a
    groups file)."""
    assert files.groups is not None, files
    table = _read_whole(files.groups)
    return pa.RecordBatch.from_arrays(
        [
            table.column("dimension").cast(pa.string()).combine_chunks(),
            pa.array(_codes(table.column("parent"), strings).astype(np.int32)),
            pa.array(_codes(table.column("value"), strings).astype(np.int32)),
            *(table.column(name).combine_chunks() for name in GROUP_SCHEMA.names[3:]),
        ],
        schema=GROUP_SCHEMA,
    )


class _Visits:
    """The columns of (some blocks of) a visits table as arrays, in ``strings`` codes."""

    def __init__(self, table: pa.Table, strings: Strings) -> None:
        self.rows = table.num_rows
        self.visitor_id = table.column("visitor_id").to_numpy()
        self.start_us = table.column("start").cast(pa.int64()).to_numpy()
        self.duration_us = table.column("duration_us").to_numpy()
        self.end_us = self.start_us + self.duration_us
        self.pageviews = table.column("pageviews").to_numpy()
        self.custom_events = table.column("custom_events").to_numpy()
        self.attributes = {name: _codes(table.column(name), strings) for name in ATTRIBUTES}
        previous = table.column("prev_visitor_id")
        self.early = pc.is_valid(previous).to_numpy(zero_copy_only=False)
        self.previous_id = previous.fill_null(0).to_numpy().astype(np.uint64)
        self.flags = table.column("flags").to_numpy()

    def day(self, n: int, pages: Hits, custom: Hits, *, sorted_from: int, tail: Tail) -> Day:
        """The first ``n`` rows (the day's own visits) as a day without continuations."""
        flags = self.flags[:n]
        new_visitor = (flags & NEW_VISITOR_BIT) != 0
        first_with = {}
        for name, bit in FLAG_BITS.items():
            flag = (flags & bit) != 0
            if not np.array_equal(flag, new_visitor):
                first_with[name] = flag
        visitor_id = self.visitor_id[:n]
        return Day(
            visitor_id=visitor_id,
            visitor=(np.cumsum(new_visitors(visitor_id)) - 1).astype(np.int32),
            new_visitor=new_visitor,
            start_us=self.start_us[:n],
            duration_us=self.duration_us[:n],
            pageviews=self.pageviews[:n],
            custom_events=self.custom_events[:n],
            attributes={name: values[:n] for name, values in self.attributes.items()},
            first_with=first_with,
            pages=pages,
            custom=custom,
            previous_id=self.previous_id[:n],
            early=self.early[:n],
            tail=tail,
            continuations=self.continuations(n, Hits.empty(), Hits.empty()),
            sorted_from=sorted_from,
        )

    def continuations(self, n: int, pages: Hits, custom: Hits) -> Continuations:
        """Rows from ``n`` on, as continuations."""
        return Continuations(
            target=self.previous_id[n:],
            visitor_id=self.visitor_id[n:],
            start_us=self.start_us[n:],
            duration_us=self.duration_us[n:],
            pageviews=self.pageviews[n:],
            custom_events=self.custom_events[n:],
            attributes={name: values[n:] for name, values in self.attributes.items()},
            pages=pages,
            custom=custom,
        )


def _with(day: Day, continuations: Continuations) -> Day:
    return replace(day, continuations=continuations)


def _is_page(events: pa.Table, strings: Strings) -> np.ndarray:
    return _codes(events.column("name"), strings) == strings.encode([PAGEVIEW])[0]


def _hits(events: pa.Table, strings: Strings, rows: np.ndarray, offset: int) -> Hits:
    """The rows (a mask) of a visit-events table as :class:`Hits`, visits counted from
    ``offset``."""
    part = events.filter(pa.array(rows))
    return Hits(
        visit=(part.column("visit").to_numpy() - offset).astype(np.int32),
        name=_codes(part.column("name"), strings),
        pathname=_codes(part.column("pathname"), strings),
        hostname=_codes(part.column("hostname"), strings),
        count=part.column("count").to_numpy(),
        first=part.column("first").to_numpy(zero_copy_only=False),
    )


def _date(path: Path) -> dt.date:
    return dt.date.fromisoformat(path.parent.name.removeprefix("date="))


def _visit_rows(
    files: DayFiles, blocks: tuple[int, ...], columns: list[str] | None = None
) -> pa.Table:
    return _read(files.visits, files.blocks.visits, blocks, columns, split=files.blocks.split)


def _event_rows(files: DayFiles, blocks: tuple[int, ...]) -> pa.Table:
    return _read(files.visit_events, files.blocks.events, blocks, split=files.blocks.split)


def _read(
    path: Path,
    sizes: tuple[int, ...],
    blocks: tuple[int, ...],
    columns: list[str] | None = None,
    *,
    split: bool,
) -> pa.Table:
    """The given (consecutive) blocks of a derived file: their row groups when each
    block is one, else the file's rows sliced."""
    text = [c for c in (ATTRIBUTES if path.name.startswith("visits-") else EVENT_TEXT)
            if not columns or c in columns]  # fmt: skip
    first, last = blocks[0], blocks[-1]
    start, stop = sum(sizes[:first]), sum(sizes[: last + 1])

    def read(p: Path) -> pa.Table:
        parquet = pq.ParquetFile(p, read_dictionary=text)
        if start == stop:
            schema = parquet.schema_arrow
            return schema.empty_table().select(columns or schema.names)
        if not split:
            return parquet.read(columns=columns).slice(start, stop - start)
        groups = [sum(1 for size in sizes[:block] if size) for block in blocks if sizes[block]]
        return parquet.read_row_groups(groups, columns=columns)

    done = quarantine.read_each([path], read)
    if not done:
        raise FileNotFoundError(f"{path} was set aside as damaged")
    return done[0][1].combine_chunks()


def _read_whole(path: Path) -> pa.Table:
    # ParquetFile, not read_table: the latter loads pyarrow.dataset (~0.3 s) on first use.
    done = quarantine.read_each(
        [path], lambda p: pq.ParquetFile(p, read_dictionary=["dimension", "parent", "value"]).read()
    )
    if not done:
        raise FileNotFoundError(f"{path} was set aside as damaged")
    return done[0][1]


def _codes(column: pa.ChunkedArray, strings: Strings) -> np.ndarray:
    """Site codes of a text column (-1 for NULL)."""
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    lookup = strings.encode(array.dictionary.to_pylist())
    indices = array.indices.fill_null(0).to_numpy()
    if not len(lookup):
        return np.full(len(indices), -1, np.int16)
    codes = lookup[indices]
    if array.null_count:
        codes = np.where(pc.is_valid(array).to_numpy(zero_copy_only=False), codes, -1)
    return _narrow(codes)


def _narrow(values: np.ndarray) -> np.ndarray:
    if not len(values) or (values.min() >= -(1 << 15) and values.max() < (1 << 15)):
        return values.astype(np.int16)
    return values.astype(np.int32)
