"""Exporting a site's events: its live Parquet files, in the lake's own layout.

``export_site(events_dir, site_id, dest, start=..., end=...)`` writes
``events/site_id=<id>/date=<day>/<name>.parquet`` for every UTC day in range that has
events, plus a ``README.md`` (the schema, from docs/lake.md), into a folder ``dest``,
or into a zip when ``dest`` ends in ``.zip``. ``write_zip`` streams the same zip into
any binary file object (the settings page's download).

Consistent while ingestion and compaction run: each day is read as it was at one
instant. A day's live files (``layout.live_files``, so a compacted file and the files
it replaces are never both exported) are listed and all opened before any byte is
copied; open files stay readable even when compaction deletes them afterwards. When a
listed file is gone before it could be opened, the day is listed again. Days are
independent (every event is in exactly one), so the whole export counts each event
exactly once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pagepulse.lake.layout import live_files, partition_dir, site_days
from pagepulse.lake.schema import EVENT_SCHEMA

DOC = Path(__file__).resolve().parents[2] / "docs" / "lake.md"
README_SECTIONS = ("Columns", "Export")
ATTEMPTS = 5
_CHUNK = 1 << 20


@dataclass
class ExportResult:
    days: int = 0
    files: int = 0
    bytes: int = 0
    retries: int = 0
    names: list[str] = field(default_factory=list)


class ExportExists(FileExistsError):
    """The destination is already there: an export never overwrites anything."""


def export_site(
    events_dir: Path,
    site_id: int,
    dest: Path,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> ExportResult:
    """Export the site's days ``start``..``end`` (inclusive; None: unbounded) to ``dest``,
    a new folder, or a new zip when its name ends in ``.zip``. Written under a hidden
    temporary name and renamed into place, so ``dest`` is complete or absent."""
    if dest.exists():
        raise ExportExists(f"{dest} exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        if dest.suffix.lower() == ".zip":
            with open(tmp, "wb") as out:
                result = write_zip(events_dir, site_id, out, start=start, end=end)
        else:
            result = write_folder(events_dir, site_id, tmp, start=start, end=end)
        os.rename(tmp, dest)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    return result


def write_folder(
    events_dir: Path,
    site_id: int,
    folder: Path,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> ExportResult:
    """Write the export into ``folder`` (created; it must not exist)."""
    folder.mkdir()
    result = ExportResult()
    for name, source in _snapshots(events_dir, site_id, start, end, result):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
    (folder / "README.md").write_text(readme(site_id, start, end, result))
    return result


def write_zip(
    events_dir: Path,
    site_id: int,
    out: BinaryIO,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> ExportResult:
    """Write the export as a zip into ``out`` (seekable or not). Parquet files are
    already compressed, so they are stored as they are."""
    result = ExportResult()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, source in _snapshots(events_dir, site_id, start, end, result):
            stat = os.fstat(source.fileno())
            info = zipfile.ZipInfo(name, date_time=time.gmtime(stat.st_mtime)[:6])
            info.file_size = stat.st_size  # so zipfile knows whether it needs ZIP64
            with archive.open(info, "w") as entry:
                shutil.copyfileobj(source, entry, _CHUNK)
        archive.writestr(
            "README.md", readme(site_id, start, end, result), compress_type=zipfile.ZIP_DEFLATED
        )
    return result


def _snapshots(
    events_dir: Path,
    site_id: int,
    start: dt.date | None,
    end: dt.date | None,
    result: ExportResult,
) -> Iterator[tuple[str, BinaryIO]]:
    """(name inside the export, open file) for every file to export, day by day."""
    for day in site_days(events_dir, site_id):
        if (start and day < start) or (end and day > end):
            continue
        with _open_day(partition_dir(events_dir, site_id, day), result) as files:
            if files:
                result.days += 1
            for path, source in files:
                name = f"events/site_id={site_id}/date={day.isoformat()}/{path.name}"
                result.files += 1
                result.bytes += os.fstat(source.fileno()).st_size
                result.names.append(name)
                yield name, source


@contextlib.contextmanager
def _open_day(folder: Path, result: ExportResult) -> Iterator[list[tuple[Path, BinaryIO]]]:
    """Every live file of one day, opened at (nearly) one instant."""
    for _attempt in range(ATTEMPTS):
        with contextlib.ExitStack() as stack:
            try:
                files = [(p, stack.enter_context(open(p, "rb"))) for p in live_files(folder)]
            except FileNotFoundError:
                result.retries += 1  # replaced and deleted since the listing: list again
                continue
            yield files
            return
    raise RuntimeError(f"{folder}: files kept vanishing while exporting; try again")


def readme(site_id: int, start: dt.date | None, end: dt.date | None, result: ExportResult) -> str:
    """The export's README: what it holds, then the schema sections of docs/lake.md."""
    span = f"{start or 'the first day'} to {end or 'the last day'}"
    lines = [
        f"# PagePulse events of site {site_id}",
        "",
        f"Exported {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: the UTC days from {span},",
        f"{result.days} days in {result.files} Parquet files ({result.bytes:,} bytes),",
        "each day as it was at one instant. Every event is in exactly one file.",
        "",
        f"`events/site_id={site_id}/date=<YYYY-MM-DD>/*.parquet`: `date` is the UTC day of",
        "`ts`. `site_id` and `date` are hive partition keys, in the folder names and not",
        "in the files: read `events/site_id=*/date=*/*.parquet` with hive partitioning on",
        "to get them as columns. File names mean nothing; a day may have several files.",
        "",
    ]
    return "\n".join(lines) + "\n" + _schema_doc()


def _schema_doc() -> str:
    """The Columns and Export sections of docs/lake.md (or, when the docs are
    not installed, the bare column list)."""
    try:
        text = DOC.read_text()
    except OSError:
        columns = "\n".join(f"- `{f.name}`: {f.type}" for f in EVENT_SCHEMA)
        return f"## Columns\n\n{columns}\n"
    sections = re.split(r"^(?=## )", text, flags=re.MULTILINE)
    wanted = [s for s in sections if s.startswith(tuple(f"## {n}\n" for n in README_SECTIONS))]
    return "\n".join(s.rstrip() + "\n" for s in wanted)
