"""Daily salts for visitor ids: one per UTC day, kept 48 hours at most.

The salt of day D is created at D 00:00 UTC (or on its first use) and deleted once
day D+2 starts, so yesterday's and today's exist and nothing older, on disk too (see
:func:`delete_expired`). Several workers share the SQLite table; ``INSERT OR IGNORE``
makes them agree on one salt per day.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import sqlite3

SALT_BYTES = 16

log = logging.getLogger("pagepulse.ingest")


def get_salt(conn: sqlite3.Connection, day: dt.date) -> bytes:
    """The salt for ``day`` (created when missing)."""
    select = "SELECT salt FROM salts WHERE day = ?"
    row = conn.execute(select, (day.isoformat(),)).fetchone()
    if row is None:
        conn.execute(
            "INSERT OR IGNORE INTO salts (day, salt) VALUES (?, ?)",
            (day.isoformat(), secrets.token_bytes(SALT_BYTES)),
        )
        row = conn.execute(select, (day.isoformat(),)).fetchone()
    return bytes(row[0])


def existing_salt(conn: sqlite3.Connection, day: dt.date) -> bytes | None:
    """The salt for ``day`` if it still exists (never created here)."""
    row = conn.execute("SELECT salt FROM salts WHERE day = ?", (day.isoformat(),)).fetchone()
    return None if row is None else bytes(row[0])


def delete_expired(conn: sqlite3.Connection, today: dt.date) -> int:
    """Delete salts older than yesterday; returns how many were deleted.

    Deleting the row is not enough: SQLite's write-ahead log keeps earlier versions of
    the salts' page (the expired salt's bytes) until it is reused, which can take weeks
    on a quiet server. So the deleted bytes are zeroed (``secure_delete``) and the log
    is copied into the database and truncated. That waits, up to the busy timeout, for
    other connections' reads, which are brief; failing that, a warning is logged and
    the next rotation (the other workers', or tomorrow's) empties it.
    """
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    conn.execute("PRAGMA secure_delete = ON")
    cur = conn.execute("DELETE FROM salts WHERE day < ?", (yesterday,))
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        log.warning("could not empty the SQLite log after deleting expired salts; will retry")
    return cur.rowcount


def rotate(conn: sqlite3.Connection, now: dt.datetime) -> bytes:
    """Make sure today's salt exists and expired ones are gone; returns today's salt."""
    today = now.astimezone(dt.UTC).date()
    delete_expired(conn, today)
    return get_salt(conn, today)
