"""Account pages: log in, register, log out, change password.

No account enumeration: a wrong password and an unknown email get the same answer,
and lock-outs count unknown addresses like real ones (see ``auth.account_key``).
Registration cannot hide entirely that an address is taken while we send no email
(a new address simply succeeds), so a taken address gets a generic message that
also fits typos, and counts as a failure against the client's address limit, which
keeps the page from being used to test addresses in bulk.
"""

from __future__ import annotations

import re
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from pagepulse.control import users
from pagepulse.web import auth
from pagepulse.web.cookies import queue_cookie_deletion
from pagepulse.web.deps import (
    ClientIp,
    CsrfProtected,
    CurrentUser,
    DbDep,
    IpThrottleDep,
    SessionDep,
    SettingsDep,
    set_session_cookie,
)
from pagepulse.web.templating import flash, redirect, render

router = APIRouter(dependencies=[CsrfProtected])

FormStr = Annotated[str, Form()]

LOGIN_FAILED = "Wrong email or password."
IP_LOCKED = "Too many failed log-ins from your network. Wait 15 minutes, then try again."
ACCOUNT_LOCKED = "Too many failed log-ins for this account. Wait 15 minutes, then try again."
REGISTER_FAILED = (
    "We could not create an account with these details. If you already have an "
    "account, log in instead."
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Hashing is deliberately slow; a cap keeps a huge "password" from costing more.
MAX_PASSWORD_LENGTH = 1024
HOME = "/sites"


def _safe_next(target: str) -> str:
    """Only paths on this site: no ``//host`` or ``/\\host`` open redirects."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return HOME


def _password_errors(password: str, confirm: str) -> list[str]:
    if len(password) < users.MIN_PASSWORD_LENGTH:
        return [f"Choose a password of at least {users.MIN_PASSWORD_LENGTH} characters."]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [f"Choose a password of at most {MAX_PASSWORD_LENGTH} characters."]
    if password != confirm:
        return ["The two passwords differ."]
    return []


def _start_session(request: Request, db: DbDep, settings: SettingsDep, user_id: int) -> None:
    old: auth.Session | None = getattr(request.state, "session", None)
    if old is not None:
        auth.delete_session(db, old.id)
    session_id = auth.create_session(db, user_id, time.time())
    set_session_cookie(request, settings, session_id)


@router.get("/login")
def login_page(request: Request, session: SessionDep, next: str = HOME) -> Response:
    if session is not None:
        return redirect(_safe_next(next))
    return render(request, "login.html", {"email": "", "next": _safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    throttle: IpThrottleDep,
    ip: ClientIp,
    email: FormStr = "",
    password: FormStr = "",
    next_url: Annotated[str, Form(alias="next")] = HOME,
) -> Response:
    def again(error: str, status_code: int) -> Response:
        context = {"email": email, "next": _safe_next(next_url), "error": error}
        return render(request, "login.html", context, status_code)

    now = time.time()
    if throttle.blocked(ip, now):
        return again(IP_LOCKED, 429)
    key = auth.account_key(settings.secret, email)
    if auth.account_locked_until(db, key, now) is not None:
        return again(ACCOUNT_LOCKED, 429)
    user = users.authenticate(db, email, password[:MAX_PASSWORD_LENGTH])
    if user is None:
        throttle.record_failure(ip, now)
        auth.record_account_failure(db, key, now)
        return again(LOGIN_FAILED, 400)
    auth.clear_account_failures(db, key)
    _start_session(request, db, settings, user.id)
    return redirect(_safe_next(next_url))


@router.get("/register")
def register_page(
    request: Request, session: SessionDep, settings: SettingsDep, next: str = HOME, email: str = ""
) -> Response:
    """``next`` and ``email`` come from an invitation's page: register, then accept."""
    if session is not None:
        return redirect(_safe_next(next))
    if not settings.registration_open:
        return render(request, "register_closed.html", status_code=403)
    context = {"email": email[:254], "next": _safe_next(next), "errors": []}
    return render(request, "register.html", context)


@router.post("/register")
def register(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    throttle: IpThrottleDep,
    ip: ClientIp,
    email: FormStr = "",
    password: FormStr = "",
    confirm: FormStr = "",
    next_url: Annotated[str, Form(alias="next")] = HOME,
) -> Response:
    if not settings.registration_open:
        return render(request, "register_closed.html", status_code=403)
    target = _safe_next(next_url)

    def again(errors: list[str], status_code: int) -> Response:
        context = {"email": email, "next": target, "errors": errors}
        return render(request, "register.html", context, status_code)

    now = time.time()
    if throttle.blocked(ip, now):
        return again([IP_LOCKED], 429)
    errors = []
    if len(email) > 254 or not _EMAIL.match(email.strip()):
        errors.append("Enter an email address such as you@example.com.")
    errors += _password_errors(password, confirm)
    if errors:
        return again(errors, 400)
    try:
        user = users.create_user(db, email, password)
    except users.UserExists:
        throttle.record_failure(ip, now)
        return again([REGISTER_FAILED], 400)
    _start_session(request, db, settings, user.id)
    if target == HOME:
        flash(request, "Welcome to PagePulse. Add your first site to get its tracking snippet.")
    return redirect(target)


@router.post("/logout")
def logout(request: Request, db: DbDep, settings: SettingsDep, session: SessionDep) -> Response:
    if session is not None:
        auth.delete_session(db, session.id)
    queue_cookie_deletion(request, auth.SESSION_COOKIE, secure=settings.secure_cookies)
    flash(request, "You are logged out.")
    return redirect("/login")


@router.get("/account")
def account_page(request: Request, user: CurrentUser) -> Response:
    return render(request, "account.html", {"errors": []})


@router.post("/account/password")
def change_password(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    throttle: IpThrottleDep,
    ip: ClientIp,
    user: CurrentUser,
    session: SessionDep,
    current_password: FormStr = "",
    new_password: FormStr = "",
    confirm: FormStr = "",
) -> Response:
    # Someone holding a stolen session could guess the current password here, so
    # this check counts against the same limits as the log-in form.
    now = time.time()
    key = auth.account_key(settings.secret, user.email)
    if throttle.blocked(ip, now):
        return render(request, "account.html", {"errors": [IP_LOCKED]}, 429)
    if auth.account_locked_until(db, key, now) is not None:
        return render(request, "account.html", {"errors": [ACCOUNT_LOCKED]}, 429)
    if users.authenticate(db, user.email, current_password[:MAX_PASSWORD_LENGTH]) is None:
        throttle.record_failure(ip, now)
        auth.record_account_failure(db, key, now)
        return render(request, "account.html", {"errors": ["Your current password is wrong."]}, 400)
    errors = _password_errors(new_password, confirm)
    if errors:
        return render(request, "account.html", {"errors": errors}, 400)
    users.set_password(db, user.id, new_password)
    assert session is not None  # CurrentUser guarantees it
    auth.delete_other_sessions(db, user.id, session.id)
    flash(request, "Password changed. Any other devices were logged out.")
    return redirect("/account")
