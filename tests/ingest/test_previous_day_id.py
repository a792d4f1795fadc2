"""``prev_visitor_id``: the id under yesterday's salt, stored only in the first 30 minutes
of a UTC day, so that a visit across midnight can be counted once (docs/lake.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pagepulse.config import Settings
from pagepulse.control.db import open_database
from pagepulse.demo.generator import SiteSpec, generate_site_day
from pagepulse.ingest import salts
from pagepulse.ingest.service import IngestService
from pagepulse.ingest.visitor import visitor_id
from pagepulse.ingest.writer import rows_to_table
from pagepulse.lake.importer import events_from_table
from pagepulse.lake.schema import EVENT_COLUMNS, PREVIOUS_DAY_WINDOW_US

MIDNIGHT = dt.datetime(2026, 5, 5, tzinfo=dt.UTC)


def ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 10**9


def test_the_previous_salt_is_offered_in_the_first_30_minutes_only(tmp_path: Path) -> None:
    service = IngestService(Settings(data_dir=tmp_path))
    service._db = open_database(tmp_path / "pagepulse.sqlite3")
    yesterday = salts.rotate(service._db, MIDNIGHT - dt.timedelta(hours=2))
    today = service.salt(ns(MIDNIGHT + dt.timedelta(minutes=1)))
    assert today != yesterday
    assert service.previous_salt(ns(MIDNIGHT + dt.timedelta(minutes=29, seconds=59))) == yesterday
    assert service.previous_salt(ns(MIDNIGHT + dt.timedelta(minutes=30))) is None
    assert service.previous_salt(ns(MIDNIGHT + dt.timedelta(hours=23))) is None


def test_no_previous_salt_is_made_up(tmp_path: Path) -> None:
    # A server started just after midnight had no salt yesterday: none is created.
    service = IngestService(Settings(data_dir=tmp_path))
    service._db = open_database(tmp_path / "pagepulse.sqlite3")
    service.salt(ns(MIDNIGHT + dt.timedelta(minutes=1)))
    assert service.previous_salt(ns(MIDNIGHT + dt.timedelta(minutes=2))) is None
    assert salts.existing_salt(service._db, MIDNIGHT.date() - dt.timedelta(days=1)) is None
    days = [r[0] for r in service._db.execute("SELECT day FROM salts")]
    assert days == [MIDNIGHT.date().isoformat()]


def test_the_previous_id_is_yesterdays_visitor_id(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "db.sqlite3")
    monday = salts.rotate(conn, MIDNIGHT - dt.timedelta(hours=1))
    ua = "Mozilla/5.0 Firefox/133.0"
    evening = visitor_id(monday, 3, "198.51.100.7", ua)
    assert visitor_id(salts.existing_salt(conn, MIDNIGHT.date() - dt.timedelta(days=1)), 3,
                      "198.51.100.7", ua) == evening  # fmt: skip


def test_log_records_written_before_the_column_existed_read_as_null() -> None:
    base = [1_700_000_000_000_000, 7, "pageview", "example.com", "/", "", "", "", "", "", "",
            "", "DE", "Chrome", "131", "Windows", "10", "desktop", 1920, {}]  # fmt: skip
    table = rows_to_table([base, [*base, 42]])
    assert len(base) == len(EVENT_COLUMNS) - 1
    assert table["prev_visitor_id"].to_pylist() == [None, 42]


def test_imports_keep_the_column_optional_and_nullable() -> None:
    ts = pa.array([MIDNIGHT, MIDNIGHT + dt.timedelta(hours=3)], pa.timestamp("us", tz="UTC"))
    without = events_from_table(pa.table({"ts": ts, "visitor_id": pa.array([1, 2], pa.uint64())}))
    assert without["prev_visitor_id"].to_pylist() == [None, None]
    text = pa.table({"ts": ts, "visitor_id": ["1", "2"], "prev_visitor_id": ["99", ""]})
    assert events_from_table(text)["prev_visitor_id"].to_pylist() == [99, None]


def test_generated_traffic_carries_it_exactly_in_the_window(tmp_path: Path) -> None:
    spec = SiteSpec(1, "example.com", "UTC", 3000)
    table = generate_site_day(spec, MIDNIGHT.date(), np.random.default_rng(3))
    path = tmp_path / "day.parquet"
    pq.write_table(table, path)
    rows = pq.read_table(path, columns=["ts", "visitor_id", "prev_visitor_id"]).to_pylist()
    window = dt.timedelta(microseconds=PREVIOUS_DAY_WINDOW_US)
    early = [r for r in rows if (r["ts"] - r["ts"].replace(hour=0, minute=0, second=0,
                                                          microsecond=0)) < window]  # fmt: skip
    assert early and len(early) < len(rows)
    assert all(r["prev_visitor_id"] is not None for r in early)
    assert sum(r["prev_visitor_id"] is not None for r in rows) == len(early)
    # One visitor, one previous id, unrelated to its id of the day.
    pairs = {(r["visitor_id"], r["prev_visitor_id"]) for r in early}
    assert len({v for v, _ in pairs}) == len(pairs)
    assert all(v != p for v, p in pairs)
