"""Turn a sealed write-ahead-log segment into lake files, one per (site, UTC day).

A segment ``<stem>.seg`` becomes ``wal-<stem>.parquet`` in each partition it touches.
The name is derived from the segment, so publishing the same segment twice (a crash
after the files were renamed into place but before the segment was deleted)
replaces the same files with identical content: nothing is counted twice.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pagepulse.ingest.wal import SEGMENT_SUFFIX, read_records
from pagepulse.lake.layout import partition_dir, publish_table
from pagepulse.lake.schema import EVENT_COLUMNS, EVENT_SCHEMA

_US_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def encode_row(site_id: int, row: tuple) -> bytes:
    """The log record of one event: ``[site_id, *row]`` with ``row`` in EVENT_COLUMNS order."""
    return orjson.dumps((site_id, *row))


def rows_to_table(rows: list[list]) -> pa.Table:
    """Event rows (EVENT_COLUMNS order, without site_id) -> an Arrow table.

    Rows logged before a nullable column was added to the schema (``prev_visitor_id``)
    are shorter: the missing trailing values are NULL.
    """
    return _columns_to_table(_columns(rows, len(EVENT_COLUMNS)))


def _columns(rows: list[list], width: int) -> list[tuple]:
    if any(len(row) != width for row in rows):
        rows = [row if len(row) == width else [*row, *[None] * (width - len(row))] for row in rows]
    return list(zip(*rows, strict=True)) if rows else [()] * width


def _columns_to_table(columns: list[tuple]) -> pa.Table:
    pairs = zip(columns, EVENT_SCHEMA, strict=True)
    arrays = [pa.array(values, type=field.type) for values, field in pairs]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def segment_table(records: list[bytes]) -> tuple[pa.Array, pa.Table]:
    """All events of a segment: their site ids and one table of their rows.

    One ``orjson.loads`` for the whole segment and one Arrow conversion per column:
    publishing costs a few microseconds per event, on the publisher's process.
    """
    rows = orjson.loads(b"[" + b",".join(records) + b"]")
    columns = _columns(rows, len(EVENT_COLUMNS) + 1)
    site_ids = pa.array(columns[0], pa.int64())
    return site_ids, _columns_to_table(columns[1:])


def group_by_partition(records: list[bytes]) -> dict[tuple[int, dt.date], pa.Table]:
    """A segment's events as one table per (site, UTC day) partition."""
    site_ids, table = segment_table(records)
    if not len(table):
        return {}
    days = pc.divide(table["ts"].cast(pa.int64()), _US_PER_DAY).to_numpy()
    sites = site_ids.to_numpy()
    keys = sites * 1_000_000 + days
    unique = np.unique(keys)
    if len(unique) == 1:
        return {_partition(int(unique[0])): table}
    return {_partition(int(key)): table.filter(pa.array(keys == key)) for key in unique}


def _partition(key: int) -> tuple[int, dt.date]:
    site_id, day = divmod(key, 1_000_000)
    return site_id, dt.date.fromordinal(_EPOCH_ORDINAL + day)


def warm_up() -> None:
    """Load what publishing needs; the service runs it in its publisher process at
    start, so the first flush does not pay for imports and allocator warm-up."""
    group_by_partition([])
    pa.Table.from_pylist([])


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
    for (site_id, day), table in groups.items():
        publish_table(table, partition_dir(events_dir, site_id, day) / name)
    return sum(len(table) for table in groups.values())
