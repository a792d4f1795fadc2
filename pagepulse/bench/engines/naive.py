"""The floor: plain DuckDB SQL over the uncompacted lake, sessionised on every request.

What one would write first: each widget is its own query that reads the period's
Parquet files (and a day either side), marks a new visit where a visitor's gap
reaches 30 minutes (window functions), joins visits across midnight, aggregates
visits, keeps those that start in the period and answers. Nothing is cached between
queries; a cold round runs on a fresh connection.
"""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from pagepulse.bench.engines import (
    CURRENT_VISITORS_WINDOW,
    DIMENSION_COLUMNS,
    SESSION_GAP,
    Request,
    breakdown_columns,
    page,
)
from pagepulse.lake.layout import partition_files
from pagepulse.lake.schema import EVENT_SCHEMA
from pagepulse.query import WIDGETS, Period

MACROS = """
CREATE OR REPLACE MACRO percent(part, whole) AS
    CASE WHEN whole = 0 THEN 0 ELSE (200 * part + whole) // (2 * whole) END;
CREATE OR REPLACE MACRO percent_1dp(part, whole) AS
    CASE WHEN whole = 0 THEN 0.0 ELSE ((2000 * part + whole) // (2 * whole)) / 10 END;
CREATE OR REPLACE MACRO ratio_2dp(part, whole) AS
    CASE WHEN whole = 0 THEN 0.0 ELSE ((200 * part + whole) // (2 * whole)) / 100 END;
CREATE OR REPLACE MACRO average_seconds(total_us, count) AS
    CASE WHEN count = 0 THEN 0 ELSE (total_us + count * 500000) // (count * 1000000) END;
"""

_ENTRY_ATTRIBUTES = ",\n        ".join(
    f"arg_min({column}, ts) AS {column}" for column in DIMENSION_COLUMNS.values()
)

_GAP = SESSION_GAP // dt.timedelta(microseconds=1)

# Every query starts here: events numbered by raw visit (a 30-minute gap starts one);
# a raw visit whose first event carries a prev_visitor_id continues that visitor's
# last visit when it ended less than 30 minutes earlier and did not itself start with
# one (a visit across midnight is one visit, of its first day's visitor); hits are the
# events with their visit's visitor and number, visits their aggregates, scope_visits
# those that start in [$start, $end) with all their hits (scope_hits).
SESSIONISED = f"""
WITH marked AS (
    SELECT
        * EXCLUDE (props),
        coalesce(
            epoch_us(ts) - lag(epoch_us(ts)) OVER (PARTITION BY visitor_id ORDER BY ts)
                >= {_GAP},
            true
        )::INTEGER AS starts_visit
    FROM read_parquet($files, union_by_name = true)
),
raw AS (
    SELECT
        *,
        sum(starts_visit) OVER (
            PARTITION BY visitor_id ORDER BY ts ROWS UNBOUNDED PRECEDING
        ) AS raw_visit
    FROM marked
),
raw_visits AS (
    SELECT
        visitor_id,
        raw_visit,
        min(ts) AS first_ts,
        max(ts) AS last_ts,
        bool_or(starts_visit = 1 AND prev_visitor_id IS NOT NULL) AS early,
        max(prev_visitor_id) FILTER (WHERE starts_visit = 1) AS previous_id
    FROM raw
    GROUP BY visitor_id, raw_visit
),
last_visits AS (
    SELECT * FROM raw_visits
    QUALIFY raw_visit = max(raw_visit) OVER (PARTITION BY visitor_id)
),
continued AS (
    SELECT c.visitor_id, c.raw_visit, t.visitor_id AS target_visitor, t.raw_visit AS target_visit
    FROM raw_visits AS c
    JOIN last_visits AS t ON t.visitor_id = c.previous_id
    WHERE c.early AND NOT t.early
        AND epoch_us(c.first_ts) - epoch_us(t.last_ts) BETWEEN 0 AND {_GAP} - 1
        AND NOT (c.visitor_id = t.visitor_id AND c.raw_visit = t.raw_visit)
    QUALIFY row_number() OVER (PARTITION BY t.visitor_id ORDER BY c.first_ts) = 1
),
hits AS (
    SELECT
        raw.* REPLACE (coalesce(continued.target_visitor, raw.visitor_id) AS visitor_id),
        coalesce(continued.target_visit, raw.raw_visit) AS visit_no
    FROM raw
    LEFT JOIN continued
        ON continued.visitor_id = raw.visitor_id AND continued.raw_visit = raw.raw_visit
),
visits AS (
    SELECT
        visitor_id,
        visit_no,
        min(ts) AS started,
        count(*) FILTER (WHERE name = 'pageview') AS pageviews,
        count(*) FILTER (WHERE name <> 'pageview') AS events,
        epoch_us(max(ts)) - epoch_us(min(ts)) AS duration_us,
        arg_min(pathname, ts) AS entry_page,
        arg_max(pathname, ts) FILTER (WHERE name = 'pageview') AS exit_page,
        {_ENTRY_ATTRIBUTES}
    FROM hits
    GROUP BY visitor_id, visit_no
),
scope_visits AS (
    SELECT * FROM visits WHERE started >= $start AND started < $end
),
scope_hits AS (
    SELECT hits.* FROM hits JOIN scope_visits USING (visitor_id, visit_no)
)
"""

TOP_STATS = """
SELECT
    count(DISTINCT visitor_id) AS visitors,
    count(*) AS visits,
    coalesce(sum(pageviews), 0) AS pageviews,
    ratio_2dp(coalesce(sum(pageviews), 0), count(*)) AS views_per_visit,
    percent(count(*) FILTER (WHERE pageviews = 1), count(*)) AS bounce_rate,
    average_seconds(coalesce(sum(duration_us), 0), count(*)) AS visit_duration,
    coalesce(sum(events), 0) AS events
FROM scope_visits
"""

TIMESERIES = """,
buckets AS (
    SELECT unnest(generate_series(
        date_trunc($interval, timezone($tz, $start)),
        date_trunc($interval, timezone($tz, $end) - INTERVAL 1 MICROSECOND),
        CASE $interval WHEN 'day' THEN INTERVAL 1 DAY ELSE INTERVAL 1 MONTH END
    )) AS bucket
),
stats AS (
    SELECT
        date_trunc($interval, timezone($tz, started)) AS bucket,
        count(DISTINCT visitor_id) AS visitors,
        count(*) AS visits,
        sum(pageviews) AS pageviews,
        sum(events) AS events,
        count(*) FILTER (WHERE pageviews = 1) AS bounces,
        sum(duration_us) AS duration_us
    FROM scope_visits
    GROUP BY 1
)
SELECT
    bucket,
    coalesce(visitors, 0) AS visitors,
    coalesce(visits, 0) AS visits,
    coalesce(pageviews, 0) AS pageviews,
    ratio_2dp(coalesce(pageviews, 0), coalesce(visits, 0)) AS views_per_visit,
    percent(coalesce(bounces, 0), coalesce(visits, 0)) AS bounce_rate,
    average_seconds(coalesce(duration_us, 0), coalesce(visits, 0)) AS visit_duration,
    coalesce(events, 0) AS events
FROM buckets LEFT JOIN stats USING (bucket)
ORDER BY bucket
"""

TOP_PAGES = """,
pages AS (
    SELECT pathname AS page, count(DISTINCT visitor_id) AS visitors, count(*) AS pageviews
    FROM scope_hits WHERE name = 'pageview' GROUP BY pathname
),
entries AS (
    SELECT entry_page AS page, count(*) AS visits, count(*) FILTER (WHERE pageviews = 1) AS bounces
    FROM scope_visits GROUP BY entry_page
)
SELECT
    page AS name,
    visitors,
    pageviews,
    CASE WHEN entries.visits IS NULL THEN NULL ELSE percent(bounces, entries.visits) END
        AS bounce_rate
FROM pages LEFT JOIN entries USING (page)
ORDER BY visitors DESC, name
LIMIT $limit
"""

ENTRY_PAGES = """
SELECT
    entry_page AS name,
    count(DISTINCT visitor_id) AS visitors,
    count(*) AS visits,
    percent(count(*) FILTER (WHERE pageviews = 1), count(*)) AS bounce_rate,
    average_seconds(sum(duration_us), count(*)) AS visit_duration
FROM scope_visits
GROUP BY entry_page
ORDER BY visitors DESC, name
LIMIT $limit
"""

EXIT_PAGES = """,
exits AS (
    SELECT exit_page AS page, count(DISTINCT visitor_id) AS visitors, count(*) AS visits
    FROM scope_visits WHERE exit_page IS NOT NULL GROUP BY exit_page
),
views AS (
    SELECT pathname AS page, count(*) AS pageviews
    FROM scope_hits WHERE name = 'pageview' GROUP BY pathname
)
SELECT
    page AS name,
    visitors,
    visits,
    CASE WHEN pageviews IS NULL THEN NULL ELSE percent(visits, pageviews) END AS exit_rate
FROM exits LEFT JOIN views USING (page)
ORDER BY visitors DESC, name
LIMIT $limit
"""

CUSTOM_EVENTS = """,
totals AS (SELECT count(DISTINCT visitor_id) AS visitors FROM scope_visits),
grouped AS (
    SELECT name AS event, count(DISTINCT visitor_id) AS visitors, count(*) AS events
    FROM scope_hits WHERE name <> 'pageview' GROUP BY name
)
SELECT
    event AS name,
    grouped.visitors,
    events,
    percent_1dp(grouped.visitors, totals.visitors) AS conversion_rate
FROM grouped CROSS JOIN totals
ORDER BY visitors DESC, name
LIMIT $limit
"""

CURRENT_VISITORS = """
SELECT count(DISTINCT visitor_id) AS visitors
FROM read_parquet($files)
WHERE ts >= $since AND ts <= $until
"""


def breakdown_sql(widget: str) -> str:
    columns = breakdown_columns(widget)
    assert columns is not None, widget
    column, parent, skip_empty = columns
    return f"""
SELECT
    {parent or "''"} AS parent,
    {column} AS name,
    count(DISTINCT visitor_id) AS visitors,
    count(*) AS visits,
    percent(count(*) FILTER (WHERE pageviews = 1), count(*)) AS bounce_rate,
    average_seconds(sum(duration_us), count(*)) AS visit_duration
FROM scope_visits
{"WHERE " + column + " <> ''" if skip_empty else ""}
GROUP BY ALL
ORDER BY visitors DESC, name, parent
LIMIT $limit
"""


WIDGET_SQL = {"top_pages": TOP_PAGES, "entry_pages": ENTRY_PAGES, "exit_pages": EXIT_PAGES}
WIDGET_SQL["custom_events"] = CUSTOM_EVENTS


class NaiveEngine:
    name = "naive"

    def __init__(self) -> None:
        self.connection: duckdb.DuckDBPyConnection | None = None

    def prepare(self) -> dict[str, float]:
        return {}

    def drop_caches(self) -> None:
        """A new in-memory database: nothing survives from earlier queries."""
        self.close()
        self.connection = duckdb.connect()
        self.connection.execute("SET TimeZone = 'UTC'")
        self.connection.execute("SET enable_progress_bar = false")
        self.connection.execute(MACROS)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def steps(self, request: Request) -> dict[str, Callable[[], Any]]:
        period, previous = request.period, request.period.previous()
        steps: dict[str, Callable[[], Any]] = {
            "top_stats": lambda: self._rows(SESSIONISED + TOP_STATS, request, period)[0],
            "timeseries": lambda: self._rows(
                SESSIONISED + TIMESERIES, request, period, interval=_interval(period)
            ),
        }
        for name in WIDGETS:
            steps[name] = self._widget_step(request, name)
        steps["current_visitors"] = lambda: self._current_visitors(request)
        steps["previous_top_stats"] = lambda: self._rows(
            SESSIONISED + TOP_STATS, request, previous
        )[0]
        return steps

    def _widget_step(self, request: Request, widget: str) -> Callable[[], Any]:
        tail = WIDGET_SQL.get(widget) or breakdown_sql(widget)
        sql = SESSIONISED + tail
        limit = WIDGETS[widget].default_limit + 1
        return lambda: page(self._rows(sql, request, request.period, limit=limit), widget)

    def _rows(self, sql: str, request: Request, period: Period, **params: Any) -> list[dict]:
        # A day before (whose visits the first day's may continue) and after (whose
        # first minutes may continue the last day's visits).
        days = period.utc_days()
        days = [days[0] - dt.timedelta(days=1), *days, days[-1] + dt.timedelta(days=1)]
        files = _files(request.raw_lake, request.site_id, days)
        bound = {"files": files, "start": period.utc_start, "end": period.utc_end, **params}
        if "$tz" in sql:
            bound["tz"] = period.timezone
        assert self.connection is not None, "drop_caches() opens the connection"
        cursor = self.connection.execute(sql, bound)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def _current_visitors(self, request: Request) -> int:
        since = request.now - CURRENT_VISITORS_WINDOW
        days = sorted({since.date(), request.now.date()})
        files = _files(request.raw_lake, request.site_id, days)
        assert self.connection is not None
        row = self.connection.execute(
            CURRENT_VISITORS, {"files": files, "since": since, "until": request.now}
        ).fetchone()
        return row[0] if row else 0


def _interval(period: Period) -> str:
    interval = period.default_interval()
    if interval not in ("day", "month"):
        raise ValueError("the comparison covers ranges of two days or more")
    return interval


def _files(lake: Path, site_id: int, days: list[dt.date]) -> list[str]:
    paths = partition_files(lake, site_id, days)
    return [str(path) for path in paths] or [str(_empty_file())]


@functools.cache
def _empty_file() -> Path:
    """read_parquet() refuses an empty list: a range without files reads this."""
    path = Path(tempfile.mkdtemp(prefix="pagepulse-bench-")) / "empty.parquet"
    pq.write_table(EVENT_SCHEMA.empty_table(), path)
    return path
