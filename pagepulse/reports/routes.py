"""Email report pages: the opt-in page of a site, and the unsubscribe link's pages.

- ``/sites/{id}/reports`` (GET, POST): each member who may view the site (owner,
  admin, viewer: ``ViewableSite``, 404 for anybody else) turns the weekly and monthly
  report on or off *for themselves*. In saas mode the site owner's plan must include
  ``email_reports``: the page shows the upgrade hint instead of the form, and a POST
  is refused with 403.
- ``/reports/unsubscribe/<token>``: GET shows a confirmation page with a button; POST
  unsubscribes. The POST is what RFC 8058 mail clients send (body
  ``List-Unsubscribe=One-Click``, no cookies), so it has no CSRF check and needs no
  session: the signed token is its only authentication, and it can do one thing only
  (stop one report for one member). It is left out of the OpenAPI schema, which the
  CSRF test enumerates for cookie-authenticated forms.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from pagepulse.config import Settings
from pagepulse.control import plans, sites
from pagepulse.mail import mail_configured
from pagepulse.reports import subscriptions
from pagepulse.reports.message import KIND_LABELS
from pagepulse.reports.schedule import KINDS, Kind
from pagepulse.reports.unsubscribe import UnsubscribeRequest, read_token
from pagepulse.web.deps import CsrfProtected, CurrentUser, DbDep, SettingsDep, ViewableSite
from pagepulse.web.templating import flash, redirect, render

router = APIRouter(dependencies=[CsrfProtected])
unsubscribe_router = APIRouter(prefix="/reports/unsubscribe", include_in_schema=False)

FormStr = Annotated[str, Form()]

NOT_IN_PLAN = (
    "Email reports are not part of the site owner's plan. The owner can upgrade on the Usage page."
)
INVALID_LINK = (
    "This unsubscribe link is not valid. Copy the whole link from the email, or log in "
    "and change your email reports on the site's Email reports page."
)


def _page(
    request: Request, settings: Settings, db: sqlite3.Connection, site: sites.Site, user_id: int
) -> Response:
    context = {
        "site": site,
        "site_nav": "reports",
        "subscribed": subscriptions.kinds_of(db, site.id, user_id),
        "kinds": KIND_LABELS,
        "feature_on": plans.feature_enabled(settings, db, site.owner_id, "email_reports"),
        "mail_on": mail_configured(settings),
    }
    return render(request, "sites/reports.html", context)


@router.get("/sites/{site_id:int}/reports")
def reports_page(
    request: Request, settings: SettingsDep, db: DbDep, site: ViewableSite, user: CurrentUser
) -> Response:
    return _page(request, settings, db, site, user.id)


@router.post("/sites/{site_id:int}/reports")
def save_reports(
    request: Request,
    settings: SettingsDep,
    db: DbDep,
    site: ViewableSite,
    user: CurrentUser,
    weekly: FormStr = "",
    monthly: FormStr = "",
) -> Response:
    if not plans.feature_enabled(settings, db, site.owner_id, "email_reports"):
        raise HTTPException(status_code=403, detail=NOT_IN_PLAN)
    chosen: set[Kind] = {kind for kind, on in zip(KINDS, (weekly, monthly), strict=True) if on}
    subscriptions.set_kinds(db, site.id, user.id, chosen)
    if chosen:
        names = " and ".join(KIND_LABELS[kind].lower() for kind in KINDS if kind in chosen)
        flash(request, f"Saved. You will receive the {names} report of {site.domain}.")
    else:
        flash(request, f"Saved. You will not receive email reports of {site.domain}.")
    return redirect(f"/sites/{site.id}/reports")


def _wanted(settings: Settings, token: str) -> UnsubscribeRequest:
    wanted = read_token(settings, token)
    if wanted is None:
        raise HTTPException(status_code=404, detail=INVALID_LINK)
    return wanted


def _unsubscribe_page(
    request: Request, db: sqlite3.Connection, wanted: UnsubscribeRequest, done: bool
) -> Response:
    site = sites.get_site(db, wanted.site_id)
    subscribed = wanted.kind in subscriptions.kinds_of(db, wanted.site_id, wanted.user_id)
    context = {
        "domain": site.domain if site else None,
        "kind_label": KIND_LABELS[wanted.kind].lower(),
        "subscribed": site is not None and subscribed,
        "done": done,
    }
    return render(request, "sites/reports_unsubscribe.html", context)


@unsubscribe_router.get("/{token}")
def unsubscribe_page(request: Request, settings: SettingsDep, db: DbDep, token: str) -> Response:
    return _unsubscribe_page(request, db, _wanted(settings, token), done=False)


@unsubscribe_router.post("/{token}")
def unsubscribe(request: Request, settings: SettingsDep, db: DbDep, token: str) -> Response:
    wanted = _wanted(settings, token)
    subscriptions.unsubscribe(db, wanted.site_id, wanted.user_id, wanted.kind)
    return _unsubscribe_page(request, db, wanted, done=True)
