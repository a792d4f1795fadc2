"""Plausible's design in ClickHouse (through chDB, in process), for comparison.

Plausible keeps two tables: ``events_v2``, a MergeTree ordered by ``(site_id,
toDate(timestamp), name, user_id, timestamp)`` whose rows carry the ``session_id``
ingest gave them, and ``sessions_v2``, a CollapsingMergeTree with one row per visit
(start, end, pageviews, entry and exit page, source, UTM tags, country, browser, OS,
device, is_bounce …) that ingest keeps up to date. Visit metrics and breakdowns read
``sessions``; page and event metrics read ``events`` restricted to the visits of the
range. Visitors are ``uniq`` (approximate, as Plausible counts them) or, with
``exact=True``, ``uniqExact`` so that the numbers compare exactly with PagePulse.

Our column names are kept (``ts``, ``visitor_id``, ``country``, ``os``, ``device``
for Plausible's ``timestamp``, ``user_id``, ``country_code``, ``operating_system``,
``screen_size``), timestamps keep microseconds, and ``duration_us`` replaces
Plausible's whole seconds, so that averages round exactly as PagePulse's do.
:meth:`ClickHouseEngine.prepare` loads the compacted lake's Parquet files (all sites)
and numbers visits with window functions, as ingest's session cache would have; then
builds ``sessions`` from ``events`` with one ``INSERT … SELECT``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from pagepulse.bench.engines import (
    CURRENT_VISITORS_WINDOW,
    DIMENSION_COLUMNS,
    SESSION_GAP,
    Request,
    breakdown_columns,
    page,
)
from pagepulse.lake.schema import STRING_COLUMNS
from pagepulse.query import WIDGETS, Period

_VISIT_COLUMNS = ",\n    ".join(f"{c} LowCardinality(String)" for c in DIMENSION_COLUMNS.values())
_EVENT_STRINGS = ",\n    ".join(
    f"{c} {'String' if c in ('pathname', 'referrer') else 'LowCardinality(String)'}"
    for c in STRING_COLUMNS
    if c != "name"
)

SCHEMA = [
    f"""
CREATE TABLE events (
    site_id UInt64,
    ts DateTime64(6, 'UTC'),
    name LowCardinality(String),
    visitor_id UInt64,
    user_id UInt64,
    session_id UInt64,
    {_EVENT_STRINGS},
    screen_width UInt16,
    `meta.key` Array(String),
    `meta.value` Array(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, toDate(ts), name, user_id, ts)
""",
    f"""
CREATE TABLE sessions (
    session_id UInt64,
    sign Int8,
    site_id UInt64,
    visitor_id UInt64,
    hostname LowCardinality(String),
    start DateTime64(6, 'UTC'),
    timestamp DateTime64(6, 'UTC'),
    duration_us UInt64,
    pageviews UInt32,
    events UInt32,
    is_bounce UInt8,
    entry_page String,
    exit_page String,
    {_VISIT_COLUMNS}
) ENGINE = CollapsingMergeTree(sign)
PARTITION BY toYYYYMM(start)
ORDER BY (site_id, toDate(start), visitor_id, session_id)
""",
    # Plausible's roundings, in exact integer arithmetic (half up), as PagePulse's.
    "CREATE FUNCTION percent AS (part, whole) -> "
    "if(whole = 0, 0, intDiv(200 * part + whole, 2 * whole))",
    "CREATE FUNCTION percent_1dp AS (part, whole) -> "
    "if(whole = 0, 0.0, intDiv(2000 * part + whole, 2 * whole) / 10)",
    "CREATE FUNCTION ratio_2dp AS (part, whole) -> "
    "if(whole = 0, 0.0, intDiv(200 * part + whole, 2 * whole) / 100)",
    "CREATE FUNCTION average_seconds AS (total_us, n) -> "
    "if(n = 0, 0, intDiv(total_us + n * 500000, n * 1000000))",
]

_GAP_US = SESSION_GAP // dt.timedelta(microseconds=1)
# Ingest's job in Plausible: a visit id for every event (a 30-minute gap starts one),
# and a visit across midnight kept as one: a visit whose first event carries the
# visitor's id under yesterday's salt (prev_visitor_id) continues that visitor's last
# visit when it ended less than 30 minutes before and did not itself start with one
# (Plausible looks the session up under the previous salt too, and keeps its user id).
# Here: number the raw visits, find the continuations, then load every event with its
# visit's visitor (user_id) and visit (session_id).
LOAD_RAW = f"""
CREATE TABLE raw_events ENGINE = MergeTree ORDER BY (site_id, visitor_id, ts) AS
SELECT
    *,
    sum(starts_visit) OVER (
        PARTITION BY site_id, visitor_id ORDER BY ts ROWS UNBOUNDED PRECEDING
    ) AS visit_no
FROM (
    SELECT
        *,
        toUnixTimestamp64Micro(ts) - lagInFrame(toUnixTimestamp64Micro(ts), 1, 0) OVER (
            PARTITION BY site_id, visitor_id ORDER BY ts
            ROWS BETWEEN 1 PRECEDING AND CURRENT ROW
        ) >= {_GAP_US} AS starts_visit
    FROM file({{files:String}}, Parquet)
)
"""

FIND_CONTINUATIONS = f"""
CREATE TABLE continued ENGINE = Memory AS
WITH visits AS (
    SELECT
        site_id, visitor_id, visit_no,
        min(ts) AS first_ts,
        max(ts) AS last_ts,
        argMin(prev_visitor_id IS NOT NULL, ts) AS early,
        argMin(ifNull(prev_visitor_id, 0), ts) AS previous_id
    FROM raw_events
    GROUP BY site_id, visitor_id, visit_no
),
last_visits AS (
    SELECT site_id, visitor_id, max(visit_no) AS last_visit,
        argMax(last_ts, visit_no) AS ended, argMax(early, visit_no) AS started_early
    FROM visits
    GROUP BY site_id, visitor_id
)
SELECT
    c.site_id AS site_id, c.visitor_id AS visitor_id, c.visit_no AS visit_no,
    t.visitor_id AS target_visitor, t.last_visit AS target_visit
FROM visits AS c
INNER JOIN last_visits AS t ON t.site_id = c.site_id AND t.visitor_id = c.previous_id
WHERE c.early AND NOT t.started_early
    AND toUnixTimestamp64Micro(c.first_ts) - toUnixTimestamp64Micro(t.ended) >= 0
    AND toUnixTimestamp64Micro(c.first_ts) - toUnixTimestamp64Micro(t.ended) < {_GAP_US}
    AND NOT (c.visitor_id = t.visitor_id AND c.visit_no = t.last_visit)
ORDER BY c.first_ts
LIMIT 1 BY t.site_id, t.visitor_id
"""

LOAD_EVENTS = f"""
INSERT INTO events
SELECT
    r.site_id, r.ts, r.name, r.visitor_id,
    if(c.visitor_id IS NULL, r.visitor_id, c.target_visitor) AS user_id,
    cityHash64(r.site_id, user_id, if(c.visitor_id IS NULL, r.visit_no, c.target_visit)),
    {", ".join(f"r.{c}" for c in STRING_COLUMNS if c != "name")},
    r.screen_width,
    mapKeys(r.props),
    arrayMap(v -> ifNull(v, ''), mapValues(r.props))
FROM raw_events AS r
LEFT JOIN continued AS c
    ON c.site_id = r.site_id AND c.visitor_id = r.visitor_id AND c.visit_no = r.visit_no
SETTINGS join_use_nulls = 1
"""

_ENTRY_ATTRIBUTES = ",\n    ".join(f"argMin({c}, ts)" for c in DIMENSION_COLUMNS.values())
LOAD_SESSIONS = f"""
INSERT INTO sessions
SELECT
    session_id,
    1 AS sign,
    site_id,
    any(user_id),
    argMin(hostname, ts),
    min(ts),
    max(ts),
    toUnixTimestamp64Micro(max(ts)) - toUnixTimestamp64Micro(min(ts)),
    countIf(name = 'pageview') AS pv,
    countIf(name != 'pageview'),
    pv = 1,
    argMin(pathname, ts),
    argMaxIf(pathname, ts, name = 'pageview'),
    {_ENTRY_ATTRIBUTES}
FROM events
GROUP BY site_id, session_id
"""

# The visits of the range, and the events of those visits (a visit crosses one UTC
# midnight at most, so its events end before $hits_end, two days after the last UTC
# day's start).
VISITS = """site_id = {site_id:UInt64}
    AND start >= {start:DateTime64(6, 'UTC')} AND start < {end:DateTime64(6, 'UTC')}"""
HITS = f"""site_id = {{site_id:UInt64}}
    AND ts >= {{start:DateTime64(6, 'UTC')}} AND ts < {{hits_end:DateTime64(6, 'UTC')}}
    AND session_id IN (SELECT session_id FROM sessions WHERE {VISITS})"""

TOP_STATS = f"""
SELECT
    visitors, visits, pv AS pageviews,
    ratio_2dp(pv, visits) AS views_per_visit,
    percent(bounces, visits) AS bounce_rate,
    average_seconds(duration, visits) AS visit_duration,
    ev AS events
FROM (
    SELECT
        <<uniq>>(visitor_id) AS visitors,
        sum(sign) AS visits,
        sum(sign * pageviews) AS pv,
        sum(sign * is_bounce) AS bounces,
        sum(sign * duration_us) AS duration,
        sum(sign * events) AS ev
    FROM sessions WHERE {VISITS}
)
"""

TIMESERIES = f"""
SELECT
    bucket, visitors, visits, pv AS pageviews,
    ratio_2dp(pv, visits) AS views_per_visit,
    percent(bounces, visits) AS bounce_rate,
    average_seconds(duration, visits) AS visit_duration,
    ev AS events
FROM (
    SELECT
        <<bucket>> AS bucket,
        <<uniq>>(visitor_id) AS visitors,
        sum(sign) AS visits,
        sum(sign * pageviews) AS pv,
        sum(sign * is_bounce) AS bounces,
        sum(sign * duration_us) AS duration,
        sum(sign * events) AS ev
    FROM sessions WHERE {VISITS}
    GROUP BY bucket
)
ORDER BY bucket WITH FILL FROM {{first:Date}} TO {{after_last:Date}} STEP <<step>>
"""
BUCKETS = {
    "day": ("toDate(start, {tz:String})", "1"),
    "month": ("toStartOfMonth(start, {tz:String})", "INTERVAL 1 MONTH"),
}

TOP_PAGES = f"""
SELECT
    pages.pathname AS name,
    pages.visitors AS visitors,
    pages.pv AS pageviews,
    if(entries.visits IS NULL, NULL, percent(entries.bounces, entries.visits)) AS bounce_rate
FROM (
    SELECT pathname, <<uniq>>(user_id) AS visitors, count() AS pv
    FROM events WHERE {HITS} AND name = 'pageview'
    GROUP BY pathname
) AS pages
LEFT JOIN (
    SELECT entry_page, sum(sign) AS visits, sum(sign * is_bounce) AS bounces
    FROM sessions WHERE {VISITS}
    GROUP BY entry_page
) AS entries ON entries.entry_page = pages.pathname
ORDER BY visitors DESC, name
LIMIT {{limit:UInt32}}
SETTINGS join_use_nulls = 1
"""

ENTRY_PAGES = f"""
SELECT
    entry_page AS name, visitors, visits,
    percent(bounces, visits) AS bounce_rate,
    average_seconds(duration, visits) AS visit_duration
FROM (
    SELECT
        entry_page,
        <<uniq>>(visitor_id) AS visitors,
        sum(sign) AS visits,
        sum(sign * is_bounce) AS bounces,
        sum(sign * duration_us) AS duration
    FROM sessions WHERE {VISITS}
    GROUP BY entry_page
)
ORDER BY visitors DESC, name
LIMIT {{limit:UInt32}}
"""

EXIT_PAGES = f"""
SELECT
    exits.exit_page AS name,
    exits.visitors AS visitors,
    exits.visits AS visits,
    if(views.pv IS NULL, NULL, percent(exits.visits, views.pv)) AS exit_rate
FROM (
    SELECT exit_page, <<uniq>>(visitor_id) AS visitors, sum(sign) AS visits
    FROM sessions WHERE {VISITS} AND pageviews > 0
    GROUP BY exit_page
) AS exits
LEFT JOIN (
    SELECT pathname, count() AS pv
    FROM events WHERE {HITS} AND name = 'pageview'
    GROUP BY pathname
) AS views ON views.pathname = exits.exit_page
ORDER BY visitors DESC, name
LIMIT {{limit:UInt32}}
SETTINGS join_use_nulls = 1
"""

CUSTOM_EVENTS = f"""
SELECT
    name, visitors, ev AS events,
    percent_1dp(visitors, (SELECT <<uniq>>(visitor_id) FROM sessions WHERE {VISITS}))
        AS conversion_rate
FROM (
    SELECT name, <<uniq>>(user_id) AS visitors, count() AS ev
    FROM events WHERE {HITS} AND name != 'pageview'
    GROUP BY name
)
ORDER BY visitors DESC, name
LIMIT {{limit:UInt32}}
"""

BREAKDOWN = f"""
SELECT
    parent, name, visitors, visits,
    percent(bounces, visits) AS bounce_rate,
    average_seconds(duration, visits) AS visit_duration
FROM (
    SELECT
        <<parent>> AS parent,
        <<column>> AS name,
        <<uniq>>(visitor_id) AS visitors,
        sum(sign) AS visits,
        sum(sign * is_bounce) AS bounces,
        sum(sign * duration_us) AS duration
    FROM sessions WHERE {VISITS} <<skip_empty>>
    GROUP BY parent, name
)
ORDER BY visitors DESC, name, parent
LIMIT {{limit:UInt32}}
"""

CURRENT_VISITORS = """
SELECT <<uniq>>(visitor_id) AS visitors
FROM events
WHERE site_id = {site_id:UInt64}
    AND ts >= {since:DateTime64(6, 'UTC')} AND ts <= {until:DateTime64(6, 'UTC')}
"""

WIDGET_SQL = {
    "top_pages": TOP_PAGES,
    "entry_pages": ENTRY_PAGES,
    "exit_pages": EXIT_PAGES,
    "custom_events": CUSTOM_EVENTS,
}

# Everything ClickHouse caches between queries that this process may drop.
CACHES = (
    "MARK CACHE",
    "UNCOMPRESSED CACHE",
    "PRIMARY INDEX CACHE",
    "QUERY CONDITION CACHE",
    "QUERY CACHE",
    "MMAP CACHE",
    "COMPILED EXPRESSION CACHE",
)


class ClickHouseEngine:
    def __init__(self, request: Request, *, exact: bool) -> None:
        from chdb import session

        self.name = "clickhouse-exact" if exact else "clickhouse"
        self.uniq = "uniqExact" if exact else "uniq"
        self.request = request
        self.session = session.Session()

    def prepare(self) -> dict[str, float]:
        """Load every site's events, build sessions, merge parts; seconds and sizes."""
        figures: dict[str, float] = {}
        for statement in SCHEMA:
            self.session.query(statement)
        lake = self.request.lake.resolve()
        started = time.perf_counter()
        self.session.query(LOAD_RAW, params={"files": f"{lake}/site_id=*/date=*/*.parquet"})
        self.session.query(FIND_CONTINUATIONS)
        self.session.query(LOAD_EVENTS)
        self.session.query("DROP TABLE raw_events")
        figures["load_events_s"] = time.perf_counter() - started
        figures["continued_visits"] = self._rows("SELECT count() AS n FROM continued")[0]["n"]
        started = time.perf_counter()
        self.session.query(LOAD_SESSIONS)
        figures["build_sessions_s"] = time.perf_counter() - started
        started = time.perf_counter()
        self.session.query("OPTIMIZE TABLE events FINAL")
        self.session.query("OPTIMIZE TABLE sessions FINAL")
        figures["merge_s"] = time.perf_counter() - started
        sizes = self._rows(
            "SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts "
            "WHERE active AND database = currentDatabase() GROUP BY table"
        )
        for row in sizes:
            figures[f"{row['table']}_rows"] = row["rows"]
            figures[f"{row['table']}_bytes"] = row["bytes"]
        return figures

    def drop_caches(self) -> None:
        for cache in CACHES:
            try:
                self.session.query(f"SYSTEM DROP {cache}")
            except Exception:
                continue

    def close(self) -> None:
        self.session.close()

    def steps(self, request: Request) -> dict[str, Callable[[], Any]]:
        period, previous = request.period, request.period.previous()
        top_stats = _fill(TOP_STATS, uniq=self.uniq)
        steps: dict[str, Callable[[], Any]] = {
            "top_stats": lambda: self._rows(top_stats, self._params(period))[0],
            "timeseries": lambda: self._timeseries(period),
        }
        for name in WIDGETS:
            steps[name] = self._widget_step(name)
        current = _fill(CURRENT_VISITORS, uniq=self.uniq)
        since = request.now - CURRENT_VISITORS_WINDOW
        steps["current_visitors"] = lambda: self._rows(
            current,
            {"site_id": request.site_id, "since": _utc(since), "until": _utc(request.now)},
        )[0]["visitors"]
        steps["previous_top_stats"] = lambda: self._rows(top_stats, self._params(previous))[0]
        return steps

    def _widget_step(self, widget: str) -> Callable[[], Any]:
        columns = breakdown_columns(widget)
        if columns is None:
            sql = _fill(WIDGET_SQL[widget], uniq=self.uniq)
        else:
            column, parent, skip_empty = columns
            sql = _fill(
                BREAKDOWN,
                uniq=self.uniq,
                column=column,
                parent=parent or "''",
                skip_empty=f"AND {column} != ''" if skip_empty else "",
            )
        params = {**self._params(self.request.period), "limit": WIDGETS[widget].default_limit + 1}
        return lambda: page(self._rows(sql, params), widget)

    def _timeseries(self, period: Period) -> list[dict[str, Any]]:
        interval = period.default_interval()
        if interval not in BUCKETS:
            raise ValueError("the comparison covers ranges of two days or more")
        bucket, step = BUCKETS[interval]
        first = period.start if interval == "day" else period.start.replace(day=1)
        sql = _fill(TIMESERIES, uniq=self.uniq, bucket=bucket, step=step)
        params = {
            **self._params(period),
            "tz": period.timezone,
            "first": first.isoformat(),
            "after_last": (period.end + dt.timedelta(days=1)).isoformat(),
        }
        rows = self._rows(sql, params)
        for row in rows:  # PagePulse's buckets are naive local datetimes
            row["bucket"] = dt.datetime.combine(row["bucket"], dt.time())
        return rows

    def _params(self, period: Period) -> dict[str, Any]:
        last_utc_day = period.utc_days()[-1]
        hits_end = dt.datetime.combine(last_utc_day + dt.timedelta(days=2), dt.time(), dt.UTC)
        return {
            "site_id": self.request.site_id,
            "start": _utc(period.utc_start),
            "end": _utc(period.utc_end),
            "hits_end": _utc(hits_end),
        }

    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        used = {k: v for k, v in (params or {}).items() if "{" + k + ":" in sql}
        return self.session.query(sql, "ArrowTable", params=used or None).to_pylist()


def _fill(sql: str, **parts: str) -> str:
    """Splice the few varying names (``<<uniq>>``, a whitelisted column) into the SQL."""
    for name, text in parts.items():
        sql = sql.replace(f"<<{name}>>", text)
    assert "<<" not in sql, sql
    return sql


def _utc(moment: dt.datetime) -> str:
    """chDB parameters take DateTime64 as text."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
