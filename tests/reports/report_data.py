"""A Berlin site with known traffic, written through the real importer, for report tests.

The reported week is Monday 1 – Sunday 7 June 2026 in Europe/Berlin (UTC+2); its
report is due Monday 8 June 09:00 Berlin = 07:00 UTC. Counted by hand:

- this week: 4 visits by 4 visitors, 5 pageviews, 3 bounces (75%), 120 s in all (30 s
  a visit). One visit starts at 00:30 Berlin on 1 June (still 31 May in UTC), one at
  00:30 on 8 June (7 June in UTC) is next week's. One page path and one source are
  hostile markup.
- the week before: 2 visits, 2 visitors, 3 pageviews, 1 bounce (50%), 60 s (30 s).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import sqlite3
from pathlib import Path

from passlib.context import CryptContext
from selectolax.lexbor import LexborHTMLParser

from pagepulse.control import members
from pagepulse.control.sites import Site, create_site
from pagepulse.control.users import User, get_user
from pagepulse.lake.importer import import_file

TIMEZONE = "Europe/Berlin"
WEEK_START = dt.date(2026, 6, 1)
WEEK_END = dt.date(2026, 6, 7)
DUE = dt.datetime(2026, 6, 8, 7, 0, tzinfo=dt.UTC)  # Monday 09:00 Berlin
BEFORE_DUE = DUE - dt.timedelta(seconds=1)
SUBSCRIBED_AT = dt.datetime(2026, 5, 20, 12, 0, tzinfo=dt.UTC)

HOSTILE_PATH = "/<img src=x onerror=alert(1)>\r\nBcc: victim@example.com"
HOSTILE_SOURCE = "<script>alert('src')</script>"
PASSWORD = "report-test-password"


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


# (ts, visitor, path, source, country)
VISITS = [
    # The reported week (Berlin).
    (_utc(2026, 5, 31, 22, 30), 3, "/blog", "Twitter", "FR"),  # 1 June 00:30 Berlin
    (_utc(2026, 6, 2, 10, 0), 1, "/", "Google", "DE"),
    (_utc(2026, 6, 2, 10, 2), 1, "/pricing", "Google", "DE"),
    (_utc(2026, 6, 3, 12, 0), 2, "/", "", "US"),
    (_utc(2026, 6, 5, 9, 0), 4, HOSTILE_PATH, HOSTILE_SOURCE, "DE"),
    (_utc(2026, 6, 7, 22, 30), 5, "/next-week", "Google", "DE"),  # 8 June 00:30 Berlin
    # The week before.
    (_utc(2026, 5, 26, 8, 0), 6, "/", "Google", "DE"),
    (_utc(2026, 5, 27, 15, 0), 7, "/", "", "AT"),
    (_utc(2026, 5, 27, 15, 1), 7, "/about", "", "AT"),
]


def import_traffic(events_dir: Path, site_id: int, tmp_dir: Path, rows=VISITS) -> None:
    """Write ``rows`` to a CSV in the public event schema and import it."""
    path = tmp_dir / f"traffic-{site_id}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["ts", "visitor_id", "name", "hostname", "pathname", "referrer_source", "country"]
        )
        for ts, visitor, page, source, country in rows:
            writer.writerow(
                [ts.isoformat(), visitor, "pageview", "shop.example", page, source, country]
            )
    import_file(events_dir, site_id, path)


@functools.cache
def _cheap_hash() -> str:
    """A real argon2 hash of PASSWORD at the lowest cost: accounts in tests cost ~nothing,
    and the server still verifies it at log-in like any other."""
    cheap = CryptContext(
        schemes=["argon2"], argon2__memory_cost=8, argon2__rounds=1, argon2__parallelism=1
    )
    return cheap.hash(PASSWORD)


def add_user(conn: sqlite3.Connection, email: str) -> User:
    row = conn.execute(
        "INSERT INTO users (email, password_hash) VALUES (?, ?) RETURNING id",
        (email, _cheap_hash()),
    ).fetchone()
    user = get_user(conn, row["id"])
    assert user is not None
    return user


def add_site(conn: sqlite3.Connection, owner: User, domain: str = "shop.example") -> Site:
    return create_site(conn, domain, owner.id, TIMEZONE)


def add_member(conn: sqlite3.Connection, site: Site, user: User, role="viewer") -> None:
    members.add_member(conn, site.id, user.id, role)


def subscribe(
    conn: sqlite3.Connection, site: Site, user: User, kind: str, at: dt.datetime = SUBSCRIBED_AT
) -> None:
    """Opt in as the page does, dated ``at`` (SQLite's own clock stamps new rows)."""
    conn.execute(
        "INSERT INTO report_subscriptions (site_id, user_id, kind, created_at) VALUES (?, ?, ?, ?)",
        (site.id, user.id, kind, at.strftime("%Y-%m-%dT%H:%M:%SZ")),
    )


def add_readers(
    conn: sqlite3.Connection, site: Site, count: int, kind: str = "weekly"
) -> list[str]:
    """``count`` viewers of the site subscribed to ``kind``; returns their emails."""
    emails = [f"reader{i}@example.com" for i in range(count)]
    for email in emails:
        reader = add_user(conn, email)
        add_member(conn, site, reader)
        subscribe(conn, site, reader, kind)
    return emails


def stat_rows(page: LexborHTMLParser) -> dict[str, tuple[str, str]]:
    """The HTML part's top stats: metric -> (value, change) as shown."""
    return {
        row.attributes["data-metric"] or "": (
            row.css_first(".value").text(),
            row.css_first(".change").text(),
        )
        for row in page.css("#top-stats tr")
    }


def ranked_lists(page: LexborHTMLParser) -> dict[str, list[tuple[str, str]]]:
    """The HTML part's lists: title -> [(name, visitors)] as shown."""
    return {
        table.parent.css_first("h2").text(): [
            (row.css_first(".name").text(), row.css_first(".visitors").text())
            for row in table.css("tr")
            if row.css_first(".name")
        ]
        for table in page.css("table.ranked")
    }
