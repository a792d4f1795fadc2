"""Compaction: merge each partition's many small files into one, instead of rollups.

Ingestion publishes a file per worker per flush (every two seconds), so a busy day
has thousands of files. Compaction rewrites a partition's live files into one file
``compacted-<uuid>.parquet``, sorted by the columns that are constant for a visitor's
day and then by (visitor_id, ts) (see ``_compacted_order``), with large row groups, and
names the files it replaces in its footer (``layout.live_files`` honours that), so
publishing the new file is the single atomic step: a reader sees the old set or the
new one, never both and never neither. Replaced files are deleted once the compacted
file is older than a grace period longer than any query. Killing the process at any
instant loses nothing and counts nothing twice; the next run finishes the job.

Then it writes the derived visits of every past UTC day whose visits files are
missing or stale (:mod:`pagepulse.lake.visits`: they depend on the day's events and
the previous day's, so a day compacted again makes the next day's stale too). Today
is left to the query layer, which sessionises a growing day itself.

One compactor runs at a time (an ``flock`` on ``events/.compaction.lock``). Partitions
are spread over a process pool as large as the CPUs (spawned workers that die with
the compactor and that the next compactor waits for), one partition in memory per
worker.
Written with pyarrow rather than Polars: Polars has no MAP type, and the ``props``
column must keep the public schema's type.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import fcntl
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pagepulse.lake import quarantine, visits
from pagepulse.lake.layout import (
    COMPACTED_PREFIX,
    live_files,
    partition_dir,
    publish_table,
    replaced_by,
)
from pagepulse.lake.schema import EVENT_SCHEMA, PARQUET_OPTIONS, STRING_COLUMNS

GRACE_SECONDS = 300.0  # longer than the longest query (30 s time limit)
PREVIOUS_ID = "prev_visitor_id"
PLATFORM_COLUMNS = ("device", "os", "browser", "os_version", "browser_version", "country")
# Texts are written from dictionaries; the footer carries no Arrow schema (it would
# name dictionary types): readers get exactly EVENT_SCHEMA from Parquet's own types.
COMPACTED_OPTIONS = {**PARQUET_OPTIONS, "store_schema": False}
WORKERS_LOCK = ".compaction.workers.lock"


@dataclass
class CompactionResult:
    partitions: int = 0
    files_in: int = 0
    rows: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    deleted: int = 0
    compacted: list[Path] = field(default_factory=list)
    visits: int = 0  # days whose visits files were (re)written
    visits_bytes: int = 0

    def add(self, other: CompactionResult) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


class CompactionBusy(RuntimeError):
    """Another compactor holds the lake's lock."""


@contextlib.contextmanager
def compaction_lock(events_dir: Path) -> Iterator[None]:
    events_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(events_dir / ".compaction.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CompactionBusy("another compaction is running") from None
        yield
    finally:
        os.close(fd)


def partitions(
    events_dir: Path, site_id: int | None = None, day: dt.date | None = None
) -> list[Path]:
    """Partition folders, optionally of one site and/or one UTC day."""
    if site_id is not None and day is not None:
        folder = partition_dir(events_dir, site_id, day)
        return [folder] if folder.is_dir() else []
    sites = [events_dir / f"site_id={site_id}"] if site_id is not None else sorted(
        p for p in events_dir.glob("site_id=*") if p.is_dir()
    )  # fmt: skip
    pattern = f"date={day.isoformat()}" if day else "date=*"
    return [p for site in sites for p in sorted(site.glob(pattern)) if p.is_dir()]


# Tells a file that may still be published again under the same name (ingestion's
# ``writer.still_logged``: its log segment is not deleted yet); such files wait.
InFlight = Callable[[Path], bool]


def compact_partition(
    folder: Path, result: CompactionResult, in_flight: InFlight | None = None
) -> Path | None:
    """Merge the partition's live files into one; None when there is nothing to merge."""
    files = [p for p in live_files(folder) if not (in_flight and in_flight(p))]
    return _merge(folder, files, result)


def _merge(folder: Path, files: list[Path], result: CompactionResult) -> Path | None:
    if len(files) < 2:
        return None
    # A file that does not decode is quarantined and left out: it is neither merged
    # nor named as replaced, and the rest of the partition is compacted all the same.
    read = quarantine.read_each(files, _read_events)
    files = [path for path, _table in read]
    if len(files) < 2:
        return None
    table = pa.concat_tables([table for _path, table in read]).unify_dictionaries()
    table = table.combine_chunks()
    table = table.take(_compacted_order(table))
    target = folder / f"{COMPACTED_PREFIX}{uuid.uuid4().hex}.parquet"
    # What an earlier compacted input replaced and is still on disk (inside its grace
    # period) must stay replaced after that input is deleted.
    replaces = {p.name for p in files}
    for path in files:
        if path.name.startswith(COMPACTED_PREFIX):
            replaces |= {name for name in replaced_by(path) if (folder / name).exists()}
    publish_table(table, target, sort=False, replaces=replaces, options=COMPACTED_OPTIONS)
    result.partitions += 1
    result.files_in += len(files)
    result.rows += table.num_rows
    result.bytes_in += sum(p.stat().st_size for p in files if p.exists())
    result.bytes_out += target.stat().st_size
    result.compacted.append(target)
    return target


def _read_events(path: Path) -> pa.Table:
    """A file's events with its texts as dictionaries (several times cheaper to read,
    sort and write than strings); NULL ``prev_visitor_id`` where the file predates it."""
    table = pq.read_table(path, read_dictionary=list(STRING_COLUMNS))
    if PREVIOUS_ID not in table.column_names:
        table = table.append_column(PREVIOUS_ID, pa.nulls(table.num_rows, pa.uint64()))
    return table.select(EVENT_SCHEMA.names)


def _compacted_order(table: pa.Table) -> np.ndarray:
    """Rows by (device, os, browser, os_version, browser_version, country, screen_width,
    visitor_id, ts): a visitor's events stay together and in time order (those columns
    are the same for all of a visitor's events of a day), and long runs of equal values
    make those columns nearly free to store (about 2 bytes per event less)."""
    keys = [table.column("ts").cast(pa.int64()).to_numpy(), table.column("visitor_id").to_numpy()]
    keys.append(table.column("screen_width").to_numpy())
    for name in reversed(PLATFORM_COLUMNS):
        column = table.column(name)
        array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        # Sorted dictionary indices, so the order follows the values, not the files.
        dictionary = array.dictionary
        rank = np.argsort(np.argsort(dictionary.to_numpy(zero_copy_only=False)))
        keys.append(rank[array.indices.to_numpy()] if len(dictionary) else array.indices)
    return np.lexsort(keys)


def delete_replaced(folder: Path, grace_seconds: float, now: float | None = None) -> int:
    """Delete files replaced by a compacted file older than the grace period."""
    now = time.time() if now is None else now
    deleted = 0
    for path in sorted(folder.glob(f"{COMPACTED_PREFIX}*.parquet")):
        try:
            if now - path.stat().st_mtime < grace_seconds:
                continue
        except FileNotFoundError:
            continue
        for name in replaced_by(path):
            victim = folder / name
            if victim.exists():
                victim.unlink(missing_ok=True)
                deleted += 1
    for stale in folder.glob(".*.tmp"):  # left by a writer killed mid-write
        if now - stale.stat().st_mtime > grace_seconds:
            stale.unlink(missing_ok=True)
    return deleted


def compact_lake(
    events_dir: Path,
    *,
    site_id: int | None = None,
    day: dt.date | None = None,
    grace_seconds: float = GRACE_SECONDS,
    in_flight: InFlight | None = None,
    today: dt.date | None = None,
    workers: int | None = None,
) -> CompactionResult:
    """Compact every partition (or one site's, or one day's), then write the visits of
    the past days that need them (days before ``today``, UTC). Raises
    ``CompactionBusy`` when another compactor is running."""
    today = today or dt.datetime.now(dt.UTC).date()
    workers = workers or len(os.sched_getaffinity(0))
    result = CompactionResult()
    with compaction_lock(events_dir):
        folders = partitions(events_dir, site_id, day)
        merges = []
        for folder in folders:
            files = [p for p in live_files(folder) if not (in_flight and in_flight(p))]
            if len(files) >= 2:
                merges.append(_Job("events", folder, tuple(p.name for p in files)))
        _run(merges, workers, result)
        # A day's visits depend on the previous day's files too: the day after a
        # partition compacted here may need new ones as well.
        candidates = {*folders, *(_next_day(folder) for folder in folders)}
        derive = [
            _Job("visits", folder)
            for folder in sorted(candidates)
            if folder.is_dir() and _day_of(folder) < today and _stale(events_dir, folder)
        ]
        _run(derive, workers, result)
        for folder in folders:
            try:
                result.deleted += delete_replaced(folder, grace_seconds)
                result.deleted += visits.delete_replaced(
                    events_dir, _site_of(folder), _day_of(folder), grace_seconds
                )
            except FileNotFoundError:
                continue  # the site was deleted meanwhile
        if site_id is None and day is None:
            visits.delete_orphans(events_dir)
    return result


@dataclass(frozen=True, slots=True)
class _Job:
    kind: str  # "events": merge these files of the folder; "visits": write its visits
    folder: Path
    files: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        paths = [self.folder / name for name in self.files] or list(self.folder.glob("*.parquet"))
        total = 0
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total


def _run(jobs: list[_Job], workers: int, result: CompactionResult) -> None:
    """Run the jobs, largest first, on a pool of forked workers when it pays."""
    jobs = sorted(jobs, key=lambda job: job.size, reverse=True)
    if workers <= 1 or len(jobs) < 2:
        for job in jobs:
            result.add(_do(job))
        return
    # Spawned, not forked: the compactor may run threads (pyarrow's, DuckDB's, a test
    # runner's), and a child forked from a threaded process can deadlock on a lock
    # another thread held at the fork. The lock stays with this process; a worker dies
    # with it (_die_with) and holds a shared lock on the workers' lock file while it
    # lives, which a compactor takes exclusively before starting its own: so no worker
    # of a killed compactor still publishes when the next one starts.
    lock = job_lake(jobs[0]) / WORKERS_LOCK
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for the dying workers of a killed run
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        min(workers, len(jobs)), context, initializer=_die_with, initargs=(os.getpid(), lock)
    ) as pool:
        for done in pool.map(_do, jobs):
            result.add(done)


def _do(job: _Job) -> CompactionResult:
    result = CompactionResult()
    try:
        if job.kind == "events":
            _merge(job.folder, [job.folder / name for name in job.files], result)
        else:
            events_dir = job_lake(job)
            written = visits.write_day(events_dir, _site_of(job.folder), _day_of(job.folder))
            if written is not None:
                result.visits += 1
                paths = (written.visits, written.visit_events, written.groups)
                result.visits_bytes += sum(p.stat().st_size for p in paths if p is not None)
    except FileNotFoundError:
        pass  # the site or day was deleted meanwhile
    return result


_PR_SET_PDEATHSIG = 1


_worker_lock: list[int] = []  # a pool worker's shared lock, held until it exits


def _die_with(parent: int, lock: Path) -> None:
    """A pool worker dies when the compactor does (SIGKILL included), and holds a
    shared lock meanwhile (see :func:`_run`), so no orphan publishes later."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _worker_lock.append(fd)
    if os.getppid() != parent:  # the compactor died before prctl took effect
        os._exit(1)


def job_lake(job: _Job) -> Path:
    """The events folder a job's partition belongs to."""
    return job.folder.parent.parent


def _stale(events_dir: Path, folder: Path) -> bool:
    site, day = _site_of(folder), _day_of(folder)
    return bool(live_files(folder)) and visits.fresh_visits(events_dir, site, day) is None


def _site_of(folder: Path) -> int:
    return int(folder.parent.name.removeprefix("site_id="))


def _day_of(folder: Path) -> dt.date:
    return dt.date.fromisoformat(folder.name.removeprefix("date="))


def _next_day(folder: Path) -> Path:
    return folder.with_name(f"date={(_day_of(folder) + dt.timedelta(days=1)).isoformat()}")
