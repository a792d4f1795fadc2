"""Derived visits files: written by compaction, atomic, stale when their events change,
safe to kill, and read back as the very days the query layer builds from events."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from pagepulse.demo.generator import SiteSpec, generate, write_lake
from pagepulse.lake import visit_tables, visits
from pagepulse.lake.compaction import compact_lake
from pagepulse.lake.day_sums import day_groups
from pagepulse.lake.layout import live_files, partition_dir, publish_table, site_days
from pagepulse.lake.retention import delete_site_events, enforce_retention
from pagepulse.lake.sessions import ATTRIBUTES, Strings, build_day, read_tail
from pagepulse.query import Period, Scope, runner, top_stats
from pagepulse.query.minutes import day_minutes
from tests.query.helpers import event, write_events

START = dt.date(2025, 3, 1)
DAYS = 4
ONE_DAY = dt.timedelta(days=1)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    events_dir = tmp_path / "data" / "events"
    specs = [SiteSpec(1, "one.example", "UTC", 600), SiteSpec(2, "two.example", "Asia/Tokyo", 150)]
    write_lake(events_dir, generate(specs, START, DAYS, seed=5))
    return events_dir


def all_days(events_dir: Path) -> list[tuple[int, dt.date]]:
    return [(site, day) for site in (1, 2) for day in site_days(events_dir, site)]


def answers(events_dir: Path) -> dict[int, dict]:
    """Each site's top stats over every day, from a fresh query layer."""
    runner.clear_caches()
    period = Period(START - ONE_DAY, START + dt.timedelta(days=DAYS + 1), "UTC")
    return {site: top_stats(Scope(events_dir, site, period)) for site in (1, 2)}


def built_from_events(events_dir: Path, site: int, day: dt.date, strings: Strings):
    previous = live_files(partition_dir(events_dir, site, day - ONE_DAY))
    tail = read_tail(previous, day - ONE_DAY) if previous else None
    return build_day(live_files(partition_dir(events_dir, site, day)), strings, day, previous=tail)


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
def test_compaction_writes_every_past_day_and_they_read_back_as_built(lake, split, monkeypatch):
    expected = answers(lake)
    today = START + dt.timedelta(days=DAYS)  # the last generated UTC day stays today
    # Days this small are written whole; "split" writes them as a big day is (in
    # blocks, with a groups file): in this process, so the patch holds.
    monkeypatch.setattr(visit_tables, "SPLIT_VISITS", 0 if split else 10**9)
    result = compact_lake(lake, grace_seconds=0, today=today, workers=1 if split else 2)
    days = all_days(lake)
    past = [(site, day) for site, day in days if day < today]
    assert result.visits == len(past) and result.visits_bytes > 0
    for site, day in days:
        pair = visits.fresh_visits(lake, site, day)
        if day >= today:
            assert pair is None  # today is sessionised by the query layer itself
            continue
        assert pair is not None and pair.visit_events.is_file()
        strings = Strings()
        built = built_from_events(lake, site, day, strings)
        read = visit_tables.read_day(pair, strings)
        # The same visits (the file puts the day's tail visitors last) ...
        order = [np.lexsort((d.start_us, d.visitor_id)) for d in (read, built)]
        pairs = list(zip((read, built), order, strict=True))
        for name in ("visitor_id", "new_visitor", "start_us", "duration_us", "pageviews",
                     "custom_events"):  # fmt: skip
            mine, theirs = (getattr(d, name)[o] for d, o in pairs)
            assert np.array_equal(mine, theirs), name
        for name in ATTRIBUTES:
            mine, theirs = (d.attributes[name][o] for d, o in pairs)
            assert np.array_equal(mine, theirs), name
        # ... the same sums, stored beside them (a big day) and made from them ...
        sums = [day_groups(read), day_groups(built)]
        assert (pair.groups is not None) == split
        if split:
            sums.append(visit_tables.read_groups(pair, strings))
        rows = [sorted(zip(*g.to_pydict().values(), strict=True)) for g in sums]
        assert all(r == rows[0] for r in rows)
        minutes = [day_minutes(d, "Asia/Kolkata") for d in (read, built)]
        assert minutes[0].equals(minutes[1])
        # ... and the same continuations of the previous day.
        assert np.array_equal(read.continuations.target, built.continuations.target)
        assert np.array_equal(read.continuations.pageviews, built.continuations.pageviews)
    assert answers(lake) == expected
    # One row per visit, readable by any engine.
    pair = visits.fresh_visits(lake, 1, START + ONE_DAY)
    assert pair is not None
    with duckdb.connect() as conn:
        visits_count, views = conn.execute(
            "SELECT count(*) FILTER (WHERE NOT continues), sum(pageviews) FROM read_parquet($f)",
            {"f": str(pair.visits)},
        ).fetchone()
        hits = conn.execute(
            "SELECT sum(count) FILTER (WHERE name = 'pageview') FROM read_parquet($f)",
            {"f": str(pair.visit_events)},
        ).fetchone()[0]
    assert visits_count > 500 and views == hits


def test_a_new_file_makes_the_day_and_the_next_stale_until_the_next_run(lake):
    today = START + dt.timedelta(days=DAYS + 2)
    compact_lake(lake, grace_seconds=0, today=today, workers=1)
    day = START + ONE_DAY
    assert visits.fresh_visits(lake, 1, day) is not None
    late = event(dt.datetime.combine(day, dt.time(23, 58), dt.UTC), 77, pathname="/late")
    write_events(lake, 1, [late])
    # The day's visits miss the new event; the next day's depend on it (a visit of it
    # might continue there): both are stale, and readers use the events.
    assert visits.fresh_visits(lake, 1, day) is None
    assert visits.fresh_visits(lake, 1, day + ONE_DAY) is None
    assert visits.fresh_visits(lake, 1, day - ONE_DAY) is not None
    expected = answers(lake)
    result = compact_lake(lake, grace_seconds=0, today=today, workers=1)
    assert result.partitions == 1 and result.visits == 2
    assert visits.fresh_visits(lake, 1, day) is not None
    assert visits.fresh_visits(lake, 1, day + ONE_DAY) is not None
    assert answers(lake) == expected
    # Nothing is rewritten when nothing changed.
    assert compact_lake(lake, grace_seconds=0, today=today, workers=1).visits == 0


def test_publishing_replaces_the_old_pair_atomically_and_deletes_it_after_the_grace(lake):
    today = START + dt.timedelta(days=DAYS + 2)
    compact_lake(lake, grace_seconds=0, today=today, workers=1)
    day = START + ONE_DAY
    first = visits.fresh_visits(lake, 1, day)
    write_events(lake, 1, [event(dt.datetime.combine(day, dt.time(12), dt.UTC), 5)])
    compact_lake(lake, grace_seconds=300, today=today, workers=1)
    second = visits.fresh_visits(lake, 1, day)
    assert second is not None and second != first
    folder = second.visits.parent
    # The replaced pair stays for queries already reading it, but is not live.
    files = [p for p in (first.visits, first.visit_events, first.groups) if p is not None]
    assert all(p.exists() for p in files)
    assert visits.live_visits(folder) == [second.visits]
    assert (
        first.visits.name
        in pq.read_metadata(second.visits).metadata[b"pagepulse.replaces"].decode()
    )
    assert visits.delete_replaced(lake, 1, day, grace_seconds=300) == 0
    assert visits.delete_replaced(lake, 1, day, grace_seconds=0) == len(files)
    assert not any(p.exists() for p in files)
    assert visits.fresh_visits(lake, 1, day) == second


def test_a_visit_across_midnight_is_one_visit_of_its_first_day(tmp_path):
    events_dir = tmp_path / "data" / "events"
    evening = dt.datetime(2025, 6, 1, 23, 50, tzinfo=dt.UTC)
    midnight = evening + dt.timedelta(minutes=10)
    write_events(events_dir, 1, [
        event(evening, 7, pathname="/a", referrer_source="Google"),
        event(evening + dt.timedelta(minutes=5), 7, pathname="/b"),
        # The same person after midnight: a new id, yesterday's id in prev_visitor_id.
        event(midnight + dt.timedelta(minutes=8), 8, pathname="/b", prev_visitor_id=7),
        event(midnight + dt.timedelta(minutes=20), 8, "Signup", pathname="/c"),
        event(midnight + dt.timedelta(minutes=50), 8, pathname="/d"),  # a new visit of 8
    ])  # fmt: skip
    period = Period(evening.date(), midnight.date(), "UTC")
    expected = {
        "visitors": 2, "visits": 2, "pageviews": 4, "views_per_visit": 2.0,
        "bounce_rate": 50, "visit_duration": (30 * 60) // 2, "events": 1,
    }  # fmt: skip
    assert top_stats(Scope(events_dir, 1, period)) == expected
    compact_lake(events_dir, grace_seconds=0, today=midnight.date() + ONE_DAY, workers=1)
    first, second = (
        visits.fresh_visits(events_dir, 1, d) for d in (evening.date(), midnight.date())
    )
    assert first is not None and second is not None
    with duckdb.connect() as conn:
        rows = conn.execute(
            "SELECT visitor_id, pageviews, prev_visitor_id, continues "
            "FROM read_parquet($f) ORDER BY continues, start",
            {"f": [str(first.visits), str(second.visits)]},
        ).fetchall()
    # Each file holds its own day's part; the next day's part is marked as continuing.
    assert rows == [(7, 2, None, False), (8, 1, None, False), (8, 1, 7, True)]
    runner.clear_caches()
    assert top_stats(Scope(events_dir, 1, period)) == expected
    # Counted on its start day, with all its pageviews and its whole duration.
    runner.clear_caches()
    day_one = top_stats(Scope(events_dir, 1, Period(evening.date(), evening.date(), "UTC")))
    assert (day_one["visits"], day_one["pageviews"], day_one["visit_duration"]) == (1, 3, 1800)


def test_retention_and_site_deletion_take_the_visits_with_the_events(lake):
    compact_lake(lake, grace_seconds=0, today=START + dt.timedelta(days=DAYS + 2), workers=1)
    roots = visits.derived_roots(lake)
    assert all((root / "site_id=2").is_dir() for root in roots[:2])  # small days: no groups
    delete_site_events(lake, 2)
    assert not any((root / "site_id=2").exists() for root in roots)
    assert enforce_retention(lake, {1: 6}, today=START + dt.timedelta(days=400)) > 0
    assert not list(roots[0].glob("site_id=1/date=*"))
    assert not list(roots[1].glob("site_id=1/date=*"))


def test_derived_folders_without_their_events_are_swept(lake):
    compact_lake(lake, grace_seconds=0, today=START + dt.timedelta(days=DAYS + 2), workers=1)
    day_folder = partition_dir(lake, 1, START)
    for path in day_folder.iterdir():
        path.unlink()
    day_folder.rmdir()  # as a crash between deleting events and visits would leave it
    compact_lake(lake, grace_seconds=0, workers=1)
    for root in visits.derived_roots(lake):
        assert not partition_dir(root, 1, START).exists()
    for root in visits.derived_roots(lake)[:2]:  # small days have no groups file
        assert partition_dir(root, 1, START + ONE_DAY).exists()


KILL_CYCLES = int(os.environ.get("PAGEPULSE_COMPACTION_KILL_CYCLES", "6"))
KILLED_COMPACTOR = """
import datetime as dt, sys
from pathlib import Path
from pagepulse.lake.compaction import compact_lake
compact_lake(Path(sys.argv[1]), grace_seconds=0, today=dt.date(2030, 1, 1), workers=2)
"""


def test_sigkill_while_writing_visits_loses_nothing_and_counts_nothing_twice(lake):
    expected = answers(lake)
    rng = random.Random(11)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    roots = visits.derived_roots(lake)
    killed = 0
    for cycle in range(KILL_CYCLES):
        # New events make every day of site 1 stale, so each run has visits to write.
        for offset in range(DAYS):
            day = START + dt.timedelta(days=offset)
            moment = dt.datetime.combine(day, dt.time(12, cycle), dt.UTC)
            write_events(lake, 1, [event(moment, 1000 + cycle, pathname=f"/k{cycle}")])
        expected = answers(lake)
        before = {p for root in roots for p in root.rglob("*.parquet")}
        proc = subprocess.Popen([sys.executable, "-c", KILLED_COMPACTOR, str(lake)], env=env)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if {p for root in roots for p in root.rglob("*.parquet")} - before:
                break  # writing visits now
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        # Whatever is published is either fresh and right, or stale and ignored.
        assert answers(lake) == expected, f"cycle {cycle}"
        for site, day in all_days(lake):
            pair = visits.fresh_visits(lake, site, day)
            if pair is not None:
                visit_tables.read_day(pair, Strings())
    assert killed >= 2, "the compactor always finished before the kill"
    time.sleep(0.5)  # killed workers (if any were still exiting) are gone
    compact_lake(lake, grace_seconds=0, today=dt.date(2030, 1, 1), workers=2)
    stale = [(s, d) for s, d in all_days(lake) if visits.fresh_visits(lake, s, d) is None]
    assert not stale, [
        sorted(p.name for p in partition_dir(roots[0], s, d).iterdir()) for s, d in stale
    ]
    assert answers(lake) == expected
    for root in roots:
        assert not list(root.rglob(".*.tmp")), "temporaries are cleaned up"
        for folder in root.glob("site_id=*/date=*"):
            assert len(list(folder.glob("*.parquet"))) == 1, "one pair per day, nothing else"


def test_publish_leaves_no_partial_file(lake, monkeypatch):
    # A failed write (a full disk) leaves the old state: no half file, still fresh.
    compact_lake(lake, grace_seconds=0, today=START + dt.timedelta(days=DAYS + 2), workers=1)
    day = START + ONE_DAY
    pair = visits.fresh_visits(lake, 1, day)
    write_events(lake, 1, [event(dt.datetime.combine(day, dt.time(9), dt.UTC), 3)])

    def full_disk(table, path, **kwargs):
        if path.parent.parent.parent.name == "visits":
            raise OSError(28, "No space left on device")
        return publish_table(table, path, **kwargs)

    monkeypatch.setattr(visits, "publish_table", full_disk)
    with pytest.raises(OSError):
        compact_lake(lake, grace_seconds=0, today=START + dt.timedelta(days=DAYS + 2), workers=1)
    assert visits.live_visits(pair.visits.parent) == [pair.visits]
    assert visits.fresh_visits(lake, 1, day) is None  # stale: readers use the events
    assert not list(pair.visits.parent.glob(".*"))
