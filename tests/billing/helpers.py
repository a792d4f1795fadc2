"""Events for the billing tests, put in the lake the way an admin would: through the
importer (``pagepulse.lake.importer.import_file``, what ``pagepulse import`` runs) from
a real Parquet file, so usage is counted from the files the product itself writes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pagepulse.lake.importer import import_file


def import_rows(events_dir: Path, site_id: int, rows: Sequence[tuple[dt.datetime, str]]) -> int:
    """Import one event per (ts, name); returns how many were imported."""
    table = pa.table(
        {
            "ts": pa.array([ts for ts, _ in rows], pa.timestamp("us", "UTC")),
            "visitor_id": pa.array([1000 + i % 97 for i in range(len(rows))], pa.uint64()),
            "name": [name for _, name in rows],
            "pathname": ["/" if name == "pageview" else "" for _, name in rows],
        }
    )
    path = events_dir.parent / f"import-{uuid.uuid4().hex}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    try:
        return import_file(events_dir, site_id, path).rows
    finally:
        path.unlink()


def import_month(
    events_dir: Path,
    site_id: int,
    month: dt.date,
    pageviews: int,
    custom_events: int = 0,
    *,
    days: int = 3,
) -> None:
    """``pageviews`` pageviews and ``custom_events`` 'Signup' events spread over the
    first ``days`` days of ``month`` (UTC)."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    total = pageviews + custom_events
    step = dt.timedelta(days=days) / max(total, 1)
    names = ["pageview"] * pageviews + ["Signup"] * custom_events
    import_rows(events_dir, site_id, [(start + step * i, name) for i, name in enumerate(names)])
