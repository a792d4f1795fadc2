"""Site pages: list, add, settings, tracking snippet, delete (with the site's events).

Every ``/sites/{site_id}…`` handler takes a role check from ``deps.py``: the snippet
and settings ``ManagedSite`` (owner or admin), delete ``OwnedSite``; both answer 404
for a site the user has no role on. The list shows every site the user owns or is a
member of, with their role. ``GET /sites/{site_id}`` is the dashboard
(``routes/dashboard.py``).
"""

from __future__ import annotations

import sqlite3
import zoneinfo
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from pagepulse.config import Settings
from pagepulse.control import custom_domains, members, plans, sites
from pagepulse.lake.retention import RETENTION_CHOICES, delete_site_events
from pagepulse.web.deps import (
    CsrfProtected,
    CurrentUser,
    DbDep,
    ManagedSite,
    OwnedSite,
    SessionDep,
    SettingsDep,
)
from pagepulse.web.templating import flash, redirect, render

router = APIRouter(dependencies=[CsrfProtected])

FormStr = Annotated[str, Form()]

SITE_EXISTS = "This domain is already registered here. Each domain can be added once."


@cache
def timezone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones() | {"UTC"})


def snippet(domain: str, base_url: str) -> str:
    src = f"{base_url.rstrip('/')}/js/script.js"
    return f'<script defer data-domain="{domain}" src="{src}"></script>'


def _form_context(domain: str, timezone: str, enabled: bool, errors: list[str]) -> dict[str, Any]:
    return {
        "form": {"domain": domain, "timezone": timezone, "enabled": enabled},
        "errors": errors,
        "timezones": timezone_names(),
        "retention_choices": RETENTION_CHOICES,  # the settings page's sites/_data.html
    }


def _validate(domain: str, timezone: str) -> tuple[str, str, list[str]]:
    """(normalised domain, timezone, errors): the form's own messages, in field order."""
    errors = []
    try:
        domain = sites.normalise_domain(domain)
    except ValueError:
        errors.append("Enter the domain of your site, such as example.com.")
    try:
        timezone = sites.validate_timezone(timezone)
    except ValueError:
        errors.append("Choose a timezone from the list.")
    return domain, timezone, errors


@router.get("/")
def home(session: SessionDep) -> Response:
    return redirect("/sites" if session else "/login")


@router.get("/sites")
def list_sites(request: Request, db: DbDep, settings: SettingsDep, user: CurrentUser) -> Response:
    entries = members.active_sites_of(settings, db, user.id)
    return render(request, "sites/list.html", {"entries": entries})


def _site_limit(settings: Settings, db: sqlite3.Connection, user_id: int) -> dict[str, str]:
    """The plan's "no more sites" message when it applies (saas mode), for new.html."""
    if not plans.site_limit_reached(settings, db, user_id):
        return {}
    return {"site_limit_message": plans.site_limit_message(settings, db, user_id)}


@router.get("/sites/new")
def new_site_page(
    request: Request, db: DbDep, user: CurrentUser, settings: SettingsDep
) -> Response:
    context = {**_form_context("", "UTC", True, []), **_site_limit(settings, db, user.id)}
    return render(request, "sites/new.html", context)


@router.post("/sites/new")
def create_site(
    request: Request,
    db: DbDep,
    user: CurrentUser,
    settings: SettingsDep,
    domain: FormStr = "",
    timezone: FormStr = "UTC",
) -> Response:
    clean_domain, clean_timezone, errors = _validate(domain, timezone)
    if not errors:
        try:
            site = plans.create_site_within_limit(
                settings, db, clean_domain, user.id, clean_timezone
            )
        except sites.SiteExists:
            errors.append(SITE_EXISTS)
        except plans.SiteLimitReached as exc:  # 402: the plan, not the form, is the problem
            context = {**_form_context(domain, timezone, True, []), "site_limit_message": str(exc)}
            return render(request, "sites/new.html", context, 402)
    if errors:
        return render(request, "sites/new.html", _form_context(domain, timezone, True, errors), 400)
    flash(request, f"Added {site.domain}. Put this snippet on your site to start counting.")
    return redirect(f"/sites/{site.id}/snippet")


@router.get("/sites/{site_id:int}/snippet")
def snippet_page(request: Request, db: DbDep, site: ManagedSite, settings: SettingsDep) -> Response:
    base_url = custom_domains.public_base_url(db, settings, site.id, site.owner_id)
    context = {"site": site, "snippet": snippet(site.domain, base_url)}
    return render(request, "sites/snippet.html", context)


@router.get("/sites/{site_id:int}/settings")
def settings_page(request: Request, site: ManagedSite) -> Response:
    context = _form_context(site.domain, site.timezone, site.enabled, [])
    return render(request, "sites/settings.html", {"site": site, **context})


@router.post("/sites/{site_id:int}/settings")
def save_settings(
    request: Request,
    db: DbDep,
    site: ManagedSite,
    domain: FormStr = "",
    timezone: FormStr = "UTC",
    enabled: FormStr = "",
) -> Response:
    is_enabled = enabled == "on"
    clean_domain, clean_timezone, errors = _validate(domain, timezone)
    if not errors:
        try:
            sites.update_site(
                db, site.id, domain=clean_domain, timezone=clean_timezone, enabled=is_enabled
            )
        except sites.SiteExists:
            errors.append(SITE_EXISTS)
    if errors:
        context = {"site": site, **_form_context(domain, timezone, is_enabled, errors)}
        return render(request, "sites/settings.html", context, 400)
    flash(request, "Settings saved.")
    return redirect(f"/sites/{site.id}/settings")


@router.get("/sites/{site_id:int}/delete")
def delete_page(request: Request, site: OwnedSite) -> Response:
    return render(request, "sites/delete.html", {"site": site, "confirm": "", "errors": []})


@router.post("/sites/{site_id:int}/delete")
def delete_site(
    request: Request, db: DbDep, settings: SettingsDep, site: OwnedSite, confirm: FormStr = ""
) -> Response:
    if confirm.strip().lower() != site.domain:
        errors = [f"Type {site.domain} exactly to confirm."]
        context = {"site": site, "confirm": confirm, "errors": errors}
        return render(request, "sites/delete.html", context, 400)
    # The row first, so the ingest path stops accepting the domain (once its domain
    # cache refreshes) before the files go.
    sites.delete_site_row(db, site.id)
    delete_site_events(settings.events_dir, site.id)
    flash(request, f"Deleted {site.domain} and all its recorded visits.")
    return redirect("/sites")
