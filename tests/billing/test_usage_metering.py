"""Usage metering from real Parquet: per account, per UTC month, pageviews vs custom events,
across its sites only, and never counted twice once compaction has replaced files."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest

from pagepulse.config import Settings
from pagepulse.control import usage
from pagepulse.control.db import open_database
from pagepulse.control.sites import create_site
from pagepulse.control.users import create_user
from pagepulse.lake.compaction import compact_lake
from pagepulse.lake.layout import partition_dir
from pagepulse.query import runner
from tests.billing.helpers import import_rows

JAN, FEB, MAR = dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)


@pytest.fixture
def accounts(settings: Settings):
    usage.clear_cache()
    conn = open_database(settings.db_path)
    owner = create_user(conn, "owner@example.com", "a-long-password")
    other = create_user(conn, "other@example.com", "a-long-password")
    first = create_site(conn, "first.example", owner.id)
    second = create_site(conn, "second.example", owner.id)
    foreign = create_site(conn, "foreign.example", other.id)
    yield conn, owner, first, second, foreign
    conn.close()


def random_events(seed: int, count: int) -> list[tuple[dt.datetime, str]]:
    """Events from mid-January to late March 2025, a quarter of them custom events."""
    rng = random.Random(seed)
    start = dt.datetime(2025, 1, 15, tzinfo=dt.UTC)
    span = (dt.datetime(2025, 3, 25, tzinfo=dt.UTC) - start).total_seconds()
    return [
        (
            start + dt.timedelta(seconds=rng.uniform(0, span)),
            rng.choice(["pageview", "pageview", "pageview", "Signup", "Download"]),
        )
        for _ in range(count)
    ]


def expected(rows_by_site: dict[int, list[tuple[dt.datetime, str]]]) -> Counter:
    counts: Counter = Counter()
    for site_id, rows in rows_by_site.items():
        for ts, name in rows:
            kind = "pageviews" if name == "pageview" else "custom_events"
            counts[site_id, usage.month_of(ts), kind] += 1
    return counts


def as_counter(months: list[usage.MonthUsage]) -> Counter:
    counts: Counter = Counter()
    for month in months:
        for site in month.sites:
            if site.pageviews:
                counts[site.site_id, month.month, "pageviews"] = site.pageviews
            if site.custom_events:
                counts[site.site_id, month.month, "custom_events"] = site.custom_events
    return counts


def test_usage_counts_every_event_of_the_accounts_sites_per_utc_month(settings, accounts):
    conn, owner, first, second, foreign = accounts
    rows = {first.id: random_events(1, 3000), second.id: random_events(2, 1200)}
    # Month boundaries are UTC: the last microsecond of January, the first of February.
    rows[first.id] += [
        (dt.datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=dt.UTC), "pageview"),
        (dt.datetime(2025, 2, 1, 0, 0, tzinfo=dt.UTC), "pageview"),
        (dt.datetime(2025, 2, 28, 23, 30, tzinfo=dt.UTC), "Signup"),
    ]
    for site_id, site_rows in rows.items():
        assert import_rows(settings.events_dir, site_id, site_rows) == len(site_rows)
    import_rows(settings.events_dir, foreign.id, random_events(3, 500))  # not the owner's

    months = usage.account_usage(settings, conn, owner.id, [JAN, FEB, MAR])

    assert as_counter(months) == expected(rows)
    for month in months:
        want = expected(rows)
        assert month.pageviews == sum(want[s, month.month, "pageviews"] for s in rows)
        assert month.custom_events == sum(want[s, month.month, "custom_events"] for s in rows)
        assert {s.domain for s in month.sites} == {"first.example", "second.example"}
    assert sum(m.events for m in months) == sum(len(r) for r in rows.values())


def test_compaction_neither_loses_nor_double_counts(settings, accounts):
    conn, owner, first, _second, _foreign = accounts
    rows: list[tuple[dt.datetime, str]] = []
    for batch in range(3):  # three imports: three files in each day folder
        more = random_events(10 + batch, 800)
        import_rows(settings.events_dir, first.id, more)
        rows += more
    before = usage.account_usage(settings, conn, owner.id, [JAN, FEB, MAR])

    # The replaced files stay on disk for the grace period, next to the compacted ones.
    result = compact_lake(settings.events_dir, grace_seconds=3600)
    assert result.partitions > 0 and result.deleted == 0
    day = partition_dir(settings.events_dir, first.id, rows[0][0].date())
    assert len(list(day.glob("*.parquet"))) == 4  # three replaced + one compacted
    usage.clear_cache()
    after = usage.account_usage(settings, conn, owner.id, [JAN, FEB, MAR])

    assert after == before
    assert as_counter(after) == expected({first.id: rows})


def test_new_files_of_a_counted_month_are_added(settings, accounts):
    conn, owner, first, _second, _foreign = accounts
    import_rows(
        settings.events_dir, first.id, [(dt.datetime(2025, 2, 3, tzinfo=dt.UTC), "pageview")]
    )
    [feb] = usage.account_usage(settings, conn, owner.id, [FEB])
    assert (feb.pageviews, feb.custom_events) == (1, 0)

    import_rows(
        settings.events_dir,
        first.id,
        [(dt.datetime(2025, 2, 3, 5, tzinfo=dt.UTC), "pageview")] * 4
        + [(dt.datetime(2025, 2, 9, tzinfo=dt.UTC), "Outbound Link: Click")] * 2,
    )
    [feb] = usage.account_usage(settings, conn, owner.id, [FEB])
    assert (feb.pageviews, feb.custom_events) == (5, 2)


def test_usage_by_file_reads_one_count_per_file(settings, accounts):
    _conn, _owner, first, _second, _foreign = accounts
    import_rows(
        settings.events_dir,
        first.id,
        [(dt.datetime(2025, 3, 1, 1, tzinfo=dt.UTC), "pageview")] * 3
        + [(dt.datetime(2025, 3, 2, 1, tzinfo=dt.UTC), "Signup")] * 2,
    )
    files = sorted(settings.events_dir.rglob("*.parquet"))
    rows = runner.run("usage_by_file", files=[str(f) for f in files]).rows
    by_day = {row["file"].split("date=")[1][:10]: row for row in rows}
    assert {day: (r["pageviews"], r["custom_events"]) for day, r in by_day.items()} == {
        "2025-03-01": (3, 0),
        "2025-03-02": (0, 2),
    }


def test_an_account_without_sites_or_events_uses_nothing(settings, accounts):
    conn, _owner, _first, _second, foreign = accounts
    lonely = create_user(conn, "lonely@example.com", "a-long-password")
    assert usage.account_usage(settings, conn, lonely.id, [JAN]) == [
        usage.MonthUsage(JAN, 0, 0, ())
    ]
    [jan] = usage.account_usage(settings, conn, foreign.owner_id, [JAN])
    assert (jan.pageviews, jan.custom_events) == (0, 0)


def test_projection_is_the_pace_so_far_over_the_whole_month():
    april = dt.date(2025, 4, 1)
    ten_days_in = dt.datetime(2025, 4, 11, tzinfo=dt.UTC)
    assert usage.projected(300, april, ten_days_in) == 900  # 30-day month
    assert (
        usage.projected(1000, dt.date(2025, 2, 1), dt.datetime(2025, 2, 15, tzinfo=dt.UTC)) == 2000
    )
    assert usage.projected(77, april, dt.datetime(2025, 5, 2, tzinfo=dt.UTC)) == 77  # over
    assert usage.projected(0, april, ten_days_in) == 0


def test_months():
    assert usage.parse_month("2025-03") == MAR
    assert usage.add_months(dt.date(2024, 12, 1), 1) == JAN
    assert usage.add_months(JAN, -1) == dt.date(2024, 12, 1)
    assert usage.recent_months(dt.datetime(2025, 2, 10, tzinfo=dt.UTC), 3) == [
        dt.date(2024, 12, 1), JAN, FEB,
    ]  # fmt: skip
    for bad in ("2025-13", "2025-3", "march", "2025-00", ""):
        with pytest.raises(ValueError):
            usage.parse_month(bad)
