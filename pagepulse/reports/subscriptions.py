"""The control-plane side of email reports: subscriptions and send claims (plain sqlite3).

Tables from migration ``0008_email_reports.sql``:

- ``report_subscriptions``: one row per (site, user, kind) a member opted in to;
- ``report_sends``: one row per (site, user, kind, period) *claimed* for sending. The
  primary key is what makes a report go out once across workers and restarts: a
  sender inserts the row before it talks to SMTP, and only the one whose insert
  succeeded sends. ``sent_at`` is set once the SMTP server accepted the message; a
  claim older than ``STALE_CLAIM`` without it (its sender died, or SMTP failed) may
  be claimed again. :func:`prune_sends` deletes claims older than ``KEEP_SENDS``
  (``web/housekeeping.py`` runs it daily).

Who may subscribe (anyone who may view the site) is checked by the callers with
``members.site_role``, at subscribe time and again at send time.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from pagepulse.control.db import transaction
from pagepulse.reports.schedule import KINDS, Kind, parse_kind

# Longer than any send can take (SMTP timeout 30 s, a report's queries a few seconds):
# a claim this old without sent_at belongs to a sender that died or failed.
STALE_CLAIM = dt.timedelta(minutes=10)
# A year and a bit of send records, for an operator asking what went out. The sender
# only claims the latest due period (at most a month old), so older rows decide nothing.
KEEP_SENDS = dt.timedelta(days=400)


@dataclass(frozen=True, slots=True)
class Subscription:
    site_id: int
    user_id: int
    email: str
    kind: Kind
    created_at: dt.datetime  # UTC


def kinds_of(conn: sqlite3.Connection, site_id: int, user_id: int) -> set[Kind]:
    """The reports this user receives for this site."""
    rows = conn.execute(
        "SELECT kind FROM report_subscriptions WHERE site_id = ? AND user_id = ?",
        (site_id, user_id),
    ).fetchall()
    return {parse_kind(row["kind"]) for row in rows}


def set_kinds(conn: sqlite3.Connection, site_id: int, user_id: int, kinds: set[Kind]) -> None:
    """Receive exactly ``kinds`` for this site (an existing row keeps its created_at)."""
    with transaction(conn):
        for kind in KINDS:
            if kind in kinds:
                subscribe(conn, site_id, user_id, kind)
            else:
                unsubscribe(conn, site_id, user_id, kind)


def subscribe(conn: sqlite3.Connection, site_id: int, user_id: int, kind: Kind) -> None:
    conn.execute(
        "INSERT INTO report_subscriptions (site_id, user_id, kind) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (site_id, user_id, parse_kind(kind)),
    )


def unsubscribe(conn: sqlite3.Connection, site_id: int, user_id: int, kind: Kind) -> bool:
    """Stop one report; True when the user was subscribed to it."""
    cur = conn.execute(
        "DELETE FROM report_subscriptions WHERE site_id = ? AND user_id = ? AND kind = ?",
        (site_id, user_id, parse_kind(kind)),
    )
    return cur.rowcount > 0


def subscriptions(
    conn: sqlite3.Connection, *, site_id: int | None = None, kind: Kind | None = None
) -> list[Subscription]:
    """Every subscription (optionally of one site / one kind), with the member's email."""
    rows = conn.execute(
        "SELECT r.site_id, r.user_id, u.email, r.kind, r.created_at "
        "FROM report_subscriptions AS r JOIN users AS u ON u.id = r.user_id "
        "WHERE (:site IS NULL OR r.site_id = :site) AND (:kind IS NULL OR r.kind = :kind) "
        "ORDER BY r.site_id, r.kind, u.email",
        {"site": site_id, "kind": kind},
    ).fetchall()
    return [
        Subscription(
            site_id=row["site_id"],
            user_id=row["user_id"],
            email=row["email"],
            kind=parse_kind(row["kind"]),
            created_at=_parse_utc(row["created_at"]),
        )
        for row in rows
    ]


# -- send claims -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """The right to send one report; ``claimed_at`` identifies this claim."""

    site_id: int
    user_id: int
    kind: Kind
    period_start: dt.date
    claimed_at: float


def claim(
    conn: sqlite3.Connection,
    site_id: int,
    user_id: int,
    kind: Kind,
    period_start: dt.date,
    now: float,
) -> Claim | None:
    """Claim the report for sending, or None when it was sent or another sender holds it.

    One statement, so it is atomic across processes: the insert wins for the first
    sender; a later one only takes over a claim that is stale and still unsent. A read
    first spares the write lock for reports sent already (every worker asks every minute).
    """
    if sent_at(conn, site_id, user_id, kind, period_start) is not None:
        return None
    row = conn.execute(
        "INSERT INTO report_sends (site_id, user_id, kind, period_start, claimed_at) "
        "VALUES (:site, :user, :kind, :start, :now) "
        "ON CONFLICT (site_id, user_id, kind, period_start) DO UPDATE "
        "SET claimed_at = excluded.claimed_at "
        "WHERE report_sends.sent_at IS NULL AND report_sends.claimed_at <= :stale_before "
        "RETURNING claimed_at",
        {
            "site": site_id,
            "user": user_id,
            "kind": parse_kind(kind),
            "start": period_start.isoformat(),
            "now": now,
            "stale_before": now - STALE_CLAIM.total_seconds(),
        },
    ).fetchone()
    if row is None:
        return None
    return Claim(site_id, user_id, kind, period_start, now)


def mark_sent(conn: sqlite3.Connection, claim: Claim, now: float) -> None:
    conn.execute(
        "UPDATE report_sends SET sent_at = ? WHERE site_id = ? AND user_id = ? AND kind = ? "
        "AND period_start = ? AND sent_at IS NULL",
        (now, claim.site_id, claim.user_id, claim.kind, claim.period_start.isoformat()),
    )


def sent_at(
    conn: sqlite3.Connection, site_id: int, user_id: int, kind: Kind, period_start: dt.date
) -> float | None:
    row = conn.execute(
        "SELECT sent_at FROM report_sends WHERE site_id = ? AND user_id = ? AND kind = ? "
        "AND period_start = ?",
        (site_id, user_id, kind, period_start.isoformat()),
    ).fetchone()
    return row["sent_at"] if row else None


def prune_sends(conn: sqlite3.Connection, now: float) -> int:
    """Delete send claims older than ``KEEP_SENDS``; returns how many went."""
    cur = conn.execute(
        "DELETE FROM report_sends WHERE claimed_at < ?", (now - KEEP_SENDS.total_seconds(),)
    )
    return cur.rowcount


def _parse_utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
