"""Where lake files live, and how a file is published so no reader sees half of it.

``data/events/site_id=<id>/date=<YYYY-MM-DD>/<name>.parquet``: ``date`` is the UTC
day of ``ts``. A file is written under a temporary name (``.<name>.<pid>.tmp``, which
no ``*.parquet`` glob matches), fsynced, renamed into place, and the folder fsynced.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pagepulse.lake.schema import PARQUET_OPTIONS, SORT_KEYS


def partition_dir(events_dir: Path, site_id: int, day: dt.date) -> Path:
    return events_dir / f"site_id={site_id}" / f"date={day.isoformat()}"


def site_dir(events_dir: Path, site_id: int) -> Path:
    return events_dir / f"site_id={site_id}"


def partition_files(events_dir: Path, site_id: int, days: Iterable[dt.date]) -> list[Path]:
    """The published Parquet files of the given days (missing days are skipped)."""
    files: list[Path] = []
    for day in days:
        folder = partition_dir(events_dir, site_id, day)
        if folder.is_dir():
            files.extend(sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")))
    return files


def site_days(events_dir: Path, site_id: int) -> list[dt.date]:
    """Every UTC day that has a partition folder for the site, sorted."""
    root = site_dir(events_dir, site_id)
    if not root.is_dir():
        return []
    days = []
    for child in root.iterdir():
        if child.is_dir() and child.name.startswith("date="):
            try:
                days.append(dt.date.fromisoformat(child.name[5:]))
            except ValueError:
                continue
    return sorted(days)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_table(table: pa.Table, final_path: Path, *, sort: bool = True) -> Path:
    """Write ``table`` durably and atomically to ``final_path`` (replacing any file there)."""
    folder = final_path.parent
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    if sort and table.num_rows:
        table = table.sort_by(SORT_KEYS)
    tmp = folder / f".{final_path.name}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final_path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # e.g. the disk filled up mid-write
        raise
    fsync_dir(folder)
    if created:
        fsync_dir(folder.parent)
        fsync_dir(folder.parent.parent)
    return final_path
