import datetime as dt

from pagepulse.control.db import open_database
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
