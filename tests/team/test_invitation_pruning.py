"""Invitations that ended (accepted, revoked, expired) are deleted 30 days later, with
the invitee's address; pending ones never (a real SQLite file, explicit clocks)."""

from __future__ import annotations

import sqlite3

import pytest

from pagepulse.control import invitations, sites, users

NOW = 1_750_000_000.0
DAY = 24 * 3600.0


@pytest.fixture
def site(conn: sqlite3.Connection) -> tuple[int, int]:
    """(site id, owner id) of example.com."""
    owner = users.create_user(conn, "owner@team.test", "a-long-password")
    return sites.create_site(conn, "example.com", owner.id).id, owner.id


def invite(conn: sqlite3.Connection, site: tuple[int, int], name: str, at: float):
    site_id, owner_id = site
    email = f"{name}@team.test"
    return invitations.create_invitation(conn, site_id, email, "viewer", owner_id, at)[0]


def accepted(conn, site, name: str, invited_at: float, accepted_at: float) -> None:
    invitation = invite(conn, site, name, invited_at)
    invitee = users.create_user(conn, invitation.email, "a-long-password")
    invitations.accept(conn, invitation, invitee, accepted_at)


def revoked(conn, site, name: str, invited_at: float, revoked_at: float) -> None:
    invitation = invite(conn, site, name, invited_at)
    assert invitations.revoke_invitation(conn, site[0], invitation.id, revoked_at) is not None


def emails(conn: sqlite3.Connection) -> set[str]:
    return {row["email"].split("@")[0] for row in conn.execute("SELECT email FROM invitations")}


def test_invitations_go_30_days_after_they_ended(conn, site) -> None:
    assert invitations.KEEP_FINISHED_SECONDS == 30 * DAY
    life = invitations.LIFETIME_SECONDS
    # Accepted / revoked 31 days ago, while their links would have expired only 25 and
    # 28 days ago: the end that counts is the acceptance or the revocation.
    accepted(conn, site, "accepted-31d", NOW - 32 * DAY, NOW - 31 * DAY)
    revoked(conn, site, "revoked-31d", NOW - 35 * DAY, NOW - 31 * DAY)
    invite(conn, site, "expired-31d", NOW - 31 * DAY - life)
    accepted(conn, site, "accepted-29d", NOW - 30 * DAY, NOW - 29 * DAY)
    revoked(conn, site, "revoked-29d", NOW - 30 * DAY, NOW - 29 * DAY)
    invite(conn, site, "expired-29d", NOW - 29 * DAY - life)
    accepted(conn, site, "accepted-30d", NOW - 31 * DAY, NOW - 30 * DAY)  # exactly 30 days
    invite(conn, site, "pending", NOW - DAY)

    assert invitations.prune_finished(conn, NOW) == 3
    assert emails(conn) == {"accepted-29d", "revoked-29d", "expired-29d", "accepted-30d", "pending"}
    assert invitations.prune_finished(conn, NOW) == 0


def test_a_pending_invitation_is_never_pruned_and_still_works(conn, site) -> None:
    invitation = invite(conn, site, "pending", NOW)
    # Far in the future it has expired; until 30 days after that it stays.
    assert invitations.prune_finished(conn, NOW + invitations.LIFETIME_SECONDS - 1) == 0
    [still] = invitations.pending_invitations(conn, site[0], NOW + 1)
    assert still.id == invitation.id
    assert invitations.prune_finished(conn, NOW + invitations.LIFETIME_SECONDS + 30 * DAY) == 0
    assert invitations.prune_finished(conn, NOW + invitations.LIFETIME_SECONDS + 31 * DAY) == 1
    assert emails(conn) == set()


def test_a_replaced_invitation_goes_30_days_after_its_replacement(conn, site) -> None:
    invite(conn, site, "twice", NOW - 40 * DAY)
    invite(conn, site, "twice", NOW - 31 * DAY)  # revokes the first one at NOW - 31 days
    assert invitations.prune_finished(conn, NOW) == 1
    rows = conn.execute("SELECT expires_at, revoked_at FROM invitations").fetchall()
    # The replacement expired only 24 days ago: it stays.
    assert [tuple(r) for r in rows] == [(NOW - 31 * DAY + invitations.LIFETIME_SECONDS, None)]
