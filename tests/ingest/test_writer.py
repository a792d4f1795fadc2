import asyncio
import datetime as dt

import duckdb

from pagepulse.ingest.wal import WriteAheadLog
from pagepulse.ingest.writer import encode_row, publish_segment

US = 1_000_000


def row(ts: dt.datetime, visitor: int, path: str = "/", props: dict | None = None) -> tuple:
    return (
        int(ts.timestamp() * US), visitor, "pageview", "example.com", path, "", "",
        "", "", "", "", "", "DE", "Chrome", "131", "Windows", "10", "desktop", 1920, props or {},
    )  # fmt: skip


def test_segment_becomes_one_file_per_site_day_and_replay_is_idempotent(tmp_path):
    day1 = dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.UTC)
    day2 = day1 + dt.timedelta(seconds=2)
    events = tmp_path / "events"

    async def fill():
        wal = WriteAheadLog(tmp_path / "wal", segment_bytes=1 << 20)
        await wal.append(encode_row(1, row(day1, 7, "/a", {"plan": "pro"})))
        await wal.append(encode_row(1, row(day2, 7, "/b")))
        await wal.append(encode_row(2, row(day2, 9, "/c")))
        [segment] = await wal.close()
        return segment

    segment = asyncio.run(fill())
    assert publish_segment(segment.path, events) == 3
    assert publish_segment(segment.path, events) == 3  # a crash before delete: replayed
    files = sorted(p.relative_to(events).parent.as_posix() for p in events.rglob("*.parquet"))
    assert files == [
        "site_id=1/date=2026-03-01",
        "site_id=1/date=2026-03-02",
        "site_id=2/date=2026-03-02",
    ]
    rows = duckdb.sql(
        f"SELECT site_id, date::VARCHAR, pathname, visitor_id, props "
        f"FROM read_parquet('{events}/**/*.parquet', hive_partitioning = true) ORDER BY ts, site_id"
    ).fetchall()
    assert rows == [
        (1, "2026-03-01", "/a", 7, {"plan": "pro"}),
        (1, "2026-03-02", "/b", 7, {}),
        (2, "2026-03-02", "/c", 9, {}),
    ]
    segment.release(delete=True)
