"""Share links: public, read-only dashboards of one site (table ``share_links``).

A link is an unguessable slug (``secrets.token_urlsafe(16)``: 128 random bits) and,
optionally, a password stored as an argon2 hash like account passwords. Every
look-up that changes or lists links takes the site id, so a link can only be
managed through the site it belongs to.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass

from passlib.context import CryptContext

_passwords = CryptContext(schemes=["argon2"], deprecated="auto")

MAX_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class ShareLink:
    id: int
    site_id: int
    slug: str
    name: str
    password_hash: str | None
    created_at: str

    @property
    def protected(self) -> bool:
        return self.password_hash is not None

    def password_fingerprint(self) -> str:
        """Changes when the password does: an unlock cookie carries it, so a new (or
        removed) password makes old cookies worthless."""
        return hashlib.sha256((self.password_hash or "").encode()).hexdigest()[:16]


def _from_row(row: sqlite3.Row) -> ShareLink:
    return ShareLink(
        id=row["id"],
        site_id=row["site_id"],
        slug=row["slug"],
        name=row["name"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
    )


def new_slug() -> str:
    return secrets.token_urlsafe(16)


def create_share(
    conn: sqlite3.Connection, site_id: int, name: str = "", password: str | None = None
) -> ShareLink:
    """A new link for ``site_id``; an empty or missing password means no password."""
    password_hash = _passwords.hash(password) if password else None
    cur = conn.execute(
        "INSERT INTO share_links (site_id, slug, name, password_hash) VALUES (?, ?, ?, ?) "
        "RETURNING *",
        (site_id, new_slug(), name.strip()[:MAX_NAME_LENGTH], password_hash),
    )
    return _from_row(cur.fetchone())


def list_shares(conn: sqlite3.Connection, site_id: int) -> list[ShareLink]:
    rows = conn.execute(
        "SELECT * FROM share_links WHERE site_id = ? ORDER BY created_at, id", (site_id,)
    ).fetchall()
    return [_from_row(row) for row in rows]


def get_share(conn: sqlite3.Connection, slug: str) -> ShareLink | None:
    row = conn.execute("SELECT * FROM share_links WHERE slug = ?", (slug,)).fetchone()
    return _from_row(row) if row else None


def delete_share(conn: sqlite3.Connection, site_id: int, share_id: int) -> bool:
    """Delete the link if it belongs to ``site_id``; False when there was none."""
    cur = conn.execute("DELETE FROM share_links WHERE id = ? AND site_id = ?", (share_id, site_id))
    return cur.rowcount > 0


def check_password(link: ShareLink, password: str) -> bool:
    if link.password_hash is None:
        return True
    return _passwords.verify(password, link.password_hash)
