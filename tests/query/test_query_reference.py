"""Every widget equals the plain-Python reference on generated traffic, exactly.

Sites in America/New_York and Asia/Tokyo (local midnight is not UTC midnight, so
visits cross the site's day boundary), several hundred visitors a day, stacked
filters of every operator, an hourly day, a monthly chart and an empty range; visits
across UTC midnight are counted once.

Every test runs twice: on a lake as written (each day sessionised from its events
by the query layer) and on the same lake compacted (days read from the visits files
compaction writes).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from pagepulse.demo.generator import SiteSpec, generate, write_lake
from pagepulse.lake import visit_tables, visits
from pagepulse.lake.compaction import compact_lake
from pagepulse.lake.layout import site_days
from pagepulse.query import WIDGETS, Filter, Period, Scope, runner, timeseries, top_stats, widget
from tests.query.reference import Reference, read_site_events

START = dt.date(2025, 3, 1)  # spans the US DST change of 2025-03-09
DAYS = 14
SITES = {1: "America/New_York", 2: "Asia/Tokyo"}
EVERYTHING = 10_000


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events_dir = tmp_path_factory.mktemp("lake") / "events"
    specs = [SiteSpec(i, f"site{i}.example", tz, 250) for i, tz in SITES.items()]
    write_lake(events_dir, generate(specs, START, DAYS, seed=11))
    return events_dir


def compacted(written: Path, folder: Path, *, split: bool) -> Path:
    events_dir = folder / "events"
    shutil.copytree(written, events_dir)
    with pytest.MonkeyPatch.context() as patch:
        # Days this small are written whole; "split" writes them as a big day is.
        patch.setattr(visit_tables, "SPLIT_VISITS", 0 if split else 10**9)
        compact_lake(events_dir, grace_seconds=0, workers=1)
    return events_dir


@pytest.fixture(scope="module", params=["events", "visits files", "split visits files"])
def lake(
    request: pytest.FixtureRequest, written: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The lake as written, or compacted: every UTC day then reads its visits files
    (whole, as a small day's, or in blocks with its groups, as a big day's)."""
    events_dir = written
    if request.param != "events":
        split = request.param.startswith("split")
        events_dir = compacted(written, tmp_path_factory.mktemp("compacted"), split=split)
    runner.clear_caches()
    for site_id in SITES:
        days = site_days(events_dir, site_id)
        fresh = [visits.fresh_visits(events_dir, site_id, day) for day in days]
        if request.param == "events":
            assert not any(fresh)
        else:
            assert all(fresh)
            assert all((f.groups is not None) == request.param.startswith("split") for f in fresh)
    return events_dir


@pytest.fixture(scope="module")
def site_events(written: Path) -> dict[int, list[dict]]:
    events = {site_id: read_site_events(written, site_id) for site_id in SITES}
    for rows in events.values():
        # The definitions leave ties at one microsecond open; generated data has none.
        assert len({(r["visitor_id"], r["ts"]) for r in rows}) == len(rows)
    return events


CASES = {
    "week": (1, dt.date(2025, 3, 5), dt.date(2025, 3, 11), []),
    "tokyo week": (2, dt.date(2025, 3, 3), dt.date(2025, 3, 9), []),
    "one day, hourly": (1, dt.date(2025, 3, 9), dt.date(2025, 3, 9), []),
    "tokyo day": (2, dt.date(2025, 3, 6), dt.date(2025, 3, 6), []),
    "visit filters stacked": (
        1,
        dt.date(2025, 3, 2),
        dt.date(2025, 3, 12),
        [
            Filter.of("visit:device", "is_not", "desktop"),
            Filter.of("visit:browser", "is", "Chrome", "Safari", "Firefox"),
            Filter.of("visit:browser", "is_not", "Firefox"),
            Filter.of("visit:country", "contains", "U", "D"),
        ],
    ),
    "page contains": (
        1,
        dt.date(2025, 3, 2),
        dt.date(2025, 3, 12),
        [Filter.of("event:page", "contains", "/docs", "/blog")],
    ),
    "page is, source is not": (
        2,
        dt.date(2025, 3, 2),
        dt.date(2025, 3, 12),
        [Filter.of("event:page", "is", "/"), Filter.of("visit:source", "is_not", "")],
    ),
    "event name and entry page": (
        1,
        dt.date(2025, 3, 1),
        dt.date(2025, 3, 14),
        [
            Filter.of("event:name", "is_not", "pageview"),
            Filter.of("visit:entry_page", "contains", "/"),
            Filter.of("visit:exit_page", "is_not", "/pricing"),
        ],
    ),
    "empty range": (1, dt.date(2024, 1, 1), dt.date(2024, 1, 31), []),
    "nothing matches": (
        1,
        dt.date(2025, 3, 2),
        dt.date(2025, 3, 4),
        [
            Filter.of("visit:country", "is", "US"),
            Filter.of("visit:country", "is", "DE"),
        ],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_every_widget_matches_the_reference(case, lake, site_events):
    site_id, start, end, filters = CASES[case]
    period = Period(start, end, SITES[site_id])
    scope = Scope(lake, site_id, period, tuple(filters))
    reference = Reference(site_events[site_id], period, filters)
    if case not in ("empty range", "nothing matches"):
        assert len(reference.visits) > 50, "the case should select something"

    assert top_stats(scope) == reference.top_stats()
    interval = period.default_interval()
    assert timeseries(scope, interval) == reference.timeseries(interval)
    for name, spec in WIDGETS.items():
        rows = widget(scope, name, limit=EVERYTHING).rows
        if spec.query == "breakdown":
            expected = reference.breakdown(spec.params["dimension"])
        else:
            expected = getattr(reference, name)()
        assert rows == expected, name


REALTIME = {
    # now (UTC), site, filters
    "afternoon": (dt.datetime(2025, 3, 5, 19, 10, tzinfo=dt.UTC), 1, []),
    "across local midnight": (dt.datetime(2025, 3, 6, 5, 10, tzinfo=dt.UTC), 1, []),
    "across UTC midnight": (dt.datetime(2025, 3, 6, 0, 12, 30, tzinfo=dt.UTC), 2, []),
    "filtered": (
        dt.datetime(2025, 3, 5, 19, 10, tzinfo=dt.UTC),
        1,
        [Filter.of("event:page", "contains", "/"), Filter.of("visit:device", "is_not", "tablet")],
    ),
}


@pytest.mark.parametrize("case", REALTIME)
def test_realtime_last_30_minutes_matches_the_reference(case, lake, site_events):
    now, site_id, filters = REALTIME[case]
    scope = Scope.last_minutes(lake, site_id, SITES[site_id], 30, filters=tuple(filters), now=now)
    assert scope.since == now - dt.timedelta(minutes=30) and scope.until == now
    reference = Reference(
        site_events[site_id], scope.period, filters, since=scope.since, until=scope.until
    )
    assert len(reference.visits) > 3, "the case should select something"

    assert top_stats(scope) == reference.top_stats()
    minutes = timeseries(scope, "minute")
    assert minutes == reference.timeseries("minute")
    assert len(minutes) == 30 + (now.second != 0)  # one bucket per minute touched
    for name, spec in WIDGETS.items():
        rows = widget(scope, name, limit=EVERYTHING).rows
        if spec.query == "breakdown":
            expected = reference.breakdown(spec.params["dimension"])
        else:
            expected = getattr(reference, name)()
        assert rows == expected, name


def test_monthly_timeseries_matches_the_reference(lake, site_events):
    period = Period(dt.date(2025, 2, 20), dt.date(2025, 3, 20), "Asia/Tokyo")
    scope = Scope(lake, 2, period)
    assert timeseries(scope, "month") == Reference(site_events[2], period).timeseries("month")


def test_a_visit_running_at_the_start_is_left_out_and_one_running_at_the_end_counted_whole(
    lake, site_events
):
    # Consecutive local days partition the visits: their visits add up to the range's.
    period = Period(dt.date(2025, 3, 5), dt.date(2025, 3, 7), "America/New_York")
    days = [
        Period(
            period.start + dt.timedelta(days=i),
            period.start + dt.timedelta(days=i),
            period.timezone,
        )
        for i in range(3)
    ]
    whole = top_stats(Scope(lake, 1, period))
    parts = [top_stats(Scope(lake, 1, day)) for day in days]
    assert whole["visits"] == sum(p["visits"] for p in parts)
    assert whole["pageviews"] == sum(p["pageviews"] for p in parts)


def test_visits_across_utc_midnight_are_counted_once(lake, site_events):
    # The generated traffic has such visits (a visitor id changes inside the visit).
    for site_id, timezone in SITES.items():
        period = Period(dt.date(2025, 3, 2), dt.date(2025, 3, 13), timezone)
        reference = Reference(site_events[site_id], period)
        across = [v for v in reference.visits if len({e["visitor_id"] for e in v.events}) > 1]
        assert len(across) >= 3, site_id
        assert top_stats(Scope(lake, site_id, period)) == reference.top_stats()
