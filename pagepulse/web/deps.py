"""Request dependencies and their typed aliases; handlers declare what they need:

    def page(site: OwnedSite, db: DbDep, user: CurrentUser) -> HTMLResponse: ...

``OwnedSite`` takes the ``site_id`` path parameter and answers 404 (never 403) when
the current user does not own it, so site ids cannot be probed. ``CurrentUser``
sends anonymous visitors to /login. Routers that accept forms add
``dependencies=[CsrfProtected]``: every POST/PUT/PATCH/DELETE then needs the token.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from pagepulse.config import Settings
from pagepulse.control import db as control_db
from pagepulse.control import sites
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


def get_owned_site(site_id: int, db: DbDep, user: CurrentUser) -> sites.Site:
    site = sites.get_owned_site(db, site_id, user.id)
    if site is None:
        raise HTTPException(status_code=404, detail="No such site.")
    return site


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
