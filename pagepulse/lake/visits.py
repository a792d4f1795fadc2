"""Derived partitions: each UTC day's visits, computed once at compaction.

For every UTC day before today, compaction writes three files beside the events,
built by :func:`pagepulse.lake.sessions.build_day` and laid out by
:mod:`pagepulse.lake.visit_tables` (docs/lake.md, "Visits: derived files")::

    data/visits/site_id=<id>/date=<day>/visits-<id>.parquet              one row per visit
    data/visit_events/site_id=<id>/date=<day>/visit-events-<id>.parquet  their events
    data/visit_groups/site_id=<id>/date=<day>/visit-groups-<id>.parquet  their sums

(the same ``<id>``). The query layer reads them instead of sessionising the day's
events.

A day's visits depend on its events and on the previous day's (which visits continue
one of the previous day): the visits file names the live event files of both days
in its footer (``pagepulse.sources``), and :func:`fresh_visits` accepts it only
while those are still the live files. A day with new appends, compacted again or
re-imported is stale until the next compaction run rebuilds it; readers fall back
to the events meanwhile.

Publishing follows the events' rules (``layout.publish_table``): the two partner files
first, then the visits file, whose footer names every visits file it replaces
(``pagepulse.replaces``); that rename is the one atomic step. Replaced files (and
their partners) are deleted after the compaction grace period.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pagepulse.lake import quarantine
from pagepulse.lake.layout import live_files, partition_dir, publish_table, replaced_by
from pagepulse.lake.sessions import Strings, build_day, read_tail
from pagepulse.lake.visit_tables import TEXT_COLUMNS, Blocks, DayFiles, day_tables

VISITS_ROOT = "visits"
VISITS_PREFIX = "visits-"
# The partner files of a visits file: (root beside data/events, name prefix).
PARTNERS = (("visit_events", "visit-events-"), ("visit_groups", "visit-groups-"))
SOURCES_KEY = b"pagepulse.sources"
BLOCKS_KEY = b"pagepulse.blocks"
# Bumped when what the files hold changes: older files are then stale.
FORMAT_KEY = b"pagepulse.visits_format"
FORMAT = "3"
DELETING_PREFIX = ".deleting-"

# One row group per block (see visit_tables). Visits are sorted by (visitor_id,
# start) within a block, so ids and starts delta-encode; texts, counts and flags are
# dictionaries; zstd over all. Statistics only where a reader may filter. Footers
# carry no Arrow schema (readers get the types from Parquet's own): it is a few KB,
# as much as a small site's whole day.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": [*TEXT_COLUMNS, "pageviews", "custom_events", "flags", "count"],
    "column_encoding": {
        "visitor_id": "DELTA_BINARY_PACKED",
        "start": "DELTA_BINARY_PACKED",
        "visit": "DELTA_BINARY_PACKED",
    },
    "write_statistics": ["start", "visit"],
    "store_schema": False,
}
GROUPS_PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": ["dimension", "parent", "value"],
    "write_statistics": False,
    "store_schema": False,
}


def visits_root(events_dir: Path) -> Path:
    """``data/visits`` beside ``data/events``."""
    return events_dir.parent / VISITS_ROOT


def derived_roots(events_dir: Path) -> tuple[Path, ...]:
    return (visits_root(events_dir), *(events_dir.parent / root for root, _ in PARTNERS))


def partners(visits_file: Path) -> tuple[Path, Path]:
    """The visit-events and visit-groups files written with a visits file."""
    site, day = visits_file.parent.parent.name, visits_file.parent.name
    data = visits_file.parent.parent.parent.parent
    ident = visits_file.name.removeprefix(VISITS_PREFIX)
    events, groups = (data / root / site / day / f"{prefix}{ident}" for root, prefix in PARTNERS)
    return events, groups


def sources(events_dir: Path, site_id: int, day: dt.date) -> dict[str, list[str]]:
    """The live event files a day's visits are built from: the day's and the previous
    day's (whose tail decides which of the day's visits continue one)."""
    days = (day, day - dt.timedelta(days=1))
    return {
        d.isoformat(): [p.name for p in live_files(partition_dir(events_dir, site_id, d))]
        for d in days
    }


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
) -> DayFiles | None:
    """The day's derived files if they were built from the day's current live event
    files (``current``: :func:`sources`, when the caller has listed them), else None."""
    live = live_visits(partition_dir(visits_root(events_dir), site_id, day))
    if len(live) != 1:
        return None
    try:
        stat = live[0].stat()
        version, recorded, blocks = _footer(str(live[0]), stat.st_size, stat.st_mtime_ns)
    except (FileNotFoundError, pa.ArrowException, OSError, ValueError, KeyError):
        return None
    if version != FORMAT or blocks is None:
        return None
    if recorded != (current if current is not None else sources(events_dir, site_id, day)):
        return None
    events, groups = partners(live[0])
    if not events.is_file() or (blocks.split and not groups.is_file()):
        return None
    return DayFiles(live[0], events, groups if blocks.split else None, blocks)


def key(files: DayFiles) -> tuple:
    """Identity of a day's derived files (changes when they are rewritten)."""
    stat = files.visits.stat()
    return ("visits", str(files.visits), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8192)
def _footer(path: str, _size: int, _mtime_ns: int) -> tuple[str | None, dict | None, Blocks | None]:
    metadata = pq.read_metadata(path).metadata or {}
    version = metadata.get(FORMAT_KEY)
    raw = metadata.get(SOURCES_KEY)
    blocks = metadata.get(BLOCKS_KEY)
    return (
        version.decode() if version else None,
        json.loads(raw) if raw else None,
        Blocks.from_json(blocks) if blocks else None,
    )


# -- writing ---------------------------------------------------------------------------


def write_day(events_dir: Path, site_id: int, day: dt.date) -> DayFiles | None:
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
    visits, events, groups, blocks = day_tables(built, strings)
    metadata = {
        FORMAT_KEY: FORMAT.encode(),
        SOURCES_KEY: json.dumps(current, sort_keys=True).encode(),
        BLOCKS_KEY: blocks.to_json(),
    }
    visits = visits.replace_schema_metadata(metadata)
    folder = partition_dir(visits_root(events_dir), site_id, day)
    target = folder / f"{VISITS_PREFIX}{uuid.uuid4().hex}.parquet"
    events_path, groups_path = partners(target)
    # Every visits file of the folder, live or not: one replaced by a live one that is
    # deleted first must not come back to life.
    replaces = sorted(p.name for p in folder.glob(f"{VISITS_PREFIX}*.parquet"))
    split = blocks.split
    publish_table(events, events_path, sort=False, options=PARQUET_OPTIONS,
                  row_groups=blocks.events if split else None)  # fmt: skip
    if groups is not None:
        publish_table(groups, groups_path, sort=False, options=GROUPS_PARQUET_OPTIONS)
    publish_table(visits, target, sort=False, replaces=replaces, options=PARQUET_OPTIONS,
                  row_groups=blocks.visits if split else None)  # fmt: skip
    return DayFiles(target, events_path, groups_path if split else None, blocks)


# -- upkeep ----------------------------------------------------------------------------


def delete_replaced(events_dir: Path, site_id: int, day: dt.date, grace_seconds: float) -> int:
    """Delete the files of visits files replaced by one older than the grace period,
    partner files left by a crash before their visits file was published, and stale
    temporaries; returns how many files went."""
    now = time.time()
    folder = partition_dir(visits_root(events_dir), site_id, day)
    deleted = 0
    for path in sorted(folder.glob(f"{VISITS_PREFIX}*.parquet")):
        try:
            if now - path.stat().st_mtime < grace_seconds:
                continue
        except FileNotFoundError:
            continue
        for name in replaced_by(path):
            for victim in (folder / name, *partners(folder / name)):
                if victim.exists():
                    victim.unlink(missing_ok=True)
                    deleted += 1
    for root, prefix in PARTNERS:
        partner_folder = partition_dir(events_dir.parent / root, site_id, day)
        for path in partner_folder.glob(f"{prefix}*.parquet"):
            visits = folder / (VISITS_PREFIX + path.name.removeprefix(prefix))
            try:
                if not visits.exists() and now - path.stat().st_mtime >= grace_seconds:
                    path.unlink(missing_ok=True)
                    deleted += 1
            except FileNotFoundError:
                continue
    for root in derived_roots(events_dir):
        for stale in partition_dir(root, site_id, day).glob(".*.tmp"):
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
