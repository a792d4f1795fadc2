"""The daily clean-up (``web/housekeeping.py``): which rows go and which stay, on a real
SQLite file, and that a real server prunes at start-up."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pagepulse.config import Settings
from pagepulse.control import billing_webhook, invitations, sites, users
from pagepulse.control.db import open_database
from pagepulse.reports import subscriptions
from pagepulse.web import housekeeping
from tests.support.server import Server

DAY = 24 * 3600.0
NOW = 1_750_000_000.0


def fill(conn: sqlite3.Connection, now: float) -> None:
    """Per table, one row just past its lifetime at ``now`` and one just within it."""
    owner = users.create_user(conn, "owner@example.com", "a-long-password")
    site_id = sites.create_site(conn, "example.com", owner.id).id
    for email, days_ago in (("old@example.com", 31), ("recent@example.com", 29)):
        invitation, _ = invitations.create_invitation(
            conn, site_id, email, "viewer", owner.id, now - days_ago * DAY
        )
        invitations.revoke_invitation(conn, site_id, invitation.id, now - days_ago * DAY)
    for start, days_ago in (("2024-01-01", 401), ("2024-02-01", 399)):
        conn.execute(
            "INSERT INTO report_sends (site_id, user_id, kind, period_start, claimed_at, sent_at) "
            "VALUES (?, ?, 'monthly', ?, ?, ?)",
            (site_id, owner.id, start, now - days_ago * DAY, now - days_ago * DAY),
        )
    keep = billing_webhook.KEEP_DELIVERY_SECONDS
    conn.executemany(
        "INSERT INTO webhook_deliveries (id, received_at) VALUES (?, ?)",
        [("old", now - keep - 1), ("recent", now - keep + 60)],
    )


def remaining(conn: sqlite3.Connection) -> dict[str, list[str]]:
    return {
        "invitations": [r[0] for r in conn.execute("SELECT email FROM invitations")],
        "report_sends": [r[0] for r in conn.execute("SELECT period_start FROM report_sends")],
        "webhook_deliveries": [r[0] for r in conn.execute("SELECT id FROM webhook_deliveries")],
    }


def test_each_table_keeps_rows_for_its_lifetime(settings: Settings, conn) -> None:
    assert subscriptions.KEEP_SENDS.days == 400
    assert billing_webhook.KEEP_DELIVERY_SECONDS == 600
    fill(conn, NOW)
    pruned = housekeeping.prune_once(settings, NOW)
    assert pruned == {"invitations": 1, "report_sends": 1, "webhook_deliveries": 1}
    assert remaining(conn) == {
        "invitations": ["recent@example.com"],
        "report_sends": ["2024-02-01"],
        "webhook_deliveries": ["recent"],
    }
    assert housekeeping.prune_once(settings, NOW) == dict.fromkeys(pruned, 0)


def test_the_server_prunes_at_start_up(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    conn = open_database(data_dir / "pagepulse.sqlite3")
    try:
        fill(conn, time.time())
        server = Server(data_dir).start()
        try:
            deadline = time.monotonic() + 30
            while len(remaining(conn)["invitations"]) > 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert remaining(conn) == {
                "invitations": ["recent@example.com"],
                "report_sends": ["2024-02-01"],
                "webhook_deliveries": ["recent"],
            }, server.logs()[-3000:]
        finally:
            server.stop()
    finally:
        conn.close()
