"""Where lake files live, and how a file is published so no reader sees half of it.

``data/events/site_id=<id>/date=<YYYY-MM-DD>/<name>.parquet``: ``date`` is the UTC
day of ``ts``. A file is written under a temporary name (``.<name>.<pid>.tmp``, which
no ``*.parquet`` glob matches), fsynced, renamed into place, and the folder fsynced.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pagepulse.lake import quarantine
from pagepulse.lake.schema import PARQUET_OPTIONS, SORT_KEYS


def partition_dir(events_dir: Path, site_id: int, day: dt.date) -> Path:
    return events_dir / f"site_id={site_id}" / f"date={day.isoformat()}"


def site_dir(events_dir: Path, site_id: int) -> Path:
    return events_dir / f"site_id={site_id}"


COMPACTED_PREFIX = "compacted-"
REPLACES_KEY = b"pagepulse.replaces"


def partition_files(events_dir: Path, site_id: int, days: Iterable[dt.date]) -> list[Path]:
    """The live Parquet files of the given days (missing days are skipped)."""
    files: list[Path] = []
    for day in days:
        files.extend(live_files(partition_dir(events_dir, site_id, day)))
    return files


def live_files(folder: Path) -> list[Path]:
    """The files a reader should read in one partition folder.

    A compacted file names, in its footer, the files it replaced; those are skipped
    even while they still exist (they are deleted after a grace period), so a reader
    sees either the old set or the new one, never both. The replaced sets of every
    compacted file present are honoured, including compacted files that were
    themselves compacted again. A file whose footer or schema is unreadable is
    quarantined (``quarantine.screen``) and left out.
    """
    try:
        names = sorted(
            p.name for p in folder.iterdir() if p.suffix == ".parquet" and p.name[0] != "."
        )
    except FileNotFoundError:
        return []
    compacted = quarantine.screen(folder / n for n in names if n.startswith(COMPACTED_PREFIX))
    replaced: set[str] = set()
    for path in compacted:
        replaced |= replaced_by(path)
    others = (folder / n for n in names if not n.startswith(COMPACTED_PREFIX))
    others = quarantine.screen(p for p in others if p.name not in replaced)
    return sorted([*(p for p in compacted if p.name not in replaced), *others])


def replaced_by(path: Path) -> frozenset[str]:
    """The file names a compacted file replaces (cached by path, size and mtime)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return frozenset()
    return _replaced_by(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _replaced_by(path: str, _size: int, _mtime_ns: int) -> frozenset[str]:
    metadata = pq.read_metadata(path).metadata or {}
    raw = metadata.get(REPLACES_KEY)
    return frozenset(json.loads(raw)) if raw else frozenset()


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


def publish_table(
    table: pa.Table,
    final_path: Path,
    *,
    sort: bool = True,
    replaces: Iterable[str] = (),
    options: Mapping[str, Any] | None = None,
    row_groups: Sequence[int] | None = None,
) -> Path:
    """Write ``table`` durably and atomically to ``final_path`` (replacing any file there).
    ``replaces`` names files of the same folder that this one supersedes (compaction);
    ``options`` are ``pq.write_table``'s (default: the event files' ``PARQUET_OPTIONS``);
    ``row_groups``: the rows of each row group, in order (empty ones are left out)."""
    folder = final_path.parent
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    if sort and table.num_rows:
        table = table.sort_by(SORT_KEYS)
    replaced = sorted(replaces)
    if replaced:
        metadata = {**(table.schema.metadata or {}), REPLACES_KEY: json.dumps(replaced).encode()}
        table = table.replace_schema_metadata(metadata)
    tmp = folder / f".{final_path.name}.{os.getpid()}.tmp"
    try:
        options = dict(PARQUET_OPTIONS if options is None else options)
        if row_groups is None and options.get("store_schema", True):
            pq.write_table(table, tmp, **options)
        else:
            size = options.pop("row_group_size", None) or max(table.num_rows, 1)
            with pq.ParquetWriter(tmp, table.schema, **options) as writer:
                start = 0
                for rows in row_groups or [table.num_rows]:
                    if rows:
                        part = table.slice(start, rows)
                        writer.write_table(part, row_group_size=rows if row_groups else size)
                    start += rows
                if not options.get("store_schema", True) and table.schema.metadata:
                    # Without the Arrow schema in the footer, keep our keys there anyway.
                    writer.add_key_value_metadata(table.schema.metadata)
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
