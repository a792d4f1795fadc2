"""Turn a sealed write-ahead-log segment into lake files, one per (site, UTC day).

A segment ``<stem>.seg`` becomes ``wal-<stem>.parquet`` in each partition it touches.
The name is derived from the segment, so publishing the same segment twice (a crash
after the files were renamed into place but before the segment was deleted)
replaces the same files with identical content: nothing is counted twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import orjson
import pyarrow as pa

from pagepulse.ingest.wal import SEGMENT_SUFFIX, read_records
from pagepulse.lake.layout import partition_dir, publish_table
from pagepulse.lake.schema import EVENT_COLUMNS, EVENT_SCHEMA

_US_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_PROPS_INDEX = EVENT_COLUMNS.index("props")


def encode_row(site_id: int, row: tuple) -> bytes:
    """The log record of one event: ``[site_id, *row]`` with ``row`` in EVENT_COLUMNS order."""
    return orjson.dumps((site_id, *row))


def rows_to_table(rows: list[list]) -> pa.Table:
    """Event rows (EVENT_COLUMNS order, without site_id) -> an Arrow table.

    Rows logged before a nullable column was added to the schema (``prev_visitor_id``)
    are shorter: the missing trailing values are NULL.
    """
    width = len(EVENT_COLUMNS)
    rows = [row if len(row) == width else [*row, *[None] * (width - len(row))] for row in rows]
    columns = list(zip(*rows, strict=True)) if rows else [()] * width
    arrays = []
    for index, field in enumerate(EVENT_SCHEMA):
        values = columns[index]
        if index == _PROPS_INDEX:
            values = [list(p.items()) for p in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def group_by_partition(records: list[bytes]) -> dict[tuple[int, dt.date], list[list]]:
    groups: dict[tuple[int, dt.date], list[list]] = defaultdict(list)
    for payload in records:
        site_id, *row = orjson.loads(payload)
        day = dt.date.fromordinal(_EPOCH_ORDINAL + row[0] // _US_PER_DAY)
        groups[(site_id, day)].append(row)
    return groups


def still_logged(wal_dir: Path, lake_file: Path) -> bool:
    """Whether a lake file's log segment still exists (it may be published again)."""
    name = lake_file.name
    if not (name.startswith("wal-") and name.endswith(".parquet")):
        return False
    return (wal_dir / f"{name[4:-8]}{SEGMENT_SUFFIX}").exists()


def publish_segment(segment: Path, events_dir: Path) -> int:
    """Write the segment's events into the lake; returns how many were written."""
    groups = group_by_partition(list(read_records(segment)))
    name = f"wal-{segment.stem}.parquet"
    for (site_id, day), rows in groups.items():
        publish_table(rows_to_table(rows), partition_dir(events_dir, site_id, day) / name)
    return sum(len(rows) for rows in groups.values())
