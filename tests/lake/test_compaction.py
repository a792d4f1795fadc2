"""Compaction: one sorted file per partition, atomic for readers, safe to kill anywhere."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pagepulse.ingest.writer import still_logged
from pagepulse.lake.compaction import (
    CompactionBusy,
    compact_lake,
    compaction_lock,
    delete_replaced,
)
from pagepulse.lake.layout import (
    COMPACTED_PREFIX,
    live_files,
    partition_dir,
    partition_files,
    publish_table,
)
from pagepulse.lake.schema import EVENT_SCHEMA, STRING_COLUMNS

DAY = dt.date(2026, 4, 2)


def rows(start: int, count: int, day: dt.date = DAY) -> pa.Table:
    base = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    data = []
    for i in range(start, start + count):
        row = {c: "" for c in STRING_COLUMNS}
        row.update(
            ts=base + dt.timedelta(seconds=i % 86_000),
            visitor_id=(i * 7919) % 1000,
            name="pageview",
            pathname=f"/p/{i}",
            screen_width=1280,
            props=[("i", str(i))] if i % 3 == 0 else [],
        )
        data.append(row)
    return pa.Table.from_pylist(data, schema=EVENT_SCHEMA)


def write_files(events: Path, site_id: int, count: int, size: int, prefix: str = "wal-x") -> None:
    folder = partition_dir(events, site_id, DAY)
    for n in range(count):
        publish_table(rows(n * size, size), folder / f"{prefix}{n}.parquet")


def read_live(events: Path, site_id: int = 1) -> list[tuple]:
    files = [str(p) for p in partition_files(events, site_id, [DAY])]
    if not files:
        return []
    with duckdb.connect() as conn:
        return conn.execute(
            "SELECT ts, visitor_id, pathname, props FROM read_parquet($f) ORDER BY pathname",
            {"f": files},
        ).fetchall()


def test_files_merge_into_one_sorted_file_and_readers_see_the_same_rows(tmp_path):
    events = tmp_path / "events"
    write_files(events, 1, count=5, size=200)
    before = read_live(events)
    result = compact_lake(events)
    assert (result.partitions, result.files_in, result.rows) == (1, 5, 1000)
    [live] = live_files(partition_dir(events, 1, DAY))
    assert live.name.startswith(COMPACTED_PREFIX)
    assert read_live(events) == before
    # Sorted by visitor, then time.
    with duckdb.connect() as conn:
        order = conn.execute(
            "SELECT visitor_id, ts FROM read_parquet($f)", {"f": str(live)}
        ).fetchall()
    assert order == sorted(order)
    # The replaced files stay for the grace period, then go; the live set is unchanged.
    folder = partition_dir(events, 1, DAY)
    assert len(list(folder.glob("*.parquet"))) == 6
    assert delete_replaced(folder, grace_seconds=300) == 0
    assert delete_replaced(folder, grace_seconds=300, now=time.time() + 301) == 5
    assert [p.name for p in folder.glob("*.parquet")] == [live.name]
    assert read_live(events) == before


def test_compacting_again_takes_in_new_files(tmp_path):
    events = tmp_path / "events"
    write_files(events, 1, count=3, size=100)
    compact_lake(events)
    folder = partition_dir(events, 1, DAY)
    publish_table(rows(5000, 50), folder / "wal-late.parquet")
    before = read_live(events)
    assert len(before) == 350
    compact_lake(events)
    [live] = live_files(folder)
    assert read_live(events) == before
    # The first compacted file's inputs are still on disk (grace period): replaced too.
    delete_replaced(folder, grace_seconds=0)
    assert read_live(events) == before
    assert [p.name for p in folder.glob("*.parquet")] == [live.name]


def test_files_still_in_the_write_ahead_log_wait(tmp_path):
    events, wal = tmp_path / "events", tmp_path / "wal"
    wal.mkdir()
    write_files(events, 1, count=3, size=10, prefix="wal-seg")
    (wal / "seg2.seg").write_bytes(b"")  # segment 2 is not deleted yet
    compact_lake(events, in_flight=lambda p: still_logged(wal, p))
    names = sorted(p.name for p in live_files(partition_dir(events, 1, DAY)))
    assert names[1] == "wal-seg2.parquet" and names[0].startswith(COMPACTED_PREFIX)
    assert len(read_live(events)) == 30


def test_only_one_compactor_at_a_time(tmp_path):
    events = tmp_path / "events"
    with compaction_lock(events), pytest.raises(CompactionBusy):
        compact_lake(events)


def test_one_site_or_one_day(tmp_path):
    events = tmp_path / "events"
    write_files(events, 1, count=2, size=10)
    write_files(events, 2, count=2, size=10)
    assert compact_lake(events, site_id=2).partitions == 1
    assert len(live_files(partition_dir(events, 1, DAY))) == 2
    assert compact_lake(events, site_id=1, day=DAY + dt.timedelta(days=1)).partitions == 0


KILL_CYCLES = int(os.environ.get("PAGEPULSE_COMPACTION_KILL_CYCLES", "6"))
KILLED_COMPACTOR = """
import sys
from pathlib import Path
from pagepulse.lake.compaction import compact_lake
compact_lake(Path(sys.argv[1]), grace_seconds=0)
"""


def test_sigkill_at_any_instant_loses_nothing_and_counts_nothing_twice(tmp_path):
    events = tmp_path / "events"
    rng = random.Random(5)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    killed, added = 0, 0
    for cycle in range(KILL_CYCLES):
        # New files arrive between runs, as ingestion adds them, so there is work.
        for site in (1, 2, 3):
            folder = partition_dir(events, site, DAY)
            for n in range(4):
                publish_table(rows(added, 2000), folder / f"wal-c{cycle}-{n}.parquet")
                added += 2000
        expected = {site: read_live(events, site) for site in (1, 2, 3)}
        before = set(events.rglob("*compacted-*"))
        proc = subprocess.Popen([sys.executable, "-c", KILLED_COMPACTOR, str(events)], env=env)
        # Wait until it is writing its first file, then kill it a little later: in the
        # middle of a write, between partitions, or before it deletes what it replaced.
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if set(events.rglob("*compacted-*")) - before:
                break
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.25))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        for site in (1, 2, 3):
            assert read_live(events, site) == expected[site], f"cycle {cycle}, site {site}"
    assert killed >= 2, "the compactor always finished before the kill"
    compact_lake(events, grace_seconds=0)
    for site in (1, 2, 3):
        assert read_live(events, site) == expected[site]
        folder = partition_dir(events, site, DAY)
        assert len(live_files(folder)) == 1
        assert len(list(folder.glob("*.parquet"))) == 1, "everything replaced is deleted"
