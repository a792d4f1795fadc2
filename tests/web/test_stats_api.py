"""Stats API results: exact numbers for known events (see stats_api_helpers), and the
same numbers as the query layer the dashboard uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from fastapi import FastAPI

from pagepulse.config import Settings
from pagepulse.control import db as control_db
from pagepulse.control import sites
from pagepulse.query import Filter, Period, Scope, timeseries, top_stats, widget
from tests.web.stats_api_helpers import DAY1, ApiWorld, make_world, rows

ALL_TOTALS = [
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
    "events",
]


@pytest.fixture
def world(app: FastAPI, settings: Settings) -> Iterator[ApiWorld]:
    world = make_world(app, settings)
    yield world
    world.client.close()


def test_aggregate_every_metric(world: ApiWorld) -> None:
    answer = world.ok(metrics=ALL_TOTALS)
    assert answer["results"] == [{"metrics": [4, 5, 9, 1.8, 40, 228, 2], "dimensions": []}]
    assert answer["meta"] == {}
    assert answer["query"] == {
        "site_id": "example.com",
        "metrics": ALL_TOTALS,
        "date_range": ["2025-06-10T00:00:00+00:00", "2025-06-11T23:59:59+00:00"],
        "filters": [],
        "dimensions": [],
        "order_by": [["visitors", "desc"]],
        "include": {"total_rows": False, "time_labels": False, "imports": False},
        "pagination": {"limit": 10000, "offset": 0},
    }


def test_one_day_and_metric_order_follows_the_request(world: ApiWorld) -> None:
    answer = world.ok(metrics=["events", "visitors"], date_range=["2025-06-10", "2025-06-10"])
    assert rows(answer) == [(1, 2)]


def test_named_range_in_the_site_timezone(world: ApiWorld) -> None:
    with time_machine.travel(dt.datetime(2025, 6, 11, 18, tzinfo=dt.UTC), tick=False):
        assert rows(world.ok(metrics=["visits"], date_range="day")) == [(2,)]
        assert rows(world.ok(metrics=["visits"], date_range="7d")) == [(5,)]
        answer = world.ok(metrics=["visits"], date_range="all")
    assert rows(answer) == [(5,)]
    assert answer["query"]["date_range"][0] == "2025-06-10T00:00:00+00:00"


def test_breakdown_by_country_with_percentage(world: ApiWorld) -> None:
    answer = world.ok(
        metrics=["visitors", "visits", "bounce_rate", "visit_duration", "percentage"],
        dimensions=["visit:country"],
    )
    assert rows(answer) == [
        ("DE", 2, 2, 0, 450, 50.0),
        ("FR", 1, 1, 100, 60, 25.0),
        ("US", 1, 2, 50, 90, 25.0),
    ]


def test_breakdown_by_source_keeps_direct_as_empty_string(world: ApiWorld) -> None:
    answer = world.ok(metrics=["visitors", "visits"], dimensions=["visit:source"])
    assert rows(answer) == [("", 2, 2), ("Google", 2, 2), ("Newsletter", 1, 1)]


def test_breakdown_by_utm_leaves_untagged_visits_out(world: ApiWorld) -> None:
    answer = world.ok(metrics=["visitors"], dimensions=["visit:utm_campaign"])
    assert rows(answer) == [("june", 1)]


def test_breakdown_by_page(world: ApiWorld) -> None:
    answer = world.ok(
        metrics=["visitors", "pageviews", "bounce_rate", "percentage"], dimensions=["event:page"]
    )
    assert rows(answer) == [
        ("/blog/a", 3, 3, 50, 75.0),
        ("/", 2, 2, 50, 50.0),
        ("/pricing", 2, 2, None, 50.0),
        ("/blog/b", 1, 1, None, 25.0),
        ("/docs", 1, 1, 0, 25.0),
    ]


def test_breakdown_by_entry_and_exit_page(world: ApiWorld) -> None:
    entry = world.ok(metrics=["visits", "bounce_rate"], dimensions=["visit:entry_page"])
    assert rows(entry) == [("/", 2, 50), ("/blog/a", 2, 50), ("/docs", 1, 0)]
    exits = world.ok(metrics=["visits", "exit_rate"], dimensions=["visit:exit_page"])
    assert rows(exits) == [
        ("/pricing", 2, 100),
        ("/", 1, 50),
        ("/blog/a", 1, 33),
        ("/blog/b", 1, 100),
    ]


def test_breakdown_by_event_name_includes_pageviews(world: ApiWorld) -> None:
    answer = world.ok(metrics=["visitors", "events"], dimensions=["event:name"])
    assert rows(answer) == [("pageview", 4, 9), ("Download", 1, 1), ("Signup", 1, 1)]
    only_custom = world.ok(
        metrics=["visitors", "events"],
        dimensions=["event:name"],
        filters=[["is_not", "event:name", ["pageview"]]],
    )
    assert rows(only_custom) == [("Download", 1, 1), ("Signup", 1, 1)]


def test_breakdown_by_browser_and_version(world: ApiWorld) -> None:
    answer = world.ok(metrics=["visits"], dimensions=["visit:browser", "visit:browser_version"])
    # Most visits first, then by version as the widget breaks ties.
    assert rows(answer) == [
        ("Chrome", "125", 2),
        ("Chrome", "124", 1),
        ("Edge", "125", 1),
        ("Firefox", "128", 1),
    ]
    swapped = world.ok(metrics=["visits"], dimensions=["visit:os_version", "visit:os"])
    assert rows(swapped) == [
        ("10", "Windows", 2),
        ("", "Linux", 1),
        ("11", "Windows", 1),
        ("14", "Android", 1),
    ]


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        ("visit:device", [("Desktop", 3), ("Mobile", 1)]),
        ("visit:os", [("Windows", 2), ("Android", 1), ("Linux", 1)]),
        ("visit:referrer", [("google.com", 2), ("news.example.com", 1)]),
        ("visit:utm_source", [("newsletter", 1)]),
        ("visit:utm_medium", [("email", 1)]),
    ],
)
def test_breakdown_by_other_visit_dimensions(
    world: ApiWorld, dimension: str, expected: list
) -> None:
    assert rows(world.ok(metrics=["visitors"], dimensions=[dimension])) == expected


def test_time_day(world: ApiWorld) -> None:
    answer = world.ok(metrics=ALL_TOTALS, dimensions=["time:day"])
    assert rows(answer) == [
        ("2025-06-10", 2, 3, 5, 1.67, 33, 160, 1),
        ("2025-06-11", 2, 2, 4, 2.0, 50, 330, 1),
    ]
    assert answer["query"]["order_by"] == [["time:day", "asc"], ["visitors", "desc"]]


def test_time_hour_skips_empty_buckets_but_labels_them(world: ApiWorld) -> None:
    answer = world.ok(
        metrics=["visits", "pageviews"],
        dimensions=["time:hour"],
        date_range=["2025-06-10", "2025-06-10"],
        include={"time_labels": True, "total_rows": True},
    )
    assert rows(answer) == [
        ("2025-06-10 10:00:00", 1, 1),
        ("2025-06-10 11:00:00", 1, 2),
        ("2025-06-10 12:00:00", 1, 2),
    ]
    labels = answer["meta"]["time_labels"]
    assert len(labels) == 24 and labels[0] == "2025-06-10 00:00:00"
    assert answer["meta"]["total_rows"] == 3


def test_time_month_and_descending_time(world: ApiWorld) -> None:
    answer = world.ok(metrics=["visitors"], dimensions=["time:month"])
    assert rows(answer) == [("2025-06-01", 4)]
    answer = world.ok(metrics=["visits"], dimensions=["time:day"], order_by=[["time:day", "desc"]])
    assert rows(answer) == [("2025-06-11", 2), ("2025-06-10", 3)]


def test_time_buckets_are_local_to_the_site(world: ApiWorld, settings: Settings) -> None:
    conn = control_db.connect(settings.db_path)
    sites.update_site(conn, world.site.id, domain="example.com", timezone="Asia/Tokyo")
    conn.close()
    # 15:00 UTC on 06-11 is 00:00 on 06-12 in Tokyo: v4's visit moves to that day.
    answer = world.ok(
        metrics=["visits"], dimensions=["time:day"], date_range=["2025-06-10", "2025-06-12"]
    )
    assert rows(answer) == [("2025-06-10", 3), ("2025-06-11", 1), ("2025-06-12", 1)]
    assert answer["query"]["date_range"] == [
        "2025-06-10T00:00:00+09:00",
        "2025-06-12T23:59:59+09:00",
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([["is", "visit:country", ["DE", "FR"]]], (3, 3, 6, 33, 1)),
        ([["is_not", "visit:country", ["DE"]]], (2, 3, 4, 67, 2)),
        ([["contains", "event:page", ["/blog"]]], (3, 3, 4, 33, 1)),
        # stacked: AND across filters
        (
            [["is_not", "visit:country", ["DE"]], ["contains", "event:page", ["/blog"]]],
            (1, 1, 1, 100, 1),
        ),
        # stacked on one dimension: both must hold
        (
            [["is", "visit:country", ["DE", "FR"]], ["is", "visit:country", ["FR", "US"]]],
            (1, 1, 1, 100, 1),
        ),
        ([["is", "event:name", ["Signup"]]], (1, 1, 0, 0, 1)),
        (
            [["is", "visit:browser", ["Chrome"]], ["contains", "visit:os", ["Win", "Lin"]]],
            (1, 2, 3, 50, 1),
        ),
        ([["is", "event:hostname", ["example.com"]]], (4, 5, 9, 40, 2)),
        ([["is", "visit:country", ["JP"]]], (0, 0, 0, 0, 0)),
    ],
)
def test_filters(world: ApiWorld, filters: list, expected: tuple) -> None:
    answer = world.ok(
        metrics=["visitors", "visits", "pageviews", "bounce_rate", "events"], filters=filters
    )
    assert rows(answer) == [expected]
    assert answer["query"]["filters"] == filters


def test_filtered_breakdown(world: ApiWorld) -> None:
    answer = world.ok(
        metrics=["visitors", "percentage"],
        dimensions=["visit:country"],
        filters=[["contains", "event:page", ["/blog"]]],
    )
    assert rows(answer) == [("DE", 2, 66.7), ("FR", 1, 33.3)]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([["visit_duration", "asc"]], ["FR", "US", "DE"]),
        ([["bounce_rate", "desc"]], ["FR", "US", "DE"]),
        ([["visits", "desc"], ["visit:country", "desc"]], ["US", "DE", "FR"]),
        ([["visit:country", "asc"]], ["DE", "FR", "US"]),
        ([["visit:country", "desc"]], ["US", "FR", "DE"]),
        ([["visitors", "asc"]], ["FR", "US", "DE"]),
        ([["percentage", "desc"]], ["DE", "FR", "US"]),
    ],
)
def test_order_by(world: ApiWorld, order_by: list, expected: list[str]) -> None:
    answer = world.ok(
        metrics=["visitors", "visits", "bounce_rate", "visit_duration", "percentage"],
        dimensions=["visit:country"],
        order_by=order_by,
    )
    assert [r["dimensions"][0] for r in answer["results"]] == expected
    assert answer["query"]["order_by"] == order_by


def test_order_by_nulls_last_both_ways(world: ApiWorld) -> None:
    for direction in ("asc", "desc"):
        answer = world.ok(
            metrics=["bounce_rate"],
            dimensions=["event:page"],
            order_by=[["bounce_rate", direction]],
        )
        assert [r["metrics"][0] for r in answer["results"]][-2:] == [None, None]


def test_default_order_is_the_first_metric(world: ApiWorld) -> None:
    answer = world.ok(metrics=["visit_duration", "visitors"], dimensions=["visit:country"])
    assert [r["dimensions"][0] for r in answer["results"]] == ["DE", "US", "FR"]
    assert answer["query"]["order_by"] == [["visit_duration", "desc"]]


@pytest.mark.parametrize("order_by", [None, [["pageviews", "desc"], ["event:page", "asc"]]])
def test_pagination(world: ApiWorld, order_by: list | None) -> None:
    """The widget's own order pages in SQL; any other order pages in Python: same rows."""
    fields = {"order_by": order_by} if order_by else {}
    pages = [
        world.ok(
            metrics=["visitors", "pageviews"],
            dimensions=["event:page"],
            pagination={"limit": 2, "offset": offset},
            **fields,
        )
        for offset in (0, 2, 4, 6)
    ]
    names = [[r["dimensions"][0] for r in page["results"]] for page in pages]
    assert names == [["/blog/a", "/"], ["/pricing", "/blog/b"], ["/docs"], []]
    assert pages[1]["query"]["pagination"] == {"limit": 2, "offset": 2}


def test_total_rows(world: ApiWorld) -> None:
    answer = world.ok(
        metrics=["visitors"],
        dimensions=["event:page"],
        pagination={"limit": 1, "offset": 1},
        include={"total_rows": True},
    )
    assert rows(answer) == [("/", 2)]
    assert answer["meta"] == {"total_rows": 5}
    assert world.ok(metrics=["visitors"], include={"total_rows": True})["meta"] == {"total_rows": 1}


def test_an_empty_site_answers_zeros(world: ApiWorld) -> None:
    answer = world.ok(metrics=ALL_TOTALS, date_range=["2024-01-01", "2024-01-31"])
    assert rows(answer) == [(0, 0, 0, 0.0, 0, 0, 0)]
    assert (
        world.ok(
            metrics=["visitors"],
            dimensions=["visit:country"],
            date_range=["2024-01-01", "2024-01-02"],
        )["results"]
        == []
    )


# --- the same numbers as the query layer (what the dashboard shows) ---------------

FILTER_SETS = [
    [],
    [["is", "visit:country", ["DE", "FR"]]],
    [["contains", "event:page", ["/blog"]], ["is_not", "visit:device", ["Mobile"]]],
    [["is", "event:name", ["Signup", "Download"]]],
]


def _scope(world: ApiWorld, filters: list) -> Scope:
    period = Period(DAY1.date(), DAY1.date() + dt.timedelta(days=1), "UTC")
    parsed = tuple(Filter.of(dim, op, *values) for op, dim, values in filters)
    return Scope(world.settings.events_dir, world.site.id, period, parsed)


@pytest.mark.parametrize("filters", FILTER_SETS)
def test_aggregate_equals_top_stats(world: ApiWorld, filters: list) -> None:
    expected = top_stats(_scope(world, filters))
    answer = world.ok(metrics=ALL_TOTALS, filters=filters)
    assert answer["results"][0]["metrics"] == [expected[m] for m in ALL_TOTALS]


@pytest.mark.parametrize("filters", FILTER_SETS)
def test_time_series_equals_timeseries(world: ApiWorld, filters: list) -> None:
    expected = [b for b in timeseries(_scope(world, filters), "day") if b["visits"]]
    answer = world.ok(metrics=ALL_TOTALS, dimensions=["time:day"], filters=filters)
    assert rows(answer) == [
        (b["bucket"].strftime("%Y-%m-%d"), *[b[m] for m in ALL_TOTALS]) for b in expected
    ]


@pytest.mark.parametrize("filters", FILTER_SETS)
@pytest.mark.parametrize(
    ("dimension", "widget_name", "metrics"),
    [
        ("event:page", "top_pages", ["visitors", "pageviews", "bounce_rate"]),
        (
            "visit:entry_page",
            "entry_pages",
            ["visitors", "visits", "bounce_rate", "visit_duration"],
        ),
        ("visit:exit_page", "exit_pages", ["visitors", "visits", "exit_rate"]),
        ("visit:country", "countries", ["visitors", "visits", "bounce_rate", "visit_duration"]),
        ("visit:source", "sources", ["visitors", "visits", "bounce_rate", "visit_duration"]),
        ("visit:browser", "browsers", ["visitors", "visits", "bounce_rate", "visit_duration"]),
    ],
)
def test_breakdown_equals_widget(
    world: ApiWorld, filters: list, dimension: str, widget_name: str, metrics: list[str]
) -> None:
    expected = widget(_scope(world, filters), widget_name, limit=100).rows
    answer = world.ok(metrics=metrics, dimensions=[dimension], filters=filters)
    assert rows(answer) == [(r["name"], *[r[m] for m in metrics]) for r in expected]


@pytest.mark.parametrize("filters", FILTER_SETS)
def test_event_names_equal_custom_events_and_pageviews(world: ApiWorld, filters: list) -> None:
    scope = _scope(world, filters)
    custom = widget(scope, "custom_events", limit=100).rows
    answer = world.ok(metrics=["visitors", "events"], dimensions=["event:name"], filters=filters)
    got = {r["dimensions"][0]: tuple(r["metrics"]) for r in answer["results"]}
    assert {k: v for k, v in got.items() if k != "pageview"} == {
        r["name"]: (r["visitors"], r["events"]) for r in custom
    }
    pageviews = top_stats(scope)["pageviews"]
    assert got.get("pageview", (0, 0))[1] == pageviews
