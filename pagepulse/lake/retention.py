"""Removing events: a whole site's folders when the site is deleted, and the days older
than a site's retention period.

Retention works on whole UTC-day partitions. A site that keeps its raw events N months
keeps every day from the first day of the month N months before the current UTC month:
on 2025-03-15 with 12 months, days before 2024-03-01 are deleted. So at least N whole
months are always there, never more than N + 1, and a month is either complete or gone
(no dashboard month is ever cut in half).

A day's or a site's derived visits (``data/visits``, ``data/visit_events``,
``data/visit_groups``) go with its events. Deleting is atomic for readers: a folder is
first renamed to a hidden ``.deleting-<name>-<pid>`` folder (which no ``date=*`` or
``site_id=*`` glob matches), then removed. A crash between the two steps leaves only
such a hidden folder, which the next retention run removes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from pagepulse.lake import quarantine, visits
from pagepulse.lake.compaction import CompactionResult, InFlight, compact_lake, compaction_lock
from pagepulse.lake.layout import site_days, site_dir

# What the site settings offer; None (forever) is the default.
RETENTION_CHOICES = (6, 12, 24, 36)
DELETING_PREFIX = ".deleting-"


def delete_site_events(events_dir: Path, site_id: int) -> bool:
    """Delete every file of the site. Renames the folder first so that a crash midway
    never leaves a half-deleted site visible to readers. Returns whether anything existed."""
    folder = site_dir(events_dir, site_id)
    quarantine.delete_site(events_dir, site_id)  # set-aside files hold its events
    visits.delete_site(events_dir, site_id)  # derived from the events: they go too
    if not folder.exists():
        return False
    _delete_folder(folder)
    return True


def retention_cutoff(months: int, today: dt.date) -> dt.date:
    """The first day kept: the first day of the month ``months`` before today's month."""
    index = today.year * 12 + (today.month - 1) - months
    return dt.date(index // 12, index % 12 + 1, 1)


def enforce_retention(
    events_dir: Path, sites: Mapping[int, int | None], *, today: dt.date | None = None
) -> int:
    """Delete the partitions older than each site's retention; returns how many went.

    ``sites`` maps a site id to the months it keeps (None: forever); sites not in it
    keep everything. Holds the compaction lock (raises ``CompactionBusy`` when another
    compactor runs), so a partition is never deleted while it is being compacted.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    deleted = 0
    with compaction_lock(events_dir):
        for site_id, months in sorted(sites.items()):
            if months is None:
                continue
            cutoff = retention_cutoff(months, today)
            folder = site_dir(events_dir, site_id)
            for day in site_days(events_dir, site_id):
                if day >= cutoff:
                    break  # sorted
                try:
                    _delete_folder(folder / f"date={day.isoformat()}")
                except FileNotFoundError:
                    continue  # the site was deleted meanwhile
                visits.delete_days(events_dir, site_id, [day])
                deleted += 1
            _remove_leftovers(folder)
            quarantine.delete_days_before(events_dir, site_id, cutoff)
    return deleted


def enforce_retention_and_compact(
    events_dir: Path, sites: Mapping[int, int | None], *, in_flight: InFlight | None = None
) -> tuple[int, CompactionResult]:
    """The server's scheduled lake job: retention first (no point compacting days about
    to go), then compaction. Returns (partitions deleted, compaction result)."""
    deleted = enforce_retention(events_dir, sites)
    return deleted, compact_lake(events_dir, in_flight=in_flight)


def _delete_folder(folder: Path) -> None:
    doomed = folder.with_name(f"{DELETING_PREFIX}{folder.name}-{os.getpid()}")
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _remove_leftovers(folder: Path) -> None:
    """Hidden folders left by a deletion that crashed after its rename."""
    if folder.is_dir():
        for leftover in folder.glob(f"{DELETING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
