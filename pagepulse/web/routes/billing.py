"""Account → usage and plan: the usage page, monthly statements, the billing webhook.

``GET /account/usage`` shows the account's pageviews and custom events per UTC month
(a bar each, the current month projected). In saas mode it also shows the plan, its
limits and the plans on offer; in selfhosted mode it shows usage only: plans, limits and
statements do not exist there (``/account/statement`` and the webhook answer 404).

``POST /api/billing/webhook`` is machine-to-machine: no session, no CSRF token; the
HMAC signature is its credential (``pagepulse.control.billing_webhook``).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from pagepulse.control import billing_webhook, plans, usage
from pagepulse.web.deps import CsrfProtected, CurrentUser, DbDep, SettingsDep
from pagepulse.web.templating import render
from pagepulse.web.usage_chart import usage_chart

router = APIRouter(prefix="/account", dependencies=[CsrfProtected])
webhook_router = APIRouter(prefix="/api/billing")

MONTHS_SHOWN = 12


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.get("/usage")
def usage_page(request: Request, db: DbDep, user: CurrentUser, settings: SettingsDep) -> Response:
    now = _now()
    months = usage.account_usage(settings, db, user.id, usage.recent_months(now, MONTHS_SHOWN))
    current = months[-1]
    saas = plans.limits_enforced(settings)
    plan = plans.plan_of(settings, db, user.id) if saas else None
    projected_pageviews = usage.projected(current.pageviews, current.month, now)
    context: dict[str, Any] = {
        "nav": "usage",
        "saas": saas,
        "months": list(reversed(months)),
        "current": current,
        "projected_pageviews": projected_pageviews,
        "projected_events": usage.projected(current.events, current.month, now),
        "chart": usage_chart(
            months,
            usage.projected(current.events, current.month, now),
            plan.pageview_limit if plan else None,
        ),
        "plan": plan,
        "site_count": plans.site_count(db, user.id),
    }
    if plan is not None:
        context |= {
            "catalogue": list(plans.catalogue(settings).plans.values()),
            "over_limit": plan.extra_pageviews(current.pageviews) > 0,
            "projected_overage_cents": plan.overage_cents_for(projected_pageviews),
            "upgrade_url": settings.billing_upgrade_url,
            "feature_labels": plans.FEATURE_LABELS,
            "month_key": usage.month_key,
        }
    return render(request, "billing/usage.html", context)


@router.get("/statement", response_model=None)
def statement_page(
    request: Request,
    db: DbDep,
    user: CurrentUser,
    settings: SettingsDep,
    month: str | None = None,
    format: str = "html",
) -> Response:
    if not plans.limits_enforced(settings):
        raise HTTPException(404, "Statements exist in saas mode only.")
    if format not in ("html", "json"):
        raise HTTPException(400, "format must be html or json.")
    now = _now()
    try:
        chosen = usage.parse_month(month) if month else usage.month_of(now)
    except ValueError:
        raise HTTPException(400, "Give the month as YYYY-MM, for example 2025-03.") from None
    if chosen > usage.month_of(now):
        raise HTTPException(400, "There is no statement for a month that has not begun.")
    statement = usage.statement(settings, db, user.id, chosen, now)
    if format == "json":
        return JSONResponse(_statement_json(statement), headers={"cache-control": "no-store"})
    later = usage.add_months(chosen, 1)
    context = {
        "nav": "usage",
        "statement": statement,
        "previous": usage.month_key(usage.add_months(chosen, -1)),
        "next": usage.month_key(later) if later <= usage.month_of(now) else None,
    }
    return render(request, "billing/statement.html", context)


def _statement_json(statement: usage.Statement) -> dict[str, Any]:
    return {
        "month": statement.usage.key,
        "closed": statement.closed,
        "plan": statement.plan.name,
        "pageviews": statement.usage.pageviews,
        "custom_events": statement.usage.custom_events,
        "pageview_limit": statement.limit,
        "extra_pageviews": statement.extra_pageviews,
        "overage_units": statement.overage_units,
        "price_cents": statement.plan.price_cents,
        "overage_cents": statement.overage_cents,
        "total_cents": statement.total_cents,
        "projected_pageviews": statement.projected_pageviews,
        "sites": [
            {"domain": s.domain, "pageviews": s.pageviews, "custom_events": s.custom_events}
            for s in statement.usage.sites
        ],
    }


@webhook_router.post("/webhook")
async def billing_webhook_delivery(request: Request, db: DbDep, settings: SettingsDep) -> Response:
    if not plans.limits_enforced(settings) or not settings.billing_webhook_secret:
        raise HTTPException(404, "Not Found")
    try:
        body = await _read_body(request)
        now = time.time()
        timestamp = billing_webhook.verify(
            settings.billing_webhook_secret,
            request.headers.get(billing_webhook.SIGNATURE_HEADER),
            body,
            now,
        )
        change = await run_in_threadpool(billing_webhook.apply, settings, db, timestamp, body, now)
    except billing_webhook.WebhookError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    return JSONResponse(
        {"account_id": change.user.id, "email": change.user.email, "plan": change.plan.name}
    )


async def _read_body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > billing_webhook.MAX_BODY_BYTES:
            raise billing_webhook.WebhookError(
                f"the body exceeds {billing_webhook.MAX_BODY_BYTES} bytes", 413
            )
        chunks.append(chunk)
    return b"".join(chunks)
