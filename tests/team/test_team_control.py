"""The control plane of team members: roles, transfers and invitations on a real SQLite
file (each test its own), with explicit clocks for expiry."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from pagepulse.config import Settings
from pagepulse.control import invitations, members, plans, sites, users

NOW = 1_750_000_000.0


def user(conn: sqlite3.Connection, name: str) -> users.User:
    return users.create_user(conn, f"{name}@team.test", "a-long-password")


@pytest.fixture
def world(conn: sqlite3.Connection) -> dict[str, int]:
    """owner/admin/viewer on example.com; stranger owns stranger.example."""
    ids = {name: user(conn, name).id for name in ("owner", "admin", "viewer", "stranger")}
    ids["site"] = sites.create_site(conn, "example.com", ids["owner"]).id
    ids["other"] = sites.create_site(conn, "stranger.example", ids["stranger"]).id
    members.add_member(conn, ids["site"], ids["admin"], "admin")
    members.add_member(conn, ids["site"], ids["viewer"], "viewer")
    return ids


def test_site_role_for_each_kind_of_user(conn: sqlite3.Connection, world: dict[str, int]) -> None:
    people = ("owner", "admin", "viewer", "stranger")
    roles = {name: members.site_role(conn, world["site"], world[name]) for name in people}
    assert roles == {"owner": "owner", "admin": "admin", "viewer": "viewer", "stranger": None}
    assert members.site_role(conn, 999, world["owner"]) is None


def test_role_ranks() -> None:
    assert members.role_allows("owner", "admin") and members.role_allows("admin", "viewer")
    assert not members.role_allows("viewer", "admin") and not members.role_allows("admin", "owner")
    assert not members.role_allows(None, "viewer")


def test_sites_of_lists_owned_and_joined_sites(conn: sqlite3.Connection, world) -> None:
    members.add_member(conn, world["other"], world["viewer"], "admin")
    listed = [(e.site.domain, e.role) for e in members.sites_of(conn, world["viewer"])]
    assert listed == [("example.com", "viewer"), ("stranger.example", "admin")]
    assert [(e.site.domain, e.role) for e in members.sites_of(conn, world["stranger"])] == [
        ("stranger.example", "owner")
    ]


def test_members_are_listed_owner_first(conn: sqlite3.Connection, world) -> None:
    listed = [(m.email, m.role) for m in members.list_members(conn, world["site"])]
    assert listed == [
        ("owner@team.test", "owner"),
        ("admin@team.test", "admin"),
        ("viewer@team.test", "viewer"),
    ]


def test_the_owner_keeps_their_role(conn: sqlite3.Connection, world) -> None:
    assert members.add_member(conn, world["site"], world["owner"], "viewer") == "owner"
    assert members.site_role(conn, world["site"], world["owner"]) == "owner"
    with pytest.raises(members.MemberError, match="transferring ownership"):
        members.set_member_role(conn, world["site"], world["owner"], "viewer")
    with pytest.raises(members.MemberError, match="cannot be removed"):
        members.remove_member(conn, world["site"], world["owner"])
    with pytest.raises(members.MemberError, match="not a member"):
        members.remove_member(conn, world["site"], world["stranger"])
    with pytest.raises(members.MemberError, match="admin or viewer"):
        members.add_member(conn, world["site"], world["stranger"], "owner")  # type: ignore[arg-type]


def test_transfer_makes_the_old_owner_an_admin(conn: sqlite3.Connection, world) -> None:
    with pytest.raises(members.MemberError, match="only be transferred to an admin"):
        members.transfer_ownership(conn, world["site"], world["viewer"])
    with pytest.raises(members.MemberError):
        members.transfer_ownership(conn, world["site"], world["stranger"])
    assert members.site_role(conn, world["site"], world["owner"]) == "owner"

    members.transfer_ownership(conn, world["site"], world["admin"])
    site = sites.get_site(conn, world["site"])
    assert site is not None and site.owner_id == world["admin"]
    assert members.site_role(conn, world["site"], world["admin"]) == "owner"
    assert members.site_role(conn, world["site"], world["owner"]) == "admin"
    rows = conn.execute(
        "SELECT user_id FROM site_members WHERE site_id = ? ORDER BY user_id", (world["site"],)
    ).fetchall()
    assert [r[0] for r in rows] == [world["owner"], world["viewer"]]  # no row for the owner


def test_a_deleted_site_takes_its_members_and_invitations(conn: sqlite3.Connection, world) -> None:
    invitations.create_invitation(conn, world["site"], "x@team.test", "viewer", world["owner"], NOW)
    sites.delete_site_row(conn, world["site"])
    assert conn.execute("SELECT count(*) FROM site_members").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM invitations").fetchone()[0] == 0


def test_suspended_while_the_owners_plan_lacks_team_members(
    conn: sqlite3.Connection, world, tmp_path
) -> None:
    saas = Settings(data_dir=tmp_path / "data", mode="saas", secret_key="k")
    site = sites.get_site(conn, world["site"])
    assert site is not None
    assert members.active_role(saas, conn, site, world["viewer"]) is None  # free plan
    assert members.active_role(saas, conn, site, world["owner"]) == "owner"
    assert [e.site.id for e in members.active_sites_of(saas, conn, world["viewer"])] == []
    plans.set_plan(saas, conn, world["owner"], "business", "cli")
    assert members.active_role(saas, conn, site, world["viewer"]) == "viewer"
    assert [e.site.id for e in members.active_sites_of(saas, conn, world["viewer"])] == [site.id]
    selfhosted = Settings(data_dir=tmp_path / "data", secret_key="k")
    plans.set_plan(saas, conn, world["owner"], "free", "cli")
    assert members.active_role(selfhosted, conn, site, world["viewer"]) == "viewer"


# Invitations --------------------------------------------------------------------------


def invite(conn, world, email="new@team.test", role="viewer", now=NOW):
    return invitations.create_invitation(conn, world["site"], email, role, world["owner"], now)


def test_only_the_hash_of_the_token_is_stored(conn: sqlite3.Connection, world) -> None:
    invitation, raw = invite(conn, world, "New@Team.test")
    row = conn.execute("SELECT * FROM invitations WHERE id = ?", (invitation.id,)).fetchone()
    assert row["token_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in [str(value) for value in tuple(row)]
    assert row["email"] == "new@team.test"
    assert row["expires_at"] == NOW + 7 * 24 * 3600
    assert invitations.find_by_token(conn, raw) == invitation
    assert invitations.find_by_token(conn, raw + "x") is None


def test_signed_tokens_check_their_signature() -> None:
    token = invitations.sign_token("secret-1", "raw-value")
    assert invitations.unsign_token("secret-1", token) == "raw-value"
    assert invitations.unsign_token("secret-2", token) is None
    assert invitations.unsign_token("secret-1", token[:-2]) is None
    assert invitations.unsign_token("secret-1", "raw-value") is None


def test_an_invitation_works_once(conn: sqlite3.Connection, world) -> None:
    invitation, _raw = invite(conn, world, role="admin")
    newcomer = user(conn, "new")
    assert invitations.accept(conn, invitation, newcomer, NOW + 10) == "admin"
    assert members.site_role(conn, world["site"], newcomer.id) == "admin"
    # A second use, even with the object read before the first (two tabs), fails.
    with pytest.raises(invitations.InvitationUnusable, match="used already"):
        invitations.accept(conn, invitation, newcomer, NOW + 20)
    assert invitations.pending_invitations(conn, world["site"], NOW + 20) == []


def test_an_invitation_expires_after_seven_days(conn: sqlite3.Connection, world) -> None:
    invitation, _raw = invite(conn, world)
    newcomer = user(conn, "new")
    last_moment = NOW + invitations.LIFETIME_SECONDS - 1
    assert invitation.status(last_moment) == "pending"
    assert invitation.status(last_moment + 1) == "expired"
    assert invitations.pending_invitations(conn, world["site"], last_moment + 1) == []
    with pytest.raises(invitations.InvitationUnusable, match="expired"):
        invitations.accept(conn, invitation, newcomer, last_moment + 1)
    assert members.site_role(conn, world["site"], newcomer.id) is None


def test_only_the_invited_address_can_accept(conn: sqlite3.Connection, world) -> None:
    invitation, _raw = invite(conn, world, "New@Team.test")
    stranger = users.get_user(conn, world["stranger"])
    assert stranger is not None
    with pytest.raises(invitations.InvitationUnusable, match="you are logged in as"):
        invitations.accept(conn, invitation, stranger, NOW)
    assert invitation.status(NOW) == "pending"
    assert invitations.accept(conn, invitation, user(conn, "new"), NOW) == "viewer"


def test_revoking_and_reinviting(conn: sqlite3.Connection, world) -> None:
    first, _ = invite(conn, world)
    second, _ = invite(conn, world, role="admin", now=NOW + 5)  # replaces the first
    pending = invitations.pending_invitations(conn, world["site"], NOW + 5)
    assert [(i.id, i.role) for i in pending] == [(second.id, "admin")]
    newcomer = user(conn, "new")
    with pytest.raises(invitations.InvitationUnusable, match="withdrawn"):
        invitations.accept(conn, first, newcomer, NOW + 6)

    assert invitations.revoke_invitation(conn, world["other"], second.id, NOW + 7) is None
    revoked = invitations.revoke_invitation(conn, world["site"], second.id, NOW + 7)
    assert revoked is not None and revoked.status(NOW + 7) == "revoked"
    assert invitations.revoke_invitation(conn, world["site"], second.id, NOW + 8) is None
    with pytest.raises(invitations.InvitationUnusable, match="withdrawn"):
        invitations.accept(conn, second, newcomer, NOW + 9)
    assert members.site_role(conn, world["site"], newcomer.id) is None


def test_a_removed_member_loses_their_email_reports(conn: sqlite3.Connection, world) -> None:
    site, viewer, admin = world["site"], world["viewer"], world["admin"]
    for member in (viewer, admin):
        conn.execute(
            "INSERT INTO report_subscriptions (site_id, user_id, kind) VALUES (?, ?, 'weekly')",
            (site, member),
        )
    members.remove_member(conn, site, viewer)
    subscribed = conn.execute("SELECT user_id FROM report_subscriptions").fetchall()
    assert [row[0] for row in subscribed] == [admin]
