"""A growing day sessionised by its new files equals the day built from all of them."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from pagepulse.lake import quarantine
from pagepulse.lake.compaction import compact_lake
from pagepulse.lake.day_sums import day_groups
from pagepulse.lake.growth import added_files, grow
from pagepulse.lake.layout import live_files, partition_dir
from pagepulse.lake.sessions import ATTRIBUTES, Day, Strings, build_day, read_tail
from pagepulse.query import Period, Scope, runner, top_stats
from pagepulse.query import days as days_
from pagepulse.query.minutes import day_minutes
from tests.query.helpers import event, write_events

DAY = dt.date(2025, 6, 2)
YESTERDAY = DAY - dt.timedelta(days=1)
MIDNIGHT = dt.datetime.combine(DAY, dt.time(), dt.UTC)
PAGES = ["/", "/a", "/b", "/c", "/pricing"]


def random_events(seed: int, visitors: int = 60) -> list[dict]:
    """Visitors with a few visits each over yesterday's last hour and today, on two
    hostnames, with custom events and repeated pages; the first 30 minutes of today
    carry yesterday's id (``prev_visitor_id``) as ingest sets it."""
    rng = random.Random(seed)
    rows = []
    for v in range(1, visitors + 1):
        when = MIDNIGHT + dt.timedelta(minutes=rng.uniform(-50, 600))
        yesterday_id = v + 10_000
        country = rng.choice(["DE", "US", "JP"])
        for _visit in range(rng.randint(1, 4)):
            source = rng.choice(["", "Google", "news.example"])
            for _hit in range(rng.randint(1, 6)):
                today = when >= MIDNIGHT
                row = event(
                    when,
                    v if today else yesterday_id,
                    name=rng.choice(["pageview"] * 4 + ["Signup"]),
                    pathname=rng.choice(PAGES),
                    hostname=rng.choice(["example.com", "www.example.com"]),
                    referrer_source=source,
                    country=country,
                    browser=rng.choice(["Chrome", "Firefox"]),
                )
                if today and when < MIDNIGHT + dt.timedelta(minutes=30):
                    row["prev_visitor_id"] = yesterday_id
                rows.append(row)
                when += dt.timedelta(seconds=rng.uniform(1, 600))
            when += dt.timedelta(minutes=rng.uniform(31, 120))
    return sorted(rows, key=lambda row: row["ts"])


def today_files(events_dir: Path, rows: list[dict], flushes: int) -> list[list[Path]]:
    """Yesterday's rows in one file; today's published in ``flushes`` files by arrival
    time, as ingest does. The live files after each flush."""
    write_events(events_dir, 1, [r for r in rows if r["ts"] < MIDNIGHT])
    today = [r for r in rows if r["ts"] >= MIDNIGHT]
    listings = []
    for chunk in np.array_split(np.arange(len(today)), flushes):
        write_events(events_dir, 1, [today[i] for i in chunk])
        listings.append(live_files(partition_dir(events_dir, 1, DAY)))
    return listings


def build(events_dir: Path, files: list[Path], strings: Strings) -> Day:
    previous = live_files(partition_dir(events_dir, 1, YESTERDAY))
    return build_day(files, strings, DAY, previous=read_tail(previous, YESTERDAY))


def canonical(day: Day) -> dict:
    """Everything a day says, independent of row order and of how it is stored."""
    order = np.lexsort((day.start_us, day.visitor_id))
    visits = {
        name: getattr(day, name)[order].tolist()
        for name in (
            "visitor_id",
            "new_visitor",
            "start_us",
            "duration_us",
            "pageviews",
            "custom_events",
            "previous_id",
            "early",
        )
    }
    for name in ATTRIBUTES:
        visits[name] = day.attributes[name][order].tolist()
        visits[f"first_{name}"] = day.first_with.get(name, day.new_visitor)[order].tolist()

    def hits(of) -> list[tuple]:
        # A hit's visit by its visitor and start, not by row number.
        columns = (day.visitor_id[of.visit], day.start_us[of.visit], of.name, of.pathname,
                   of.hostname, of.count, of.first)  # fmt: skip
        return sorted(zip(*(c.tolist() for c in columns), strict=True))

    cont = day.continuations
    cont_order = np.lexsort((cont.start_us, cont.visitor_id))
    return {
        "visits": visits,
        "pages": hits(day.pages),
        "custom": hits(day.custom),
        "tail": (day.tail.visitor_id.tolist(), day.tail.end_us.tolist()),
        "continuations": {
            name: getattr(cont, name)[cont_order].tolist()
            for name in (
                "target",
                "visitor_id",
                "start_us",
                "duration_us",
                "pageviews",
                "custom_events",
            )
        },
        "continued hits": sorted(
            (cont.visitor_id[h.visit].tolist(), h.pathname.tolist(), h.count.tolist())
            for h in (cont.pages, cont.custom)
        ),
    }


def sums(day: Day) -> tuple:
    groups = sorted(zip(*day_groups(day).to_pydict().values(), strict=True))
    return groups, day_minutes(day, "America/New_York").to_pydict()


@pytest.mark.parametrize("seed", range(6))
def test_a_day_grown_file_by_file_equals_the_day_built_whole(tmp_path, seed):
    events_dir = tmp_path / "events"
    listings = today_files(events_dir, random_events(seed), flushes=12)
    strings = Strings()
    grown = build(events_dir, listings[0], strings)
    refused = 0
    for before, now in itertools.pairwise(listings):
        added = added_files(before, now)
        assert added is not None and len(added) == 1
        delta = build(events_dir, added, strings)
        bigger = grow(grown, delta, DAY)
        if bigger is None:  # around midnight: built whole, as DayStore does
            refused += 1
            bigger = build(events_dir, now, strings)
        whole = build(events_dir, now, strings)
        assert canonical(bigger) == canonical(whole)
        assert sums(bigger) == sums(whole)
        grown = bigger
    # Most flushes grow the day (only those touching a visit that continues
    # yesterday's are refused).
    assert refused < len(listings) // 2


def test_growth_is_refused_when_a_new_event_is_older_than_an_old_one(tmp_path):
    events_dir = tmp_path / "events"
    late = MIDNIGHT + dt.timedelta(hours=5)
    write_events(events_dir, 1, [event(late, 1, pathname="/"), event(late, 2, pathname="/")])
    strings = Strings()
    first = live_files(partition_dir(events_dir, 1, DAY))
    base = build(events_dir, first, strings)
    # Another worker's file, published later, with an earlier event of visitor 1.
    write_events(events_dir, 1, [event(late - dt.timedelta(minutes=1), 1, pathname="/b")])
    added = added_files(first, live_files(partition_dir(events_dir, 1, DAY)))
    assert added is not None and len(added) == 1
    assert grow(base, build(events_dir, added, strings), DAY) is None
    # Same visitor, later: the visit goes on.
    write_events(events_dir, 1, [event(late + dt.timedelta(minutes=1), 2, pathname="/c")])
    newest = live_files(partition_dir(events_dir, 1, DAY))
    day = grow(base, build(events_dir, [newest[-1]], strings), DAY)
    assert day is not None and day.visits == 2 and day.pageviews.tolist() == [1, 2]


def test_added_files_knows_that_compaction_keeps_the_same_events(tmp_path):
    events_dir = tmp_path / "events"
    folder = partition_dir(events_dir, 1, DAY)
    noon = MIDNIGHT + dt.timedelta(hours=12)
    for minute in range(3):
        write_events(events_dir, 1, [event(noon + dt.timedelta(minutes=minute), minute + 1)])
    before = live_files(folder)
    compact_lake(events_dir, today=DAY, grace_seconds=3600, workers=1)
    compacted = live_files(folder)
    assert len(compacted) == 1 and compacted[0] not in before
    assert added_files(before, compacted) == []
    write_events(events_dir, 1, [event(noon + dt.timedelta(minutes=9), 9)])
    now = live_files(folder)
    assert added_files(before, now) == [p for p in now if p not in compacted]
    # A compacted file holding events the earlier listing did not have: not separable.
    assert added_files(before[:2], compacted) is None
    # A file gone without a replacement (quarantined): not separable either.
    quarantine.quarantine(now[-1], "a test")
    assert added_files(now, live_files(folder)) is None


def test_the_query_layer_grows_today_by_its_new_files(tmp_path, monkeypatch):
    events_dir = tmp_path / "events"
    rows = [r for r in random_events(7, visitors=40) if r["ts"] >= MIDNIGHT]
    built_from: list[list[str]] = []
    real_build = days_.build_day

    def recording(files, *args, **kwargs):
        built_from.append(sorted(p.name for p in files))
        return real_build(files, *args, **kwargs)

    monkeypatch.setattr(days_, "build_day", recording)
    period = Period(DAY, DAY + dt.timedelta(days=1), "UTC")
    runner.clear_caches()
    chunks = np.array_split(np.arange(len(rows)), 4)
    answers = []
    for n, chunk in enumerate(chunks):
        write_events(events_dir, 1, [rows[i] for i in chunk])
        answers.append(top_stats(Scope(events_dir, 1, period)))
        if n == 1:  # today compacted as the server does: the same events in one file
            compact_lake(events_dir, today=DAY, grace_seconds=3600, workers=1)
            # Asked before the next flush: the same visits, nothing sessionised again.
            assert top_stats(Scope(events_dir, 1, period)) == answers[-1]
            assert len(built_from) == 2
    # Each request after the first sessionised the one new file only ...
    assert [len(files) for files in built_from] == [1, 1, 1, 1]
    # ... and answered what a fresh process answers from all of them.
    runner.clear_caches()
    assert top_stats(Scope(events_dir, 1, period)) == answers[-1]
    assert answers[-1]["visitors"] == len({row["visitor_id"] for row in rows})
