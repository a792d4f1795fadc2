"""Request dependencies and their typed aliases; handlers declare what they need:

    def page(site: ViewableSite, db: DbDep, user: CurrentUser) -> HTMLResponse: ...

Site routes take ``site_id`` from the path and one of three role checks (issue 7,
roles in ``control/members.py``):

- ``ViewableSite``: the owner, an admin or a viewer (dashboard, widgets, CSV, verify);
- ``ManagedSite``: the owner or an admin (settings, snippet, share links, retention,
  raw events, members);
- ``OwnedSite``: the owner only (delete the site, transfer ownership).

Each gives the ``sites.Site``; ``SiteAccessDep`` gives the same request's
:class:`SiteAccess` (site and role), which is also left on ``request.state.site_access``
so templates can hide what the role cannot use. Somebody with no role on the site
(a stranger, a member just removed, or a member while the owner's plan lacks team
members) gets 404 "No such site." for every route, the same answer as for a site id
that does not exist, so ids cannot be probed. A member
whose role is too low gets 403 with a message naming the role needed: they can see the
site already, so the 403 reveals nothing, and a 404 for a site they just looked at would
only confuse them. ``CurrentUser`` sends anonymous visitors to /login. Routers that
accept forms add ``dependencies=[CsrfProtected]``: every POST/PUT/PATCH/DELETE then
needs the token.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from pagepulse.config import Settings
from pagepulse.control import db as control_db
from pagepulse.control import members, sites
from pagepulse.control.users import User
from pagepulse.net import client_ip
from pagepulse.web import auth
from pagepulse.web.cookies import queue_cookie, queue_cookie_deletion

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """Raised for anonymous visitors of pages; ``app.py`` turns it into a redirect."""


class CsrfFailed(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            status_code=403,
            detail="This form could not be accepted: its security token is missing or "
            "out of date. Go back, reload the page and try again.",
        )


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_db(settings: SettingsDep) -> Iterator[sqlite3.Connection]:
    """One connection per request, closed when the response is done."""
    conn = control_db.connect(settings.db_path)
    try:
        yield conn
    finally:
        conn.close()


DbDep = Annotated[sqlite3.Connection, Depends(get_db)]


def get_ip_throttle(request: Request) -> auth.IpThrottle:
    return request.app.state.ip_throttle


IpThrottleDep = Annotated[auth.IpThrottle, Depends(get_ip_throttle)]


def get_client_ip(request: Request, settings: SettingsDep) -> str:
    """The client's address, for throttling in memory only: never store or log it."""
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxy_networks)


ClientIp = Annotated[str, Depends(get_client_ip)]


def get_session(request: Request, db: DbDep, settings: SettingsDep) -> auth.Session | None:
    """The log-in session of this request, if any; slides its expiry forward."""
    session_id = auth.unsign_cookie(
        settings.secret, "session", request.cookies.get(auth.SESSION_COOKIE)
    )
    session = auth.load_session(db, session_id, time.time()) if session_id else None
    if session is None and auth.SESSION_COOKIE in request.cookies:
        queue_cookie_deletion(request, auth.SESSION_COOKIE, secure=settings.secure_cookies)
    if session is not None and auth.refresh_session(db, session, time.time()):
        set_session_cookie(request, settings, session.id)
    request.state.session = session
    return session


SessionDep = Annotated[auth.Session | None, Depends(get_session)]


def set_session_cookie(request: Request, settings: Settings, session_id: str) -> None:
    queue_cookie(
        request,
        auth.SESSION_COOKIE,
        auth.sign_cookie(settings.secret, "session", session_id),
        secure=settings.secure_cookies,
        max_age=auth.SESSION_LIFETIME,
    )


def get_current_user(session: SessionDep) -> User:
    if session is None:
        raise LoginRequired
    return session.user


CurrentUser = Annotated[User, Depends(get_current_user)]


NO_SUCH_SITE = "No such site."


@dataclass(frozen=True, slots=True)
class SiteAccess:
    """A site and the current user's role on it, for handlers and templates."""

    site: sites.Site
    role: members.Role

    @property
    def can_manage(self) -> bool:
        return members.role_allows(self.role, "admin")

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


def get_site_access(
    site_id: int, request: Request, db: DbDep, settings: SettingsDep, user: CurrentUser
) -> SiteAccess:
    """The site and the user's role; 404 when they have none (or the site does not
    exist, or their membership is suspended because the owner's plan lacks team members)."""
    site = sites.get_site(db, site_id)
    role = members.active_role(settings, db, site, user.id) if site is not None else None
    if site is None or role is None:
        raise HTTPException(status_code=404, detail=NO_SUCH_SITE)
    access = SiteAccess(site, role)
    request.state.site_access = access
    return access


SiteAccessDep = Annotated[SiteAccess, Depends(get_site_access)]

_ROLE_NEEDED = {
    "admin": "Only the site's owner and its admins can do this. "
    "Ask one of them if you need it changed.",
    "owner": "Only the site's owner can do this.",
}


def _require(access: SiteAccess, needed: members.Role) -> sites.Site:
    if not members.role_allows(access.role, needed):
        raise HTTPException(status_code=403, detail=_ROLE_NEEDED[needed])
    return access.site


def get_viewable_site(access: SiteAccessDep) -> sites.Site:
    return access.site


def get_managed_site(access: SiteAccessDep) -> sites.Site:
    return _require(access, "admin")


def get_owned_site(access: SiteAccessDep) -> sites.Site:
    return _require(access, "owner")


ViewableSite = Annotated[sites.Site, Depends(get_viewable_site)]
ManagedSite = Annotated[sites.Site, Depends(get_managed_site)]
OwnedSite = Annotated[sites.Site, Depends(get_owned_site)]


def csrf_binding(request: Request, settings: Settings) -> str | None:
    """What this request's CSRF token is bound to: the session, else the pre-session
    nonce cookie (None when the visitor has neither yet)."""
    session: auth.Session | None = getattr(request.state, "session", None)
    if session is not None:
        return auth.session_csrf_binding(session.id)
    nonce = auth.unsign_cookie(
        settings.secret, "presession", request.cookies.get(auth.PRESESSION_COOKIE)
    )
    return auth.presession_csrf_binding(nonce) if nonce else None


async def require_csrf(request: Request, settings: SettingsDep, _session: SessionDep) -> None:
    if request.method in SAFE_METHODS:
        return
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    binding = csrf_binding(request, settings)
    if binding is None or not auth.csrf_token_valid(settings.secret, binding, token):
        raise CsrfFailed


CsrfProtected = Depends(require_csrf)
