"""Derived partitions: each UTC day's visits, computed once at compaction.

``data/visits/site_id=<id>/date=<day>/visits-<id>.parquet`` holds one row per visit
that starts that day (and, last, the day's visits that continue one of the previous
day), and ``data/visit_events/site_id=<id>/date=<day>/visit-events-<id>.parquet`` (the
same ``<id>``) one row per run of a visit's events with the same (name, pathname,
hostname). Both are :func:`pagepulse.lake.sessions.build_day`'s result, written
with codes turned back into strings; the query layer reads them back instead of
sessionising the day's events (docs/lake.md, "Visits").

A day's visits depend on its events and on the previous day's (which visits continue
one of the previous day): the visits file names the live event files of both days
in its footer (``pagepulse.sources``), and :func:`fresh_visits` accepts it only
while those are still the live files. A day with new appends, compacted again or
re-imported is stale until the next compaction run rebuilds it; readers fall back
to the events meanwhile.

Publishing follows the events' rules (``layout.publish_table``): the visit-events
file first, then the visits file, whose footer names the visits files it replaces
(``pagepulse.replaces``); that rename is the one atomic step. Replaced pairs are
deleted after the compaction grace period.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pagepulse.lake import quarantine
from pagepulse.lake.layout import live_files, partition_dir, publish_table, replaced_by
from pagepulse.lake.sessions import (
    ATTRIBUTES,
    PAGEVIEW,
    Continuations,
    Day,
    Hits,
    Strings,
    Tail,
    build_day,
    new_visitors,
    read_tail,
)

VISITS_ROOT = "visits"
VISIT_EVENTS_ROOT = "visit_events"
VISITS_PREFIX = "visits-"
VISIT_EVENTS_PREFIX = "visit-events-"
SOURCES_KEY = b"pagepulse.sources"
# Bumped when what a visits file holds changes: older files are then stale.
FORMAT_KEY = b"pagepulse.visits_format"
FORMAT = "1"
DELETING_PREFIX = ".deleting-"

# Visit attributes are stored as text under their names. Their "first visit of the
# visitor with this value" flags and ``new_visitor`` share one int column: bit 0 is
# new_visitor, bit 1 + i the flag of ATTRIBUTES[i] (a few dozen distinct values a day,
# so the column's dictionary makes it nearly free; sixteen boolean columns were not).
TEXT_COLUMNS: tuple[str, ...] = ATTRIBUTES
NEW_VISITOR_BIT = 1
FLAG_BITS: dict[str, int] = {name: 1 << (1 + i) for i, name in enumerate(ATTRIBUTES)}
_EVENT_TEXT = ("name", "pathname", "hostname")

# One row group per file (a day is at most a few million visits). Visits are sorted
# by (visitor_id, start), so ids and starts delta-encode; texts, counts and flags are
# dictionaries; zstd over all. Statistics only where a reader may filter. The
# visit-events file's footer carries no Arrow schema (readers get the types from
# Parquet's own); the visits file needs it for its own metadata (the sources).
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 9,
    "use_dictionary": [*TEXT_COLUMNS, *_EVENT_TEXT, "pageviews", "custom_events", "flags", "count"],
    "column_encoding": {
        "visitor_id": "DELTA_BINARY_PACKED",
        "start": "DELTA_BINARY_PACKED",
        "visit": "DELTA_BINARY_PACKED",
    },
    "write_statistics": ["start", "visit"],
    "row_group_size": 8_000_000,
}
EVENTS_PARQUET_OPTIONS = {**PARQUET_OPTIONS, "store_schema": False}


def visits_root(events_dir: Path) -> Path:
    """``data/visits`` beside ``data/events``."""
    return events_dir.parent / VISITS_ROOT


def visit_events_root(events_dir: Path) -> Path:
    return events_dir.parent / VISIT_EVENTS_ROOT


def derived_roots(events_dir: Path) -> tuple[Path, Path]:
    return visits_root(events_dir), visit_events_root(events_dir)


def partner(visits_file: Path) -> Path:
    """The visit-events file written with a visits file (same id, sibling root)."""
    site, day = visits_file.parent.parent.name, visits_file.parent.name
    root = visits_file.parent.parent.parent.parent / VISIT_EVENTS_ROOT
    name = VISIT_EVENTS_PREFIX + visits_file.name.removeprefix(VISITS_PREFIX)
    return root / site / day / name


def sources(events_dir: Path, site_id: int, day: dt.date) -> dict[str, list[str]]:
    """The live event files a day's visits are built from: the day's and the previous
    day's (whose tail decides which of the day's visits continue one)."""
    days = (day, day - dt.timedelta(days=1))
    return {
        d.isoformat(): [p.name for p in live_files(partition_dir(events_dir, site_id, d))]
        for d in days
    }


@dataclass(frozen=True, slots=True)
class VisitsFile:
    """A day's fresh derived pair."""

    visits: Path
    visit_events: Path

    @property
    def key(self) -> tuple:
        stat = self.visits.stat()
        return ("visits", str(self.visits), stat.st_mtime_ns, stat.st_size)

    @property
    def paths(self) -> tuple[Path, Path]:
        return self.visits, self.visit_events


def live_visits(folder: Path) -> list[Path]:
    """The visits files of one partition folder that no other one replaces."""
    try:
        names = sorted(
            p.name
            for p in folder.iterdir()
            if p.name.startswith(VISITS_PREFIX) and p.suffix == ".parquet"
        )
    except FileNotFoundError:
        return []
    paths = quarantine.screen(folder / name for name in names)
    replaced: set[str] = set()
    for path in paths:
        replaced |= replaced_by(path)
    return [path for path in paths if path.name not in replaced]


def fresh_visits(
    events_dir: Path,
    site_id: int,
    day: dt.date,
    current: dict[str, list[str]] | None = None,
) -> VisitsFile | None:
    """The day's derived pair if it was built from the day's current live event
    files (``current``: :func:`sources`, when the caller has listed them), else None."""
    live = live_visits(partition_dir(visits_root(events_dir), site_id, day))
    if len(live) != 1:
        return None
    try:
        stat = live[0].stat()
        version, recorded = _footer(str(live[0]), stat.st_size, stat.st_mtime_ns)
    except (FileNotFoundError, pa.ArrowException, OSError):
        return None
    if version != FORMAT:
        return None
    if recorded != (current if current is not None else sources(events_dir, site_id, day)):
        return None
    pair = VisitsFile(live[0], partner(live[0]))
    return pair if pair.visit_events.is_file() else None


@lru_cache(maxsize=8192)
def _footer(path: str, _size: int, _mtime_ns: int) -> tuple[str | None, dict | None]:
    metadata = pq.read_metadata(path).metadata or {}
    version = metadata.get(FORMAT_KEY)
    raw = metadata.get(SOURCES_KEY)
    return (version.decode() if version else None), (json.loads(raw) if raw else None)


# -- writing ---------------------------------------------------------------------------


def write_day(events_dir: Path, site_id: int, day: dt.date) -> VisitsFile | None:
    """Build the day's visits from its live event files and publish them; None when
    the day has no events. The previous visits files of the day are replaced."""
    current = sources(events_dir, site_id, day)
    files = [partition_dir(events_dir, site_id, day) / n for n in current[day.isoformat()]]
    if not files:
        return None
    previous_day = day - dt.timedelta(days=1)
    previous_files = [
        partition_dir(events_dir, site_id, previous_day) / n
        for n in current[previous_day.isoformat()]
    ]
    strings = Strings()
    tail = read_tail(previous_files, previous_day) if previous_files else None
    built = build_day(files, strings, day, previous=tail)
    visits, events = day_tables(built, strings)
    metadata = {
        FORMAT_KEY: FORMAT.encode(),
        SOURCES_KEY: json.dumps(current, sort_keys=True).encode(),
    }
    visits = visits.replace_schema_metadata(metadata)
    folder = partition_dir(visits_root(events_dir), site_id, day)
    ident = uuid.uuid4().hex
    target = folder / f"{VISITS_PREFIX}{ident}.parquet"
    # Every visits file of the folder, live or not: one replaced by a live one that is
    # deleted first must not come back to life.
    replaces = sorted(p.name for p in folder.glob(f"{VISITS_PREFIX}*.parquet"))
    publish_table(events, partner(target), sort=False, options=EVENTS_PARQUET_OPTIONS)
    publish_table(visits, target, sort=False, replaces=replaces, options=PARQUET_OPTIONS)
    return VisitsFile(target, partner(target))


def day_tables(day: Day, strings: Strings) -> tuple[pa.Table, pa.Table]:
    """(visits, visit events) of a built day: the day's visits in (visitor_id, start)
    order, then its continuations; hits of the visits, then of the continuations."""
    values = np.array(strings.values() or [""], dtype=object)
    cont = day.continuations
    n, m = day.visits, len(cont)
    columns: dict[str, pa.Array] = {
        "visitor_id": pa.array(np.concatenate([day.visitor_id, cont.visitor_id]), pa.uint64()),
        "start": pa.array(
            np.concatenate([day.start_us, cont.start_us]), pa.timestamp("us", tz="UTC")
        ),
        "duration_us": pa.array(np.concatenate([day.duration_us, cont.duration_us])),
        "pageviews": pa.array(np.concatenate([day.pageviews, cont.pageviews]), pa.int32()),
        "custom_events": pa.array(
            np.concatenate([day.custom_events, cont.custom_events]), pa.int32()
        ),
    }
    for name in ATTRIBUTES:
        codes = np.concatenate([day.attributes[name], cont.attributes[name]])
        columns[name] = _text(codes, values)
    previous = np.concatenate([day.previous_id, cont.target])
    early = np.concatenate([day.early, np.ones(m, bool)])
    columns["prev_visitor_id"] = pa.array(previous, pa.uint64(), mask=~early)
    columns["continues"] = pa.array(np.concatenate([np.zeros(n, bool), np.ones(m, bool)]))
    flags = day.new_visitor.astype(np.int32) * NEW_VISITOR_BIT
    for name, bit in FLAG_BITS.items():
        flags |= day.first_with.get(name, day.new_visitor).astype(np.int32) * bit
    columns["flags"] = pa.array(np.concatenate([flags, np.zeros(m, np.int32)]))
    visits = pa.table(columns)

    parts = [(day.pages, 0), (day.custom, 0), (cont.pages, n), (cont.custom, n)]
    events = pa.table(
        {
            "visit": pa.array(np.concatenate([h.visit.astype(np.int32) + o for h, o in parts])),
            **{
                column: _text(np.concatenate([getattr(h, column) for h, _ in parts]), values)
                for column in ("name", "pathname", "hostname")
            },
            "count": pa.array(np.concatenate([h.count for h, _ in parts]).astype(np.int32)),
            "first": pa.array(np.concatenate([h.first for h, _ in parts])),
        }
    )
    return visits, events


def _text(codes: np.ndarray, values: np.ndarray) -> pa.DictionaryArray:
    """Site string codes as a dictionary array of just the strings used (-1: NULL)."""
    shifted = codes.astype(np.int64) + 1  # -1 (no value) -> 0
    used = np.flatnonzero(np.bincount(shifted, minlength=1))
    position = np.zeros(used[-1] + 1 if len(used) else 1, np.int32)
    position[used] = np.arange(len(used), dtype=np.int32)
    indices = position[shifted]
    has_null = len(used) and used[0] == 0
    if has_null:
        used, indices = used[1:], indices - 1
    dictionary = pa.array(values[used - 1].tolist(), pa.string())
    mask = shifted == 0 if has_null else None
    return pa.DictionaryArray.from_arrays(pa.array(indices, mask=mask), dictionary)


# -- reading ---------------------------------------------------------------------------


def read_day(pair: VisitsFile, strings: Strings) -> Day:
    """A day's :class:`Day` back from its derived pair (codes of ``strings``)."""
    visits = _Visits(_read(pair.visits), strings)
    n = visits.own
    events = _read(pair.visit_events)
    is_own = events.column("visit").to_numpy() < n
    is_page = _is_page(events, strings)
    flags = visits.table.column("flags").to_numpy()[:n]
    new_visitor = (flags & NEW_VISITOR_BIT) != 0
    first_with = {}
    for name, bit in FLAG_BITS.items():
        flag = (flags & bit) != 0
        if not np.array_equal(flag, new_visitor):
            first_with[name] = flag
    visitor_id = visits.visitor_id
    return Day(
        visitor_id=visitor_id[:n],
        visitor=(np.cumsum(new_visitors(visitor_id[:n])) - 1).astype(np.int32),
        new_visitor=new_visitor,
        start_us=visits.start_us[:n],
        duration_us=visits.duration_us[:n],
        pageviews=visits.pageviews[:n],
        custom_events=visits.custom_events[:n],
        attributes={name: values[:n] for name, values in visits.attributes.items()},
        first_with=first_with,
        pages=_hits(events, strings, is_own & is_page, 0),
        custom=_hits(events, strings, is_own & ~is_page, 0),
        previous_id=visits.previous_id[:n],
        early=visits.early[:n],
        tail=Tail.of(
            visitor_id, visits.start_us + visits.duration_us, visits.early, _day(pair.visits)
        ),
        continuations=visits.continuations(
            _hits(events, strings, ~is_own & is_page, n),
            _hits(events, strings, ~is_own & ~is_page, n),
        ),
    )


def read_continuations(pair: VisitsFile, strings: Strings) -> Continuations:
    """Only the day's continuations of the previous day's visits (they come last in
    the visits file, their hits last in the visit-events file)."""
    visits = _Visits(_read(pair.visits, filters=[("continues", "==", True)]), strings)
    first = pq.read_metadata(pair.visits).num_rows - len(visits.visitor_id)
    events = _read(pair.visit_events, filters=[("visit", ">=", first)])
    is_page = _is_page(events, strings)
    return visits.continuations(
        _hits(events, strings, is_page, first), _hits(events, strings, ~is_page, first)
    )


class _Visits:
    """The columns of a visits table as arrays (codes of ``strings``)."""

    def __init__(self, table: pa.Table, strings: Strings) -> None:
        self.table = table
        continues = table.column("continues").to_numpy(zero_copy_only=False)
        self.own = int(len(continues) - continues.sum())
        if continues[: self.own].any():
            raise ValueError("a visits file's continuations must come last")
        self.visitor_id = table.column("visitor_id").to_numpy()
        self.start_us = table.column("start").cast(pa.int64()).to_numpy()
        self.duration_us = table.column("duration_us").to_numpy()
        self.pageviews = table.column("pageviews").to_numpy()
        self.custom_events = table.column("custom_events").to_numpy()
        self.attributes = {name: _codes(table.column(name), strings) for name in ATTRIBUTES}
        previous = table.column("prev_visitor_id")
        self.early = pc.is_valid(previous).to_numpy(zero_copy_only=False)
        self.previous_id = previous.fill_null(0).to_numpy().astype(np.uint64)

    def continuations(self, pages: Hits, custom: Hits) -> Continuations:
        n = self.own
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


def _day(path: Path) -> dt.date:
    return dt.date.fromisoformat(path.parent.name.removeprefix("date="))


def _read(path: Path, filters: list | None = None) -> pa.Table:
    """One derived file (a damaged one is quarantined, and the day read from events)."""
    read = quarantine.read_each(
        [path], lambda p: pq.read_table(p, filters=filters, read_dictionary=_TEXT)
    )
    if not read:
        raise FileNotFoundError(f"{path} was set aside as damaged")
    return read[0][1].combine_chunks()


_TEXT = [*TEXT_COLUMNS, *_EVENT_TEXT]


def _codes(column: pa.ChunkedArray, strings: Strings) -> np.ndarray:
    """Site codes of a dictionary column (-1 for NULL)."""
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


# -- upkeep ----------------------------------------------------------------------------


def delete_replaced(events_dir: Path, site_id: int, day: dt.date, grace_seconds: float) -> int:
    """Delete visits pairs replaced by a visits file older than the grace period, pairs
    left half-written by a crash (a visit-events file without its visits file), and
    stale temporaries; returns how many files went."""
    now = time.time()
    folder = partition_dir(visits_root(events_dir), site_id, day)
    events_folder = partition_dir(visit_events_root(events_dir), site_id, day)
    deleted = 0
    for path in sorted(folder.glob(f"{VISITS_PREFIX}*.parquet")):
        try:
            if now - path.stat().st_mtime < grace_seconds:
                continue
        except FileNotFoundError:
            continue
        for name in replaced_by(path):
            for victim in (folder / name, partner(folder / name)):
                if victim.exists():
                    victim.unlink(missing_ok=True)
                    deleted += 1
    for path in events_folder.glob(f"{VISIT_EVENTS_PREFIX}*.parquet"):
        visits = folder / (VISITS_PREFIX + path.name.removeprefix(VISIT_EVENTS_PREFIX))
        try:
            if not visits.exists() and now - path.stat().st_mtime >= grace_seconds:
                path.unlink(missing_ok=True)
                deleted += 1
        except FileNotFoundError:
            continue
    for stale in [*folder.glob(".*.tmp"), *events_folder.glob(".*.tmp")]:
        try:
            if now - stale.stat().st_mtime > grace_seconds:
                stale.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
    return deleted


def delete_site(events_dir: Path, site_id: int) -> None:
    """Remove a deleted site's derived folders (renamed first, as events folders are)."""
    for root in derived_roots(events_dir):
        _delete_folder(root / f"site_id={site_id}")


def delete_days(events_dir: Path, site_id: int, days: Iterable[dt.date]) -> None:
    for day in days:
        for root in derived_roots(events_dir):
            _delete_folder(partition_dir(root, site_id, day))


def delete_orphans(events_dir: Path) -> int:
    """Derived partitions whose events partition is gone (a site or days deleted while
    the derived files stayed, e.g. by a crash); returns how many folders went."""
    deleted = 0
    for root in derived_roots(events_dir):
        for site in root.glob("site_id=*"):
            if not (events_dir / site.name).is_dir():
                _delete_folder(site)
                deleted += 1
                continue
            for day in site.glob("date=*"):
                if not (events_dir / site.name / day.name).is_dir():
                    _delete_folder(day)
                    deleted += 1
        for leftover in root.glob(f"*/{DELETING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in root.glob(f"{DELETING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
    return deleted


def _delete_folder(folder: Path) -> None:
    doomed = folder.with_name(f"{DELETING_PREFIX}{folder.name}-{os.getpid()}")
    try:
        os.replace(folder, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)
