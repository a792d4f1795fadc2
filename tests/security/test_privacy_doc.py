"""docs/privacy.md stays true to the code: the claims a site owner relies on."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

from pagepulse.control import billing_webhook, invitations
from pagepulse.control.db import open_database
from pagepulse.ingest import salts
from pagepulse.lake.compaction import GRACE_SECONDS
from pagepulse.lake.retention import RETENTION_CHOICES
from pagepulse.lake.schema import EVENT_COLUMNS
from pagepulse.reports import subscriptions
from pagepulse.web import auth
from pagepulse.web.routes.share import UNLOCK_COOKIE
from pagepulse.web.templating import FLASH_COOKIE

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "privacy.md").read_text()
TRACKER = (ROOT / "pagepulse" / "ingest" / "tracker" / "script.js").read_text()


def salt_days(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT day FROM salts ORDER BY day")]


def test_a_salt_lives_48_hours_at_most(tmp_path: Path) -> None:
    assert "48 hours at most" in DOC
    conn = open_database(tmp_path / "pagepulse.sqlite3")
    monday = dt.datetime(2025, 6, 9, 0, 0, tzinfo=dt.UTC)
    first = salts.rotate(conn, monday)
    assert salts.rotate(conn, monday + dt.timedelta(hours=23, minutes=59)) == first
    salts.rotate(conn, monday + dt.timedelta(days=1))
    assert salt_days(conn) == ["2025-06-09", "2025-06-10"]
    # Monday's salt goes the instant Wednesday starts: 48 hours after it was made.
    salts.rotate(conn, monday + dt.timedelta(days=2))
    assert salt_days(conn) == ["2025-06-10", "2025-06-11"]
    assert first not in [bytes(r[0]) for r in conn.execute("SELECT salt FROM salts")]


def test_every_stored_column_is_described() -> None:
    table = DOC.split("## What is stored per event", 1)[1].split("###", 1)[0]
    described = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            described |= set(re.findall(r"`(\w+)`", line.split("|")[1]))
    assert described == set(EVENT_COLUMNS)


def test_every_control_plane_table_is_described(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "pagepulse.sqlite3")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    lifetimes = DOC.split("## How long anything lives", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"table `(\w+)`", lifetimes)) == tables


def test_the_cookies_named_are_the_cookies_set() -> None:
    cookies = {auth.SESSION_COOKIE, auth.PRESESSION_COOKIE, FLASH_COOKIE, UNLOCK_COOKIE}
    named = set(re.findall(r"`(pp_\w+)`", DOC))
    assert named == cookies


def test_lifetimes_match_the_constants() -> None:
    assert auth.SESSION_LIFETIME == 30 * 24 * 3600 and "30 days after last use" in DOC
    assert auth.ACCOUNT_WINDOW == 15 * 60 and "| 15 minutes |" in DOC
    assert GRACE_SECONDS == 300 and "5 minutes after the compacted file exists" in DOC
    choices = ", ".join(str(m) for m in RETENTION_CHOICES[:-1])
    assert f"{choices} or {RETENTION_CHOICES[-1]} months" in DOC
    assert invitations.LIFETIME_SECONDS == 7 * 24 * 3600 and "(7 days at most)" in DOC
    assert invitations.KEEP_FINISHED_SECONDS == 30 * 24 * 3600
    assert "then 30 days after it was accepted, revoked or expired" in DOC
    assert subscriptions.KEEP_SENDS.days == 400 and "| 400 days (daily clean-up) |" in DOC
    assert billing_webhook.KEEP_DELIVERY_SECONDS == 600 and "| 10 minutes, the replay" in DOC


def test_the_tracker_touches_no_cookie_or_storage() -> None:
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", TRACKER, flags=re.S)  # comments say the names
    for api in ("cookie", "localStorage", "sessionStorage", "indexedDB", "caches", "openDatabase"):
        assert api not in code, api
    # And it sends exactly the fields the doc lists.
    sent = re.search(r"JSON\.stringify\(\{(.*?)\}\)", code, re.S)
    assert sent is not None
    fields = re.findall(r"^\s*(\w+):", sent.group(1), re.M)
    assert fields == ["n", "u", "d", "r", "w", "h", "p"]
    for field in fields:
        assert f"| `{field}` |" in DOC, field
