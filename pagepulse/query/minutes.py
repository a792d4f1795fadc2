"""A day's visits summed per local minute of their start: what top stats and the
timeseries read (``scope_minutes``, see :mod:`pagepulse.query.scopes`).

Every metric of top_stats and the timeseries is a sum over visits, so summing per
minute first loses nothing and leaves SQL ~1,440 rows a day instead of every visit.
Minutes are local (the site's timezone), so unlike a day's groups these sums are
made per timezone, at query time.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from pagepulse.lake.day_sums import exact_sums

BUCKETS_US = {"minute": 60_000_000, "hour": 3_600_000_000, "day": 86_400_000_000}


class Visits(Protocol):
    """What the minute sums need of a day's visits (a ``Day`` or ``MinuteInputs``):
    rows grouped by visitor, in start order, the visitor's first one flagged."""

    new_visitor: np.ndarray
    start_us: np.ndarray
    duration_us: np.ndarray
    pageviews: np.ndarray
    custom_events: np.ndarray

    @property
    def visits(self) -> int: ...


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


def minutes(local_us: np.ndarray, new_visitor: np.ndarray, **values: np.ndarray) -> pa.RecordBatch:
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
        "visitors": exact_sums(index, new_visitor, size),
    }
    for interval, bucket in _buckets(local_us).items():
        new = new_visitor.copy()
        new[1:] |= bucket[1:] != bucket[:-1]
        columns[f"visitors_{interval}"] = exact_sums(index, new, size)
    for name, value in values.items():
        columns[name] = exact_sums(index, value, size)
    used = columns["visits"] > 0
    return pa.RecordBatch.from_arrays(
        [
            pa.array(values[used], field.type)
            for values, field in zip(columns.values(), MINUTE_SCHEMA, strict=True)
        ],
        schema=MINUTE_SCHEMA,
    )


def day_minutes(day: Visits, timezone: str) -> pa.RecordBatch:
    """A whole day's minute sums in one timezone."""
    if day.visits == 0:
        return pa.RecordBatch.from_pylist([], schema=MINUTE_SCHEMA)
    return minutes(
        local_micros(day.start_us, timezone),
        day.new_visitor,
        pageviews=day.pageviews,
        events=day.custom_events,
        bounces=day.pageviews == 1,
        duration_us=day.duration_us,
    )


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


def minute_changes(before: Visits, after: Visits, timezone: str) -> pa.RecordBatch:
    """What changed between two versions of the same visits (``after``: continued past
    midnight), as minute rows to add: pageviews, events, bounces and durations at
    each changed visit's start minute; its visits and visitors stay as they were."""
    bounce_before, bounce_after = before.pageviews == 1, after.pageviews == 1
    changed = np.flatnonzero(
        (before.pageviews != after.pageviews)
        | (before.custom_events != after.custom_events)
        | (before.duration_us != after.duration_us)
    )
    local = local_micros(before.start_us[changed], timezone)
    zeros = np.zeros(changed.size, np.int64)

    def delta(values_after: np.ndarray, values_before: np.ndarray) -> np.ndarray:
        return values_after[changed].astype(np.int64) - values_before[changed].astype(np.int64)

    columns = {
        "minute": local // BUCKETS_US["minute"] * BUCKETS_US["minute"],
        "visits": zeros,
        "visitors": zeros,
        **{f"visitors_{interval}": zeros for interval in (*BUCKETS_US, "month")},
        "pageviews": delta(after.pageviews, before.pageviews),
        "events": delta(after.custom_events, before.custom_events),
        "bounces": delta(bounce_after, bounce_before),
        "duration_us": delta(after.duration_us, before.duration_us),
    }
    return pa.RecordBatch.from_arrays(
        [pa.array(columns[field.name], field.type) for field in MINUTE_SCHEMA],
        schema=MINUTE_SCHEMA,
    )
