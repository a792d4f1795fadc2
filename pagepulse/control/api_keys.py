"""Stats API keys: create (the key is returned once), list, revoke, authenticate.

Only the SHA-256 of a key is stored, with its first characters for display, so a
copy of the database cannot be replayed against the API. A key belongs to a user and
sees exactly that user's sites. ``last_used_at`` is written at most once a minute per
key, so a busy API client does not turn every read into a write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
from dataclasses import dataclass

KEY_PREFIX = "pp_"
# "pp_" plus 8 random characters: enough to tell keys apart, far too little to guess.
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 8
MAX_NAME_LENGTH = 64
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"  # the schema's own format, so strings compare in order


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def _from_row(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _timestamp(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime(_TIMESTAMP)


def validate_name(name: str) -> str:
    """The stripped name; raises ValueError when empty or too long."""
    name = name.strip()
    if not name:
        raise ValueError("Give the key a name, e.g. the script or service that will use it.")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"Choose a name of at most {MAX_NAME_LENGTH} characters.")
    return name


def create_api_key(conn: sqlite3.Connection, user_id: int, name: str) -> tuple[ApiKey, str]:
    """A new key for ``user_id``: the stored record and the key itself (shown once)."""
    name = validate_name(name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    cur = conn.execute(
        "INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES (?, ?, ?, ?) RETURNING *",
        (user_id, name, key[:DISPLAY_PREFIX_LENGTH], hash_key(key)),
    )
    return _from_row(cur.fetchone()), key


def list_api_keys(conn: sqlite3.Connection, user_id: int) -> list[ApiKey]:
    """The user's keys, active ones first, newest first."""
    rows = conn.execute(
        "SELECT * FROM api_keys WHERE user_id = ? "
        "ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC",
        (user_id,),
    ).fetchall()
    return [_from_row(r) for r in rows]


def revoke_api_key(
    conn: sqlite3.Connection, user_id: int, key_id: int, *, now: dt.datetime | None = None
) -> bool:
    """Revoke the user's key; False when it is not theirs or was revoked already."""
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
        (_timestamp(now or dt.datetime.now(dt.UTC)), key_id, user_id),
    )
    return cur.rowcount == 1


def authenticate(
    conn: sqlite3.Connection, key: str, *, now: dt.datetime | None = None
) -> ApiKey | None:
    """The active key ``key`` stands for, or None (unknown and revoked keys alike)."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = conn.execute(
        "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (hash_key(key),)
    ).fetchone()
    if row is None:
        return None
    api_key = _from_row(row)
    now = now or dt.datetime.now(dt.UTC)
    cutoff = _timestamp(now - LAST_USED_RESOLUTION)
    if api_key.last_used_at is None or api_key.last_used_at <= cutoff:
        # The WHERE clause repeats the check: of several workers racing, one writes.
        conn.execute(
            "UPDATE api_keys SET last_used_at = ? "
            "WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
            (_timestamp(now), api_key.id, cutoff),
        )
    return api_key
