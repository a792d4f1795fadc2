"""Team members of a site and their roles (table ``site_members``; issue 7).

A site has exactly one owner, ``sites.owner_id`` (their plan applies to the site);
everybody else who may see the site has a ``site_members`` row with role ``admin``
(manages the site: settings, snippet, share links, members) or ``viewer`` (reads the
dashboard). :func:`site_role` is the one question every route asks; what each role may
do is :data:`ROLE_RANK` compared by :func:`role_allows`. Invitations by email live in
``control/invitations.py``.

Team members are a plan feature (``team_members``) of the site's owner. While the
owner's plan lacks it (saas mode only), members keep their rows but not their access:
:func:`active_role` and :func:`active_sites_of`, which every route uses, count only the
owner, so an upgrade brings the team back as it was.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal, cast

from pagepulse.config import Settings
from pagepulse.control import plans, sites
from pagepulse.control.db import transaction

Role = Literal["owner", "admin", "viewer"]
MemberRole = Literal["admin", "viewer"]  # roles a member row can hold; the owner has none

ROLES: tuple[Role, ...] = ("owner", "admin", "viewer")
MEMBER_ROLES: tuple[MemberRole, ...] = ("admin", "viewer")
ROLE_RANK: dict[Role, int] = {"viewer": 1, "admin": 2, "owner": 3}


class MemberError(ValueError):
    """A change to the members that is not allowed; the message is shown as is."""


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    email: str
    role: Role
    since: str


@dataclass(frozen=True, slots=True)
class SiteWithRole:
    site: sites.Site
    role: Role


def role_allows(role: Role | None, needed: Role) -> bool:
    """Does ``role`` include everything ``needed`` may do? (owner ⊃ admin ⊃ viewer)"""
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[needed]


def parse_member_role(value: str) -> MemberRole:
    """A form's role field; raises :class:`MemberError` unless admin or viewer."""
    if value not in MEMBER_ROLES:
        raise MemberError("Choose a role: admin or viewer.")
    return cast(MemberRole, value)


def site_role(conn: sqlite3.Connection, site_id: int, user_id: int) -> Role | None:
    """The user's role on the site, or None when they may not see it (or it does not exist)."""
    row = conn.execute(
        "SELECT CASE WHEN s.owner_id = :user THEN 'owner' ELSE m.role END AS role "
        "FROM sites AS s LEFT JOIN site_members AS m ON m.site_id = s.id AND m.user_id = :user "
        "WHERE s.id = :site",
        {"site": site_id, "user": user_id},
    ).fetchone()
    return cast(Role | None, row["role"]) if row else None


def team_enabled(settings: Settings, conn: sqlite3.Connection, site: sites.Site) -> bool:
    """Does the site's owner's plan include team members? (Always, in selfhosted mode.)"""
    return plans.feature_enabled(settings, conn, site.owner_id, "team_members")


def active_role(
    settings: Settings, conn: sqlite3.Connection, site: sites.Site, user_id: int
) -> Role | None:
    """The role that counts now: :func:`site_role`, except that a member's role is
    suspended while the owner's plan lacks team members."""
    role = site_role(conn, site.id, user_id)
    if role in MEMBER_ROLES and not team_enabled(settings, conn, site):
        return None
    return role


def active_sites_of(
    settings: Settings, conn: sqlite3.Connection, user_id: int
) -> list[SiteWithRole]:
    """:func:`sites_of` without the sites where the user's membership is suspended."""
    return [
        entry
        for entry in sites_of(conn, user_id)
        if entry.role == "owner" or team_enabled(settings, conn, entry.site)
    ]


def sites_of(conn: sqlite3.Connection, user_id: int) -> list[SiteWithRole]:
    """Every site the user owns or is a member of, by domain, with their role."""
    rows = conn.execute(
        "SELECT s.*, CASE WHEN s.owner_id = :user THEN 'owner' ELSE m.role END AS role "
        "FROM sites AS s LEFT JOIN site_members AS m ON m.site_id = s.id AND m.user_id = :user "
        "WHERE s.owner_id = :user OR m.user_id IS NOT NULL ORDER BY s.domain",
        {"user": user_id},
    ).fetchall()
    return [SiteWithRole(sites._from_row(row), cast(Role, row["role"])) for row in rows]


def list_members(conn: sqlite3.Connection, site_id: int) -> list[Member]:
    """The owner first, then admins, then viewers, each by email."""
    rows = conn.execute(
        "SELECT u.id AS user_id, u.email, 'owner' AS role, s.created_at AS since "
        "FROM sites AS s JOIN users AS u ON u.id = s.owner_id WHERE s.id = :site "
        "UNION ALL "
        "SELECT u.id, u.email, m.role, m.created_at FROM site_members AS m "
        "JOIN users AS u ON u.id = m.user_id WHERE m.site_id = :site",
        {"site": site_id},
    ).fetchall()
    members = [Member(r["user_id"], r["email"], cast(Role, r["role"]), r["since"]) for r in rows]
    return sorted(members, key=lambda m: (-ROLE_RANK[m.role], m.email))


def add_member(conn: sqlite3.Connection, site_id: int, user_id: int, role: MemberRole) -> Role:
    """Give ``user_id`` ``role`` on the site, or change it if they are a member already.

    Returns the role they hold now: the owner stays owner (an invitation the owner
    accepts changes nothing).
    """
    role = parse_member_role(role)
    if site_role(conn, site_id, user_id) == "owner":
        return "owner"
    conn.execute(
        "INSERT INTO site_members (site_id, user_id, role) VALUES (?, ?, ?) "
        "ON CONFLICT (site_id, user_id) DO UPDATE SET role = excluded.role",
        (site_id, user_id, role),
    )
    return role


def set_member_role(conn: sqlite3.Connection, site_id: int, user_id: int, role: MemberRole) -> None:
    """Change a member's role; the owner's role changes only by a transfer."""
    role = parse_member_role(role)
    current = site_role(conn, site_id, user_id)
    if current == "owner":
        raise MemberError("The owner's role changes only by transferring ownership.")
    if current is None:
        raise MemberError("That person is not a member of this site.")
    conn.execute(
        "UPDATE site_members SET role = ? WHERE site_id = ? AND user_id = ?",
        (role, site_id, user_id),
    )


def remove_member(conn: sqlite3.Connection, site_id: int, user_id: int) -> None:
    """Take the site away from a member at once (their next request answers 404)."""
    current = site_role(conn, site_id, user_id)
    if current == "owner":
        raise MemberError("The owner cannot be removed: transfer ownership first.")
    if current is None:
        raise MemberError("That person is not a member of this site.")
    with transaction(conn):
        conn.execute(
            "DELETE FROM site_members WHERE site_id = ? AND user_id = ?", (site_id, user_id)
        )
        # Their email reports of this site go with them (docs/privacy.md).
        conn.execute(
            "DELETE FROM report_subscriptions WHERE site_id = ? AND user_id = ?", (site_id, user_id)
        )


def transfer_ownership(conn: sqlite3.Connection, site_id: int, new_owner_id: int) -> None:
    """Make an admin member the owner; the previous owner stays on as an admin.

    Only an admin can receive the site, so ownership never lands on somebody who has
    not accepted an invitation, and a viewer is promoted to admin first on purpose.
    """
    with transaction(conn):
        site = sites.get_site(conn, site_id)
        if site is None:
            raise MemberError("No such site.")
        if site_role(conn, site_id, new_owner_id) != "admin":
            raise MemberError("Ownership can only be transferred to an admin of this site.")
        conn.execute(
            "DELETE FROM site_members WHERE site_id = ? AND user_id = ?", (site_id, new_owner_id)
        )
        conn.execute("UPDATE sites SET owner_id = ? WHERE id = ?", (new_owner_id, site_id))
        conn.execute(
            "INSERT INTO site_members (site_id, user_id, role) VALUES (?, ?, 'admin')",
            (site_id, site.owner_id),
        )
