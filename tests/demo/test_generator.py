"""The traffic generator: schema, determinism, realism invariants, partitioning, speed."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from pagepulse.demo.generator import (
    SiteSpec,
    benchmark_specs,
    generate,
    generate_site_day,
    write_lake,
)
from pagepulse.lake.schema import EVENT_SCHEMA

START = dt.date(2025, 3, 28)  # spans the Europe/Berlin switch to summer time on 30 March
SPECS = [
    SiteSpec(1, "berlin.example", "Europe/Berlin", 3000),
    SiteSpec(2, "la.example", "America/Los_Angeles", 1500),
]


@pytest.fixture(scope="module")
def events() -> pa.Table:
    """Four days of two sites, with the site id as an extra column for the checks."""
    tables = [
        table.append_column("site_id", pa.array([site_id] * table.num_rows, pa.int64()))
        for site_id, _, table in generate(SPECS, START, 4, seed=11)
    ]
    return pa.concat_tables(tables)


def sql(query: str, **tables: pa.Table) -> list[tuple]:
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con.sql(query).fetchall()


def test_tables_have_exactly_the_event_schema():
    table = generate_site_day(SPECS[0], START, np.random.default_rng(1))
    assert table.num_rows > 1000
    assert table.schema == EVENT_SCHEMA


def test_same_seed_same_events_other_seed_other_events():
    first = [t for _, _, t in generate(SPECS, START, 2, seed=5)]
    again = [t for _, _, t in generate(SPECS, START, 2, seed=5)]
    other = [t for _, _, t in generate(SPECS, START, 2, seed=6)]
    assert all(a.equals(b) for a, b in zip(first, again, strict=True))
    assert not first[0].equals(other[0])


def test_a_site_day_does_not_depend_on_the_other_sites():
    alone = next(generate(SPECS[1:], START, 1, seed=5))[2]
    together = next(t for site_id, _, t in generate(SPECS, START, 1, seed=5) if site_id == 2)
    assert alone.equals(together)


def test_screen_width_is_inside_the_device_bucket(events):
    rows = sql(
        """
        SELECT device, min(screen_width), max(screen_width), count(*)
        FROM events GROUP BY device ORDER BY device
        """,
        events=events,
    )
    buckets = {device: (low, high) for device, low, high, _ in rows}
    assert set(buckets) == {"desktop", "laptop", "mobile", "tablet"}
    assert buckets["mobile"][1] < 576
    assert buckets["tablet"][0] >= 576 and buckets["tablet"][1] < 992
    assert buckets["laptop"][0] >= 992 and buckets["laptop"][1] < 1440
    assert buckets["desktop"][0] >= 1440


def test_platform_and_country_are_fixed_per_visitor_day(events):
    [(visitors, varying)] = sql(
        """
        SELECT count(*), count(*) FILTER (WHERE n > 1) FROM (
            SELECT visitor_id, count(DISTINCT (country, browser, browser_version, os,
                                               os_version, device, screen_width)) AS n
            FROM events GROUP BY visitor_id)
        """,
        events=events,
    )
    assert visitors > 10_000
    assert varying == 0


def test_visitor_ids_never_span_two_utc_days(events):
    [(spanning,)] = sql(
        """
        SELECT count(*) FROM (
            SELECT visitor_id FROM events
            GROUP BY visitor_id HAVING count(DISTINCT (ts AT TIME ZONE 'UTC')::DATE) > 1)
        """,
        events=events,
    )
    assert spanning == 0


def test_visits_look_real(events):
    """Referrer and UTM only on entry pageviews, about half the visits bounce,
    some visits run across midnight in the site's timezone."""
    [(visits, bounce_rate, tagged_later, crossing_midnight, custom)] = sql(
        """
        WITH ordered AS (
            SELECT *, ts - lag(ts) OVER w AS gap, lag(ts) OVER w AS previous_ts
            FROM events WINDOW w AS (PARTITION BY visitor_id ORDER BY ts)
        ), tagged AS (
            SELECT *, gap IS NULL OR gap > INTERVAL 30 MINUTE AS is_entry,
                   CASE site_id WHEN 1 THEN 'Europe/Berlin' ELSE 'America/Los_Angeles' END AS tz
            FROM ordered
        ), numbered AS (
            SELECT *, sum(is_entry::INT) OVER (PARTITION BY visitor_id ORDER BY ts) AS visit
            FROM tagged
        ), visits AS (
            SELECT visitor_id, visit, count(*) FILTER (WHERE name = 'pageview') AS pageviews
            FROM numbered GROUP BY ALL
        )
        SELECT
            (SELECT count(*) FROM visits),
            (SELECT avg((pageviews = 1)::INT) FROM visits),
            (SELECT count(*) FROM numbered
             WHERE NOT is_entry AND (referrer <> '' OR utm_source <> '' OR utm_campaign <> '')),
            (SELECT count(*) FROM numbered
             WHERE NOT is_entry
               AND timezone(tz, ts)::DATE <> timezone(tz, previous_ts)::DATE),
            (SELECT count(*) FROM numbered WHERE name <> 'pageview' AND cardinality(props) > 0)
        """,
        events=events,
    )
    assert visits > 20_000
    assert 0.4 <= bounce_rate <= 0.6
    assert tagged_later == 0
    assert crossing_midnight > 0
    assert custom > 0


def test_entry_pageviews_carry_referrers_and_utm(events):
    rows = dict(
        sql(
            """
            SELECT referrer_source, count(*) FROM events
            WHERE name = 'pageview' GROUP BY ALL
            """,
            events=events,
        )
    )
    assert {"Google", "Hacker News", "Twitter", "DuckDuckGo", "GitHub"} <= set(rows)
    [(utm_rows,)] = sql("SELECT count(*) FROM events WHERE utm_campaign <> ''", events=events)
    assert utm_rows > 100


def test_pathnames_are_zipf_distributed(events):
    rows = sql(
        """
        SELECT pathname, count(*) AS n FROM events
        WHERE site_id = 1 GROUP BY pathname ORDER BY n DESC
        """,
        events=events,
    )
    assert rows[0][0] == "/"
    assert len(rows) > 150
    top_ten_share = sum(n for _, n in rows[:10]) / sum(n for _, n in rows)
    assert 0.3 < top_ten_share < 0.8


def test_rows_land_in_the_partition_of_their_utc_day(tmp_path: Path):
    generated = sum(t.num_rows for _, _, t in generate(SPECS, START, 3, seed=2))
    files = write_lake(tmp_path, generate(SPECS, START, 3, seed=2))

    # Local days of Berlin and Los Angeles reach into the UTC days before and after.
    assert {f.parent.name for f in files} >= {"date=2025-03-27", "date=2025-03-31"}
    assert all(f.name.startswith("generated-") for f in files)
    assert len({f.parent for f in files}) == len(files), "one file per partition"
    [(rows, misplaced)] = duckdb.sql(
        f"""
        SELECT count(*), count(*) FILTER (WHERE (ts AT TIME ZONE 'UTC')::DATE <> date)
        FROM read_parquet('{tmp_path}/site_id=*/date=*/*.parquet', hive_partitioning = true)
        """
    ).fetchall()
    assert rows == generated
    assert misplaced == 0


def test_benchmark_specs_hit_the_event_target():
    specs = benchmark_specs(total_events=300_000, days=7)  # a whole week: weekdays differ
    assert len(specs) == 20
    assert len({s.timezone for s in specs}) >= 6
    events = {s.site_id: 0 for s in specs}
    for site_id, _, table in generate(specs, dt.date(2025, 3, 3), 7, seed=1):
        events[site_id] += table.num_rows
    total = sum(events.values())
    assert 270_000 <= total <= 330_000
    assert 0.85 <= events[1] / total <= 0.95


def test_generator_speed():
    specs = benchmark_specs(total_events=1_000_000, days=2)
    list(generate(specs, dt.date(2025, 3, 1), 1))  # warm up: imports, per-site path tables
    started = time.perf_counter()
    rows = sum(t.num_rows for _, _, t in generate(specs, dt.date(2025, 3, 3), 2))
    elapsed = time.perf_counter() - started
    print(f"\ngenerator: {rows:,} events in {elapsed:.2f} s = {rows / elapsed:,.0f} events/s")
    assert rows > 0
