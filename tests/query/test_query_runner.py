"""The runner: parameters checked, files listed by day, pagination, time limit, async."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pagepulse.demo.generator import SiteSpec, generate, write_lake
from pagepulse.lake import visit_tables
from pagepulse.lake.compaction import compact_lake
from pagepulse.query import (
    Filter,
    Period,
    QueryError,
    QueryTimeout,
    Scope,
    current_visitors,
    dashboard,
    run,
    run_async,
    runner,
    top_stats,
    widget,
)
from pagepulse.query.days import DayStore, sources
from tests.query.helpers import event, write_events

UTC = dt.UTC
T0 = dt.datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    events_dir = tmp_path / "events"
    write_events(
        events_dir,
        1,
        [
            # visitor 1: a bounce from Google, then 40 min later a 2-page visit
            event(T0, 1, pathname="/", referrer_source="Google", country="US", browser="Chrome"),
            event(T0 + minutes(40), 1, pathname="/docs", country="US", browser="Chrome"),
            event(T0 + minutes(41), 1, pathname="/pricing", country="US", browser="Chrome"),
            event(
                T0 + minutes(42), 1, "Signup", pathname="/pricing", country="US", browser="Chrome"
            ),
            # visitor 2: a 3-pageview visit with 29-minute gaps (one visit)
            event(T0, 2, pathname="/blog", country="DE", browser="Firefox", browser_version="128"),
            event(
                T0 + minutes(29),
                2,
                pathname="/",
                country="DE",
                browser="Firefox",
                browser_version="128",
            ),
            event(
                T0 + minutes(58),
                2,
                pathname="/docs",
                country="DE",
                browser="Firefox",
                browser_version="128",
            ),
        ],
    )
    write_events(events_dir, 2, [event(T0, 9, pathname="/other")])
    return events_dir


def scope(lake: Path, *filters: Filter) -> Scope:
    return Scope(lake, 1, Period(T0.date(), T0.date(), "UTC"), filters)


def test_top_stats_exact(lake):
    assert top_stats(scope(lake)) == {
        "visitors": 2,
        "visits": 3,
        "pageviews": 6,
        "views_per_visit": 2.0,
        "bounce_rate": 33,
        "visit_duration": (0 + 120 + 58 * 60 + 1) // 3,  # (0 + 2 min + 58 min) / 3 = 1240 s
        "events": 1,
    }


def test_widgets_exact(lake):
    s = scope(lake)
    assert widget(s, "entry_pages").rows == [
        {"name": "/", "visitors": 1, "visits": 1, "bounce_rate": 100, "visit_duration": 0},
        {"name": "/blog", "visitors": 1, "visits": 1, "bounce_rate": 0, "visit_duration": 3480},
        {"name": "/docs", "visitors": 1, "visits": 1, "bounce_rate": 0, "visit_duration": 120},
    ]
    assert widget(s, "exit_pages").rows == [
        {"name": "/", "visitors": 1, "visits": 1, "exit_rate": 50},
        {"name": "/docs", "visitors": 1, "visits": 1, "exit_rate": 50},
        {"name": "/pricing", "visitors": 1, "visits": 1, "exit_rate": 100},
    ]
    assert widget(s, "top_pages").rows == [
        {"name": "/", "visitors": 2, "pageviews": 2, "bounce_rate": 100},
        {"name": "/docs", "visitors": 2, "pageviews": 2, "bounce_rate": 0},
        {"name": "/blog", "visitors": 1, "pageviews": 1, "bounce_rate": 0},
        {"name": "/pricing", "visitors": 1, "pageviews": 1, "bounce_rate": None},
    ]
    assert widget(s, "sources").rows == [
        {
            "parent": "",
            "name": "",
            "visitors": 2,
            "visits": 2,
            "bounce_rate": 0,
            "visit_duration": 1800,
        },
        {
            "parent": "",
            "name": "Google",
            "visitors": 1,
            "visits": 1,
            "bounce_rate": 100,
            "visit_duration": 0,
        },
    ]
    assert widget(s, "browser_versions").rows == [
        {
            "parent": "Chrome",
            "name": "",
            "visitors": 1,
            "visits": 2,
            "bounce_rate": 50,
            "visit_duration": 60,
        },
        {
            "parent": "Firefox",
            "name": "128",
            "visitors": 1,
            "visits": 1,
            "bounce_rate": 0,
            "visit_duration": 3480,
        },
    ]
    assert widget(s, "custom_events").rows == [
        {"name": "Signup", "visitors": 1, "events": 1, "conversion_rate": 50.0},
    ]


def test_page_filter_selects_visits_with_the_page_and_counts_its_pageviews(lake):
    s = scope(lake, Filter.of("event:page", "is", "/docs"))
    stats = top_stats(s)
    assert (stats["visits"], stats["visitors"], stats["pageviews"], stats["events"]) == (2, 2, 2, 0)
    assert [r["name"] for r in widget(s, "entry_pages").rows] == ["/blog", "/docs"]


def test_visit_filter_and_timeseries_by_hour(lake):
    s = scope(lake, Filter.of("visit:country", "is_not", "DE"))
    rows = run("timeseries", s, interval="hour").rows
    assert len(rows) == 24
    assert [(r["bucket"].hour, r["visits"], r["pageviews"]) for r in rows if r["visits"]] == [
        (12, 2, 3)
    ]


def test_pagination_sets_has_more_once(lake):
    first = widget(scope(lake), "top_pages", limit=3)
    assert len(first.rows) == 3 and first.has_more
    rest = widget(scope(lake), "top_pages", limit=3, offset=3)
    assert [r["name"] for r in rest.rows] == ["/pricing"] and not rest.has_more


def test_empty_range_gives_zeros_not_an_error(lake):
    empty = Scope(lake, 1, Period(dt.date(2020, 1, 1), dt.date(2020, 1, 2), "Asia/Tokyo"))
    assert empty.files() == []
    assert top_stats(empty)["visits"] == 0
    assert [r["visits"] for r in run("timeseries", empty, interval="day").rows] == [0, 0]
    assert widget(empty, "sources").rows == []


def test_files_are_the_partitions_of_the_overlapping_utc_days_only(lake):
    # Tokyo's 2025-06-10 is 06-09 15:00 .. 06-10 15:00 UTC: two UTC days, one exists.
    s = Scope(lake, 1, Period(T0.date(), T0.date(), "Asia/Tokyo"))
    assert Period(T0.date(), T0.date(), "Asia/Tokyo").utc_days() == [
        dt.date(2025, 6, 9),
        dt.date(2025, 6, 10),
    ]
    assert [p.parent.name for p in s.files()] == ["date=2025-06-10"]


def test_current_visitors(lake):
    assert current_visitors(lake, 1, "UTC", now=T0 + minutes(59)) == 1
    assert current_visitors(lake, 1, "UTC", now=T0 + minutes(3)) == 2


def test_parameters_are_checked(lake):
    with pytest.raises(QueryError, match="missing"):
        run("breakdown", scope(lake), limit=5, offset=0)
    with pytest.raises(QueryError, match="unused"):
        run("top_stats", scope(lake), limit=5)
    with pytest.raises(QueryError, match="scope"):
        run("current_visitors", scope(lake), files=[], since=T0, until=T0)
    with pytest.raises(QueryError):
        run("../etc/passwd")


def test_time_limit_interrupts(lake, monkeypatch):
    def endless(connection, *args):
        return connection.execute("SELECT sum(i) FROM range(1000000000000) AS t(i)").fetchall()

    monkeypatch.setattr(runner, "_execute", endless)
    with pytest.raises(QueryTimeout):
        run("top_stats", scope(lake, Filter.of("visit:country", "contains", "U")), timeout=0.2)
    monkeypatch.undo()
    assert top_stats(scope(lake))["visits"] == 3  # the connection still works


def test_run_async(lake):
    result = asyncio.run(run_async("top_stats", scope(lake)))
    assert result.rows[0]["visits"] == 3


def test_an_appended_file_is_seen_and_merged_with_the_day(lake):
    # Days and scopes are cached by their files: a new file of the same day (ingest
    # appends) rebuilds them, and the day's files are merged before sessionising.
    assert top_stats(scope(lake))["visits"] == 3
    write_events(lake, 1, [event(T0 + minutes(10), 1, pathname="/late", country="US")])
    stats = top_stats(scope(lake))
    assert (stats["visits"], stats["pageviews"]) == (3, 7)  # joins the bounce visit
    assert widget(scope(lake), "entry_pages").rows[0]["bounce_rate"] == 0


def test_realtime_scope_and_minute_timeseries(lake):
    s = Scope.last_minutes(lake, 1, "UTC", 30, now=T0 + minutes(45))
    # Events from 12:15 on: visitor 2's 12:29 and visitor 1's 12:40 visit (the 12:00
    # events are cut off, so visitor 2's visit starts at 12:29).
    assert top_stats(s)["visits"] == 2
    rows = run("timeseries", s, interval="minute").rows
    assert len(rows) == 30 and rows[0]["bucket"] == dt.datetime(2025, 6, 10, 12, 15)
    assert [r["bucket"].minute for r in rows if r["visits"]] == [29, 40]


def test_concurrent_requests_share_one_build_and_agree(lake):
    # The dashboard's widgets arrive as parallel requests on the query threads: they
    # wait for one build of the scope instead of each building it.
    names = ["top_pages", "sources", "entry_pages", "custom_events"] * 3
    runner.clear_caches()
    with ThreadPoolExecutor(4) as pool:
        rows = list(pool.map(lambda name: widget(scope(lake), name).rows, names))
    runner.clear_caches()
    assert rows == [widget(scope(lake), name).rows for name in names]


def test_the_day_cache_is_bounded_by_bytes(lake):
    write_events(lake, 1, [event(T0 + dt.timedelta(days=1), 3, pathname="/next")])
    store = DayStore(max_bytes=1)
    found = sources(lake, 1, [T0.date(), T0.date() + dt.timedelta(days=1)])
    assert len(found) == 2
    for source in found.values():
        store.day(source, None)
    assert len(store.days) == 1  # the newest day stays, however small the bound


def test_dashboard_of_a_realtime_scope_compares_with_the_window_before(lake):
    s = Scope.last_minutes(lake, 1, "UTC", 30, now=T0 + minutes(45))
    answer = dashboard(s, now=T0 + minutes(45))
    assert answer["interval"] == "minute" and len(answer["timeseries"]) == 30
    assert answer["top_stats"]["visits"] == 2
    # 11:45 .. 12:15: visitor 1's and visitor 2's 12:00 visits (cut at 12:15).
    assert answer["previous_top_stats"]["visits"] == 2
    assert answer["widgets"]["entry_pages"]["rows"][0]["name"] == "/"


def test_whole_compacted_days_are_answered_from_their_sums_alone(tmp_path, monkeypatch):
    # A big compacted day (written in blocks, with its groups) is added up from its
    # groups, six columns and the next day's continuations: no visit rows are kept,
    # which is what keeps a long range's dashboard small in memory.
    events_dir = tmp_path / "events"
    write_lake(events_dir, generate([SiteSpec(1, "a.example", "UTC", 400)], T0.date(), 4, seed=2))
    monkeypatch.setattr(visit_tables, "SPLIT_VISITS", 0)
    compact_lake(events_dir, grace_seconds=0, workers=1)
    runner.clear_caches()
    whole = Scope(events_dir, 1, Period(T0.date(), T0.date() + dt.timedelta(days=3), "UTC"))
    answer = dashboard(whole, now=T0)
    assert answer["top_stats"]["visits"] > 1000
    assert len(runner.day_store.days) == 0 and len(runner.day_store.sums) == 4
    # A filtered request needs the visits: it loads (and keeps) them, same numbers.
    filtered = Scope(
        whole.events_dir, 1, whole.period, (Filter.of("visit:country", "contains", ""),)
    )
    assert top_stats(filtered) == answer["top_stats"]
    assert len(runner.day_store.days) == 4
