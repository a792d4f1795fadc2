"""Invitations to join a site as admin or viewer (table ``invitations``; issue 7).

An invitation is a link ``/invitations/<token>``. The token is a random 256-bit value
signed with the server's secret (itsdangerous, its own salt); only the SHA-256 of the
random value is stored, so a copy of the database cannot be turned into working links,
and a link whose signature does not check is refused before any look-up. A link works
once (``accepted_at``), for :data:`LIFETIME_SECONDS` (``expires_at``), until revoked
(``revoked_at``), and only for the account with the invited email address. Inviting an
address again replaces its pending invitation, so there is at most one working link per
address and site.

An invitation that was accepted, revoked or has expired is kept :data:`KEEP_FINISHED_SECONDS`
(so its link still says why it no longer works), then :func:`prune_finished` deletes it
with the invitee's address (``web/housekeeping.py`` runs it daily).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Literal, cast

from itsdangerous import BadSignature, URLSafeSerializer

from pagepulse.control import members
from pagepulse.control.db import transaction
from pagepulse.control.users import User, normalise_email

LIFETIME_SECONDS = 7 * 24 * 3600
KEEP_FINISHED_SECONDS = 30 * 24 * 3600
_SALT = "pagepulse.invitation"

Status = Literal["pending", "accepted", "revoked", "expired"]


class InvitationUnusable(Exception):
    """The invitation cannot be accepted (any more); the message is shown as is."""


@dataclass(frozen=True, slots=True)
class Invitation:
    id: int
    site_id: int
    email: str
    role: members.MemberRole
    invited_by: int | None
    created_at: str
    expires_at: float
    accepted_at: float | None
    revoked_at: float | None

    def status(self, now: float) -> Status:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"


def _from_row(row: sqlite3.Row) -> Invitation:
    return Invitation(
        id=row["id"],
        site_id=row["site_id"],
        email=row["email"],
        role=cast(members.MemberRole, row["role"]),
        invited_by=row["invited_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        accepted_at=row["accepted_at"],
        revoked_at=row["revoked_at"],
    )


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def sign_token(secret: str, raw: str) -> str:
    """The token that goes into the link: the random value, signed."""
    return URLSafeSerializer(secret, salt=_SALT).dumps(raw)


def unsign_token(secret: str, token: str) -> str | None:
    """The random value of a link's token, or None when its signature does not check."""
    try:
        raw = URLSafeSerializer(secret, salt=_SALT).loads(token)
    except BadSignature:
        return None
    return raw if isinstance(raw, str) else None


def create_invitation(
    conn: sqlite3.Connection,
    site_id: int,
    email: str,
    role: members.MemberRole,
    invited_by: int,
    now: float,
) -> tuple[Invitation, str]:
    """A new invitation and its raw token (to be signed into the link; not stored).

    A pending invitation of the same address to the same site is revoked first.
    """
    role = members.parse_member_role(role)
    raw = secrets.token_urlsafe(32)
    with transaction(conn):
        conn.execute(
            "UPDATE invitations SET revoked_at = :now WHERE site_id = :site AND email = :email "
            "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > :now",
            {"now": now, "site": site_id, "email": normalise_email(email)},
        )
        row = conn.execute(
            "INSERT INTO invitations (site_id, email, role, token_hash, invited_by, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
            (site_id, normalise_email(email), role, _hash(raw), invited_by, now + LIFETIME_SECONDS),
        ).fetchone()
    return _from_row(row), raw


def find_by_token(conn: sqlite3.Connection, raw: str) -> Invitation | None:
    row = conn.execute("SELECT * FROM invitations WHERE token_hash = ?", (_hash(raw),)).fetchone()
    return _from_row(row) if row else None


def pending_invitations(conn: sqlite3.Connection, site_id: int, now: float) -> list[Invitation]:
    rows = conn.execute(
        "SELECT * FROM invitations WHERE site_id = ? AND accepted_at IS NULL "
        "AND revoked_at IS NULL AND expires_at > ? ORDER BY email",
        (site_id, now),
    ).fetchall()
    return [_from_row(row) for row in rows]


def revoke_invitation(
    conn: sqlite3.Connection, site_id: int, invitation_id: int, now: float
) -> Invitation | None:
    """Revoke a pending invitation of this site; None when there is no such one."""
    row = conn.execute(
        "UPDATE invitations SET revoked_at = ? WHERE id = ? AND site_id = ? "
        "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ? RETURNING *",
        (now, invitation_id, site_id, now),
    ).fetchone()
    return _from_row(row) if row else None


def prune_finished(conn: sqlite3.Connection, now: float) -> int:
    """Delete invitations accepted, revoked or expired more than
    :data:`KEEP_FINISHED_SECONDS` ago; returns how many went. A pending invitation's
    ``expires_at`` is in the future, so it is never one of them."""
    cur = conn.execute(
        "DELETE FROM invitations WHERE COALESCE(accepted_at, revoked_at, expires_at) < ?",
        (now - KEEP_FINISHED_SECONDS,),
    )
    return cur.rowcount


_UNUSABLE: dict[Status, str] = {
    "accepted": "This invitation has been used already. Each link works once.",
    "revoked": "This invitation was withdrawn. Ask the person who invited you for a new one.",
    "expired": "This invitation has expired. Ask the person who invited you for a new one.",
}


def unusable_reason(invitation: Invitation, now: float) -> str | None:
    """Why the link cannot be used (any more), or None while it is pending."""
    status = invitation.status(now)
    return None if status == "pending" else _UNUSABLE[status]


def wrong_account(invitation: Invitation, user: User) -> bool:
    return normalise_email(user.email) != normalise_email(invitation.email)


def accept(
    conn: sqlite3.Connection, invitation: Invitation, user: User, now: float
) -> members.Role:
    """Use the invitation: ``user`` (who must have the invited address) joins the site.

    The invitation is marked used in the same transaction, guarded by its state, so two
    tabs racing with one link cannot both succeed. Returns the role the user holds now.
    """
    if wrong_account(invitation, user):
        raise InvitationUnusable(
            f"This invitation is for {invitation.email}; you are logged in as {user.email}."
        )
    with transaction(conn):
        used = conn.execute(
            "UPDATE invitations SET accepted_at = ? WHERE id = ? AND accepted_at IS NULL "
            "AND revoked_at IS NULL AND expires_at > ?",
            (now, invitation.id, now),
        ).rowcount
        if used != 1:
            current = conn.execute(
                "SELECT * FROM invitations WHERE id = ?", (invitation.id,)
            ).fetchone()
            reason = unusable_reason(_from_row(current), now) if current else None
            raise InvitationUnusable(reason or _UNUSABLE["revoked"])
        return members.add_member(conn, invitation.site_id, user.id, invitation.role)
