"""A site's custom domain page (``/sites/{id}/domain``: claim a host, see the DNS records
to create, check them now, remove) and the ``ask`` endpoint a reverse proxy calls before
it gets a TLS certificate for a host (``GET /api/tls/ask?domain=HOST``).

Managing takes ``ManagedSite`` (owner or admin). In saas mode the site owner's plan must
include custom domains: without it the page shows the upgrade hint, claiming and checking
answer 403, and removing still works. The rules themselves live in
``control/custom_domains.py``; serving a verified host is ``web/custom_hosts.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response

from pagepulse.config import Settings
from pagepulse.control import custom_domains, plans
from pagepulse.control.custom_domains import CustomDomain
from pagepulse.control.sites import Site
from pagepulse.web.deps import CsrfProtected, DbDep, ManagedSite, SettingsDep
from pagepulse.web.templating import flash, redirect, render

router = APIRouter(dependencies=[CsrfProtected])
# The reverse proxy calls this one: no session, no form, nothing to protect with CSRF.
tls_router = APIRouter()

FormStr = Annotated[str, Form()]
PLAN_NEEDED = "Custom domains are not part of this site owner's plan."


@dataclass(frozen=True, slots=True)
class Status:
    """How the page describes the claim: ``state`` is verified, failing or pending."""

    state: str
    summary: str


def _utc(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp)) if timestamp else "never"


def status_of(domain: CustomDomain, settings: Settings) -> Status:
    method = {"txt": "TXT record", "cname": "CNAME record"}.get(domain.verified_by or "", "")
    if domain.verified and domain.failing_since is not None:
        until = domain.failing_since + settings.custom_domain_grace_seconds
        return Status(
            "failing",
            f"Verified, but the record has been missing since {_utc(domain.failing_since)}. "
            f"Unless it is back, the domain stops being served after {_utc(until)}.",
        )
    if domain.verified:
        return Status("verified", f"Verified by its {method} since {_utc(domain.verified_at)}.")
    return Status("pending", "Not verified yet: create one of the records below, then check.")


def _feature_on(settings: Settings, db: Any, site: Site) -> bool:
    return plans.feature_enabled(settings, db, site.owner_id, custom_domains.FEATURE)


def _page(
    request: Request,
    db: DbDep,
    settings: Settings,
    site: Site,
    *,
    hostname: str = "",
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    domain = custom_domains.get_domain(db, site.id)
    served = custom_domains.served_host_of_site(db, settings, site.id, site.owner_id)
    context = {
        "site": site,
        "domain": domain,
        "status": status_of(domain, settings) if domain else None,
        "served": served is not None,
        "public_base_url": custom_domains.public_base_url(db, settings, site.id, site.owner_id),
        "cname_target": custom_domains.cname_target(settings),
        "last_checked": _utc(domain.last_checked_at) if domain else "",
        "feature_on": _feature_on(settings, db, site),
        "hostname": hostname,
        "errors": errors or [],
        "nav": "sites",
        "site_nav": "domain",
    }
    return render(request, "sites/domain.html", context, status_code)


def _require_feature(settings: Settings, db: Any, site: Site) -> None:
    if not _feature_on(settings, db, site):
        raise HTTPException(status_code=403, detail=PLAN_NEEDED)


def _hosts_changed(request: Request) -> None:
    request.app.state.host_map.invalidate()


@router.get("/sites/{site_id:int}/domain")
def domain_page(request: Request, db: DbDep, settings: SettingsDep, site: ManagedSite) -> Response:
    return _page(request, db, settings, site)


@router.post("/sites/{site_id:int}/domain")
def add_domain(
    request: Request, db: DbDep, settings: SettingsDep, site: ManagedSite, hostname: FormStr = ""
) -> Response:
    _require_feature(settings, db, site)
    error = None
    try:
        domain = custom_domains.add_domain(db, settings, site.id, hostname)
    except custom_domains.InvalidHostname as exc:
        error = str(exc)
    except custom_domains.HostnameTaken as exc:
        error = f"{exc} is already the custom domain of another site."
    except custom_domains.SiteHasDomain:
        error = "This site already has a custom domain: remove it first."
    if error is not None:
        return _page(
            request, db, settings, site, hostname=hostname, errors=[error], status_code=400
        )
    _hosts_changed(request)
    flash(request, f"Added {domain.hostname}. Create one of the DNS records below, then check.")
    return redirect(f"/sites/{site.id}/domain")


@router.post("/sites/{site_id:int}/domain/verify")
def verify_domain(
    request: Request, db: DbDep, settings: SettingsDep, site: ManagedSite
) -> Response:
    _require_feature(settings, db, site)
    domain = custom_domains.get_domain(db, site.id)
    if domain is None:
        raise HTTPException(status_code=404, detail="This site has no custom domain.")
    checked = custom_domains.verify(db, settings, domain)
    _hosts_changed(request)
    if checked.verified and checked.last_error is None:
        flash(request, f"{checked.hostname} is verified: the snippet now loads from it.")
    else:
        flash(request, f"The DNS check of {checked.hostname} did not pass: see what it found.")
    return redirect(f"/sites/{site.id}/domain")


@router.post("/sites/{site_id:int}/domain/delete")
def remove_domain(request: Request, db: DbDep, site: ManagedSite) -> Response:
    domain = custom_domains.get_domain(db, site.id)
    if domain is None or not custom_domains.remove_domain(db, site.id):
        raise HTTPException(status_code=404, detail="This site has no custom domain.")
    _hosts_changed(request)
    flash(
        request,
        f"Removed {domain.hostname}: it no longer serves this site. Put the snippet with "
        "the default address back on your pages.",
    )
    return redirect(f"/sites/{site.id}/domain")


@tls_router.get("/api/tls/ask", include_in_schema=False)
def tls_ask(db: DbDep, settings: SettingsDep, domain: str = "") -> Response:
    """200 when a certificate may be issued for ``domain`` (PagePulse's own host or a
    served custom domain), else 404: Caddy's ``on_demand_tls { ask … }`` contract."""
    if custom_domains.tls_allowed(db, settings, domain):
        return PlainTextResponse("ok")
    return PlainTextResponse("unknown host", status_code=404)
