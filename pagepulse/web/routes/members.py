"""Team members of a site (issue 7): the members page, invitations, roles, removal,
leaving, transferring ownership; and the invitation link's accept page.

Who may do what (``deps.py`` answers 404 to anybody without a role on the site and 403
to a member whose role is too low):

- the members page, inviting, revoking an invitation, changing a member's role and
  removing a member: the owner and admins (``ManagedSite``); the owner's own role and
  membership change only by a transfer;
- leaving a site: any member but the owner (``ViewableSite``);
- transferring ownership: the owner (``OwnedSite``), to an admin; the previous owner
  stays on as an admin.

``/invitations/{token}`` takes no site role: the signed token is the credential, and
accepting needs a log-in with the invited address (the page sends others to log in or
register and back). Accepting is a POST, so mail scanners that open links cannot use
up a single-use invitation. When no SMTP server is configured, the inviter gets the
link on the page to pass on. In saas mode the site owner's plan must include team
members: without it the page shows the upgrade hint, and invitations can be neither
sent nor accepted (``members.active_role`` suspends existing members meanwhile).
"""

from __future__ import annotations

import datetime as dt
import re
import smtplib
import sqlite3
import time
from email.message import EmailMessage
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from pagepulse.config import Settings
from pagepulse.control import invitations, members, sites, users
from pagepulse.control.invitations import Invitation
from pagepulse.mail import mail_configured, send_message
from pagepulse.web.deps import (
    CsrfProtected,
    CurrentUser,
    DbDep,
    ManagedSite,
    OwnedSite,
    SessionDep,
    SettingsDep,
    SiteAccess,
    SiteAccessDep,
    ViewableSite,
)
from pagepulse.web.templating import flash, redirect, render

router = APIRouter(dependencies=[CsrfProtected])

FormStr = Annotated[str, Form()]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254
NOT_IN_PLAN = (
    "Team members are not part of the site owner's plan. "
    "Existing members get their access back when the owner upgrades."
)
INVALID_LINK = "This invitation link is not valid. Check that you copied all of it."
NO_SUCH_MEMBER = "That person is not a member of this site."


# The members page ---------------------------------------------------------------------


def _page(
    request: Request,
    db: sqlite3.Connection,
    settings: Settings,
    access: SiteAccess,
    *,
    errors: list[str] | None = None,
    invite: dict[str, str] | None = None,
    new_link: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    site = access.site
    team_members = members.list_members(db, site.id)
    context: dict[str, Any] = {
        "site": site,
        "access": access,
        "members": team_members,
        "admins": [m for m in team_members if m.role == "admin"],
        "invitations": invitations.pending_invitations(db, site.id, time.time()),
        "team_enabled": members.team_enabled(settings, db, site),
        "mail_configured": mail_configured(settings),
        "member_roles": members.MEMBER_ROLES,
        "invite": invite or {"email": "", "role": "viewer"},
        "new_link": new_link,
        "errors": errors or [],
        "nav": "sites",
        "site_nav": "members",
    }
    return render(request, "sites/members.html", context, status)


@router.get("/sites/{site_id:int}/members")
def members_page(
    request: Request, db: DbDep, settings: SettingsDep, site: ManagedSite, access: SiteAccessDep
) -> Response:
    return _page(request, db, settings, access)


def _expiry_label(invitation: Invitation) -> str:
    return dt.datetime.fromtimestamp(invitation.expires_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def invitation_link(settings: Settings, raw_token: str) -> str:
    token = invitations.sign_token(settings.secret, raw_token)
    return f"{settings.base_url.rstrip('/')}/invitations/{token}"


def invitation_message(
    settings: Settings, invitation: Invitation, site: sites.Site, inviter: users.User, link: str
) -> EmailMessage:
    message = EmailMessage()
    message["To"] = invitation.email
    message["From"] = settings.mail_from
    message["Subject"] = f"You are invited to {site.domain} on PagePulse"
    what = "view its statistics" if invitation.role == "viewer" else "view and manage it"
    message.set_content(
        f"{inviter.email} invited you to {site.domain} on PagePulse as {invitation.role}, "
        f"to {what}.\n\n"
        f"Accept the invitation here:\n{link}\n\n"
        f"Log in or create an account with this address ({invitation.email}) to accept. "
        f"The link works once, until {_expiry_label(invitation)}.\n\n"
        "If you did not expect this, ignore this message: nothing happens until the link "
        "is used.\n"
    )
    return message


def _invite_errors(db: sqlite3.Connection, site: sites.Site, email: str, role: str) -> list[str]:
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        return ["Enter the email address of the person to invite, such as ana@example.com."]
    if role not in members.MEMBER_ROLES:
        return ["Choose a role: admin or viewer."]
    existing = users.get_user_by_email(db, email)
    role_now = members.site_role(db, site.id, existing.id) if existing else None
    if role_now is not None:
        return [f"{email} is already the {role_now} of this site. Change roles in the list."]
    return []


@router.post("/sites/{site_id:int}/members/invite")
def invite(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    site: ManagedSite,
    access: SiteAccessDep,
    user: CurrentUser,
    email: FormStr = "",
    role: FormStr = "viewer",
) -> Response:
    address = users.normalise_email(email)
    form = {"email": email, "role": role}
    if not members.team_enabled(settings, db, site):
        return _page(request, db, settings, access, errors=[NOT_IN_PLAN], invite=form, status=402)
    errors = _invite_errors(db, site, address, role)
    if errors:
        return _page(request, db, settings, access, errors=errors, invite=form, status=400)
    invitation, raw_token = invitations.create_invitation(
        db, site.id, address, members.parse_member_role(role), user.id, time.time()
    )
    link = invitation_link(settings, raw_token)
    shown = {"email": invitation.email, "url": link, "expires": _expiry_label(invitation)}
    if not mail_configured(settings):
        return _page(request, db, settings, access, new_link=shown)
    try:
        send_message(settings, invitation_message(settings, invitation, site, user, link))
    except (smtplib.SMTPException, OSError) as exc:
        shown["error"] = f"The email could not be sent ({type(exc).__name__}: {exc})."
        return _page(request, db, settings, access, new_link=shown)
    flash(request, f"Sent an invitation to {invitation.email} ({invitation.role}).")
    return redirect(f"/sites/{site.id}/members")


@router.post("/sites/{site_id:int}/members/invitations/revoke")
def revoke_invitation(
    request: Request, db: DbDep, site: ManagedSite, invitation_id: FormStr = ""
) -> Response:
    revoked = None
    if invitation_id.isdigit():
        revoked = invitations.revoke_invitation(db, site.id, int(invitation_id), time.time())
    if revoked is None:
        raise HTTPException(status_code=404, detail="No such pending invitation.")
    flash(request, f"Withdrew the invitation of {revoked.email}: its link no longer works.")
    return redirect(f"/sites/{site.id}/members")


def _member_id(db: sqlite3.Connection, site: sites.Site, user_id: str) -> int:
    """A member's user id from a form, or a 404 when they are not a member."""
    if not user_id.isdigit() or members.site_role(db, site.id, int(user_id)) is None:
        raise HTTPException(status_code=404, detail=NO_SUCH_MEMBER)
    return int(user_id)


@router.post("/sites/{site_id:int}/members/role")
def change_role(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    site: ManagedSite,
    access: SiteAccessDep,
    user: CurrentUser,
    user_id: FormStr = "",
    role: FormStr = "",
) -> Response:
    member_id = _member_id(db, site, user_id)
    try:
        members.set_member_role(db, site.id, member_id, members.parse_member_role(role))
    except members.MemberError as exc:
        return _page(request, db, settings, access, errors=[str(exc)], status=400)
    if member_id == user.id and role == "viewer":
        flash(request, f"You are now a viewer of {site.domain}.")
        return redirect(f"/sites/{site.id}")
    flash(request, "Role changed.")
    return redirect(f"/sites/{site.id}/members")


@router.post("/sites/{site_id:int}/members/remove")
def remove_member(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    site: ManagedSite,
    access: SiteAccessDep,
    user: CurrentUser,
    user_id: FormStr = "",
) -> Response:
    member_id = _member_id(db, site, user_id)
    removed = users.get_user(db, member_id)
    try:
        members.remove_member(db, site.id, member_id)
    except members.MemberError as exc:
        return _page(request, db, settings, access, errors=[str(exc)], status=400)
    if member_id == user.id:
        flash(request, f"You left {site.domain}.")
        return redirect("/sites")
    flash(request, f"Removed {removed.email if removed else 'the member'} from {site.domain}.")
    return redirect(f"/sites/{site.id}/members")


@router.post("/sites/{site_id:int}/leave")
def leave_site(request: Request, db: DbDep, site: ViewableSite, user: CurrentUser) -> Response:
    try:
        members.remove_member(db, site.id, user.id)
    except members.MemberError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    flash(request, f"You left {site.domain}.")
    return redirect("/sites")


@router.post("/sites/{site_id:int}/members/transfer")
def transfer_ownership(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    site: OwnedSite,
    access: SiteAccessDep,
    user_id: FormStr = "",
    confirm: FormStr = "",
) -> Response:
    new_owner = users.get_user(db, int(user_id)) if user_id.isdigit() else None
    errors = []
    if new_owner is None or members.site_role(db, site.id, new_owner.id) != "admin":
        errors.append("Choose an admin of this site to become its owner.")
    elif confirm.strip().lower() != site.domain:
        errors.append(f"Type {site.domain} exactly to confirm.")
    if errors or new_owner is None:
        return _page(request, db, settings, access, errors=errors, status=400)
    try:
        members.transfer_ownership(db, site.id, new_owner.id)
    except members.MemberError as exc:
        return _page(request, db, settings, access, errors=[str(exc)], status=400)
    flash(request, f"{new_owner.email} now owns {site.domain}; you stay on as an admin.")
    return redirect(f"/sites/{site.id}/members")


# The invitation link ------------------------------------------------------------------


def _invitation(db: sqlite3.Connection, settings: Settings, token: str) -> Invitation:
    raw = invitations.unsign_token(settings.secret, token)
    invitation = invitations.find_by_token(db, raw) if raw else None
    if invitation is None:
        raise HTTPException(status_code=404, detail=INVALID_LINK)
    return invitation


def _accept_page(
    request: Request,
    token: str,
    invitation: Invitation,
    site: sites.Site,
    *,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    here = f"/invitations/{token}"
    context = {
        "invitation": invitation,
        "site": site,
        "problem": problem,
        "action": here,
        "expires": _expiry_label(invitation),
        "login_url": "/login?" + urlencode({"next": here}),
        "register_url": "/register?" + urlencode({"next": here, "email": invitation.email}),
    }
    return render(request, "sites/members_accept.html", context, status)


def _check(
    db: sqlite3.Connection, settings: Settings, invitation: Invitation
) -> tuple[sites.Site, str | None, int]:
    """The invitation's site, and why it cannot be used now (with a status) if so."""
    site = sites.get_site(db, invitation.site_id)
    if site is None:  # deleted sites take their invitations along; a race at most
        raise HTTPException(status_code=404, detail=INVALID_LINK)
    reason = invitations.unusable_reason(invitation, time.time())
    if reason:
        return site, reason, 410
    if not members.team_enabled(settings, db, site):
        return site, NOT_IN_PLAN, 402
    return site, None, 200


@router.get("/invitations/{token}")
def invitation_page(
    request: Request, token: str, db: DbDep, settings: SettingsDep, session: SessionDep
) -> Response:
    invitation = _invitation(db, settings, token)
    site, problem, status = _check(db, settings, invitation)
    if (
        problem is None
        and session is not None
        and invitations.wrong_account(invitation, session.user)
    ):
        problem = (
            f"This invitation is for {invitation.email}, but you are logged in as "
            f"{session.user.email}. Log out, then open the link again."
        )
        status = 403
    return _accept_page(request, token, invitation, site, problem=problem, status=status)


@router.post("/invitations/{token}")
def accept_invitation(
    request: Request, token: str, db: DbDep, settings: SettingsDep, user: CurrentUser
) -> Response:
    invitation = _invitation(db, settings, token)
    site, problem, status = _check(db, settings, invitation)
    if problem is None:
        try:
            role = invitations.accept(db, invitation, user, time.time())
        except invitations.InvitationUnusable as exc:
            wrong = invitations.wrong_account(invitation, user)
            problem, status = str(exc), 403 if wrong else 410
    if problem is not None:
        return _accept_page(request, token, invitation, site, problem=problem, status=status)
    flash(request, f"You joined {site.domain} as {role}.")
    return redirect(f"/sites/{site.id}")
