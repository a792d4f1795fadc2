"""Share links: the page where the owner and admins (``ManagedSite``) create and
delete them, and the public, read-only dashboards they open (``/share/{slug}``).

A share route knows its site only through the slug, so it cannot be pointed at
another site; an unknown slug is a 404. It serves only GETs that read, plus the
password form. A password-protected link remembers a correct password in a cookie
signed for that slug (path ``/share/<slug>``), carrying a fingerprint of the
password hash, so a new password or a re-created link locks old cookies out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from pagepulse.control import custom_domains, shares, sites
from pagepulse.control.shares import ShareLink
from pagepulse.control.sites import Site
from pagepulse.web import auth, custom_hosts
from pagepulse.web.dashboard import views
from pagepulse.web.dashboard.context import Target
from pagepulse.web.deps import (
    ClientIp,
    CsrfProtected,
    DbDep,
    IpThrottleDep,
    ManagedSite,
    SettingsDep,
)
from pagepulse.web.templating import flash, redirect, render

router = APIRouter(dependencies=[CsrfProtected])

FormStr = Annotated[str, Form()]
UNLOCK_COOKIE = "pp_share"
UNLOCK_LIFETIME = 30 * 24 * 3600
MAX_PASSWORD_LENGTH = 1024
NOT_FOUND = "No such shared dashboard."
WRONG_PASSWORD = "Wrong password."
TOO_MANY = "Too many wrong passwords from your network. Wait 15 minutes, then try again."


# The owner's side ---------------------------------------------------------------------


def _manage(
    request: Request, db: DbDep, site: Site, errors: list[str], status: int = 200
) -> Response:
    settings = request.app.state.settings
    context = {
        "site": site,
        # The site's custom domain once it serves, so the copied link is first-party.
        "base_url": custom_domains.public_base_url(db, settings, site.id, site.owner_id),
        "shares": shares.list_shares(db, site.id),
        "errors": errors,
        "nav": "sites",
        "site_nav": "settings",
    }
    return render(request, "share/manage.html", context, status)


@router.get("/sites/{site_id:int}/shares")
def share_links_page(request: Request, db: DbDep, site: ManagedSite) -> Response:
    return _manage(request, db, site, [])


@router.post("/sites/{site_id:int}/shares")
def create_share_link(
    request: Request, db: DbDep, site: ManagedSite, name: FormStr = "", password: FormStr = ""
) -> Response:
    if len(password) > MAX_PASSWORD_LENGTH:
        return _manage(request, db, site, ["Choose a shorter password."], 400)
    link = shares.create_share(db, site.id, name, password or None)
    flash(request, f"Created a share link{' with a password' if link.protected else ''}.")
    return redirect(f"/sites/{site.id}/shares")


@router.post("/sites/{site_id:int}/shares/delete")
def delete_share_link(
    request: Request, db: DbDep, site: ManagedSite, share_id: FormStr = ""
) -> Response:
    if not share_id.isdigit() or not shares.delete_share(db, site.id, int(share_id)):
        raise HTTPException(status_code=404, detail="No such share link.")
    flash(request, "Deleted the share link: its address no longer opens the dashboard.")
    return redirect(f"/sites/{site.id}/shares")


# The public side ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shared:
    link: ShareLink
    site: Site
    unlocked: bool

    @property
    def target(self) -> Target:
        return Target.shared(self.site, self.link)


def _unlock_value(secret: str, link: ShareLink) -> str:
    return auth.sign_cookie(secret, f"share.{link.slug}", link.password_fingerprint())


def get_shared(slug: str, request: Request, db: DbDep, settings: SettingsDep) -> Shared:
    link = shares.get_share(db, slug)
    site = sites.get_site(db, link.site_id) if link else None
    # On a site's custom domain, only that site's links open (web/custom_hosts.py).
    if link is None or site is None or not custom_hosts.may_serve_site(request, site.id):
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    unlocked = not link.protected
    if link.protected:
        value = auth.unsign_cookie(
            settings.secret, f"share.{link.slug}", request.cookies.get(UNLOCK_COOKIE)
        )
        unlocked = value == link.password_fingerprint()
    return Shared(link, site, unlocked)


SharedDep = Annotated[Shared, Depends(get_shared)]


def _password_page(request: Request, shared: Shared, error: str | None, status: int) -> Response:
    context = {"site": shared.site, "link": shared.link, "error": error}
    return render(request, "share/password.html", context, status)


def _require_unlocked(shared: Shared) -> None:
    if not shared.unlocked:
        raise HTTPException(status_code=401, detail="This shared dashboard needs its password.")


@router.get("/share/{slug}")
def shared_dashboard(request: Request, shared: SharedDep, settings: SettingsDep) -> Response:
    if not shared.unlocked:
        return _password_page(request, shared, None, 401)
    return views.page(request, shared.target, settings, "share/dashboard.html")


@router.get("/share/{slug}/widget")
def shared_widget(
    request: Request, shared: SharedDep, settings: SettingsDep, name: str = ""
) -> Response:
    _require_unlocked(shared)
    return views.widget(request, shared.target, settings, name)


@router.get("/share/{slug}/export")
def shared_export(request: Request, shared: SharedDep, settings: SettingsDep) -> Response:
    _require_unlocked(shared)
    return views.export(request, shared.target, settings)


@router.post("/share/{slug}/unlock")
def unlock_shared(
    request: Request,
    shared: SharedDep,
    settings: SettingsDep,
    throttle: IpThrottleDep,
    ip: ClientIp,
    password: FormStr = "",
) -> Response:
    now = time.time()
    if throttle.blocked(ip, now):
        return _password_page(request, shared, TOO_MANY, 429)
    if not shares.check_password(shared.link, password[:MAX_PASSWORD_LENGTH]):
        throttle.record_failure(ip, now)
        return _password_page(request, shared, WRONG_PASSWORD, 400)
    response = redirect(f"/share/{shared.link.slug}")
    response.set_cookie(
        UNLOCK_COOKIE,
        _unlock_value(settings.secret, shared.link),
        max_age=UNLOCK_LIFETIME,
        path=f"/share/{shared.link.slug}",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response
