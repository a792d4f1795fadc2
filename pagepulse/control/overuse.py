"""Accounts far over their plan: flagged for an admin, never cut off.

Ingestion keeps accepting an account's events whatever its usage (the customer's data
is never lost); the overage is billed on its statement. An account whose pageviews
exceed ``FLAG_FACTOR`` times its plan's limit in two consecutive UTC months is flagged
in ``account_flags`` (once per second month) for an admin to look at
(``pagepulse plan flags``). The current month counts as soon as it is over: usage only
grows. The server runs :func:`check_overuse` periodically (``pagepulse.web.usage_check``)
and ``pagepulse plan check`` runs it by hand; running it twice flags nothing twice.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from pagepulse.config import Settings
from pagepulse.control import plans, usage
from pagepulse.control.db import transaction

FLAG_FACTOR = 2


@dataclass(frozen=True, slots=True)
class Flag:
    user_id: int
    email: str
    month: str  # 'YYYY-MM', the second month over
    reason: str
    flagged_at: str


def check_overuse(settings: Settings, conn: sqlite3.Connection, now: dt.datetime) -> list[Flag]:
    """Flag every account over the factor in (last month, this month) or in the two
    months before; returns the flags added by this run (none in selfhosted mode)."""
    if not plans.limits_enforced(settings):
        return []
    current = usage.month_of(now)
    months = [usage.add_months(current, -2), usage.add_months(current, -1), current]
    owners = conn.execute(
        "SELECT DISTINCT users.id, users.email FROM users JOIN sites ON sites.owner_id = users.id"
    ).fetchall()
    added = []
    for owner in owners:
        monthly = usage.account_usage(settings, conn, owner["id"], months)
        over = [_over_reason(settings, conn, owner["id"], m, now) for m in monthly]
        for first, second, month in zip(over, over[1:], monthly[1:], strict=False):
            if first and second:
                flag = _flag(conn, owner["id"], owner["email"], month.key, f"{first}; {second}")
                if flag:
                    added.append(flag)
    return added


def _over_reason(
    settings: Settings,
    conn: sqlite3.Connection,
    user_id: int,
    month: usage.MonthUsage,
    now: dt.datetime,
) -> str | None:
    """Why the month is over the factor (None when it is not)."""
    plan = plans.plan_at(settings, conn, user_id, min(now, usage.month_end(month.month)))
    if plan.pageview_limit is None or month.pageviews <= FLAG_FACTOR * plan.pageview_limit:
        return None
    return (
        f"{month.key}: {month.pageviews:,} pageviews, over {FLAG_FACTOR}x the "
        f"{plan.label} plan's {plan.pageview_limit:,}"
    )


def _flag(
    conn: sqlite3.Connection, user_id: int, email: str, month: str, reason: str
) -> Flag | None:
    with transaction(conn):
        row = conn.execute(
            "INSERT INTO account_flags (user_id, month, reason) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, month) DO NOTHING RETURNING flagged_at",
            (user_id, month, reason),
        ).fetchone()
    return Flag(user_id, email, month, reason, row["flagged_at"]) if row else None


def open_flags(conn: sqlite3.Connection) -> list[Flag]:
    """Flags an admin has not cleared yet, oldest first."""
    rows = conn.execute(
        "SELECT account_flags.*, users.email FROM account_flags "
        "JOIN users ON users.id = account_flags.user_id "
        "WHERE cleared_at IS NULL ORDER BY flagged_at, month, users.email"
    ).fetchall()
    return [Flag(r["user_id"], r["email"], r["month"], r["reason"], r["flagged_at"]) for r in rows]


def clear_flags(conn: sqlite3.Connection, user_id: int) -> int:
    """Mark the account's open flags as dealt with; returns how many."""
    cur = conn.execute(
        "UPDATE account_flags SET cleared_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
        "WHERE user_id = ? AND cleared_at IS NULL",
        (user_id,),
    )
    return cur.rowcount
