"""Test helpers: real Parquet files in the real lake layout, and event rows to put in them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from pagepulse.lake.layout import partition_dir, publish_table
from pagepulse.lake.schema import EVENT_SCHEMA, STRING_COLUMNS


def event(ts: dt.datetime, visitor_id: int, name: str = "pageview", **columns: Any) -> dict:
    """One event row: every string column defaults to '' as ingest stores it."""
    row = {column: "" for column in STRING_COLUMNS}
    row.update(ts=ts, visitor_id=visitor_id, name=name, screen_width=0, props=[])
    row.update(columns)
    return row


def write_events(events_dir: Path, site_id: int, rows: Iterable[dict]) -> list[Path]:
    """Publish ``rows`` as one file per UTC day of their ``ts`` (where ingest puts them)."""
    by_day: dict[dt.date, list[dict]] = defaultdict(list)
    for row in rows:
        by_day[row["ts"].astimezone(dt.UTC).date()].append(row)
    written = []
    for day, day_rows in sorted(by_day.items()):
        folder = partition_dir(events_dir, site_id, day)
        name = f"test-{len(list(folder.glob('*.parquet'))) if folder.exists() else 0}.parquet"
        table = pa.Table.from_pylist(day_rows, schema=EVENT_SCHEMA)
        written.append(publish_table(table, folder / name))
    return written
