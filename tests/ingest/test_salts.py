"""Daily salts: one per UTC day, none older than yesterday, a new visitor id every day."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import time_machine
from fastapi.testclient import TestClient

from pagepulse.asgi import create_app
from pagepulse.config import Settings
from pagepulse.control.db import open_database
from pagepulse.control.sites import create_site
from pagepulse.control.users import create_user
from pagepulse.ingest import salts
from pagepulse.ingest.visitor import visitor_id


def test_one_salt_per_day_and_none_older_than_yesterday(tmp_path):
    conn = open_database(tmp_path / "db.sqlite3")
    other = open_database(tmp_path / "db.sqlite3")  # a second worker
    day1 = dt.datetime(2026, 5, 1, 0, 0, 1, tzinfo=dt.UTC)
    s1 = salts.rotate(conn, day1)
    assert salts.rotate(other, day1) == s1 and len(s1) == 16
    s2 = salts.rotate(conn, day1 + dt.timedelta(days=1))
    s3 = salts.rotate(conn, day1 + dt.timedelta(days=2))
    assert len({s1, s2, s3}) == 3
    days = [r[0] for r in conn.execute("SELECT day FROM salts ORDER BY day")]
    assert days == ["2026-05-02", "2026-05-03"]  # day 1's salt is gone after 48 h
    assert files_holding(tmp_path, s1) == [], "nor is it left in SQLite's files"


def test_same_visitor_gets_unrelated_ids_on_two_days(tmp_path):
    conn = open_database(tmp_path / "db.sqlite3")
    monday = salts.rotate(conn, dt.datetime(2026, 5, 4, 12, tzinfo=dt.UTC))
    tuesday = salts.rotate(conn, dt.datetime(2026, 5, 5, 12, tzinfo=dt.UTC))
    ua = "Mozilla/5.0 Firefox/133.0"
    a = visitor_id(monday, 1, "203.0.113.5", ua)
    assert a == visitor_id(monday, 1, "203.0.113.5", ua)
    assert a != visitor_id(tuesday, 1, "203.0.113.5", ua)
    assert a != visitor_id(monday, 2, "203.0.113.5", ua)  # and per site
    assert 0 <= a < 2**64


# -- the running service: rotation at UTC midnight, with time moved by time-machine ----

IP = "203.0.113.5"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
START = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def salts_by_day(settings: Settings) -> dict[dt.date, bytes]:
    """The salts table as it is (a short-lived connection, so no snapshot is held)."""
    conn = open_database(settings.db_path)
    try:
        rows = conn.execute("SELECT day, salt FROM salts").fetchall()
    finally:
        conn.close()
    return {dt.date.fromisoformat(day): bytes(salt) for day, salt in rows}


def files_holding(data_dir: Path, secret: bytes) -> list[str]:
    """Every file under the data dir whose bytes contain ``secret``."""
    return sorted(
        str(path.relative_to(data_dir))
        for path in data_dir.rglob("*")
        if path.is_file() and secret in path.read_bytes()
    )


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_running_service_keeps_no_salt_older_than_yesterday(tmp_path: Path) -> None:
    """Six days of a running server, time driven by time-machine: events on some days,
    none on others. The salts table never holds a day older than yesterday, and an
    expired salt's bytes are in no file of the data dir (SQLite's log included). The
    same IP and user agent get one id per day, a different one every day, each the
    hash with that day's salt alone."""
    settings = Settings(data_dir=tmp_path / "data", secret_key="test-secret", flush_seconds=0.1)
    conn = open_database(settings.db_path)
    owner = create_user(conn, "owner@example.com", "a-long-password")
    site = create_site(conn, "example.com", owner.id).id
    conn.close()
    seen: dict[dt.date, bytes] = {}
    beacon = {"n": "pageview", "u": "https://example.com/", "d": "example.com"}

    def check_today(today: dt.date) -> None:
        # The flusher deletes expired salts within a flush of midnight, events or not.
        wait_for(lambda: min(salts_by_day(settings)) >= today - dt.timedelta(days=1))
        current = salts_by_day(settings)
        assert today in current and set(current) <= {today, today - dt.timedelta(days=1)}
        seen.update(current)
        for day, salt in seen.items():
            if day < today - dt.timedelta(days=1):
                assert files_holding(settings.data_dir, salt) == [], f"{day}'s salt survives"

    app = create_app(settings)
    with (
        time_machine.travel(START, tick=True) as clock,
        TestClient(app, client=(IP, 40000)) as client,
    ):
        for offset in (0, 1, 2, 5):  # days 3 and 4: nobody visits
            today = (START + dt.timedelta(days=offset)).date()
            clock.move_to(dt.datetime.combine(today, dt.time(12), dt.UTC))
            for _ in range(2):
                response = client.post("/api/event", json=beacon, headers={"User-Agent": UA})
                assert response.status_code == 202
            check_today(today)
        # Two more idle days: the flusher alone rotates, a few seconds after midnight.
        clock.move_to(dt.datetime.combine(today + dt.timedelta(days=2), dt.time(0, 0, 5), dt.UTC))
        check_today(today + dt.timedelta(days=2))

    rows = duckdb.execute(
        "SELECT date, visitor_id FROM read_parquet($files, hive_partitioning = true)",
        {"files": [str(p) for p in settings.events_dir.rglob("*.parquet")]},
    ).fetchall()
    ids: dict[dt.date, set[int]] = {}
    for day, visitor in rows:
        ids.setdefault(day, set()).add(visitor)
    days = [(START + dt.timedelta(days=offset)).date() for offset in (0, 1, 2, 5)]
    assert sorted(ids) == days and len(rows) == 8
    assert all(len(ids[day]) == 1 for day in days), "one id per visitor per day"
    assert len({next(iter(ids[day])) for day in days}) == len(days), "a new id every day"
    for day in days:
        assert ids[day] == {visitor_id(seen[day], site, IP, UA)}
