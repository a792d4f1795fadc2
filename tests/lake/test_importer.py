"""pagepulse.lake.importer: Parquet and CSV files into the lake, read back with DuckDB."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pagepulse.demo.generator import SiteSpec, generate
from pagepulse.lake import importer
from pagepulse.lake.importer import import_file
from pagepulse.lake.schema import EVENT_SCHEMA

SITE = 7
COLUMNS = ", ".join(EVENT_SCHEMA.names)


def generated(days: int = 3, visitors: int = 300) -> pa.Table:
    spec = SiteSpec(1, "example.com", "America/New_York", visitors)
    return pa.concat_tables(t for _, _, t in generate([spec], dt.date(2025, 3, 1), days, seed=4))


def lake_rows(events_dir: Path, where: str = "true") -> list[tuple]:
    return duckdb.sql(
        f"""
        SELECT {COLUMNS}, date FROM read_parquet(
            '{events_dir}/site_id={SITE}/date=*/*.parquet', hive_partitioning = true)
        WHERE {where} ORDER BY ALL
        """
    ).fetchall()


def table_rows(table: pa.Table) -> list[tuple]:
    con = duckdb.connect()
    con.register("source", table)
    return con.sql(
        f"SELECT {COLUMNS}, (ts AT TIME ZONE 'UTC')::DATE FROM source ORDER BY ALL"
    ).fetchall()


def lake_files(events_dir: Path) -> list[Path]:
    return sorted(events_dir.rglob("*")) if events_dir.exists() else []


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def test_parquet_round_trip(tmp_path: Path):
    source = generated()
    pq.write_table(source, tmp_path / "events.parquet")

    result = import_file(tmp_path / "events", SITE, tmp_path / "events.parquet")

    assert result.rows == source.num_rows
    assert lake_rows(tmp_path / "events") == table_rows(source)


def test_csv_round_trip_with_iso_times_and_json_props(tmp_path: Path):
    source = generated()
    con = duckdb.connect()
    con.register("source", source)
    csv = tmp_path / "events.csv"
    con.sql(
        f"""COPY (SELECT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS ts,
                         * EXCLUDE (ts, props), to_json(props) AS props FROM source)
            TO '{csv}' (HEADER)"""
    )

    result = import_file(tmp_path / "events", SITE, csv)

    assert result.rows == source.num_rows
    assert lake_rows(tmp_path / "events") == table_rows(source)
    [(with_props,)] = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{tmp_path}/events/site_id={SITE}/date=*/*.parquet')"
        " WHERE props['plan'] IS NOT NULL"
    ).fetchall()
    assert with_props > 0


def test_one_sorted_file_per_utc_day(tmp_path: Path):
    csv = write_csv(
        tmp_path / "e.csv",
        """
ts,visitor_id,pathname
2025-03-01T23:59:59Z,2,/a
2025-03-02T00:30:00+01:00,1,/b
2025-03-02 00:00:00,3,/c
2025-03-01T22:00:00Z,1,/d
""",
    )
    result = import_file(tmp_path / "events", SITE, csv)

    assert result == importer.ImportResult(rows=4, partitions=2)
    files = [p for p in lake_files(tmp_path / "events") if p.is_file()]
    assert [(f.parent.name, f.name.startswith("import-")) for f in files] == [
        ("date=2025-03-01", True),
        ("date=2025-03-02", True),
    ]
    # 00:30+01:00 is 23:30 UTC of the day before; a time without an offset is UTC.
    by_file = [pq.read_table(f).select(["visitor_id", "pathname"]).to_pylist() for f in files]
    assert by_file == [
        [
            {"visitor_id": 1, "pathname": "/d"},
            {"visitor_id": 1, "pathname": "/b"},
            {"visitor_id": 2, "pathname": "/a"},
        ],
        [{"visitor_id": 3, "pathname": "/c"}],
    ]


def test_missing_optional_columns_and_nulls_become_defaults(tmp_path: Path):
    csv = write_csv(
        tmp_path / "e.csv",
        """
ts,visitor_id,pathname,country,device,screen_width,name
2025-03-01T10:00:00Z,18446744073709551615,/x,,,,
2025-03-01T10:01:00Z,5,/y,de,Mobile,390,Signup
""",
    )
    import_file(tmp_path / "events", SITE, csv)

    rows = duckdb.sql(
        f"""SELECT visitor_id, name, hostname, referrer, country, device, screen_width,
                   props, typeof(props)
            FROM read_parquet('{tmp_path}/events/site_id={SITE}/date=*/*.parquet')
            ORDER BY visitor_id"""
    ).fetchall()
    assert rows == [
        (5, "Signup", "", "", "DE", "mobile", 390, {}, "MAP(VARCHAR, VARCHAR)"),
        (2**64 - 1, "pageview", "", "", "", "", 0, {}, "MAP(VARCHAR, VARCHAR)"),
    ]


def test_parquet_with_other_arrow_types_is_converted(tmp_path: Path):
    source = pa.table(
        {
            "visitor_id": pa.array([1, 2], pa.int64()),
            "ts": pa.array(
                [dt.datetime(2025, 3, 1, 12), dt.datetime(2025, 3, 1, 13)], pa.timestamp("ms")
            ),
            "pathname": pa.array(["/a", None], pa.large_string()),
            "screen_width": pa.array([1920, None], pa.int32()),
        }
    )
    pq.write_table(source, tmp_path / "e.parquet")
    import_file(tmp_path / "events", SITE, tmp_path / "e.parquet")

    assert duckdb.sql(
        f"""SELECT visitor_id, ts AT TIME ZONE 'UTC', pathname, screen_width
            FROM read_parquet('{tmp_path}/events/site_id={SITE}/date=*/*.parquet') ORDER BY 1"""
    ).fetchall() == [
        (1, dt.datetime(2025, 3, 1, 12), "/a", 1920),
        (2, dt.datetime(2025, 3, 1, 13), "", 0),
    ]


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        ("ts,visitor_id,ip", "2025-03-01T10:00:00Z,1,1.2.3.4", "unknown columns: ip"),
        ("ts,pathname", "2025-03-01T10:00:00Z,/", "missing required columns: visitor_id"),
        ("ts,visitor_id", "2025-03-01T10:00:00Z,", "column 'visitor_id'"),
        ("ts,visitor_id", "2025-03-01T10:00:00Z,-4", "column 'visitor_id'"),
        ("ts,visitor_id", "yesterday,1", "column 'ts'"),
        ("ts,visitor_id", "2999-01-01T00:00:00Z,1", "more than a day in the future"),
        ("ts,visitor_id,screen_width", "2025-03-01T10:00:00Z,1,wide", "column 'screen_width'"),
        ("ts,visitor_id,screen_width", "2025-03-01T10:00:00Z,1,70000", "column 'screen_width'"),
        ("ts,visitor_id,country", "2025-03-01T10:00:00Z,1,Germany", "column 'country'"),
        ("ts,visitor_id,device", "2025-03-01T10:00:00Z,1,phone", "column 'device'"),
        ("ts,visitor_id,props", '2025-03-01T10:00:00Z,1,"[1, 2]"', "column 'props'"),
        ("ts,visitor_id,props", "2025-03-01T10:00:00Z,1,{plan", "column 'props'"),
    ],
)
def test_a_bad_file_imports_nothing(tmp_path: Path, header: str, row: str, message: str):
    # Good rows on other days come first: they must not be published either.
    csv = write_csv(
        tmp_path / "e.csv",
        f"{header}\n" + "\n".join([_good_row(header, day) for day in (1, 2)] + [row]),
    )
    with pytest.raises(ValueError, match=message):
        import_file(tmp_path / "events", SITE, csv)
    assert lake_files(tmp_path / "events") == []


def _good_row(header: str, day: int) -> str:
    values = {
        "ts": f"2025-02-0{day}T10:00:00Z",
        "visitor_id": "9",
        "ip": "",
        "pathname": "/",
        "screen_width": "390",
        "country": "DE",
        "device": "mobile",
        "props": "{}",
    }
    return ",".join(values[name] for name in header.split(","))


def test_wrong_parquet_type_names_the_column(tmp_path: Path):
    table = pa.table({"ts": ["2025-03-01T10:00:00Z"], "visitor_id": [1], "country": [49]})
    pq.write_table(table, tmp_path / "e.parquet")
    with pytest.raises(ValueError, match="column 'country': expected text"):
        import_file(tmp_path / "events", SITE, tmp_path / "e.parquet")


def test_failure_while_writing_publishes_nothing(tmp_path: Path, monkeypatch):
    calls = []
    real_publish = importer.publish_table

    def publish_then_fail(table, path, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_publish(table, path, **kwargs)

    monkeypatch.setattr(importer, "publish_table", publish_then_fail)
    pq.write_table(generated(), tmp_path / "e.parquet")
    with pytest.raises(OSError, match="disk full"):
        import_file(tmp_path / "events", SITE, tmp_path / "e.parquet")

    assert len(calls) == 2
    assert [p for p in lake_files(tmp_path / "events") if p.is_file()] == []


def test_unknown_file_type(tmp_path: Path):
    (tmp_path / "e.json").write_text("[]")
    with pytest.raises(ValueError, match=r"\.parquet or \.csv"):
        import_file(tmp_path / "events", SITE, tmp_path / "e.json")


def test_import_speed(tmp_path: Path):
    source = generated(days=4, visitors=100_000)
    pq.write_table(source, tmp_path / "big.parquet")
    started = time.perf_counter()
    result = import_file(tmp_path / "events", SITE, tmp_path / "big.parquet")
    elapsed = time.perf_counter() - started
    print(f"\nimport: {result.rows:,} rows, {result.partitions} partitions in {elapsed:.2f} s")
    assert result.rows == source.num_rows
