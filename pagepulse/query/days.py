"""The UTC days a request reads, and the caches that keep them.

Each UTC day of a site is sessionised once (:mod:`pagepulse.lake.sessions`): a
compacted day is read back from its visits files (:mod:`pagepulse.lake.visits`,
written by compaction), any other day (today's growing partition, a day with new
appends since compaction) is built from its events here. :class:`Source` says which,
and names the day's inputs in its ``key``: the visits file, or the event files of
the day and of the previous day (whose tail decides which visits continue one).

A day as a request counts it is its own visits plus the next day's continuations of
them (``sessions.continued``): a visit across midnight is counted once, on its start
day. :class:`DayStore` keeps

* the sums of whole days (:class:`Sums`, small: per-dimension groups and per-minute
  totals), keyed by the day's and the next day's sources. For a compacted day they
  come from its files without reading its visits: the groups stored beside them,
  the minutes from six columns, and the next day's continuations applied to the
  day's tail visitors alone (their sums out, the continued ones in: a visitor's
  flags depend on that visitor's visits only);
* days' visit rows (bounded by bytes): the days built from events (slow to rebuild)
  and the days a filtered or partial request needed (fast to read again);
* small per-day parts: tails, tail visitors and continuations.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import pyarrow as pa

from pagepulse.lake import visit_tables
from pagepulse.lake import visits as visits_
from pagepulse.lake.day_sums import day_group_changes, day_groups
from pagepulse.lake.growth import added_files, grow
from pagepulse.lake.layout import live_files, partition_dir
from pagepulse.lake.sessions import (
    ATTRIBUTES,
    PARENTS,
    Continuations,
    Day,
    Hits,
    Strings,
    Tail,
    attribute_key,
    build_day,
    continued,
    first_with,
    read_tail,
    visitors_only,
)
from pagepulse.query.minutes import day_minutes, minute_changes

__all__ = [
    "ATTRIBUTES",
    "PARENTS",
    "Day",
    "DayStore",
    "Hits",
    "Source",
    "Sums",
    "attribute_key",
    "first_with",
    "sources",
    "sums_of",
]

DEFAULT_CACHE_BYTES = 256 << 20
DEFAULT_SUMS_BYTES = 128 << 20
PARTS_BYTES = 64 << 20
ONE_DAY = dt.timedelta(days=1)

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Source:
    """Where one UTC day of a site is read from now."""

    events_dir: Path
    site_id: int
    day: dt.date
    files: tuple[Path, ...]  # the day's live event files
    previous_files: tuple[Path, ...]  # the previous day's
    visits: visit_tables.DayFiles | None  # its fresh visits files, if any
    key: tuple  # changes whenever an input changes

    @property
    def family(self) -> tuple[Path, int, dt.date]:
        """What every version of this day's key is a version of."""
        return (self.events_dir, self.site_id, self.day)


def sources(
    events_dir: Path,
    site_id: int,
    days: Iterable[dt.date],
    listed: dict[dt.date, list[Path]] | None = None,
) -> dict[dt.date, Source]:
    """The sources of the given days that have events (``listed``: live files already
    listed by the caller, by day)."""
    listing = dict(listed or {})

    def files(day: dt.date) -> list[Path]:
        if day not in listing:
            listing[day] = live_files(partition_dir(events_dir, site_id, day))
        return listing[day]

    found = {}
    for day in days:
        own = files(day)
        if not own:
            continue
        previous = files(day - ONE_DAY)
        current = {
            day.isoformat(): [p.name for p in own],
            (day - ONE_DAY).isoformat(): [p.name for p in previous],
        }
        pair = visits_.fresh_visits(events_dir, site_id, day, current)
        key = visits_.key(pair) if pair is not None else ("events", _stats(own), _stats(previous))
        found[day] = Source(events_dir, site_id, day, tuple(own), tuple(previous), pair, key)
    return found


def _stats(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    stats = []
    for path in paths:
        stat = path.stat()
        stats.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stats)


@dataclass
class Sums:
    """A whole day's sums (see :mod:`pagepulse.query.scopes`), filled as asked for."""

    groups: pa.RecordBatch | None = None
    minutes: dict[str, pa.RecordBatch] = field(default_factory=dict)  # by timezone

    @property
    def nbytes(self) -> int:
        batches = [self.groups, *self.minutes.values()]
        return sum(batch.nbytes for batch in batches if batch is not None)


def sums_of(day: Day, timezone: str) -> Sums:
    """The sums of a day held in memory."""
    return Sums(day_groups(day), {timezone: day_minutes(day, timezone)})


class _Cache(Generic[K, V]):
    """LRU bounded by the values' bytes (the newest stays, however big); one build per
    key at a time, so concurrent requests for a day wait for one build.

    A value may name its ``family`` (what it is a version of: one site's day): a new
    version replaces the family's previous one at once. Today's files change at every
    flush, and the versions they supersede would otherwise stay until pushed out by
    size, which a long-running server would show as growing memory."""

    def __init__(self, max_bytes: int, size: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self._size = size
        self._values: OrderedDict[K, V] = OrderedDict()
        self._sizes: dict[K, int] = {}
        self._families: dict[Hashable, K] = {}
        self._total = 0
        self._lock = threading.Lock()
        self._building: dict[K, threading.Lock] = {}

    def get(
        self, key: K, make: Callable[[], V], *, keep: bool = True, family: Hashable = None
    ) -> V:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
                return value
            building = self._building.setdefault(key, threading.Lock())
        try:
            with building:
                with self._lock:
                    value = self._values.get(key)
                if value is None:
                    value = make()
                    if keep:
                        self.put(key, value, family=family)
        finally:
            with self._lock:
                self._building.pop(key, None)
        return value

    def peek(self, key: K) -> V | None:
        with self._lock:
            return self._values.get(key)

    def latest(self, family: Hashable) -> tuple[K, V] | None:
        """The family's newest version still held, with its key."""
        with self._lock:
            key = self._families.get(family)
            value = self._values.get(key) if key is not None else None
            return (key, value) if value is not None else None

    def put(self, key: K, value: V, *, family: Hashable = None) -> None:
        with self._lock:
            if family is not None:
                superseded = self._families.get(family)
                if superseded is not None and superseded != key:
                    self._drop(superseded)
                self._families[family] = key
            self._values[key] = value
            self._values.move_to_end(key)
            self._measure(key)

    def resized(self, key: K) -> None:
        """A value grew in place (a day's sums in another timezone): bound again."""
        with self._lock:
            if key in self._values:
                self._measure(key)

    def _measure(self, key: K) -> None:
        size = self._size(self._values[key])
        self._total += size - self._sizes.get(key, 0)
        self._sizes[key] = size
        while self._total > self.max_bytes and len(self._values) > 1:
            self._drop(next(iter(self._values)))

    def _drop(self, key: K) -> None:
        if self._values.pop(key, None) is not None:
            self._total -= self._sizes.pop(key)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._sizes.clear()
            self._families.clear()
            self._total = 0

    def __len__(self) -> int:
        return len(self._values)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._total


class DayStore:
    """Days, their parts and their sums, shared by every request of the process."""

    def __init__(
        self, max_bytes: int = DEFAULT_CACHE_BYTES, sums_bytes: int = DEFAULT_SUMS_BYTES
    ) -> None:
        self.days: _Cache[tuple, Day] = _Cache(max_bytes, lambda day: day.nbytes)
        self.sums: _Cache[tuple, Sums] = _Cache(sums_bytes, lambda sums: sums.nbytes)
        self._tails: _Cache[tuple, Tail] = _Cache(PARTS_BYTES, lambda t: t.nbytes)
        # Tail visitors' days and continuations: a few hundred visits each.
        self._parts: _Cache[tuple, Day | Continuations] = _Cache(
            PARTS_BYTES, lambda part: part.nbytes
        )
        self._strings: dict[tuple[Path, int], Strings] = {}
        self._lock = threading.Lock()

    def strings(self, events_dir: Path, site_id: int) -> Strings:
        with self._lock:
            return self._strings.setdefault((events_dir, site_id), Strings())

    def day(self, source: Source, following: Source | None, *, keep: bool = True) -> Day:
        """The day as requests count it: its visits with the next day's continuations.
        ``keep``: cache its visit rows (a day built from events is always kept)."""
        key = ("day", source.key, following.key if following else None)

        def make() -> Day:
            own = self._own(source)
            extra = self.continuations(following) if following else None
            return continued(own, extra) if extra is not None else own

        return self.days.get(
            key, make, keep=keep or source.visits is None, family=("day", *source.family)
        )

    def whole_sums(self, source: Source, following: Source | None, timezone: str) -> Sums:
        """The day's sums, with its groups and its minutes in ``timezone``."""
        key = (source.key, following.key if following else None)
        sums = self.sums.get(key, Sums, family=source.family)
        if sums.groups is not None and timezone in sums.minutes:
            return sums
        files = source.visits
        if files is None or files.groups is None:
            # Built from events (the day's visits are at hand, and kept), or a small
            # day (its visits are read whole in no time).
            day = self.day(source, following, keep=files is None)
            if sums.groups is None:
                sums.groups = day_groups(day)
            sums.minutes[timezone] = day_minutes(day, timezone)
            self.sums.resized(key)
            return sums
        strings = self.strings(source.events_dir, source.site_id)
        extra = self.continuations(following) if following is not None else None
        before = after = None
        if extra is not None and len(extra):
            # The next day's continuations change only the visits they continue:
            # those visitors' share of the sums goes out, their continued share in.
            tail = self._parts.get(
                ("tail day", source.key),
                lambda: visit_tables.read_tail_day(files, strings),
                family=("tail day", *source.family),
            )
            before = visitors_only(tail, extra.target)
            after = continued(before, extra)
        if sums.groups is None:
            groups = [visit_tables.read_groups(files, strings)]
            if before is not None and after is not None:
                groups.append(day_group_changes(before, after))
            sums.groups = pa.concat_batches(groups) if len(groups) > 1 else groups[0]
        if timezone not in sums.minutes:
            minutes = [day_minutes(visit_tables.read_minute_inputs(files), timezone)]
            if before is not None and after is not None:
                minutes.append(minute_changes(before, after, timezone))
            sums.minutes[timezone] = pa.concat_batches(minutes)
        self.sums.resized(key)
        return sums

    def continuations(self, source: Source) -> Continuations:
        """The visits of ``source``'s day that continue one of the previous day."""
        files = source.visits
        if files is None:
            return self._own(source).continuations
        strings = self.strings(source.events_dir, source.site_id)
        return self._parts.get(
            ("continuations", source.key),
            lambda: visit_tables.read_continuations(files, strings),
            family=("continuations", *source.family),
        )

    def _own(self, source: Source) -> Day:
        strings = self.strings(source.events_dir, source.site_id)
        if source.visits is not None:
            return visit_tables.read_day(source.visits, strings)

        family = ("own", *source.family)

        def build() -> Day:
            previous = self._tail(source)
            grown = self._grown(source, family, strings, previous)
            if grown is not None:
                return grown
            return build_day(source.files, strings, source.day, previous=previous)

        # Built from events: slow to make again, kept.
        return self.days.get(("own", source.key), build, family=family)

    def _grown(
        self, source: Source, family: tuple, strings: Strings, previous: Tail | None
    ) -> Day | None:
        """The day's newest kept version with the files added since (today, between two
        requests, gains a file or two per worker): exact, and its cost is the new
        files' (:mod:`pagepulse.lake.growth`). None when it must be built whole."""
        latest = self.days.latest(family)
        if latest is None:
            return None
        (_own, (kind, before, previous_before)), base = latest
        if kind != "events" or previous_before != source.key[2]:
            return None  # the previous day changed: its tail may have too
        now = {path: stat for path, *stat in source.key[1]}
        if any(now.get(path, stat) != stat for path, *stat in before):
            return None  # a file changed in place
        added = added_files([Path(path) for path, *_stat in before], source.files)
        if added is None:
            return None  # a file left, or a compaction mixed old and new: built whole
        if not added:
            return base  # compacted, nothing new: the same events, the same visits
        delta = build_day(added, strings, source.day, previous=previous)
        return grow(base, delta, source.day)

    def _tail(self, source: Source) -> Tail | None:
        if not source.previous_files:
            return None
        key = _stats(source.previous_files)
        return self._tails.get(
            key,
            lambda: read_tail(source.previous_files, source.day - ONE_DAY),
            family=(*source.family[:2], source.day - ONE_DAY),
        )

    def clear(self) -> None:
        self.days.clear()
        self.sums.clear()
        self._tails.clear()
        self._parts.clear()
        with self._lock:
            self._strings.clear()

    @property
    def nbytes(self) -> int:
        return self.days.nbytes + self.sums.nbytes
