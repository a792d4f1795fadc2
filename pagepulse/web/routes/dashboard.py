"""The owner's dashboard: ``/sites/{site_id}`` and its widget, export and verify routes.

Every handler takes ``ViewableSite`` (any role: owner, admin or viewer; 404 for
anybody else) and hands
over to :mod:`pagepulse.web.dashboard.views`; share links get the same views through
``routes/share.py``.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pagepulse.control import custom_domains
from pagepulse.lake import quarantine
from pagepulse.web.dashboard import views
from pagepulse.web.dashboard.context import Target
from pagepulse.web.deps import CsrfProtected, DbDep, SettingsDep, ViewableSite
from pagepulse.web.routes.sites import snippet
from pagepulse.web.templating import flash, redirect, render

router = APIRouter(dependencies=[CsrfProtected])


@router.get("/sites/{site_id:int}")
def dashboard_page(
    request: Request, db: DbDep, site: ViewableSite, settings: SettingsDep
) -> Response:
    base_url = custom_domains.public_base_url(db, settings, site.id, site.owner_id)
    extra = {
        "snippet": snippet(site.domain, base_url),
        # Damaged lake files set aside (the numbers leave their events out); called
        # while rendering, so a file set aside by this very request is reported.
        "quarantine_report": functools.partial(quarantine.site_report, settings.data_dir, site.id),
    }
    return views.page(request, Target.owner(site), settings, "dashboard/page.html", extra)


@router.get("/sites/{site_id:int}/widget")
def dashboard_widget(
    request: Request, site: ViewableSite, settings: SettingsDep, name: str = ""
) -> Response:
    return views.widget(request, Target.owner(site), settings, name)


@router.get("/sites/{site_id:int}/export")
def dashboard_export(request: Request, site: ViewableSite, settings: SettingsDep) -> Response:
    return views.export(request, Target.owner(site), settings)


@router.get("/sites/{site_id:int}/verify")
def verify_installation(request: Request, site: ViewableSite, settings: SettingsDep) -> Response:
    """Has any event arrived since yesterday? (The empty dashboard's button.)"""
    count = views.recent_events(settings, Target.owner(site))
    if views.is_htmx(request):
        return render(request, "dashboard/_verify.html", {"site": site, "count": count})
    if count:
        flash(request, f"Events are arriving from {site.domain}: {count} since yesterday.")
    else:
        flash(request, f"No events from {site.domain} yet. Check the snippet, then try again.")
    return redirect(f"/sites/{site.id}")
