"""Retention deletes exactly the days before each site's cutoff, atomically; deleting a
site removes all its folders. Through the function, the CLI and the server's schedule."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pagepulse.cli import app
from pagepulse.config import Settings
from pagepulse.control.db import open_database
from pagepulse.control.sites import create_site, get_site, retention_by_site, set_retention_months
from pagepulse.control.users import create_user
from pagepulse.lake.compaction import COMPACTED_PREFIX, CompactionBusy, compaction_lock
from pagepulse.lake.layout import live_files, partition_dir, publish_table, site_days
from pagepulse.lake.retention import (
    delete_site_events,
    enforce_retention,
    enforce_retention_and_compact,
    retention_cutoff,
)
from pagepulse.lake.schema import EVENT_SCHEMA, STRING_COLUMNS
from tests.support.server import Server

TODAY = dt.date(2026, 3, 15)


def day_table(day: dt.date, count: int = 3) -> pa.Table:
    base = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    rows = [
        {**dict.fromkeys(STRING_COLUMNS, ""), "ts": base + dt.timedelta(minutes=i),
         "visitor_id": i, "name": "pageview", "screen_width": 0, "props": []}
        for i in range(count)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def write_day(events: Path, site_id: int, day: dt.date, name: str = "wal-1") -> None:
    publish_table(day_table(day), partition_dir(events, site_id, day) / f"{name}.parquet")


def days(*isodays: str) -> list[dt.date]:
    return [dt.date.fromisoformat(d) for d in isodays]


# Each cutoff below falls between two of these days.
ALL_DAYS = days("2024-02-29", "2024-03-01", "2025-08-31", "2025-09-01", "2026-03-15")


@pytest.mark.parametrize(
    ("months", "today", "cutoff"),
    [
        (12, "2025-03-15", "2024-03-01"),
        (6, "2025-01-31", "2024-07-01"),
        (24, "2026-03-01", "2024-03-01"),
        (36, "2025-12-31", "2022-12-01"),
        (1, "2025-01-01", "2024-12-01"),
    ],
)
def test_cutoff_is_the_first_day_of_the_month_n_months_back(months, today, cutoff):
    assert retention_cutoff(months, dt.date.fromisoformat(today)) == dt.date.fromisoformat(cutoff)


def test_deletes_exactly_the_days_before_each_sites_cutoff(tmp_path):
    events = tmp_path / "events"
    for site_id in (1, 2, 3, 4):
        for day in ALL_DAYS:
            write_day(events, site_id, day)
    # 1 keeps 24 months (from 2024-03-01), 2 forever, 3 is not listed, 4 keeps 6 months
    # (from 2025-09-01).
    deleted = enforce_retention(events, {1: 24, 2: None, 4: 6}, today=TODAY)
    assert deleted == 1 + 3
    assert site_days(events, 1) == ALL_DAYS[1:]
    assert site_days(events, 2) == ALL_DAYS
    assert site_days(events, 3) == ALL_DAYS
    assert site_days(events, 4) == days("2025-09-01", "2026-03-15")
    # Nothing else went: every kept day still has its file, no hidden folder is left.
    for site_id in (1, 2, 3, 4):
        folder = events / f"site_id={site_id}"
        assert sorted(p.name for p in folder.iterdir()) == [
            f"date={d}" for d in site_days(events, site_id)
        ]
        assert all(len(live_files(folder / f"date={d}")) == 1 for d in site_days(events, site_id))
    assert enforce_retention(events, {1: 24, 4: 6}, today=TODAY) == 0  # idempotent


def test_readers_never_see_a_day_being_deleted(tmp_path):
    """A day renamed to its hidden folder is invisible to the documented globs, and a
    crash before its removal is cleaned up by the next run."""
    events = tmp_path / "events"
    for day in ALL_DAYS:
        write_day(events, 1, day)
    leftover = events / "site_id=1" / ".deleting-date=2020-01-01-4242"
    leftover.mkdir()
    publish_table(day_table(dt.date(2020, 1, 1)), leftover / "wal-1.parquet")
    glob = str(events / "site_id=*" / "date=*" / "*.parquet")
    with duckdb.connect() as conn:
        count = conn.execute("SELECT count(*) FROM read_parquet($g)", {"g": glob}).fetchone()
    assert count == (3 * len(ALL_DAYS),)
    enforce_retention(events, {1: 36}, today=TODAY)
    assert not leftover.exists()
    assert site_days(events, 1) == ALL_DAYS


def test_waits_for_a_running_compaction(tmp_path):
    events = tmp_path / "events"
    write_day(events, 1, ALL_DAYS[0])
    with compaction_lock(events), pytest.raises(CompactionBusy):
        enforce_retention(events, {1: 6}, today=TODAY)
    assert site_days(events, 1) == ALL_DAYS[:1]


def test_the_scheduled_job_deletes_then_compacts(tmp_path):
    events = tmp_path / "events"
    old, recent = dt.date(2020, 5, 1), dt.datetime.now(dt.UTC).date()
    for name in ("wal-1", "wal-2"):
        write_day(events, 1, old, name)
        write_day(events, 1, recent, name)
    deleted, result = enforce_retention_and_compact(events, {1: 12})
    assert deleted == 1
    assert result.partitions == 1
    assert site_days(events, 1) == [recent]
    [live] = live_files(partition_dir(events, 1, recent))
    assert live.name.startswith(COMPACTED_PREFIX)


def test_deleting_a_site_removes_all_its_folders_and_nothing_else(tmp_path):
    events = tmp_path / "events"
    for site_id in (1, 2):
        for day in ALL_DAYS:
            write_day(events, site_id, day)
    assert delete_site_events(events, 1)
    assert sorted(p.name for p in events.iterdir()) == ["site_id=2"]
    assert site_days(events, 2) == ALL_DAYS
    assert not delete_site_events(events, 1)


def test_retention_setting_is_stored_per_site(settings: Settings):
    conn = open_database(settings.db_path)
    owner = create_user(conn, "ann@example.com", "a-long-password")
    first = create_site(conn, "one.example", owner.id)
    second = create_site(conn, "two.example", owner.id)
    assert first.retention_months is None
    assert retention_by_site(conn) == {}
    set_retention_months(conn, first.id, 12)
    assert get_site(conn, first.id).retention_months == 12
    assert retention_by_site(conn) == {first.id: 12}
    set_retention_months(conn, first.id, None)
    assert retention_by_site(conn) == {}
    with pytest.raises(ValueError):
        set_retention_months(conn, second.id, 0)
    conn.close()


def test_the_cli_applies_the_stored_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEPULSE_DATA_DIR", str(tmp_path / "data"))
    settings = Settings()
    conn = open_database(settings.db_path)
    owner = create_user(conn, "ann@example.com", "a-long-password")
    kept = create_site(conn, "kept.example", owner.id)
    trimmed = create_site(conn, "trimmed.example", owner.id)
    set_retention_months(conn, trimmed.id, 6)
    conn.close()
    today = dt.datetime.now(dt.UTC).date()
    old = retention_cutoff(6, today) - dt.timedelta(days=1)
    for site_id in (kept.id, trimmed.id):
        write_day(settings.events_dir, site_id, old)
        write_day(settings.events_dir, site_id, today)
    result = CliRunner().invoke(app, ["retention"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 days" in result.output
    assert site_days(settings.events_dir, kept.id) == [old, today]
    assert site_days(settings.events_dir, trimmed.id) == [today]


def test_the_server_applies_retention_on_its_compaction_schedule(tmp_path):
    server = Server(tmp_path / "data", env={"PAGEPULSE_COMPACT_SECONDS": "0.5"})
    site = server.add_site("example.com")
    conn = open_database(server.data_dir / "pagepulse.sqlite3")
    set_retention_months(conn, site, 6)
    conn.close()
    events = server.data_dir / "events"
    old, recent = dt.date(2021, 1, 1), dt.datetime.now(dt.UTC).date()
    write_day(events, site, old)
    write_day(events, site, recent)
    server.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and old in site_days(events, site):
            time.sleep(0.1)
    finally:
        server.stop()
    assert site_days(events, site) == [recent], server.logs()[-2000:]
